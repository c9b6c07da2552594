// Structure-aware mutation for the request fuzzer (libFuzzer's LLVMFuzzerCustomMutator and
// LLVMFuzzerCustomCrossOver). Byte-level mutations of a serialised protobuf mostly break its
// framing, so most inputs would never get past decoding. Here an input is decoded as a
// FuzzInput and changed through protobuf reflection: a field gets a new value (small numbers,
// which name the objects the input created, boundaries, bit flips), a repeated field gains,
// loses or duplicates an element, a call is inserted with a random request type, a shader or
// data field gets bytes of a useful shape. One mutation in eight (and every input that does
// not decode) is left to libFuzzer's byte-level mutator, which keeps the raw decoding of
// requests fuzzed too. GLSL sources also get tokens of tests/fuzz/glsl.dict spliced in.
#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "fuzz_input.pb.h"
#include "fuzz_shaders.h"

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t maxSize);

namespace kp::fuzz {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;
using Random = std::mt19937_64;

constexpr int kMaxDepth = 12;
constexpr size_t kMaxCalls = 64;
constexpr size_t kMaxStringBytes = 64 << 10;

struct Slot {
  Message* message;
  const FieldDescriptor* field;
  int index;  // element of a repeated field, or -1 for the field itself
};

void collect(Message* message, std::vector<Slot>& slots, int depth) {
  if (depth > kMaxDepth) return;
  const auto* descriptor = message->GetDescriptor();
  const Reflection* reflection = message->GetReflection();
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const FieldDescriptor* field = descriptor->field(i);
    slots.push_back({message, field, -1});
    if (field->is_repeated()) {
      const int size = reflection->FieldSize(*message, field);
      for (int j = 0; j < size; ++j) {
        slots.push_back({message, field, j});
        if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
          collect(reflection->MutableRepeatedMessage(message, field, j), slots, depth + 1);
        }
      }
    } else if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE &&
               reflection->HasField(*message, field)) {
      collect(reflection->MutableMessage(message, field), slots, depth + 1);
    }
  }
}

uint64_t newInteger(Random& random, uint64_t old, int bits) {
  static const uint64_t kSpecial[] = {0,          1,          2,          3,
                                      4,          7,          8,          16,
                                      63,         64,         65,         255,
                                      256,        1023,       1024,       1025,
                                      4096,       65535,      65536,      65537,
                                      (1 << 18),  (1 << 20),  0x7fffffff, 0x80000000,
                                      0xffffffff, 1ull << 32, 1ull << 62, UINT64_MAX / 8,
                                      UINT64_MAX / 4 + 1,     UINT64_MAX - 1, UINT64_MAX};
  uint64_t value = 0;
  switch (random() % 10) {
    case 0:
    case 1:
    case 2:
    case 3:
      value = random() % 9;  // handle numbers 1..8 and small counts
      break;
    case 4:
      value = old + 1;
      break;
    case 5:
      value = old - 1;
      break;
    case 6:
    case 7:
      value = kSpecial[random() % std::size(kSpecial)];
      break;
    case 8:
      value = old ^ (uint64_t{1} << (random() % bits));
      break;
    default:
      value = random();
      break;
  }
  return bits == 64 ? value : value & ((uint64_t{1} << bits) - 1);
}

// The value of a libFuzzer dictionary line (name="value", with \\, \" and \xNN escapes);
// nullopt for comments, blank and malformed lines.
std::optional<std::string> dictionaryValue(const std::string& line) {
  const size_t open = line.find('"');
  const size_t close = line.rfind('"');
  if (line.empty() || line[0] == '#' || open == std::string::npos || close <= open) {
    return std::nullopt;
  }
  std::string value;
  for (size_t i = open + 1; i < close; ++i) {
    if (line[i] != '\\' || i + 1 >= close) {
      value.push_back(line[i]);
    } else if (line[i + 1] == 'x' && i + 3 < close) {
      value.push_back(static_cast<char>(std::stoi(line.substr(i + 2, 2), nullptr, 16)));
      i += 3;
    } else {
      value.push_back(line[++i]);
    }
  }
  return value;
}

