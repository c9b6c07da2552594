// Frames of the local data socket: how a request is written for LocalLink.
#pragma once

#include <google/protobuf/message_lite.h>

#include <string>

namespace kp::detail {

/// Writes a whole frame into `frame`, replacing its contents and reusing its capacity: the
/// 4-byte little-endian length, then a serialized LocalRequest whose oneof field `field`
/// (v1::LocalRequest::kEvalFieldNumber, ...) holds `message`. `message` is serialized once,
/// straight into the frame: no LocalRequest is built and nothing is copied. Throws
/// InvalidArgumentError when the request is too large for a frame.
void writeLocalFrame(int field, const google::protobuf::MessageLite& message, std::string* frame);

/// Writes a whole frame holding `request`, a LocalRequest built as a message (for the rare
/// requests: attach, map_arena).
void writeLocalFrame(const google::protobuf::MessageLite& request, std::string* frame);

}  // namespace kp::detail
