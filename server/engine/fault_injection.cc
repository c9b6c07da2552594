#include "server/engine/fault_injection.h"

#include <spdlog/spdlog.h>

#include <array>
#include <sstream>

#include "server/base/error.h"
#include "server/base/mutex.h"

namespace kp::engine {

using base::Error;
using base::ErrorCode;
using base::fail;
namespace {

struct Rule {
  enum class Mode { kOff, kAfter, kEvery };
  Mode mode = Mode::kOff;
  uint64_t n = 0;
  std::string text;                // as configured, for the log
  std::atomic<uint64_t> calls{0};  // calls counted at the point
};

constexpr std::array<const char*, 3> kPointNames = {"device-lost", "device-lost-wait", "oom"};
constexpr std::array<const char*, 3> kReports = {
    "vkQueueSubmit reports VK_ERROR_DEVICE_LOST",
    "vkWaitForFences reports VK_ERROR_DEVICE_LOST",
    "vkAllocateMemory reports VK_ERROR_OUT_OF_DEVICE_MEMORY"};

std::array<Rule, 3>& rules() {
  static std::array<Rule, 3> table;
  return table;
}
base::Mutex& specMutex() {
  static base::Mutex mutex;
  return mutex;
}
std::string& specText() {
  static std::string text;
  return text;
}
std::atomic<uint64_t> injectedCount{0};

std::string trim(const std::string& text) {
  const auto begin = text.find_first_not_of(" \t");
  if (begin == std::string::npos) return "";
  const auto end = text.find_last_not_of(" \t");
  return text.substr(begin, end - begin + 1);
}

}  // namespace

std::atomic<bool> FaultInjection::armed_{false};

void FaultInjection::configure(const std::string& spec) {
  struct Parsed {
    Rule::Mode mode;
    uint64_t n;
    std::string text;
  };
  std::array<Parsed, 3> parsed{};
  for (auto& rule : parsed) rule.mode = Rule::Mode::kOff;
  std::stringstream stream(spec);
  std::string item;
  bool any = false;
  while (std::getline(stream, item, ',')) {
    item = trim(item);
    if (item.empty()) continue;
    const auto equals = item.find('=');
    const std::string name = trim(item.substr(0, equals));
    const std::string value = equals == std::string::npos ? "" : trim(item.substr(equals + 1));
    Rule::Mode mode = Rule::Mode::kOff;
    std::string point;
    for (const char* suffix : {"-after", "-every"}) {
      const std::string s(suffix);
      if (name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0) {
        point = name.substr(0, name.size() - s.size());
        mode = s == "-after" ? Rule::Mode::kAfter : Rule::Mode::kEvery;
      }
    }
    int index = -1;
    for (size_t i = 0; i < kPointNames.size(); ++i) {
      if (point == kPointNames[i]) index = static_cast<int>(i);
    }
    KP_REQUIRE(index >= 0, ErrorCode::kInvalidArgument,
               "fault injection: unknown rule '" + item +
                   "' (expected device-lost, device-lost-wait or oom, then -after=N or -every=N)");
    uint64_t n = 0;
    size_t used = 0;
    try {
      n = std::stoull(value, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    KP_REQUIRE(!value.empty() && used == value.size() && value[0] != '-',
               ErrorCode::kInvalidArgument,
               "fault injection: '" + item + "' needs a count (N >= 0)");
    KP_REQUIRE(mode != Rule::Mode::kEvery || n >= 1, ErrorCode::kInvalidArgument,
               "fault injection: '" + item + "': -every needs N >= 1");
    parsed[index] = {mode, n, item};
    any = true;
  }
  base::MutexLock lock(specMutex());
  armed_.store(false);
  std::string text;
  for (size_t i = 0; i < parsed.size(); ++i) {
    Rule& rule = rules()[i];
    rule.mode = parsed[i].mode;
    rule.n = parsed[i].n;
    rule.text = parsed[i].text;
    rule.calls.store(0);
    if (rule.mode != Rule::Mode::kOff) text += (text.empty() ? "" : ",") + rule.text;
  }
  specText() = text;
  armed_.store(any);
}

bool FaultInjection::fire(FaultPoint point) {
  Rule& rule = rules()[static_cast<size_t>(point)];
  if (rule.mode == Rule::Mode::kOff) return false;
  const uint64_t call = rule.calls.fetch_add(1, std::memory_order_relaxed) + 1;
  const bool fail = rule.mode == Rule::Mode::kAfter ? call == rule.n + 1 : call % rule.n == 0;
  if (!fail) return false;
  const uint64_t total = injectedCount.fetch_add(1) + 1;
  spdlog::warn("fault injection: {} (rule {}, call {}; {} fault(s) injected so far)",
               kReports[static_cast<size_t>(point)], rule.text, call, total);
  return true;
}

uint64_t FaultInjection::injected() { return injectedCount.load(); }

std::string FaultInjection::spec() {
  base::MutexLock lock(specMutex());
  return specText();
}

}  // namespace kp::engine
