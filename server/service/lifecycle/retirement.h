// How sessions end and devices retire: the one place that decides what happens to a session
// when its client closes it or goes away, when its lease runs out, when kpd shuts down, and
// when its GPU hangs or is lost.
//
// Ending a session (end): its running evaluations get until a deadline to finish; then
//   - all finished: everything the session owned is freed (Session::close);
//   - some still run and the device is out of service (lost, or reset by kpd): the session is
//     abandoned, and what it owned is buried with the device (kept until the device's work has
//     finished, since the GPU may still use it);
//   - some still run on a healthy device: the session is draining; retryDraining() tries again
//     later (the lease reaper calls it every second).
//
// Retiring a device (retire): the device watchdog found it lost, or wedged (a queue with work
// pending made no progress for --runaway-ms). It and every device sharing its driver state are
// marked lost (every wait on them ends at once), taken out of service (the next session gets a
// fresh instance), and each session on them ends at once with a reason saying what happened
// and whose evaluation caused it (endSessionsOnRetiredDevices). A retired device, with what
// was buried with it, is freed once its work has finished (releaseIdle); work that never
// finishes keeps it until kpd exits. Sessions on other devices never notice.
// Thread-safe.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "server/base/mutex.h"
#include "server/engine/device.h"
#include "server/service/config.h"
#include "server/service/devices/device_pool.h"
#include "server/service/session/session.h"

namespace kp::service {

class Retirement {
 public:
  using Clock = std::chrono::steady_clock;

  Retirement(DevicePool& pool, const ServiceConfig& config);
  // Frees the retired devices whose work has finished; leaves the others allocated (logged).
  ~Retirement();

  Retirement(const Retirement&) = delete;
  Retirement& operator=(const Retirement&) = delete;

  // ---- sessions ----

  // Ends `session` (already taken out of the registry) with `reason`, waiting for its running
  // evaluations until `deadline` (default: now + --close-wait, ServiceConfig::closeWaitMs).
  void end(const std::shared_ptr<Session>& session, const std::string& reason,
           std::optional<Clock::time_point> deadline = std::nullopt);
  // Tries again to end the sessions whose work had not finished.
  void retryDraining();
  // Sessions ended since the last call (the lease reaper then gives memory back).
  bool takeEndedSinceLastAsked();

  // ---- devices ----

  // What the device watchdog found wrong with a device in service.
  struct Trouble {
    // The device, and every other device in service sharing its driver state.
    std::vector<std::shared_ptr<engine::Device>> devices;
    std::string device;  // Device::describe() of the device at fault
    bool lost = false;   // lost (lostReason says why), else wedged by runaway work
    std::string lostReason;
    uint64_t culprit = 0;     // runaway: serial of the session whose work stopped the queue
    std::string culpritLabel;  // its label ("" if it has ended since)
    uint64_t stalledMs = 0;   // runaway: how long its queue has made no progress
  };
  // Retires the devices of `trouble` (see above).
  void retire(const Trouble& trouble);
  // A device found lost when a session asks for it, before the watchdog saw it.
  void retireLost(const std::shared_ptr<engine::Device>& device);
  // At shutdown, after every session ended: the devices in service still running work (a
  // runaway shader) are retired, their memory left allocated. Returns how many.
  size_t retireBusyDevices();

  // Why `session` must end at once because its device was retired; nullopt if it need not.
  std::optional<std::string> reasonToEnd(const Session& session) const;
  // Ends at once `sessions` (taken from the registry with reasonToEnd) and the draining
  // sessions on retired devices: abandoned, their objects buried with their device.
  void endSessionsOnRetiredDevices(
      const std::vector<std::pair<std::shared_ptr<Session>, std::string>>& sessions);

  // Frees the retired devices (and what was buried with them) whose work has finished.
  void releaseIdle();
  // Retired devices not yet freed (their work is still running).
  uint32_t retiredCount() const;

  // `what` happened to a device (a sentence), followed by what kpd does about it: the reason
  // the sessions on a retired device are given.
  static std::string outOfService(const std::string& what);

 private:
  struct Retired {
    std::shared_ptr<engine::Device> device;
    std::string reason;         // for the sessions on it
    uint64_t culprit = 0;       // serial of the session whose work wedged it (0: none)
    std::string culpritReason;  // for that session
    Clock::time_point since;
    std::vector<std::shared_ptr<void>> buried;
    bool warned = false;  // logged that its work keeps running
  };
  // Marks `device` lost with `reason`, takes it out of service and lists it as retired (once).
  Retired& retireDevice(const std::shared_ptr<engine::Device>& device, const std::string& reason)
      KP_REQUIRES(mutex_);
  // Abandons `session` and buries its objects with its device.
  void bury(const std::shared_ptr<Session>& session, const std::string& reason)
      KP_EXCLUDES(mutex_);

  DevicePool& pool_;
  const ServiceConfig& config_;
  mutable base::Mutex mutex_;
  std::vector<Retired> retired_ KP_GUARDED_BY(mutex_);
  // Ended sessions whose GPU work had not finished.
  std::vector<std::shared_ptr<Session>> draining_ KP_GUARDED_BY(mutex_);
  bool endedSinceLastAsked_ KP_GUARDED_BY(mutex_) = false;
};

}  // namespace kp::service
