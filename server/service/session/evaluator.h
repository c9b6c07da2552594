// The evaluations of one session, in three steps (Kompute's evalAsync / evalAwait, with the
// data of one round trip):
//   submit   under the session's lock: checks the request against the session's objects,
//            (re)records the sequence's ops if asked, writes the uploads into the host copies
//            once the sequence is known to be able to run, and submits it;
//   wait     outside the lock: bounded by the call's deadline and --eval-timeout-ms, and
//            cancellable (the client went away, or kpd gave up on the call at shutdown);
//   collect  under the lock: the downloads and timestamps of the reply.
// An evaluation allocates nothing in the steady state: the uploads' scratch space is reused.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "kp/v1/compute.pb.h"
#include "server/engine/device.h"
#include "server/service/config.h"
#include "server/service/session/objects.h"

namespace kp::service {

class Evaluator {
 public:
  // `owner`: the session's serial, which names its work in the device's records.
  Evaluator(std::shared_ptr<engine::Device> device, uint64_t owner, const ServiceConfig& config)
      : device_(std::move(device)), owner_(owner), config_(config) {}

  // Submits the evaluation `request` asks for; returns the entry that runs it (an anonymous
  // one for sequence 0, which only Eval allows: `allowAnonymous`). Nothing changes when it is
  // refused. Call with the session's lock held.
  std::shared_ptr<SequenceEntry> submit(SessionObjects& objects, const v1::EvalRequest& request,
                                        bool allowAnonymous);

  // Waits for `entry` until it finishes, the call's `deadline` (time_point::max(): none) or the
  // request's timeout_ms / --eval-timeout-ms of `config`, whichever comes first.
  // DeadlineExceeded when it did not finish; Unavailable once `cancelled` (polled every 100 ms)
  // says the call was given up. Call without the session's lock.
  static void wait(SequenceEntry& entry, const v1::EvalRequest& request,
                   std::chrono::system_clock::time_point deadline,
                   const std::function<bool()>& cancelled, const ServiceConfig& config);

  // The reply of a finished evaluation of `entry`: its downloads (those in shared memory stay
  // out; those above `inlineLimit` are listed as pending, for ReadTensorStream) and timestamps.
  // Call with the session's lock held.
  // The first collection of an evaluation records its latency in base::metrics().
  static void collect(SequenceEntry& entry, uint64_t inlineLimit, v1::EvalResponse* response);

  // RESOURCE_EXHAUSTED if `ops` weigh more than a sequence may record (--max-sequence-ops).
  void requireOpsLimit(const google::protobuf::RepeatedPtrField<v1::Op>& ops) const;

  // "sequence N", or "the evaluation" for sequence 0, for messages.
  static std::string evaluationName(uint64_t sequence);

 private:
  // RESOURCE_EXHAUSTED if a reply downloading `downloads` (and `timestamps`) would not fit a
  // message (checked before the evaluation runs).
  void requireReplyFits(const std::vector<Download>& downloads, uint32_t timestamps,
                        uint64_t inlineLimit, uint64_t sequence) const;
  // Checks the request's uploads and notes them for writeUploads.
  void checkUploads(const SessionObjects& objects, const v1::EvalRequest& request);
  void writeUploads();
  std::shared_ptr<SequenceEntry> submitAnonymous(SessionObjects& objects,
                                                 const v1::EvalRequest& request);

  const std::shared_ptr<engine::Device> device_;
  const uint64_t owner_;
  const ServiceConfig& config_;
  // checkUploads' scratch space, reused by every evaluation.
  std::vector<uint64_t> uploadHandles_;
  std::vector<std::pair<engine::Tensor*, const std::string*>> uploadWrites_;
};

}  // namespace kp::service
