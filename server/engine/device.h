// A logical Vulkan device: its queues, memory types and pipeline cache. Shared (shared_ptr)
// by every tensor, algorithm and sequence created on it; thread-safe.
//
// The device keeps track of the work submitted to it (until its submitter has seen it finish),
// which tells whether a queue still makes progress (stall) and whether anything may still run
// (busy), how many submissions run or wait (activity) and for how long the device had work
// (busyTime). A device can be marked lost: by the driver (VK_ERROR_DEVICE_LOST), or by its owner
// when it is wedged by work that never ends. Then every wait on it ends within kWaitSliceNs and
// every submission and wait fails with Error(kDeviceLost) carrying the reason; the work already
// submitted may still run, so what it uses must stay allocated until busy() turns false.
#pragma once

#include <vulkan/vulkan.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "server/base/mutex.h"
#include "server/engine/busy_clock.h"
#include "server/engine/device_info.h"
#include "server/engine/instance.h"
#include "server/engine/pipeline_cache.h"
#include "server/engine/vk_handle.h"

namespace kp::engine {

class Device : public std::enable_shared_from_this<Device> {
 public:
  // Opens physical device `index` with one queue per entry of `families` (a family may repeat
  // to get several of its queues). Empty `families`: one queue of the default compute family.
  // Robust buffer access is enabled whenever the device supports it.
  static std::shared_ptr<Device> open(std::shared_ptr<Instance> instance, uint32_t index,
                                      const std::vector<uint32_t>& families = {});
  ~Device();

  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  VkDevice handle() const { return device_; }
  VkPhysicalDevice physical() const { return physical_; }
  const DeviceInfo& info() const { return info_; }
  const Instance& instance() const { return *instance_; }

  // Queues in the order of the families they were opened with.
  uint32_t queueCount() const { return static_cast<uint32_t>(queues_.size()); }
  uint32_t queueFamily(uint32_t queueIndex) const;
  const std::vector<uint32_t>& families() const { return families_; }

  // Submits one command buffer to queue `queueIndex`; submissions to one queue are serialised.
  // Returns the submission's ticket: pass it to completed() once `fence` was seen signalled.
  // `owner` is an opaque number naming the submitter in stall() (0: nobody in particular, as
  // for set-up work). Error(kDeviceLost) if the device is lost.
  // Allocation-free once as many submissions were in flight at once before.
  uint64_t submit(uint32_t queueIndex, VkCommandBuffer commandBuffer, VkFence fence,
                  uint64_t owner = 0);
  // The submission of `ticket` has finished (its fence signalled): stop tracking it. Call it
  // before resetting or destroying the fence. 0 is ignored.
  void completed(uint64_t ticket);
  // Waits up to `timeoutNs` for `fence` of a submission to this device. Returns VK_SUCCESS,
  // VK_TIMEOUT, or VK_ERROR_DEVICE_LOST once the device is lost (marked so by the driver's
  // answer, or by markLost() from another thread: the wait then ends within kWaitSliceNs).
  VkResult waitForFence(VkFence fence, uint64_t timeoutNs);
  // Longest slice of a fence wait: how soon a wait notices that the device was marked lost.
  static constexpr uint64_t kWaitSliceNs = 50'000'000;

  // Index of a memory type allowed by `typeBits` with all `required` flags, preferring one that
  // also has `preferred`. Throws Error(kResourceExhausted) when none exists.
  uint32_t memoryType(uint32_t typeBits, VkMemoryPropertyFlags required,
                      VkMemoryPropertyFlags preferred = 0) const;
  VkMemoryPropertyFlags memoryTypeFlags(uint32_t type) const;

  PipelineCache& pipelines() { return *pipelines_; }

  // Memory types that can import host memory at `pointer` (VK_EXT_external_memory_host);
  // 0 when the device cannot.
  uint32_t hostPointerMemoryTypes(const void* pointer) const;

  // Bytes of device memory currently allocated through this device (all buffers).
  uint64_t allocatedBytes() const { return allocated_.load(); }
  std::atomic<uint64_t>& allocationCounter() { return allocated_; }

  // Waits until the device has finished all work. Error(kDeviceLost) once it is lost.
  void waitIdle();

  // Records commands with `record` into a one-time command buffer, submits it to queue
  // `queueIndex` and waits for it (at most `timeoutNs`). For set-up work such as initialising
  // a new tensor's memory.
  // If the wait fails (timeout, lost device) the work may still run: the command pool, the
  // fence and `keepAlive` (what the commands use) are then kept until it has finished.
  void runOnce(const std::function<void(VkCommandBuffer)>& record, uint32_t queueIndex = 0,
               uint64_t timeoutNs = 60'000'000'000ull,
               std::vector<std::shared_ptr<void>> keepAlive = {});

  // "device 0 (llvmpipe (LLVM 15.0.6, 256 bits))", for messages.
  std::string describe() const;

  // ---- lost devices ----

