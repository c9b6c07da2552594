// The bodies of WriteTensorStream and ReadTensorStream, apart from gRPC's reader and writer, so
// that the request fuzzer drives exactly what the service runs.
#pragma once

#include <functional>
#include <memory>

#include "kp/v1/compute.pb.h"
#include "server/service/lifecycle/session_registry.h"

namespace kp::service {

// Writes the chunks that `next` yields (false: the stream ended) into the host copy of the
// tensor the first one names, in a session of `owner`. The chunks come in order and cover the host copy: a stream that
// ends short (a chunk missing, or one that did not parse, which ends gRPC's reading) fails.
void writeTensorStream(SessionRegistry& registry, const std::string& owner,
                       const std::function<bool(v1::TensorChunk*)>& next);

// Sends the host copy of the tensor `request` names (in a session of `owner`) through `send`, in chunks of at most
// PROTOCOL_MAX_CHUNK_BYTES within the message limit, until `send` returns false. The chunk in
// flight is charged to the session through `hold` (Session::holdReply), which the caller
// keeps until the call ends.
void readTensorStream(SessionRegistry& registry, const std::string& owner,
                      const v1::ReadTensorStreamRequest& request,
                      const std::function<bool(const v1::TensorChunk&)>& send,
                      std::shared_ptr<void>* hold);

}  // namespace kp::service
