// kpd under systemd (server/systemd.h): the service watchdog is pinged only after a check that
// says the daemon is alive, and never after stop(). Socket activation itself runs end to end in
// tests/e2e/test_systemd.py (systemd-socket-activate starting a real kpd).
#include "server/systemd.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <vector>

namespace kp {
namespace {

// Scripted answers of alive(); each ping records which answer it followed.
class Script {
 public:
  explicit Script(std::vector<bool> answers) : answers_(std::move(answers)) {}

  bool alive() {
    std::lock_guard<std::mutex> lock(mutex_);
    ++asked_;
    const bool answer = asked_ <= answers_.size() ? answers_[asked_ - 1] : false;
    changed_.notify_all();
    return answer;
  }
  void ping() {
    std::lock_guard<std::mutex> lock(mutex_);
    pingsAfter_.push_back(asked_);
  }
  // Waits until alive() was asked `count` times (a failure after 10 s).
  bool waitForAsked(size_t count) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, std::chrono::seconds(10), [&] { return asked_ >= count; });
  }
  std::vector<size_t> pingsAfter() {
    std::lock_guard<std::mutex> lock(mutex_);
    return pingsAfter_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<bool> answers_;
  size_t asked_ = 0;
  std::vector<size_t> pingsAfter_;
};

TEST(WatchdogNotifierTest, PingsOnlyAfterAnAliveAnswer) {
  Script script({true, true, false, false, true});
  WatchdogNotifier notifier(
      std::chrono::milliseconds(2), [&] { return script.alive(); }, [&] { script.ping(); });
  ASSERT_TRUE(script.waitForAsked(6));  // the sixth round has begun: the fifth's ping is done
  notifier.stop();
  // Answers 1, 2 and 5 were "alive"; those after the script's end are not.
  EXPECT_EQ(script.pingsAfter(), (std::vector<size_t>{1, 2, 5}));
}

TEST(WatchdogNotifierTest, NoPingAfterStop) {
  Script script(std::vector<bool>(1000, true));
  WatchdogNotifier notifier(
      std::chrono::milliseconds(2), [&] { return script.alive(); }, [&] { script.ping(); });
  ASSERT_TRUE(script.waitForAsked(2));
  notifier.stop();
  const size_t pings = script.pingsAfter().size();
  notifier.stop();  // idempotent
  EXPECT_TRUE(script.waitForAsked(0));
  EXPECT_EQ(script.pingsAfter().size(), pings);
  EXPECT_GE(pings, 1u);
}

TEST(SocketActivationTest, NoSocketsWhenNotActivated) {
  unsetenv("LISTEN_FDS");
  unsetenv("LISTEN_PID");
  EXPECT_TRUE(activatedSockets().empty());
}

TEST(WatchdogIntervalTest, OffUnlessSystemdAsks) {
  unsetenv("WATCHDOG_USEC");
  EXPECT_EQ(watchdogInterval().count(), 0);
  setenv("WATCHDOG_USEC", "4000000", 1);
  unsetenv("WATCHDOG_PID");
  EXPECT_EQ(watchdogInterval(), std::chrono::seconds(4));
  unsetenv("WATCHDOG_USEC");
}

}  // namespace
}  // namespace kp
