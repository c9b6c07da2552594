#include "server/service/lifecycle/lease_reaper.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <chrono>
#include <optional>

namespace kp::service {

using base::MutexLock;

LeaseReaper::LeaseReaper(SessionRegistry& registry, Retirement& retirement)
    : registry_(registry), retirement_(retirement) {
  thread_ = std::thread([this] { run(); });
}

LeaseReaper::~LeaseReaper() { stop(); }

void LeaseReaper::stop() {
  {
    MutexLock lock(mutex_);
    stopping_ = true;
  }
  wake_.notifyAll();
  if (thread_.joinable()) thread_.join();
}

void LeaseReaper::endLater(uint64_t serial, const std::string& reason) {
  {
    MutexLock lock(mutex_);
    toEnd_.emplace_back(serial, reason);
  }
  wake_.notifyAll();
}

void LeaseReaper::run() {
  MutexLock lock(mutex_);
  while (!stopping_) {
    if (toEnd_.empty()) wake_.waitFor(mutex_, std::chrono::seconds(1));
    if (stopping_) break;
    lock.unlock();
    round();
    lock.lock();
  }
}

void LeaseReaper::round() {
  std::vector<std::pair<uint64_t, std::string>> requested;
  {
    MutexLock lock(mutex_);
    requested.swap(toEnd_);
  }
  const auto now = Session::Clock::now();
  const auto ending = registry_.take([&](const Session& session) -> std::optional<std::string> {
    for (const auto& [serial, reason] : requested) {
      if (serial == session.serial()) return reason;
    }
    if (now - session.lastActive() <= std::chrono::seconds(session.leaseSeconds())) {
      return std::nullopt;
    }
    return "idle for more than " + std::to_string(session.leaseSeconds()) + " s";
  });
  // No waiting for GPU work here: this thread must stay free to stop at once at shutdown.
  for (const auto& [session, reason] : ending) retirement_.end(session, reason, now);
  retirement_.retryDraining();
#if defined(__GLIBC__)
  // Sessions ended since the last round: give the memory their tensors held (host memory on a
  // CPU device, host copies and staging everywhere) back to the system rather than keep it in
  // the allocator's free lists.
  if (retirement_.takeEndedSinceLastAsked()) malloc_trim(0);
#endif
}

}  // namespace kp::service
