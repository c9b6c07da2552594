// kpd under systemd: the sockets kpd.socket passes (socket activation) and the service
// watchdog (WatchdogSec=). Readiness and stopping (sd_notify READY=1 / STOPPING=1) are sent by
// main.cpp.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace kp {

// A listening socket that systemd passed to kpd.
struct ActivatedSocket {
  int fd = -1;
  std::string path;  // the socket file, e.g. "/run/kp/kpd.sock"
};

// The Unix stream sockets systemd passed (sd_listen_fds: LISTEN_FDS for this process), in
// order; none when kpd was not socket-activated. The variables are unset, so that programs kpd
// starts do not see them. Error(kInvalidArgument) naming the descriptor if one is not a
// listening Unix stream socket with a path (kpd.socket may hold ListenStream=PATH only).
std::vector<ActivatedSocket> activatedSockets();

// The service watchdog's interval (sd_watchdog_enabled: WatchdogSec=), 0 when it is off.
std::chrono::microseconds watchdogInterval();

// Pings the service watchdog (WATCHDOG=1) every half interval while `alive()` says the daemon
// can still take and run work; once it says not, logs that once and stops pinging, so that
// systemd restarts kpd (pings resume if `alive()` recovers first). A thread of its own.
class WatchdogNotifier {
 public:
  WatchdogNotifier(std::chrono::microseconds interval, std::function<bool()> alive,
                   std::function<void()> ping);
  ~WatchdogNotifier();  // stop()

  WatchdogNotifier(const WatchdogNotifier&) = delete;
  WatchdogNotifier& operator=(const WatchdogNotifier&) = delete;

  // Ends the thread; no ping after it returns. Idempotent.
  void stop();

 private:
  void run(std::chrono::microseconds period);

  std::function<bool()> alive_;
  std::function<void()> ping_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace kp