// The tokens of the GLSL dictionary (KP_GLSL_DICTIONARY), read once.
const std::vector<std::string>& glslTokens() {
  static const std::vector<std::string> tokens = [] {
    std::vector<std::string> read;
    std::ifstream file(KP_GLSL_DICTIONARY);
    for (std::string line; std::getline(file, line);) {
      if (auto value = dictionaryValue(line)) read.push_back(*value);
    }
    if (read.empty()) read.push_back("main");
    return read;
  }();
  return tokens;
}

// `source` (or a seed shader if empty) with GLSL tokens spliced in, a line repeated, or a
// token repeated: mostly still GLSL, so that the compiler worker's parser gets past line one.
std::string mutateGlsl(Random& random, std::string source) {
  const auto& tokens = glslTokens();
  const auto& shaders = fuzzShaders();
  if (source.empty()) source = shaders[random() % shaders.size()].glsl;
  const size_t at = random() % (source.size() + 1);
  const std::string& token = tokens[random() % tokens.size()];
  switch (random() % 4) {
    case 0:
      source.insert(at, token);
      break;
    case 1:
      source.replace(at, std::min<size_t>(random() % 16, source.size() - at), token);
      break;
    case 2: {
      const size_t begin = source.rfind('\n', at == 0 ? 0 : at - 1);
      const size_t start = begin == std::string::npos ? 0 : begin + 1;
      const size_t end = source.find('\n', at);
      const std::string line =
          source.substr(start, (end == std::string::npos ? source.size() : end + 1) - start);
      for (uint64_t copies = 1 + random() % 8; copies > 0; --copies) source.insert(start, line);
      break;
    }
    default:
      for (uint64_t copies = 1 + random() % 64; copies > 0; --copies) source.insert(at, token);
      break;
  }
  if (source.size() > kMaxStringBytes) source.resize(kMaxStringBytes);
  return source;
}

std::string newBytes(Random& random, const FieldDescriptor* field, const std::string& old) {
  const auto& shaders = fuzzShaders();
  const std::string& name = field->name();
  switch (random() % 8) {
    case 0:
      return {};
    case 1:
      if (name == "glsl") {
        return random() % 2 ? shaders[random() % shaders.size()].glsl : mutateGlsl(random, old);
      }
      if (name == "spirv") {
        const auto& words = fuzzShaderSpirv()[random() % shaders.size()];
        return std::string(reinterpret_cast<const char*>(words.data()), words.size() * 4);
      }
      [[fallthrough]];
    case 2: {
      // Whole 4- or 8-byte elements (tensor data, constants), small values.
      const size_t elements = random() % 2 ? random() % 9 : random() % 1025;
      std::string bytes(elements * (random() % 2 ? 4 : 8), '\0');
      for (size_t i = 0; i < bytes.size(); i += 4) bytes[i] = static_cast<char>(random() % 4);
      return bytes;
    }
    default: {
      std::string bytes = old;
      const size_t capacity = std::min(kMaxStringBytes, bytes.size() * 2 + 64);
      bytes.resize(capacity);
      const size_t size = LLVMFuzzerMutate(reinterpret_cast<uint8_t*>(bytes.data()), old.size(),
                                           capacity);
      bytes.resize(size);
      return bytes;
    }
  }
}

// Sets one member of each oneof of `message` (a new Call or Op gets a request type).
void chooseOneofs(Message* message, Random& random) {
  const auto* descriptor = message->GetDescriptor();
  for (int i = 0; i < descriptor->oneof_decl_count(); ++i) {
    const auto* oneof = descriptor->oneof_decl(i);
    const FieldDescriptor* field = oneof->field(static_cast<int>(random() % oneof->field_count()));
    if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      message->GetReflection()->MutableMessage(message, field);
    }
  }
}

