// The session reaper, on a thread of its own, once a second (and at once when asked):
// - ends the sessions nobody used for longer than their lease;
// - ends the sessions handed to endLater (by callers that must not block, such as gRPC's
//   threads when a client disconnects);
//   it never waits for their GPU work: a session whose work still runs is left draining;
// - retries ending the sessions whose GPU work had not finished (Retirement::retryDraining);
// - gives the memory of ended sessions back to the system (malloc_trim).
#pragma once

#include <cstdint>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "server/base/mutex.h"
#include "server/service/lifecycle/retirement.h"
#include "server/service/lifecycle/session_registry.h"

namespace kp::service {

class LeaseReaper {
 public:
  // Starts the thread.
  LeaseReaper(SessionRegistry& registry, Retirement& retirement);
  ~LeaseReaper();

  LeaseReaper(const LeaseReaper&) = delete;
  LeaseReaper& operator=(const LeaseReaper&) = delete;

  // Ends the open session with serial `serial` soon, on the reaper's thread, with `reason`.
  void endLater(uint64_t serial, const std::string& reason);
  // Stops the thread (idempotent).
  void stop();

 private:
  void run();
  void round();

  SessionRegistry& registry_;
  Retirement& retirement_;
  base::Mutex mutex_;
  base::CondVar wake_;
  bool stopping_ KP_GUARDED_BY(mutex_) = false;
  std::vector<std::pair<uint64_t, std::string>> toEnd_ KP_GUARDED_BY(mutex_);
  std::thread thread_;
};

}  // namespace kp::service
