#include "client-cpp/src/address.h"

#include <cstdlib>
#include <filesystem>

namespace kp::detail {

std::vector<std::string> defaultSocketPaths() {
  std::vector<std::string> paths;
  const char* runtime = std::getenv("XDG_RUNTIME_DIR");
  if (runtime != nullptr && *runtime != '\0') {
    paths.push_back((std::filesystem::path(runtime) / "kp" / "kpd.sock").string());
  }
  paths.emplace_back("/run/kp/kpd.sock");
  return paths;
}

std::string resolveAddress(const std::string& address) {
  std::string chosen = address;
  if (chosen.empty()) {
    const char* fromEnvironment = std::getenv("KP_ADDRESS");
    if (fromEnvironment != nullptr) chosen = fromEnvironment;
  }
  if (chosen.empty()) {
    const std::vector<std::string> candidates = defaultSocketPaths();
    chosen = candidates.back();
    for (const std::string& path : candidates) {
      std::error_code ignored;
      if (std::filesystem::exists(path, ignored)) {
        chosen = path;
        break;
      }
    }
  }
  if (chosen.rfind('/', 0) == 0 || chosen.rfind("./", 0) == 0) {
    return "unix:" + std::filesystem::absolute(chosen).lexically_normal().string();
  }
  return chosen;
}

}  // namespace kp::detail
