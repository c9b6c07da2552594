// The devices sessions run on. A device is opened on first use and shared by every session
// that asks for the same device and queue families. Thread-safe.
//
// kpd serves the devices ServiceConfig::devices lists (--devices), else every device of the
// Vulkan instance; each keeps the index the instance gives it.
//
// A device can be taken out of service (lifecycle/retirement.h does it when the device is
// lost or wedged by runaway work): the next session that asks for it gets it opened afresh,
// on a new Vulkan instance (a wedged driver's shared state, e.g. lavapipe's thread pool, stays
// behind with the old one). The pool keeps an eye on the instances out of service until the
// last owner lets them go, so that their memory is still counted and a device that keeps
// wedging is not opened without end (--max-wedged-devices).
//
// Devices are independent: opening one (a new Vulkan instance, vkCreateDevice: slow) holds a
// lock of that device only, a device's reset moves only that device to a new instance, and the
// pool's own lock is held for map look-ups only, never while a device is asked anything.
#pragma once

#include <atomic>
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
#include "server/service/devices/busy_history.h"
#include "server/service/devices/shader_compiler.h"

namespace kp::service {

class DevicePool {
 public:
  // Error(kInvalidArgument) naming the index when config.devices lists a device that does not
  // exist, or one twice.
  DevicePool(std::shared_ptr<engine::Instance> instance, const ServiceConfig& config);

  DevicePool(const DevicePool&) = delete;
  DevicePool& operator=(const DevicePool&) = delete;

  const engine::Instance& instance() const { return *instance_; }
  // The indices of the devices served, ascending.
  const std::vector<uint32_t>& served() const { return served_; }
  bool serves(uint32_t index) const { return perDevice_.count(index) > 0; }
  // "0, 2": the served indices, for messages.
  std::string servedList() const;

  // The open device for (index, families). The caller checked index (a served device) and
  // families (they are user input: the session registry names the fields). Unavailable when
  // too many instances of the device taken out of service still exist.
  std::shared_ptr<engine::Device> open(uint32_t index, const std::vector<uint32_t>& families);
  // The SPIR-V validator for served device `index`. No lock.
  const engine::SpirvValidator& validator(uint32_t index) const;
  ShaderCompiler& compiler() { return compiler_; }

  // A device in service, with the index it was opened as.
  struct InService {
    uint32_t index = 0;
    std::shared_ptr<engine::Device> device;
  };
  std::vector<InService> inService() const;
  // Takes `device` out of service: the next open() of its index opens a fresh one, on a new
  // Vulkan instance. Returns false if it was not in service. Counted in resets().
  bool takeOutOfService(const std::shared_ptr<engine::Device>& device);

  // (device index, bytes allocated) summed over every instance of each index, those out of
  // service included.
  std::vector<std::pair<uint32_t, uint64_t>> memoryUsage() const;
  // Work submitted to any instance of any device that has not finished yet.
  uint32_t pendingSubmissions() const;
  // Devices taken out of service since kpd started.
  uint64_t resets() const;

  // The load of one served device (GetLoad, the metrics page), every instance of it counted,
  // those out of service included (their work still runs on the hardware).
  struct Load {
    uint32_t index = 0;
    uint64_t usedBytes = 0;  // device memory kpd allocated on it
    // Its main device-local heap less usedBytes, or the driver's budget for kpd less kpd's
    // usage where the driver reports them (engine::HeapBudget).
    uint64_t freeBytes = 0;
    uint32_t running = 0;     // submissions running (engine::Device::Activity)
    uint32_t queued = 0;      // submissions waiting behind another on their queue
    double busyFraction = 0;  // of the last BusyHistory::kWindow
    // kpd opens it: fewer of its instances wedged than --max-wedged-devices.
    bool available = true;
  };
  // Every served device, in index order (zeros for one never opened). A non-blocking look at
  // each instance's submissions.
  std::vector<Load> load();
  // Samples how busy each device is (BusyHistory); the device watchdog calls it every round.
  void sampleBusy();

 private:
  // What the pool keeps of one served device.
  struct PerDevice {
    PerDevice(const engine::DeviceInfo& info, std::shared_ptr<engine::Instance> first);
    const engine::SpirvValidator validator;
    // Serialises opening the device, outside the pool's lock.
    base::Mutex opening;
    // The Vulkan instance its devices are opened on: a new one after one of them left service.
    std::shared_ptr<engine::Instance> instance KP_GUARDED_BY(opening);
    std::atomic<bool> freshInstance{false};  // open the next one on a new instance
    base::Mutex busyMutex;
    BusyHistory busy KP_GUARDED_BY(busyMutex);
  };
  // Every instance of the served devices that still exists, in service or not.
  struct Instances {
    std::vector<std::shared_ptr<engine::Device>> devices;
    std::map<uint32_t, size_t> wedged;  // by index: instances out of service
  };
  Instances everyInstance() const KP_EXCLUDES(mutex_);
  PerDevice& perDevice(uint32_t index) const;
  // The device in service for `key`, if any.
  std::shared_ptr<engine::Device> findInService(
      const std::pair<uint32_t, std::vector<uint32_t>>& key) const KP_EXCLUDES(mutex_);
  // Instances of device `index` out of service that still exist.
  size_t wedgedCount(uint32_t index) KP_REQUIRES(mutex_);
  // Adds each instance's busy time to its device's history (then samples it when `sample`).
  void observeBusy(const std::vector<std::shared_ptr<engine::Device>>& devices, bool sample);

  std::shared_ptr<engine::Instance> instance_;  // the one kpd started with: ListDevices
  const ServiceConfig& config_;
  ShaderCompiler compiler_;
  std::vector<uint32_t> served_;
  // One per served device; the map is not changed after construction (read without a lock).
  std::map<uint32_t, std::unique_ptr<PerDevice>> perDevice_;
  mutable base::Mutex mutex_;
  std::map<std::pair<uint32_t, std::vector<uint32_t>>, std::shared_ptr<engine::Device>> devices_
      KP_GUARDED_BY(mutex_);
  // Instances taken out of service, until their last owner lets them go.
  mutable std::vector<std::weak_ptr<engine::Device>> outOfService_ KP_GUARDED_BY(mutex_);
  uint64_t resets_ KP_GUARDED_BY(mutex_) = 0;
};

}  // namespace kp::service
