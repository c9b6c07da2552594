#include "server/engine/types.h"

namespace kp::engine {

const char* dataTypeName(DataType type) {
  switch (type) {
    case DataType::kFloat32:
      return "float32";
    case DataType::kInt32:
      return "int32";
    case DataType::kUInt32:
      return "uint32";
    case DataType::kFloat64:
      return "float64";
    case DataType::kBool:
      return "bool";
  }
  return "unknown";
}

const char* tensorTypeName(TensorType type) {
  switch (type) {
    case TensorType::kDevice:
      return "device";
    case TensorType::kHost:
      return "host";
    case TensorType::kStorage:
      return "storage";
  }
  return "unknown";
}

}  // namespace kp::engine
