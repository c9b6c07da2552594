#include "server/engine/shader/spirv_interface.h"

#include <algorithm>
#include <cstring>
#include <unordered_map>
#include <unordered_set>

#include "server/base/error.h"

namespace kp::engine {

using base::Error;
using base::ErrorCode;
using base::fail;
namespace {

// SPIR-V opcodes, decorations, storage classes and execution modes used here.
enum : uint32_t {
  kOpEntryPoint = 15,
  kOpExecutionMode = 16,
  kOpTypeBool = 20,
  kOpTypeInt = 21,
  kOpTypeFloat = 22,
  kOpTypeVector = 23,
  kOpTypeMatrix = 24,
  kOpTypeImage = 25,
  kOpTypeSampler = 26,
  kOpTypeSampledImage = 27,
  kOpTypeArray = 28,
  kOpTypeRuntimeArray = 29,
  kOpTypeStruct = 30,
  kOpTypePointer = 32,
  kOpConstantTrue = 41,
  kOpConstantFalse = 42,
  kOpConstant = 43,
  kOpConstantComposite = 44,
  kOpSpecConstantTrue = 48,
  kOpSpecConstantFalse = 49,
  kOpSpecConstant = 50,
  kOpSpecConstantComposite = 51,
  kOpFunction = 54,
  kOpVariable = 59,
  kOpDecorate = 71,
  kOpMemberDecorate = 72,
  kOpExecutionModeId = 331,
};
enum : uint32_t {
  kDecorationSpecId = 1,
  kDecorationBlock = 2,
  kDecorationBufferBlock = 3,
  kDecorationRowMajor = 4,
  kDecorationArrayStride = 6,
  kDecorationMatrixStride = 7,
  kDecorationBuiltIn = 11,
  kDecorationBinding = 33,
  kDecorationDescriptorSet = 34,
  kDecorationOffset = 35,
};
enum : uint32_t {
  kStorageUniformConstant = 0,
  kStorageUniform = 2,
  kStorageWorkgroup = 4,
  kStoragePrivate = 6,
  kStorageFunction = 7,
  kStoragePushConstant = 9,
  kStorageStorageBuffer = 12,
};
constexpr uint32_t kBuiltInWorkgroupSize = 25;
constexpr uint32_t kExecutionModeLocalSize = 17;
constexpr uint32_t kExecutionModeLocalSizeId = 38;
constexpr uint32_t kExecutionModelGLCompute = 5;
constexpr uint64_t kUnbounded = UINT64_MAX;

uint64_t multiply(uint64_t a, uint64_t b) {
  uint64_t result = 0;
  return __builtin_mul_overflow(a, b, &result) ? kUnbounded : result;
}

uint64_t add(uint64_t a, uint64_t b) {
  uint64_t result = 0;
  return __builtin_add_overflow(a, b, &result) ? kUnbounded : result;
}

struct Instruction {
  uint32_t opcode = 0;
  std::vector<uint32_t> operands;  // the words after the opcode word
};

struct MemberLayout {
  std::optional<uint64_t> offset;
  std::optional<uint64_t> matrixStride;
  bool rowMajor = false;
};

// The module, indexed for the questions below.
class Module {
 public:
  Module(const std::vector<uint32_t>& words, const Constants& specValues)
      : specValues_(specValues) {
    bool inFunctions = false;
    uint32_t mainFunction = 0;
    std::vector<Instruction> modes;
    for (size_t i = 5; i < words.size();) {
      const uint32_t count = words[i] >> 16;
      if (count == 0 || i + count > words.size()) break;  // the validator already refused these
      Instruction instruction{words[i] & 0xffff,
                              {words.begin() + i + 1, words.begin() + i + count}};
      i += count;
      const auto& op = instruction.operands;
      if (instruction.opcode == kOpFunction) inFunctions = true;
      if (inFunctions) {
        used_.insert(op.begin(), op.end());
        if (instruction.opcode == kOpVariable && op.size() >= 3) {
          variables_.push_back({op[0], op[1], op[2]});  // a function's local (Function storage)
        }
        continue;
      }
      switch (instruction.opcode) {
        case kOpEntryPoint:
          if (op.size() >= 3 && op[0] == kExecutionModelGLCompute && name(op, 2) == "main") {
            mainFunction = op[1];
          }
          break;
        case kOpExecutionMode:
        case kOpExecutionModeId:
          modes.push_back(instruction);
          break;
        case kOpDecorate:
          if (op.size() >= 2) {
            decorations_[op[0]][op[1]] = op.size() >= 3 ? op[2] : 1;
          }
          break;
        case kOpMemberDecorate:
          if (op.size() >= 3) {
            MemberLayout& layout = members_[op[0]][op[1]];
            if (op[2] == kDecorationOffset && op.size() >= 4) layout.offset = op[3];
            if (op[2] == kDecorationMatrixStride && op.size() >= 4) layout.matrixStride = op[3];
            if (op[2] == kDecorationRowMajor) layout.rowMajor = true;
          }
          break;
        case kOpVariable:
          if (op.size() >= 3) variables_.push_back({op[0], op[1], op[2]});
          break;
        default:
          // Types and constants: the result id is operand 0 for types, 1 for constants.
          if (isType(instruction.opcode) && !op.empty()) {
            definitions_[op[0]] = instruction;
          } else if (isConstant(instruction.opcode) && op.size() >= 2) {
            definitions_[op[1]] = instruction;
          }
      }
    }
    for (const Instruction& mode : modes) {
      const auto& op = mode.operands;
      if (op.size() < 5 || op[0] != mainFunction) continue;
      if (mode.opcode == kOpExecutionMode && op[1] == kExecutionModeLocalSize) {
        localSize_ = {Dimension{op[2], false}, Dimension{op[3], false}, Dimension{op[4], false}};
      } else if (mode.opcode == kOpExecutionModeId && op[1] == kExecutionModeLocalSizeId) {
        localSizeIds_ = {op[2], op[3], op[4]};
      }
    }
  }

