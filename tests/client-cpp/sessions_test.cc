// Sessions end with the client: a killed client process's session and memory are freed, and
// other clients carry on.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <thread>

#include "kp/kp.hpp"
#include "kpd_process.h"

namespace kp::test {
namespace {

bool waitFor(const std::function<bool()>& predicate, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (predicate()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return predicate();
}

using SessionsTest = KpdTest;

TEST_F(SessionsTest, KilledClientSessionIsFreed) {
  const DaemonStatus baseline = mgr().daemonStatus();
  auto survivor = mgr().tensor({1, 2, 3});

  int pipeFds[2];
  ASSERT_EQ(pipe(pipeFds), 0);
  const pid_t child = fork();
  if (child == 0) {
    dup2(pipeFds[1], STDOUT_FILENO);
    close(pipeFds[0]);
    execl(KP_EVAL_LOOP_CLIENT, KP_EVAL_LOOP_CLIENT, kpd_->address().c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  close(pipeFds[1]);
  char ready[6] = {};
  const ssize_t got = read(pipeFds[0], ready, 5);
  close(pipeFds[0]);
  ASSERT_EQ(got, 5);
  ASSERT_STREQ(ready, "ready");

  const uint64_t big = 16u * 1024 * 1024;
  EXPECT_EQ(mgr().daemonStatus().sessions, baseline.sessions + 1);
  EXPECT_GE(mgr().daemonStatus().allocatedBytes, baseline.allocatedBytes + big);
  kill(child, SIGKILL);  // mid-evaluation loop
  waitpid(child, nullptr, 0);
  const auto killedAt = std::chrono::steady_clock::now();

  EXPECT_TRUE(waitFor([&] { return mgr().daemonStatus().sessions == baseline.sessions; },
                      std::chrono::seconds(5)));
  EXPECT_TRUE(
      waitFor([&] { return mgr().daemonStatus().allocatedBytes < baseline.allocatedBytes + big; },
              std::chrono::seconds(5)));
  EXPECT_LT(std::chrono::steady_clock::now() - killedAt, std::chrono::seconds(5));

  auto copy = mgr().tensor({0, 0, 0});
  mgr().sequence()->eval<OpTensorCopy>({survivor, copy});
  EXPECT_EQ(copy->vector(), std::vector<float>({1, 2, 3}));
}

}  // namespace
}  // namespace kp::test
