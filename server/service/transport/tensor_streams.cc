#include "server/service/transport/tensor_streams.h"

#include <algorithm>
#include <string>

#include "server/base/error.h"

namespace kp::service {

void writeTensorStream(SessionRegistry& registry, const std::string& owner,
                       const std::function<bool(v1::TensorChunk*)>& next) {
  std::shared_ptr<Session> session;
  uint64_t tensor = 0;
  uint64_t written = 0;  // the chunks cover [0, written) so far
  uint64_t size = 0;
  v1::TensorChunk chunk;
  for (uint64_t index = 0; next(&chunk); ++index) {
    if (!session) {
      session = registry.find(chunk.session(), owner);
      tensor = chunk.tensor();
    }
    KP_REQUIRE(chunk.tensor() == 0 || chunk.tensor() == tensor, base::ErrorCode::kInvalidArgument,
               "tensor: a stream writes one tensor (" + std::to_string(tensor) +
                   "), a chunk names " + std::to_string(chunk.tensor()));
    KP_REQUIRE(chunk.offset() == written, base::ErrorCode::kInvalidArgument,
               "offset: chunk " + std::to_string(index) + " starts at byte " +
                   std::to_string(chunk.offset()) + ", but the chunks before it end at byte " +
                   std::to_string(written) + " (chunks come in order, without gaps)");
    size = session->writeTensorChunk(tensor, chunk.offset(), chunk.data());
    written += chunk.data().size();
  }
  KP_REQUIRE(session != nullptr, base::ErrorCode::kInvalidArgument, "the stream had no chunk");
  // A chunk that does not parse ends the stream early, as a missing one would: the host copy
  // is then only partly written, and the call must not answer OK.
  KP_REQUIRE(written == size, base::ErrorCode::kInvalidArgument,
             "the stream ended after " + std::to_string(written) + " of tensor " +
                 std::to_string(tensor) + "'s " + std::to_string(size) +
                 " bytes: a chunk is missing or did not parse");
}

void readTensorStream(SessionRegistry& registry, const std::string& owner,
                      const v1::ReadTensorStreamRequest& request,
                      const std::function<bool(const v1::TensorChunk&)>& send,
                      std::shared_ptr<void>* hold) {
  auto session = registry.find(request.session(), owner);
  // Clients may ask for chunks up to PROTOCOL_MAX_CHUNK_BYTES within their message limit
  // (4 MiB chunks stream about 1.5x faster than 1 MiB ones through gRPC Python:
  // bench/RESULTS.md). A stream holds one chunk at a time, charged to the session until the
  // call ends: one whose client stops reading holds no more than that.
  const uint64_t largest = std::min<uint64_t>(
      v1::PROTOCOL_MAX_CHUNK_BYTES,
      static_cast<uint64_t>(registry.config().maxMessageBytes) - v1::PROTOCOL_CHUNK_FRAMING_BYTES);
  const uint64_t chunkBytes = request.chunk_bytes() ? std::min(request.chunk_bytes(), largest)
                                                    : uint64_t{v1::PROTOCOL_DEFAULT_CHUNK_BYTES};
  *hold = session->holdReply(chunkBytes, "ReadTensorStream");
  v1::TensorChunk chunk;
  chunk.set_tensor(request.tensor());
  uint64_t offset = 0;
  uint64_t size = 0;
  do {
    chunk.set_offset(offset);
    chunk.mutable_data()->clear();
    size = session->readTensorChunk(request.tensor(), offset, chunkBytes, chunk.mutable_data());
    if (size == 0 || !send(chunk)) break;
    offset += chunk.data().size();
  } while (offset < size);
}

}  // namespace kp::service
