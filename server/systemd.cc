#include "server/systemd.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>

#include <cstring>

#include "server/base/error.h"

namespace kp {

std::vector<ActivatedSocket> activatedSockets() {
  const int count = sd_listen_fds(1);
  if (count < 0) {
    base::fail(base::ErrorCode::kInvalidArgument,
               std::string("socket activation: ") + std::strerror(-count));
  }
  std::vector<ActivatedSocket> sockets;
  for (int fd = SD_LISTEN_FDS_START; fd < SD_LISTEN_FDS_START + count; ++fd) {
    sockaddr_un address{};
    socklen_t length = sizeof(address);
    const bool usable = sd_is_socket_unix(fd, SOCK_STREAM, 1, nullptr, 0) > 0 &&
                        ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0 &&
                        length > offsetof(sockaddr_un, sun_path) && address.sun_path[0] != '\0';
    if (!usable) {
      base::fail(base::ErrorCode::kInvalidArgument,
                 "socket activation: descriptor " + std::to_string(fd) +
                     " is not a listening Unix stream socket with a path (kpd.socket may hold "
                     "ListenStream=/path lines only)");
    }
    const size_t pathLength = strnlen(address.sun_path, length - offsetof(sockaddr_un, sun_path));
    sockets.push_back({fd, std::string(address.sun_path, pathLength)});
  }
  return sockets;
}

std::chrono::microseconds watchdogInterval() {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0) return std::chrono::microseconds(0);
  return std::chrono::microseconds(usec);
}

WatchdogNotifier::WatchdogNotifier(std::chrono::microseconds interval, std::function<bool()> alive,
                                   std::function<void()> ping)
    : alive_(std::move(alive)), ping_(std::move(ping)) {
  thread_ = std::thread([this, period = interval / 2] { run(period); });
}

WatchdogNotifier::~WatchdogNotifier() {
  stop();
}

void WatchdogNotifier::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void WatchdogNotifier::run(std::chrono::microseconds period) {
  bool silent = false;
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    const bool alive = alive_();
    if (alive) {
      ping_();
      if (silent) spdlog::info("watchdog: the submission path answers again; pinging systemd");
    } else if (!silent) {
      spdlog::critical(
          "watchdog: the device watchdog has not completed a round for too long "
          "(a deadlock on the submission path?): no longer pinging systemd, "
          "which will restart kpd");
    }
    silent = !alive;
    lock.lock();
    wake_.wait_for(lock, period, [this] { return stopping_; });
  }
}

}  // namespace kp
