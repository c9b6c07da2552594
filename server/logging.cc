#include "server/logging.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <memory>

namespace kp {
namespace {

// "%*" in a pattern: the syslog priority of the message's level, as sd-daemon(3) prefixes.
class SyslogPriority : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& message, const std::tm&,
              spdlog::memory_buf_t& out) override {
    // trace, debug -> debug (7); info -> info (6); warn -> warning (4); error -> err (3);
    // critical -> crit (2).
    static constexpr const char* kPrefixes[] = {"<7>", "<7>", "<6>", "<4>", "<3>", "<2>", "<6>"};
    const auto level = static_cast<size_t>(message.level);
    const char* prefix = kPrefixes[level < std::size(kPrefixes) ? level : 2];
    out.append(prefix, prefix + 3);
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<SyslogPriority>();
  }
};

}  // namespace

void setUpLogging(const std::string& level) {
  spdlog::set_level(spdlog::level::from_str(level));
  if (std::getenv("JOURNAL_STREAM") != nullptr) {
    auto formatter = std::make_unique<spdlog::pattern_formatter>();
    formatter->add_flag<SyslogPriority>('*').set_pattern("%*%l: %v");
    spdlog::set_formatter(std::move(formatter));
  } else {
    spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ kpd: %v");
  }
}

}  // namespace kp
