// Holds a device's queue for as long as a test wants (tests/common/gate.comp): close() submits
// the gate shader and returns once it runs; the queue then stays busy until open(). The gate's
// flags live in a host tensor, which the shader reads while it runs.
#pragma once

#include <memory>
#include <string>

#include "gate_shader.h"  // tests/common
#include "test_environment.h"

namespace kp::engine::test {

class Gate {
 public:
  // A gate on queue 0 of `device`; its evaluations carry `owner` (Device::stall names it).
  explicit Gate(std::shared_ptr<Device> device, uint64_t owner = 0)
      : flags_(Tensor::create(device, std::vector<uint32_t>(kp::test::kGateFlagCount, 0),
                              TensorType::kHost)),
        sequence_(Sequence::create(device, 0, 0, owner)) {
    auto algorithm = Algorithm::create(device, {flags_}, compile(kp::test::gateShaderSource()),
                                       Workgroup{kp::test::kGateWorkgroups, 1, 1});
    sequence_->record(std::make_shared<OpAlgoDispatch>(algorithm));
  }
  // Opens the gate and waits for its work, so that nothing it uses is freed while it runs.
  ~Gate() {
    open();
    kp::test::waitUntil([this] { return !sequence_->isExecuting(); });
  }
  Gate(const Gate&) = delete;
  Gate& operator=(const Gate&) = delete;

  // Submits the gate and waits until it runs: from then on its queue is busy. False if it did
  // not start within a minute.
  bool close() {
    for (GateFlag flag : {kp::test::kGateOpen, kp::test::kGateStarted, kp::test::kGateSeenOpen}) {
      kp::test::storeGateFlag(flags_->hostData(), flag, 0);
    }
    sequence_->evalAsync();
    return kp::test::waitUntil([this] { return flag(kp::test::kGateStarted) != 0; });
  }
  // Lets the gate's work finish (returns at once; await sequence() to wait for it).
  void open() { kp::test::storeGateFlag(flags_->hostData(), kp::test::kGateOpen, 1); }

  uint32_t flag(kp::test::GateFlag which) const {
    return kp::test::loadGateFlag(flags_->hostData(), which);
  }
  // Once its work has finished: true when the gate held its queue until it was opened (had it
  // given up first, nothing would have seen it open).
  bool held() const { return flag(kp::test::kGateSeenOpen) == 1; }

  const std::shared_ptr<Sequence>& sequence() const { return sequence_; }
  const std::shared_ptr<Tensor>& flags() const { return flags_; }

 private:
  using GateFlag = kp::test::GateFlag;
  std::shared_ptr<Tensor> flags_;
  std::shared_ptr<Sequence> sequence_;
};

}  // namespace kp::engine::test
