#include "kp/logger.hpp"

#include <cstdio>
#include <cstdlib>
#include <mutex>

namespace kp::detail {
namespace {

LogLevel levelFromEnvironment() {
  const char* value = std::getenv("KP_LOG_LEVEL");
  const std::string level = value ? value : "";
  if (level == "trace") return LogLevel::kTrace;
  if (level == "debug") return LogLevel::kDebug;
  if (level == "warn" || level == "warning") return LogLevel::kWarn;
  if (level == "error") return LogLevel::kError;
  if (level == "off") return LogLevel::kOff;
  return LogLevel::kInfo;
}

const char* nameOf(LogLevel level) {
  switch (level) {
    case LogLevel::kTrace:
      return "trace";
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
    case LogLevel::kOff:
      break;
  }
  return "off";
}

}  // namespace

LogLevel logLevel() {
  static const LogLevel level = levelFromEnvironment();
  return level;
}

void writeLogLine(LogLevel level, const std::string& message) {
  static std::mutex mutex;
  std::lock_guard<std::mutex> lock(mutex);
  std::fprintf(stderr, "[kp] [%s] %s\n", nameOf(level), message.c_str());
}

std::string formatFields(std::string_view format, const std::vector<std::string>& arguments) {
  std::string result;
  size_t next = 0;
  for (size_t i = 0; i < format.size(); ++i) {
    const char c = format[i];
    if ((c == '{' || c == '}') && i + 1 < format.size() && format[i + 1] == c) {
      result.push_back(c);  // "{{" or "}}"
      ++i;
      continue;
    }
    if (c == '{') {
      const size_t close = format.find('}', i);
      if (close == std::string_view::npos) {
        result.append(format.substr(i));
        break;
      }
      if (next < arguments.size()) result += arguments[next++];
      i = close;
      continue;
    }
    result.push_back(c);
  }
  return result;
}

}  // namespace kp::detail