  // Marks the device lost with `reason` (a sentence saying what happened to the device; the
  // first reason given sticks). Thread-safe; ends the waits on the device within kWaitSliceNs.
  void markLost(const std::string& reason);
  bool isLost() const { return lost_.load(std::memory_order_acquire); }
  // The reason given to markLost ("" while the device is not lost).
  std::string lostReason() const;
  // Throws Error(kDeviceLost) with the reason.
  [[noreturn]] void failLost() const;
  // vkCheck for a call on this device: VK_ERROR_DEVICE_LOST first marks the device lost.
  void check(VkResult result, const char* what);

  // ---- progress of submitted work ----

  struct Stall {
    bool pending = false;  // some submitted work has not finished
    // The longest time one queue with pending work went without any submission on it
    // finishing (counted from the oldest pending submission's start at the earliest).
    std::chrono::nanoseconds stalled{0};
    uint32_t queue = 0;  // that queue
    uint64_t owner = 0;  // the submitter of that queue's oldest pending submission
  };
  Stall stall(std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now());
  // True while work submitted to the device may still run (a non-blocking check of every
  // tracked submission's fence). Also frees the set-up work of failed runOnce calls that has
  // finished since.
  bool busy();
  // How many submissions have not finished yet (queued or running; a non-blocking check).
  uint32_t pendingSubmissions();
  // The submissions not finished yet (a non-blocking check), by what they do: on each queue
  // the oldest runs and the others wait behind it (each command buffer kpd records starts with
  // a barrier on the queue's earlier work).
  struct Activity {
    uint32_t running = 0;  // queues with work: one submission running on each
    uint32_t queued = 0;   // submissions waiting behind another on their queue
  };
  Activity activity();
  // How long the device has had work pending (some submission not seen finished) since it was
  // opened, up to now. A non-blocking check first notes the submissions finished since the
  // last look (as finishing now); the submitters' own waits note theirs as they see them.
  std::chrono::nanoseconds busyTime();

 private:
  Device() = default;

  struct Queue {
    uint32_t family = 0;
    VkQueue queue = VK_NULL_HANDLE;
    std::unique_ptr<base::Mutex> mutex;  // serialises submissions to the queue
  };
  // A submission whose submitter has not yet seen it finish.
  struct Submission {
    uint32_t queue = 0;
    VkFence fence = VK_NULL_HANDLE;
    std::chrono::steady_clock::time_point submitted;
    uint64_t owner = 0;
    bool finished = false;  // its fence was seen signalled (by stall or busy)
  };
  // The set-up work of a runOnce whose wait failed, kept until its fence signals.
  struct Orphan {
    UniqueCommandPool pool;
    UniqueFence fence;
    uint64_t ticket = 0;
    std::vector<std::shared_ptr<void>> keepAlive;
  };
  // Whether `fence` may still be pending (VK_NOT_READY); a lost device's fences are not.
  bool fencePending(VkFence fence) const;
  void reapOrphans() KP_REQUIRES(trackMutex_);
  // Counts the submissions whose fence is still pending, stopping at `limit`, and notes the
  // others as finished.
  uint32_t countPending(uint32_t limit) KP_REQUIRES(trackMutex_);
  // Notes `submission` (pending until now) as seen finished at `now`: the busy clock counts
  // one submission fewer, and its queue made progress at `progress` (stall() may be asked about
  // another moment than now: tests look ahead).
  void noteFinished(Submission& submission, std::chrono::steady_clock::time_point now,
                    std::chrono::steady_clock::time_point progress) KP_REQUIRES(trackMutex_);
  void noteFinished(Submission& submission, std::chrono::steady_clock::time_point now)
      KP_REQUIRES(trackMutex_) {
    noteFinished(submission, now, now);
  }

  std::shared_ptr<Instance> instance_;
  VkPhysicalDevice physical_ = VK_NULL_HANDLE;
  VkDevice device_ = VK_NULL_HANDLE;
  DeviceInfo info_;
  VkPhysicalDeviceMemoryProperties memory_{};
  std::vector<uint32_t> families_;
  std::vector<Queue> queues_;
  std::unique_ptr<PipelineCache> pipelines_;
  PFN_vkGetMemoryHostPointerPropertiesEXT getHostPointerProperties_ = nullptr;
  std::atomic<uint64_t> allocated_{0};

  std::atomic<bool> lost_{false};
  mutable base::Mutex lostMutex_;
  std::string lostReason_ KP_GUARDED_BY(lostMutex_);

  base::Mutex trackMutex_;
  uint64_t nextTicket_ KP_GUARDED_BY(trackMutex_) = 1;
  std::map<uint64_t, Submission> inFlight_ KP_GUARDED_BY(trackMutex_);  // by ticket: in submission order
  // Nodes of finished submissions, reused by the next ones (no allocation per submission).
  std::vector<std::map<uint64_t, Submission>::node_type> spareNodes_ KP_GUARDED_BY(trackMutex_);
  // Per queue: when a submission on it was last seen finishing (or the device opened).
  std::vector<std::chrono::steady_clock::time_point> progressAt_ KP_GUARDED_BY(trackMutex_);
  std::vector<Orphan> orphans_ KP_GUARDED_BY(trackMutex_);
  // Runs while some submission is pending (submitted, not seen finished).
  BusyClock busy_ KP_GUARDED_BY(trackMutex_);
};

}  // namespace kp::engine
