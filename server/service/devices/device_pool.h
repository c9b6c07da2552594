// The devices sessions run on. A device is opened on first use and shared by every session
// that asks for the same device and queue families. Thread-safe.
//
// Recovery: a device that is lost, or wedged by runaway work, is retired (retire): it is taken
// out of service, and the next session that asks for it gets it opened afresh on a new Vulkan
// instance (a wedged driver's shared state, e.g. lavapipe's thread pool, stays behind with the
// old instance). A retired device, and the objects of the sessions that ended with it (bury),
// are kept until the work submitted to it has finished (releaseIdle), then freed; work that
// never finishes keeps them allocated until kpd exits (bounded by maxWedgedDevices).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "server/service/config.h"
#include "server/engine/device.h"
#include "server/engine/shader/glsl_compiler.h"
#include "server/engine/instance.h"
#include "server/engine/shader/spirv_validator.h"

namespace kp::service {

class DevicePool {
 public:
  DevicePool(std::shared_ptr<engine::Instance> instance, const ServiceConfig& config);
  // Frees the retired devices whose work has finished; leaves the others allocated (logged).
  ~DevicePool();

  DevicePool(const DevicePool&) = delete;
  DevicePool& operator=(const DevicePool&) = delete;

  const engine::Instance& instance() const { return *instance_; }

  // The open device for (index, families); NotFound / InvalidArgument for bad values,
  // Unavailable when too many retired instances of the device still run work.
  std::shared_ptr<engine::Device> open(uint32_t index, const std::vector<uint32_t>& families);
  // The SPIR-V validator for device `index` (which must exist).
  const engine::SpirvValidator& validator(uint32_t index);
  engine::GlslCompiler& compiler() { return compiler_; }

  // (device index, bytes allocated) summed over every device of each index, the retired ones
  // included.
  std::vector<std::pair<uint32_t, uint64_t>> memoryUsage() const;
  // Work submitted to any device, retired ones included, that has not finished yet.
  uint32_t pendingSubmissions() const;

  // ---- recovery ----

  // A device in service that must be retired, with every other open device of the same
  // physical device and Vulkan instance (they share the driver's state: on lavapipe, its
  // thread pool, which a runaway shader keeps busy).
  struct Finding {
    std::vector<std::shared_ptr<engine::Device>> devices;
    uint32_t index = 0;
    std::string device;  // Device::describe()
    bool lost = false;   // lost (lostReason says why), else wedged by runaway work
    std::string lostReason;
    std::string culprit;      // runaway: owner of the submission that stopped the queue
    uint64_t stalledMs = 0;  // runaway: how long its queue has made no progress
  };
  // The devices in service that are lost, or whose queue with pending work made no progress for
  // `runawayMs` (0: never look).
  std::vector<Finding> inspect(uint64_t runawayMs);
  // Takes `devices` out of service: marks them lost with `reason` (which ends every wait on
  // them) and keeps them until their work has finished. The next open() of the device gets a
  // fresh one. `culprit`, if set, is the session whose work wedged them, and `culpritReason`
  // what that session is told instead of `reason`. Idempotent per device.
  void retire(const std::vector<std::shared_ptr<engine::Device>>& devices, const std::string& reason,
              const std::string& culprit = {}, const std::string& culpritReason = {});
  // Keeps `objects` (of a session that ended with its device) until `device`'s work has
  // finished. Retires `device` first if it is not yet.
  void bury(const std::shared_ptr<engine::Device>& device,
            std::vector<std::shared_ptr<void>> objects);
  // Frees the retired devices (and what was buried with them) whose work has finished.
  void releaseIdle();

  // A retired device that sessions may still be on: they must end (SessionRegistry).
  struct RetiredDevice {
    std::shared_ptr<engine::Device> device;
    std::string reason;         // why, for the sessions on it
    std::string culprit;        // the session whose work wedged it ("" if none)
    std::string culpritReason;  // why, for the culprit
  };
  std::vector<RetiredDevice> retiredDevices() const;
  // The devices in service that still run work (at shutdown, after every session ended).
  std::vector<std::shared_ptr<engine::Device>> busyDevices();

  // Devices retired since kpd started.
  uint64_t resets() const;
  // Retired devices not yet freed (their work is still running).
  uint32_t retiredCount() const;

  // `what` happened to a device (a sentence), followed by what kpd does about it: the reason
  // the sessions on a retired device are given.
  static std::string outOfService(const std::string& what);

 private:
  struct Retired {
    std::shared_ptr<engine::Device> device;
    std::string reason;
    std::string culprit;
    std::string culpritReason;
    std::chrono::steady_clock::time_point since;
    std::vector<std::shared_ptr<void>> objects;
    bool warned = false;  // logged that its work keeps running
  };
  // The entry of a retired device, created (and the device taken out of service) if new.
  Retired& retiredEntry(const std::shared_ptr<engine::Device>& device,
                        const std::string& reason);  // requires mutex_
  // Opens a device on the current instance (a fresh one after a retirement).
  std::shared_ptr<engine::Device> openDevice(uint32_t index,
                                             const std::vector<uint32_t>& families);  // requires mutex_
  size_t wedgedCount(uint32_t index) const;           // requires mutex_

  std::shared_ptr<engine::Instance> instance_;  // the one kpd started with: ListDevices
  const ServiceConfig& config_;
  engine::GlslCompiler compiler_;
  mutable std::mutex mutex_;
  // Devices are opened on this instance; after a retirement, on a new one.
  std::shared_ptr<engine::Instance> current_;
  bool freshInstance_ = false;  // open the next device on a new instance
  std::map<std::pair<uint32_t, std::vector<uint32_t>>, std::shared_ptr<engine::Device>> devices_;
  std::vector<Retired> retired_;
  uint64_t resets_ = 0;
  std::map<uint32_t, std::unique_ptr<engine::SpirvValidator>> validators_;
};

}  // namespace kp::service
