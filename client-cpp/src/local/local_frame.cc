#include "client-cpp/src/local/local_frame.h"

#include <google/protobuf/io/coded_stream.h>

#include <cstdint>
#include <cstring>

#include "kp/error.hpp"
#include "kp/v1/types.pb.h"

namespace kp::detail {
namespace {

static_assert(sizeof(uint32_t) == kp::v1::PROTOCOL_LOCAL_FRAME_HEADER_BYTES,
              "a local frame starts with its length as a uint32");

// Writes the 4-byte length of a frame of `inner` bytes and makes room for them; returns where
// they go.
uint8_t* startFrame(size_t inner, std::string* frame) {
  if (inner > UINT32_MAX) {
    throw InvalidArgumentError(StatusCode::kInvalidArgument,
                               "a request of " + std::to_string(inner) +
                                   " bytes does not fit a frame of the local data socket");
  }
  frame->resize(sizeof(uint32_t) + inner);
  auto* out = reinterpret_cast<uint8_t*>(frame->data());
  const uint32_t length = static_cast<uint32_t>(inner);  // little-endian hosts (local_link.cc)
  std::memcpy(out, &length, sizeof(length));
  return out + sizeof(length);
}

}  // namespace

void writeLocalFrame(int field, const google::protobuf::MessageLite& message, std::string* frame) {
  using google::protobuf::io::CodedOutputStream;
  constexpr uint32_t kLengthDelimited = 2;
  const uint32_t tag = static_cast<uint32_t>(field) << 3 | kLengthDelimited;
  const size_t body = message.ByteSizeLong();  // also caches the sizes for the write below
  const size_t inner =
      CodedOutputStream::VarintSize32(tag) + CodedOutputStream::VarintSize64(body) + body;
  uint8_t* out = startFrame(inner, frame);
  out = CodedOutputStream::WriteVarint32ToArray(tag, out);
  out = CodedOutputStream::WriteVarint64ToArray(body, out);
  message.SerializeWithCachedSizesToArray(out);
}

void writeLocalFrame(const google::protobuf::MessageLite& request, std::string* frame) {
  const size_t inner = request.ByteSizeLong();
  request.SerializeWithCachedSizesToArray(startFrame(inner, frame));
}

}  // namespace kp::detail
