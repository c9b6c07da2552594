// Conversions between kp.v1 messages and engine types. Each validates what it converts and
// throws base::Error(kInvalidArgument) naming `field` when the value is unusable.
#pragma once

#include <string>

#include "server/engine/constants.h"
#include "server/engine/device_info.h"
#include "kp/v1/types.pb.h"
#include "server/engine/types.h"

namespace kp::service {

engine::DataType toEngine(v1::DataType type, const std::string& field);
engine::TensorType toEngine(v1::TensorType type, const std::string& field);
engine::Constants toEngine(const v1::Constants& constants, const std::string& field);

v1::DataType toProto(engine::DataType type);
void toProto(const engine::DeviceInfo& info, v1::Device* device);

}  // namespace kp::service