  SpirvInterface interface() {
    SpirvInterface result;
    for (const Variable& variable : variables_) {
      if (!used_.count(variable.id)) continue;
      const Instruction* pointer = definition(variable.pointerType);
      if (!pointer || pointer->opcode != kOpTypePointer || pointer->operands.size() < 3) continue;
      const uint32_t pointee = pointer->operands[2];
      switch (variable.storageClass) {
        case kStorageUniformConstant:
        case kStorageUniform:
        case kStorageStorageBuffer:
          result.resources.push_back(resource(variable, pointee));
          break;
        case kStoragePushConstant: {
          const uint64_t bytes = size(pointee, {});
          if (bytes != kUnbounded) {
            result.pushConstantBytes = std::max(result.pushConstantBytes, bytes);
          }
          break;
        }
        case kStorageWorkgroup: {
          const uint64_t bytes = size(pointee, {});
          if (bytes != kUnbounded) {
            result.workgroupMemoryBytes = add(result.workgroupMemoryBytes, bytes);
          }
          break;
        }
        case kStoragePrivate:
        case kStorageFunction:
          // Every local of every function counts, as if all were live at once: an upper bound.
          result.privateMemoryBytes = add(result.privateMemoryBytes, size(pointee, {}));
          break;
        default:
          break;
      }
    }
    for (const auto& [id, instruction] : definitions_) {
      const uint32_t op = instruction.opcode;
      if (op != kOpSpecConstant && op != kOpSpecConstantTrue && op != kOpSpecConstantFalse) {
        continue;
      }
      auto specId = decoration(id, kDecorationSpecId);
      if (!specId) continue;
      SpirvSpecConstant constant;
      const Instruction* type = definition(instruction.operands[0]);
      if (type && type->opcode == kOpTypeBool) {
        constant = {4, "bool"};
      } else if (type && (type->opcode == kOpTypeInt || type->opcode == kOpTypeFloat) &&
                 type->operands.size() >= 2) {
        constant.bytes = type->operands[1] / 8;
        constant.type = std::to_string(type->operands[1]) + "-bit " +
                        (type->opcode == kOpTypeFloat ? "float" : "integer");
      } else {
        continue;
      }
      result.specConstants[*specId] = constant;
    }
    resolveLocalSize(result);
    return result;
  }

 private:
  struct Variable {
    uint32_t pointerType;
    uint32_t id;
    uint32_t storageClass;
  };
  struct Dimension {
    uint64_t value;
    bool specialised;
  };

