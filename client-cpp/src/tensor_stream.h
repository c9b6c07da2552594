// Host copies too large for one message: chunked WriteTensorStream / ReadTensorStream calls.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kp/tensor.hpp"
#include "kp/v1/types.pb.h"

namespace kp::detail {

class Session;

/// Host copies of more than this many bytes (on the wire) travel as streams rather than
/// inside CreateTensor, Eval requests and their replies (EvalRequest.inline_download_limit):
/// the protocol's threshold (proto/kp/v1/types.proto). Streams travel in chunks of up to
/// kStreamChunkBytes, as in the Python client (bench/RESULTS.md has the measurements).
constexpr size_t kStreamThreshold = v1::PROTOCOL_STREAM_THRESHOLD_BYTES;
constexpr size_t kStreamChunkBytes = 4 << 20;

/// How many bytes of host copies travel inside messages; the rest are streamed.
struct InlineLimits {
  /// The largest host copy inside a message: CreateTensor data, an upload, a download
  /// (EvalRequest.inline_download_limit).
  size_t each = kStreamThreshold;
  /// The most bytes of uploads in one Eval request.
  size_t total = kStreamThreshold;
};

/// The InlineLimits of `session`: kStreamThreshold each, and all uploads of a request within
/// half the daemon's message limit (which also caps each).
InlineLimits inlineLimits(const Session& session);

/// The chunk size of `session`'s streams: kStreamChunkBytes, or less so that a chunk with
/// its framing stays under the daemon's message limit (1 MiB when it does not say).
size_t streamChunkBytes(const Session& session);

/// Replaces the daemon's host copy of tensor `handle` with the `count` elements of `type` at
/// `host`, in chunks. Throws kp::Error as Session::call() does.
void writeTensorStream(const Session& session, uint64_t handle, Tensor::TensorDataTypes type,
                       const void* host, size_t count);

/// Copies the daemon's host copy of tensor `handle` (`count` elements of `type`) to `host`,
/// in chunks. Throws kp::Error as Session::call() does, InternalError when the chunks do not
/// fit the tensor.
void readTensorStream(const Session& session, uint64_t handle, Tensor::TensorDataTypes type,
                      void* host, size_t count);

}  // namespace kp::detail
