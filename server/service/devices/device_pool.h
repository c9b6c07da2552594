// The devices sessions run on. A device is opened on first use and shared by every session
// that asks for the same device and queue families. Thread-safe.
//
// A device can be taken out of service (lifecycle/retirement.h does it when the device is
// lost or wedged by runaway work): the next session that asks for it gets it opened afresh,
// on a new Vulkan instance (a wedged driver's shared state, e.g. lavapipe's thread pool, stays
// behind with the old one). The pool keeps an eye on the instances out of service until the
// last owner lets them go, so that their memory is still counted and a device that keeps
// wedging is not opened without end (--max-wedged-devices).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "server/base/mutex.h"
#include "server/engine/device.h"
#include "server/engine/instance.h"
#include "server/engine/shader/spirv_validator.h"
#include "server/service/config.h"
#include "server/service/devices/shader_compiler.h"

namespace kp::service {

class DevicePool {
 public:
  DevicePool(std::shared_ptr<engine::Instance> instance, const ServiceConfig& config);

  DevicePool(const DevicePool&) = delete;
  DevicePool& operator=(const DevicePool&) = delete;

  const engine::Instance& instance() const { return *instance_; }

  // The open device for (index, families). The caller checked index and families (they are
  // user input: the session registry names the fields). Unavailable when too many instances
  // of the device taken out of service still exist.
  std::shared_ptr<engine::Device> open(uint32_t index, const std::vector<uint32_t>& families);
  // The SPIR-V validator for device `index` (which must exist).
  const engine::SpirvValidator& validator(uint32_t index);
  ShaderCompiler& compiler() { return compiler_; }

  // A device in service, with the index it was opened as.
  struct InService {
    uint32_t index = 0;
    std::shared_ptr<engine::Device> device;
  };
  std::vector<InService> inService() const;
  // Takes `device` out of service: the next open() of it opens a fresh one. Returns false if
  // it was not in service. Counted in resets().
  bool takeOutOfService(const std::shared_ptr<engine::Device>& device);

  // (device index, bytes allocated) summed over every instance of each index, those out of
  // service included.
  std::vector<std::pair<uint32_t, uint64_t>> memoryUsage() const;
  // Work submitted to any instance of any device that has not finished yet.
  uint32_t pendingSubmissions() const;
  // Devices taken out of service since kpd started.
  uint64_t resets() const;

 private:
  // Opens a device on the current instance (a fresh one after a device was taken out of
  // service).
  std::shared_ptr<engine::Device> openDevice(uint32_t index, const std::vector<uint32_t>& families)
      KP_REQUIRES(mutex_);
  // Instances of device `index` out of service that still exist.
  size_t wedgedCount(uint32_t index) KP_REQUIRES(mutex_);
  // Every instance that still exists, in service or not.
  std::vector<std::shared_ptr<engine::Device>> everyInstance() const KP_REQUIRES(mutex_);

  std::shared_ptr<engine::Instance> instance_;  // the one kpd started with: ListDevices
  const ServiceConfig& config_;
  ShaderCompiler compiler_;
  mutable base::Mutex mutex_;
  // Devices are opened on this instance; after a device left service, on a new one.
  std::shared_ptr<engine::Instance> current_ KP_GUARDED_BY(mutex_);
  bool freshInstance_ KP_GUARDED_BY(mutex_) = false;  // open the next device on a new instance
  std::map<std::pair<uint32_t, std::vector<uint32_t>>, std::shared_ptr<engine::Device>> devices_
      KP_GUARDED_BY(mutex_);
  // Instances taken out of service, until their last owner lets them go.
  std::vector<std::weak_ptr<engine::Device>> outOfService_ KP_GUARDED_BY(mutex_);
  uint64_t resets_ KP_GUARDED_BY(mutex_) = 0;
  std::map<uint32_t, std::unique_ptr<engine::SpirvValidator>> validators_ KP_GUARDED_BY(mutex_);
};

}  // namespace kp::service