  static bool isType(uint32_t opcode) {
    return (opcode >= kOpTypeBool && opcode <= kOpTypePointer) || opcode == 5341;
  }
  static bool isConstant(uint32_t opcode) {
    return (opcode >= kOpConstantTrue && opcode <= kOpConstantComposite) ||
           (opcode >= kOpSpecConstantTrue && opcode <= kOpSpecConstantComposite);
  }

  static std::string name(const std::vector<uint32_t>& words, size_t from) {
    std::string text;
    for (size_t i = from; i < words.size(); ++i) {
      for (int b = 0; b < 4; ++b) {
        const char c = static_cast<char>((words[i] >> (8 * b)) & 0xff);
        if (c == '\0') return text;
        text.push_back(c);
      }
    }
    return text;
  }

  const Instruction* definition(uint32_t id) const {
    auto found = definitions_.find(id);
    return found == definitions_.end() ? nullptr : &found->second;
  }

  std::optional<uint32_t> decoration(uint32_t id, uint32_t which) const {
    auto found = decorations_.find(id);
    if (found == decorations_.end()) return std::nullopt;
    auto value = found->second.find(which);
    if (value == found->second.end()) return std::nullopt;
    return value->second;
  }

  // The value of a scalar (specialisation) constant, with `specValues` applied.
  std::optional<Dimension> constantValue(uint32_t id) const {
    const Instruction* constant = definition(id);
    if (!constant) return std::nullopt;
    const auto& op = constant->operands;
    switch (constant->opcode) {
      case kOpConstant:
        if (op.size() < 3) return std::nullopt;
        return Dimension{op.size() >= 4 ? (uint64_t{op[3]} << 32 | op[2]) : op[2], false};
      case kOpConstantTrue:
        return Dimension{1, false};
      case kOpConstantFalse:
        return Dimension{0, false};
      case kOpSpecConstant:
      case kOpSpecConstantTrue:
      case kOpSpecConstantFalse: {
        uint64_t value = constant->opcode == kOpSpecConstantTrue ? 1 : 0;
        if (constant->opcode == kOpSpecConstant) {
          if (op.size() < 3) return std::nullopt;
          value = op.size() >= 4 ? (uint64_t{op[3]} << 32 | op[2]) : op[2];
        }
        auto specId = decoration(id, kDecorationSpecId);
        const size_t elementBytes = elementSize(specValues_.type);
        if (specId && *specId < specValues_.count()) {
          uint64_t given = 0;
          std::memcpy(&given, specValues_.bytes.data() + *specId * elementBytes,
                      std::min<size_t>(elementBytes, sizeof(given)));
          value = given;
        }
        return Dimension{value, true};
      }
      default:
        return std::nullopt;  // e.g. OpSpecConstantOp: not evaluated here
    }
  }

  // Bytes a value of type `id` occupies (explicit layout when decorated, natural otherwise);
  // kUnbounded when unknown (runtime arrays, lengths computed by OpSpecConstantOp, ...).
  uint64_t size(uint32_t id, const MemberLayout& layout, int depth = 0) const {
    const Instruction* type = definition(id);
    if (!type || depth > 32) return kUnbounded;
    const auto& op = type->operands;
    switch (type->opcode) {
      case kOpTypeBool:
        return 4;
      case kOpTypeInt:
      case kOpTypeFloat:
        return op.size() >= 2 ? op[1] / 8 : kUnbounded;
      case kOpTypeVector:
        return op.size() >= 3 ? multiply(op[2], size(op[1], {}, depth + 1)) : kUnbounded;
      case kOpTypeMatrix: {
        if (op.size() < 3) return kUnbounded;
        const Instruction* column = definition(op[1]);
        if (layout.matrixStride) {
          const uint64_t rows = column && column->operands.size() >= 3 ? column->operands[2] : 4;
          return multiply(layout.rowMajor ? rows : op[2], *layout.matrixStride);
        }
        return multiply(op[2], size(op[1], {}, depth + 1));
      }
      case kOpTypeArray: {
        if (op.size() < 3) return kUnbounded;
        auto length = constantValue(op[2]);
        if (!length) return kUnbounded;
        auto stride = decoration(id, kDecorationArrayStride);
        return multiply(length->value, stride ? *stride : size(op[1], {}, depth + 1));
      }
      case kOpTypeStruct: {
        uint64_t total = 0;
        auto members = members_.find(id);
        for (size_t m = 1; m < op.size(); ++m) {
          MemberLayout member;
          if (members != members_.end()) {
            auto found = members->second.find(static_cast<uint32_t>(m - 1));
            if (found != members->second.end()) member = found->second;
          }
          const uint64_t bytes = size(op[m], member, depth + 1);
          if (bytes == kUnbounded) return kUnbounded;
          total = member.offset ? std::max(total, add(*member.offset, bytes)) : add(total, bytes);
        }
        return total;
      }
      default:
        return kUnbounded;
    }
  }