void setScalar(const Slot& slot, Random& random) {
  Message* message = slot.message;
  const FieldDescriptor* field = slot.field;
  const Reflection* r = message->GetReflection();
  const bool repeated = slot.index >= 0;
  const int index = slot.index;
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_UINT32: {
      const uint32_t old = repeated ? r->GetRepeatedUInt32(*message, field, index)
                                    : r->GetUInt32(*message, field);
      const auto value = static_cast<uint32_t>(newInteger(random, old, 32));
      repeated ? r->SetRepeatedUInt32(message, field, index, value)
               : r->SetUInt32(message, field, value);
      break;
    }
    case FieldDescriptor::CPPTYPE_UINT64: {
      const uint64_t old = repeated ? r->GetRepeatedUInt64(*message, field, index)
                                    : r->GetUInt64(*message, field);
      const uint64_t value = newInteger(random, old, 64);
      repeated ? r->SetRepeatedUInt64(message, field, index, value)
               : r->SetUInt64(message, field, value);
      break;
    }
    case FieldDescriptor::CPPTYPE_INT32: {
      const int32_t old = repeated ? r->GetRepeatedInt32(*message, field, index)
                                   : r->GetInt32(*message, field);
      const auto value = static_cast<int32_t>(newInteger(random, old, 32));
      repeated ? r->SetRepeatedInt32(message, field, index, value)
               : r->SetInt32(message, field, value);
      break;
    }
    case FieldDescriptor::CPPTYPE_INT64: {
      const int64_t old = repeated ? r->GetRepeatedInt64(*message, field, index)
                                   : r->GetInt64(*message, field);
      const auto value = static_cast<int64_t>(newInteger(random, old, 64));
      repeated ? r->SetRepeatedInt64(message, field, index, value)
               : r->SetInt64(message, field, value);
      break;
    }
    case FieldDescriptor::CPPTYPE_BOOL: {
      const bool old = repeated ? r->GetRepeatedBool(*message, field, index)
                                : r->GetBool(*message, field);
      repeated ? r->SetRepeatedBool(message, field, index, !old)
               : r->SetBool(message, field, !old);
      break;
    }
    case FieldDescriptor::CPPTYPE_ENUM: {
      const auto* type = field->enum_type();
      const int value = random() % 8 ? type->value(random() % type->value_count())->number()
                                     : static_cast<int>(random() % 16);
      repeated ? r->SetRepeatedEnumValue(message, field, index, value)
               : r->SetEnumValue(message, field, value);
      break;
    }
    case FieldDescriptor::CPPTYPE_STRING: {
      const std::string old = repeated ? r->GetRepeatedString(*message, field, index)
                                       : r->GetString(*message, field);
      std::string value = newBytes(random, field, old);
      // A proto3 string must be UTF-8, or the whole input fails to decode: keep it ASCII.
      if (field->type() == FieldDescriptor::TYPE_STRING) {
        for (char& c : value) c = static_cast<char>(c & 0x7f);
      }
      repeated ? r->SetRepeatedString(message, field, index, std::move(value))
               : r->SetString(message, field, std::move(value));
      break;
    }
    case FieldDescriptor::CPPTYPE_FLOAT:
    case FieldDescriptor::CPPTYPE_DOUBLE:
    case FieldDescriptor::CPPTYPE_MESSAGE:
      break;
  }
}

void mutateRepeated(const Slot& slot, Random& random) {
  Message* message = slot.message;
  const FieldDescriptor* field = slot.field;
  const Reflection* r = message->GetReflection();
  const int size = r->FieldSize(*message, field);
  const bool isMessage = field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE;
  switch (random() % 5) {
    case 0:
    case 1: {  // add an element, moved to a random position
      if (size >= static_cast<int>(kMaxCalls)) return;
      if (isMessage) {
        Message* added = r->AddMessage(message, field);
        if (size > 0 && random() % 2) {
          added->CopyFrom(r->GetRepeatedMessage(*message, field, random() % size));
        } else {
          chooseOneofs(added, random);
        }
      } else {
        switch (field->cpp_type()) {
          case FieldDescriptor::CPPTYPE_UINT64:
            r->AddUInt64(message, field, newInteger(random, 0, 64));
            break;
          case FieldDescriptor::CPPTYPE_UINT32:
            r->AddUInt32(message, field, static_cast<uint32_t>(newInteger(random, 0, 32)));
            break;
          case FieldDescriptor::CPPTYPE_STRING: {
            std::string value = newBytes(random, field, {});
            if (field->type() == FieldDescriptor::TYPE_STRING) {
              for (char& c : value) c = static_cast<char>(c & 0x7f);
            }
            r->AddString(message, field, std::move(value));
            break;
          }
          default:
            return;
        }
      }
      for (int i = size; i > 0 && random() % 2; --i) r->SwapElements(message, field, i, i - 1);
      break;
    }
    case 2:  // remove an element
      if (size == 0) return;
      r->SwapElements(message, field, random() % size, size - 1);
      r->RemoveLast(message, field);
      break;
    case 3:  // swap two elements
      if (size < 2) return;
      r->SwapElements(message, field, random() % size, random() % size);
      break;
    default:  // change an element
      if (size == 0 || isMessage) return;
      setScalar({message, field, static_cast<int>(random() % size)}, random);
      break;
  }
}

