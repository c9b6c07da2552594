#include "server/service/session/evaluator.h"

#include <algorithm>
#include <optional>

#include "server/base/error.h"
#include "server/base/metrics.h"

namespace kp::service {

using base::ErrorCode;

namespace {

// Replaces the ops `entry` records with `built`.
void recordInto(SequenceEntry& entry, BuiltOps built) {
  entry.sequence->clear();
  for (auto& op : built.ops) entry.sequence->record(std::move(op));
  entry.downloads = std::move(built.downloads);
}

// How long an Eval waits for the GPU between two looks at whether it was given up.
constexpr uint64_t kWaitSliceNs = 100'000'000;

}  // namespace

std::string Evaluator::evaluationName(uint64_t sequence) {
  return sequence == 0 ? "the evaluation" : "sequence " + std::to_string(sequence);
}

void Evaluator::requireOpsLimit(const google::protobuf::RepeatedPtrField<v1::Op>& ops) const {
  const uint64_t weight = opsWeight(ops);
  KP_REQUIRE(weight <= config_.maxSequenceOps, ErrorCode::kResourceExhausted,
             "ops: " + std::to_string(ops.size()) + " ops of weight " + std::to_string(weight) +
                 " (an op counts once per tensor it names, at least once), more than a sequence "
                 "may record (--max-sequence-ops " +
                 std::to_string(config_.maxSequenceOps) + ")");
}

void Evaluator::requireReplyFits(const std::vector<Download>& downloads, uint32_t timestamps,
                                 uint64_t inlineLimit, uint64_t sequence) const {
  // Each download is a TensorData (handle + bytes) inside the reply: allow 32 bytes of framing
  // per entry, and 11 per timestamp (a varint), on top of the data. Shared-memory tensors and
  // those above the inline limit stay out of the reply (see collect).
  uint64_t bytes = 16 + uint64_t{timestamps} * 11;
  for (const Download& download : downloads) {
    const uint64_t size = download.tensor->byteSize();
    const bool inlined =
        !download.tensor->hasExternalHostMemory() && (inlineLimit == 0 || size <= inlineLimit);
    bytes += inlined ? size + 32 : 16;
  }
  KP_REQUIRE(bytes <= static_cast<uint64_t>(config_.maxMessageBytes), ErrorCode::kResourceExhausted,
             evaluationName(sequence) + ": its reply would carry " + describeBytes(bytes) +
                 " of downloads, more than a message may hold (--max-message-bytes " +
                 std::to_string(config_.maxMessageBytes) +
                 "); sync fewer or smaller tensors per evaluation");
}

void Evaluator::checkUploads(const SessionObjects& objects, const v1::EvalRequest& request) {
  uploadHandles_.clear();
  uploadWrites_.clear();
  for (const v1::TensorData& upload : request.uploads()) uploadHandles_.push_back(upload.tensor());
  std::sort(uploadHandles_.begin(), uploadHandles_.end());
  const bool duplicates =
      std::adjacent_find(uploadHandles_.begin(), uploadHandles_.end()) != uploadHandles_.end();
  for (int i = 0; i < request.uploads_size(); ++i) {
    const v1::TensorData& upload = request.uploads(i);
    // Messages name the field; built only on failure.
    const auto field = [i] { return "uploads[" + std::to_string(i) + "]"; };
    const std::shared_ptr<engine::Tensor>* found = objects.tensors().find(upload.tensor());
    if (found == nullptr) objects.tensors().failNotFound(upload.tensor(), field() + ".tensor");
    const std::shared_ptr<engine::Tensor>& tensor = *found;
    if (duplicates) {
      for (int j = 0; j < i; ++j) {
        KP_REQUIRE(request.uploads(j).tensor() != upload.tensor(), ErrorCode::kInvalidArgument,
                   field() + ".tensor: tensor " + std::to_string(upload.tensor()) +
                       " appears more than once in uploads");
      }
    }
    KP_REQUIRE(tensor->hasHostData(), ErrorCode::kInvalidArgument,
               field() + ".tensor: tensor " + std::to_string(upload.tensor()) +
                   " is a storage tensor: it has no host data to upload");
    KP_REQUIRE(upload.data().size() == tensor->byteSize(), ErrorCode::kInvalidArgument,
               field() + ".data has " + std::to_string(upload.data().size()) + " bytes; tensor " +
                   std::to_string(upload.tensor()) + " has " + std::to_string(tensor->byteSize()));
    KP_REQUIRE(!objects.usedByRunningEvaluation(tensor.get(), nullptr),
               ErrorCode::kFailedPrecondition,
               field() + ".tensor: tensor " + std::to_string(upload.tensor()) +
                   " is used by a running evaluation; await it before uploading to the tensor");
    uploadWrites_.emplace_back(tensor.get(), &upload.data());
  }
}

void Evaluator::writeUploads() {
  for (const auto& [tensor, data] : uploadWrites_) tensor->setHostData(data->data(), data->size());
}

std::shared_ptr<SequenceEntry> Evaluator::submitAnonymous(SessionObjects& objects,
                                                          const v1::EvalRequest& request) {
  KP_REQUIRE(request.ops_size() > 0, ErrorCode::kInvalidArgument,
             "ops: evaluating without a sequence (sequence = 0) needs at least one op");
  requireOpsLimit(request.ops());
  objects.requireAnonymousRoom();
  BuiltOps built = buildOps(request.ops(), objects.tensors(), objects.algorithms());
  requireReplyFits(built.downloads, 0, request.inline_download_limit(), 0);
  auto entry = std::make_shared<SequenceEntry>();
  entry->sequence = engine::Sequence::create(device_, 0, 0, owner_);
  recordInto(*entry, std::move(built));
  checkUploads(objects, request);
  entry->sequence->evalAsync([this] { writeUploads(); });
  objects.addAnonymous(entry);
  return entry;
}

std::shared_ptr<SequenceEntry> Evaluator::submit(SessionObjects& objects,
                                                 const v1::EvalRequest& request,
                                                 bool allowAnonymous) {
  objects.reapAnonymous();
  if (request.sequence() == 0) {
    KP_REQUIRE(allowAnonymous, ErrorCode::kInvalidArgument,
               "sequence: EvalAsync needs a sequence handle to await (0 is allowed only in Eval)");
    return submitAnonymous(objects, request);
  }
  std::shared_ptr<SequenceEntry> entry = objects.sequences().get(request.sequence(), "sequence");
  // Messages name the sequence; built only when needed (an evaluation allocates nothing).
  const auto name = [&] { return evaluationName(request.sequence()); };
  std::optional<BuiltOps> built;
  if (request.record()) {
    requireOpsLimit(request.ops());
    built = buildOps(request.ops(), objects.tensors(), objects.algorithms());
  } else {
    KP_REQUIRE(request.ops_size() == 0, ErrorCode::kInvalidArgument,
               "ops: " + std::to_string(request.ops_size()) +
                   " op(s) given with record = false; set record to replace the sequence's ops");
  }
  KP_REQUIRE(!entry->sequence->isRunning(), ErrorCode::kFailedPrecondition,
             name() + " is running; await it before evaluating it again");
  requireReplyFits(built ? built->downloads : entry->downloads, entry->sequence->totalTimestamps(),
                   request.inline_download_limit(), request.sequence());
  if (built) recordInto(*entry, std::move(*built));
  checkUploads(objects, request);
  // The uploads are written once evalAsync has found the sequence able to run (its ops'
  // tensors and algorithms may have been destroyed since it was recorded): a refused
  // evaluation changes nothing.
  base::withContext(name, [&] { entry->sequence->evalAsync([this] { writeUploads(); }); });
  entry->submitted = std::chrono::steady_clock::now();
  return entry;
}

void Evaluator::wait(SequenceEntry& entry, const v1::EvalRequest& request,
                     std::chrono::system_clock::time_point deadline,
                     const std::function<bool()>& cancelled, const ServiceConfig& config) {
  uint64_t timeoutMs = config.evalTimeoutMs;
  if (request.timeout_ms() > 0) timeoutMs = std::min<uint64_t>(timeoutMs, request.timeout_ms());
  uint64_t timeoutNs = timeoutMs * 1'000'000;
  if (deadline != std::chrono::system_clock::time_point::max()) {
    auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(
                    deadline - std::chrono::system_clock::now())
                    .count();
    timeoutNs = std::min<uint64_t>(timeoutNs, left > 0 ? static_cast<uint64_t>(left) : 0);
  }
  // Wait in slices so that a cancelled call does not hold its thread until the timeout.
  const auto until = std::chrono::steady_clock::now() + std::chrono::nanoseconds(timeoutNs);
  bool finished = false;
  while (true) {
    const int64_t leftNs = std::chrono::duration_cast<std::chrono::nanoseconds>(
                               until - std::chrono::steady_clock::now())
                               .count();
    const uint64_t sliceNs =
        cancelled ? std::min<uint64_t>(kWaitSliceNs, leftNs > 0 ? leftNs : 0) : timeoutNs;
    finished = entry.sequence->evalAwait(sliceNs);
    if (finished || !cancelled || leftNs <= 0 || sliceNs >= static_cast<uint64_t>(leftNs)) break;
    if (cancelled()) {
      base::fail(ErrorCode::kUnavailable,
                 "the call was given up while its evaluation ran (the client cancelled it, or kpd "
                 "is shutting down and its --drain-ms ran out)");
    }
  }
  if (finished) return;
  base::fail(ErrorCode::kDeadlineExceeded,
             "the evaluation did not finish within " + std::to_string(timeoutNs / 1'000'000) +
                 " ms" +
                 (request.sequence() != 0 ? "; sequence " + std::to_string(request.sequence()) +
                                                " keeps running and can be awaited with EvalAwait"
                                          : "; its resources are freed once it finishes"));
}

void Evaluator::collect(SequenceEntry& entry, uint64_t inlineLimit, v1::EvalResponse* response) {
  response->set_finished(true);
  if (entry.submitted) {  // the first collection of this evaluation: its latency
    base::metrics().evaluations.observe(std::chrono::steady_clock::now() - *entry.submitted);
    entry.submitted.reset();
  }
  for (const Download& download : entry.downloads) {
    if (!download.tensor->isInit()) continue;                // destroyed since it was recorded
    if (download.tensor->hasExternalHostMemory()) continue;  // the client sees it in place
    if (inlineLimit > 0 && download.tensor->byteSize() > inlineLimit) {
      response->add_pending_downloads(download.handle);
      continue;
    }
    v1::TensorData* data = response->add_downloads();
    data->set_tensor(download.handle);
    std::string* bytes = data->mutable_data();
    bytes->resize(download.tensor->byteSize());
    download.tensor->getHostData(bytes->data(), bytes->size());
  }
  // A sequence awaited before any evaluation has no timestamps yet: the reply has none.
  if (entry.sequence->hasTimestamps()) {
    for (uint64_t value : entry.sequence->getTimestamps()) response->add_timestamps(value);
  }
}

}  // namespace kp::service