  SpirvResource resource(const Variable& variable, uint32_t pointee) const {
    SpirvResource resource;
    resource.set = decoration(variable.id, kDecorationDescriptorSet).value_or(0);
    resource.binding = decoration(variable.id, kDecorationBinding).value_or(0);
    const Instruction* type = definition(pointee);
    const uint32_t opcode = type ? type->opcode : 0;
    if (opcode == kOpTypeArray || opcode == kOpTypeRuntimeArray) {
      auto length = opcode == kOpTypeArray && type->operands.size() >= 3
                        ? constantValue(type->operands[2])
                        : std::nullopt;
      resource.kind = length ? "array of " + std::to_string(length->value) + " descriptors"
                             : "runtime array of descriptors";
    } else if (variable.storageClass == kStorageStorageBuffer) {
      resource.storageBuffer = true;
      resource.kind = "storage buffer";
    } else if (variable.storageClass == kStorageUniform) {
      resource.storageBuffer = decoration(pointee, kDecorationBufferBlock).has_value();
      resource.kind = resource.storageBuffer ? "storage buffer" : "uniform buffer";
    } else {
      resource.kind = opcode == kOpTypeImage          ? "image"
                      : opcode == kOpTypeSampler      ? "sampler"
                      : opcode == kOpTypeSampledImage ? "sampled image"
                                                      : "descriptor that is not a buffer";
    }
    return resource;
  }

  void resolveLocalSize(SpirvInterface& result) const {
    std::array<std::optional<Dimension>, 3> dimensions;
    for (int i = 0; i < 3; ++i) dimensions[i] = localSize_[i];
    if (localSizeIds_) {
      for (int i = 0; i < 3; ++i) dimensions[i] = constantValue((*localSizeIds_)[i]);
    }
    // A constant decorated BuiltIn WorkgroupSize takes precedence over the execution mode.
    for (const auto& [id, instruction] : definitions_) {
      if (instruction.opcode != kOpConstantComposite &&
          instruction.opcode != kOpSpecConstantComposite) {
        continue;
      }
      if (decoration(id, kDecorationBuiltIn) != kBuiltInWorkgroupSize) continue;
      const auto& op = instruction.operands;
      for (int i = 0; i < 3 && static_cast<size_t>(2 + i) < op.size(); ++i) {
        dimensions[i] = constantValue(op[2 + i]);
      }
    }
    for (int i = 0; i < 3; ++i) {
      if (!dimensions[i]) continue;  // unknown: the driver's own checks apply
      result.localSize[i] = dimensions[i]->value;
      result.localSizeSpecialised |= dimensions[i]->specialised;
    }
  }

  const Constants& specValues_;
  std::unordered_set<uint32_t> used_;                      // ids that appear in function bodies
  std::unordered_map<uint32_t, Instruction> definitions_;  // types and constants by result id
  std::unordered_map<uint32_t, std::unordered_map<uint32_t, uint32_t>> decorations_;
  std::unordered_map<uint32_t, std::unordered_map<uint32_t, MemberLayout>> members_;
  std::vector<Variable> variables_;
  std::array<Dimension, 3> localSize_{{{1, false}, {1, false}, {1, false}}};
  std::optional<std::array<uint32_t, 3>> localSizeIds_;
};

}  // namespace

SpirvInterface inspectInterface(const std::vector<uint32_t>& words,
                                const Constants& specConstants) {
  return Module(words, specConstants).interface();
}

}  // namespace kp::engine
