// Kompute's logging macros, KP_LOG_TRACE / DEBUG / INFO / WARN / ERROR, for programs that log
// through them. Arguments are fmt-style: each "{}" (or "{:...}", whose format spec is not
// applied) takes the next argument, printed as operator<< prints it; "{{" and "}}" are
// literal braces. Lines at or above $KP_LOG_LEVEL (trace, debug, info, warn, error or off;
// default info) go to stderr as "[kp] [level] message".
#pragma once

#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace kp::detail {

enum class LogLevel { kTrace, kDebug, kInfo, kWarn, kError, kOff };

// The level from $KP_LOG_LEVEL, read once.
LogLevel logLevel();
// Writes one line to stderr (whole, even from several threads).
void writeLogLine(LogLevel level, const std::string& message);
// `format` with its "{}" fields replaced by `arguments`, in order.
std::string formatFields(std::string_view format, const std::vector<std::string>& arguments);

template <typename T>
std::string logArgument(const T& value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

template <typename... Args>
void log(LogLevel level, std::string_view format, const Args&... arguments) {
  if (level < logLevel()) return;
  writeLogLine(level, formatFields(format, {logArgument(arguments)...}));
}

}  // namespace kp::detail

#define KP_LOG_TRACE(...) ::kp::detail::log(::kp::detail::LogLevel::kTrace, __VA_ARGS__)
#define KP_LOG_DEBUG(...) ::kp::detail::log(::kp::detail::LogLevel::kDebug, __VA_ARGS__)
#define KP_LOG_INFO(...) ::kp::detail::log(::kp::detail::LogLevel::kInfo, __VA_ARGS__)
#define KP_LOG_WARN(...) ::kp::detail::log(::kp::detail::LogLevel::kWarn, __VA_ARGS__)
#define KP_LOG_ERROR(...) ::kp::detail::log(::kp::detail::LogLevel::kError, __VA_ARGS__)
