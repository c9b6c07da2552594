#include "client-cpp/src/tensor_stream.h"

#include <algorithm>

#include "kp/error.hpp"
#include "client-cpp/src/session.h"
#include "client-cpp/src/wire.h"

namespace kp::detail {
namespace {

// The smallest message limit a daemon accepts is assumed when it does not say.
size_t messageLimit(const Session& session) {
  return session.maxMessageBytes() > 0 ? session.maxMessageBytes()
                                       : size_t{v1::PROTOCOL_MIN_MESSAGE_BYTES};
}

}  // namespace

InlineLimits inlineLimits(const Session& session) {
  const size_t half = messageLimit(session) / 2;
  return {std::min(kStreamThreshold, half), half};
}

size_t streamChunkBytes(const Session& session) {
  const size_t limit = messageLimit(session);
  const size_t framing = v1::PROTOCOL_CHUNK_FRAMING_BYTES;
  return std::max<size_t>(4096, std::min(kStreamChunkBytes, limit - std::min(limit, framing)));
}

void writeTensorStream(const Session& session, uint64_t handle, Tensor::TensorDataTypes type,
                       const void* host, size_t count) {
  session.requireNotClosedByClient();
  const size_t hostSize = Tensor::hostElementSize(type);
  const size_t perChunk = std::max<size_t>(1, streamChunkBytes(session) / wireElementSize(type));
  grpc::ClientContext context;
  v1::WriteTensorResponse response;
  std::unique_ptr<grpc::ClientWriter<v1::TensorChunk>> writer =
      session.stub().WriteTensorStream(&context, &response);
  v1::TensorChunk chunk;
  chunk.set_session(session.id());
  chunk.set_tensor(handle);
  for (size_t start = 0; start < count; start += perChunk) {
    const size_t n = std::min(perChunk, count - start);
    chunk.set_offset(start * wireElementSize(type));
    toWire(type, static_cast<const uint8_t*>(host) + start * hostSize, n, chunk.mutable_data());
    if (!writer->Write(chunk)) break;  // the daemon ended the call: Finish() says why
    chunk.clear_session();             // later chunks name neither session nor tensor
    chunk.clear_tensor();
  }
  writer->WritesDone();
  grpc::Status status = writer->Finish();
  if (!status.ok()) session.failed(status);
}

void readTensorStream(const Session& session, uint64_t handle, Tensor::TensorDataTypes type,
                      void* host, size_t count) {
  session.requireNotClosedByClient();
  const size_t hostSize = Tensor::hostElementSize(type);
  const size_t wireSize = wireElementSize(type);
  grpc::ClientContext context;
  v1::ReadTensorStreamRequest request;
  request.set_session(session.id());
  request.set_tensor(handle);
  request.set_chunk_bytes(streamChunkBytes(session));
  std::unique_ptr<grpc::ClientReader<v1::TensorChunk>> reader =
      session.stub().ReadTensorStream(&context, request);
  v1::TensorChunk chunk;
  while (reader->Read(&chunk)) {
    const uint64_t offset = chunk.offset();
    const size_t bytes = chunk.data().size();
    if (offset % wireSize != 0 || bytes % wireSize != 0 || offset / wireSize > count ||
        bytes / wireSize > count - offset / wireSize) {
      context.TryCancel();
      reader->Finish();
      throw InternalError(StatusCode::kInternal,
                          "kpd sent a chunk of " + std::to_string(bytes) + " bytes at offset " +
                              std::to_string(offset) + " for tensor " + std::to_string(handle) +
                              " of " + std::to_string(count * wireSize) + " bytes");
    }
    const size_t first = offset / wireSize;
    fromWire(type, chunk.data().data(), bytes, static_cast<uint8_t*>(host) + first * hostSize,
             bytes / wireSize, handle);
  }
  grpc::Status status = reader->Finish();
  if (!status.ok()) session.failed(status);
}

}  // namespace kp::detail
