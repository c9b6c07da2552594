// Holds a kpd's device queue for as long as a test wants (tests/common/gate.comp): close()
// evaluates the gate shader in a session of the gate's own and returns once it runs; until
// open(), every evaluation on that device (of any session) waits behind it. The gate's flags
// are a host tensor in memory shared with kpd, which the shader reads while it runs.
#pragma once

#include <memory>
#include <string>

#include "gate_shader.h"  // tests/common
#include "kp/kp.hpp"
#include "kpd_process.h"

namespace kp::test {

class Gate {
 public:
  explicit Gate(const std::string& address)
      : manager_(std::make_unique<Manager>(managerOptions(address, true))),
        flags_(manager_->tensorT<uint32_t>(std::vector<uint32_t>(kGateFlagCount, 0),
                                           Tensor::TensorTypes::eHost)),
        sequence_(manager_->sequence()) {
    sequence_->record<OpAlgoDispatch>(
        manager_->algorithm({flags_}, gateShaderSource(), Workgroup{kGateWorkgroups, 1, 1}));
  }
  // Opens the gate and waits for its work.
  ~Gate() {
    open();
    try {
      sequence_->evalAwait();
    } catch (const std::exception&) {
      // The session may have ended with the daemon: nothing left to wait for.
    }
  }
  Gate(const Gate&) = delete;
  Gate& operator=(const Gate&) = delete;

  // Evaluates the gate and waits until it runs. False if it did not start within a minute
  // (the daemon cannot share host memory with this process).
  bool close() {
    if (!flags_->inSharedMemory()) return false;
    for (GateFlag flag : {kGateOpen, kGateStarted, kGateSeenOpen})
      storeGateFlag(flags_->data(), flag, 0);
    sequence_->evalAsync();
    return waitUntil([this] { return flag(kGateStarted) != 0; });
  }
  // Lets the gate's work finish (returns at once).
  void open() { storeGateFlag(flags_->data(), kGateOpen, 1); }

  uint32_t flag(GateFlag which) const { return loadGateFlag(flags_->data(), which); }
  // Once its work has finished: true when the gate held the queue until it was opened.
  bool held() const { return flag(kGateSeenOpen) == 1; }

  const std::shared_ptr<Sequence>& sequence() const { return sequence_; }

 private:
  std::unique_ptr<Manager> manager_;
  std::shared_ptr<TensorT<uint32_t>> flags_;
  std::shared_ptr<Sequence> sequence_;
};

}  // namespace kp::test