void mutateOnce(FuzzInput& input, Random& random) {
  std::vector<Slot> slots;
  collect(&input, slots, 0);
  const Slot& slot = slots[random() % slots.size()];
  const Reflection* r = slot.message->GetReflection();
  if (slot.field->is_repeated() && slot.index < 0) {
    mutateRepeated(slot, random);
  } else if (slot.field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) {
    setScalar(slot, random);
  } else if (slot.index >= 0) {
    // An element of a repeated message field: start it afresh.
    Message* element = r->MutableRepeatedMessage(slot.message, slot.field, slot.index);
    element->Clear();
    chooseOneofs(element, random);
  } else if (r->HasField(*slot.message, slot.field) && random() % 4 == 0) {
    r->ClearField(slot.message, slot.field);
  } else {
    chooseOneofs(r->MutableMessage(slot.message, slot.field), random);
  }
}

size_t serialize(const FuzzInput& input, uint8_t* data, size_t size, size_t maxSize) {
  const std::string bytes = input.SerializeAsString();
  if (bytes.size() > maxSize) return LLVMFuzzerMutate(data, size, maxSize);
  std::memcpy(data, bytes.data(), bytes.size());
  return bytes.size();
}

}  // namespace
}  // namespace kp::fuzz

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t maxSize,
                                          unsigned int seed) {
  using namespace kp::fuzz;
  Random random(seed);
  FuzzInput input;
  if (random() % 8 == 0 || !input.ParseFromArray(data, static_cast<int>(size))) {
    return LLVMFuzzerMutate(data, size, maxSize);
  }
  const int mutations = 1 + static_cast<int>(random() % 3);
  for (int i = 0; i < mutations; ++i) mutateOnce(input, random);
  return serialize(input, data, size, maxSize);
}

extern "C" size_t LLVMFuzzerCustomCrossOver(const uint8_t* data1, size_t size1,
                                            const uint8_t* data2, size_t size2, uint8_t* out,
                                            size_t maxOutSize, unsigned int seed) {
  using namespace kp::fuzz;
  Random random(seed);
  FuzzInput first;
  FuzzInput second;
  if (!first.ParseFromArray(data1, static_cast<int>(size1)) ||
      !second.ParseFromArray(data2, static_cast<int>(size2))) {
    return 0;  // libFuzzer then tries another mutation
  }
  // The calls of `first` up to a point, then those of `second` from a point.
  FuzzInput result;
  *result.mutable_open() = first.open();
  result.set_attach_local(first.attach_local());
  const int cut1 = first.calls_size() ? static_cast<int>(random() % (first.calls_size() + 1)) : 0;
  const int cut2 = second.calls_size() ? static_cast<int>(random() % (second.calls_size() + 1)) : 0;
  for (int i = 0; i < cut1; ++i) *result.add_calls() = first.calls(i);
  for (int i = cut2; i < second.calls_size() && result.calls_size() < static_cast<int>(kMaxCalls);
       ++i) {
    *result.add_calls() = second.calls(i);
  }
  const std::string bytes = result.SerializeAsString();
  if (bytes.size() > maxOutSize) return 0;
  std::memcpy(out, bytes.data(), bytes.size());
  return bytes.size();
}
