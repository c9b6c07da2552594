// Where the client finds kpd: argument, $KP_ADDRESS, default sockets; bare paths are Unix.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "client-cpp/src/address.h"

namespace kp::detail {
namespace {

// Sets or unsets an environment variable for the life of the object.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    const char* old = getenv(name);
    if (old != nullptr) old_ = old, hadOld_ = true;
    if (value != nullptr) {
      setenv(name, value, 1);
    } else {
      unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (hadOld_) {
      setenv(name_, old_.c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::string old_;
  bool hadOld_ = false;
};

TEST(Address, ArgumentWins) {
  ScopedEnv env("KP_ADDRESS", "unix:/from/env.sock");
  EXPECT_EQ(resolveAddress("localhost:50051"), "localhost:50051");
  EXPECT_EQ(resolveAddress("unix:/x/y.sock"), "unix:/x/y.sock");
}

TEST(Address, BarePathsAreUnixSockets) {
  EXPECT_EQ(resolveAddress("/tmp/kp/kpd.sock"), "unix:/tmp/kp/kpd.sock");
  const std::string relative = resolveAddress("./kpd.sock");
  EXPECT_EQ(relative, "unix:" + (std::filesystem::current_path() / "kpd.sock").string());
}

TEST(Address, EnvironmentWhenNoArgument) {
  ScopedEnv env("KP_ADDRESS", "/from/env.sock");
  EXPECT_EQ(resolveAddress(""), "unix:/from/env.sock");
}

TEST(Address, RuntimeDirSocketWhenItExists) {
  ScopedEnv noAddress("KP_ADDRESS", nullptr);
  char pattern[] = "/tmp/kp-address-XXXXXX";
  const std::string runtime = mkdtemp(pattern);
  ScopedEnv env("XDG_RUNTIME_DIR", runtime.c_str());
  ASSERT_EQ(defaultSocketPaths(),
            (std::vector<std::string>{runtime + "/kp/kpd.sock", "/run/kp/kpd.sock"}));
  if (!std::filesystem::exists("/run/kp/kpd.sock")) {
    EXPECT_EQ(resolveAddress(""), "unix:/run/kp/kpd.sock");  // the last one, as none exists
  }
  std::filesystem::create_directories(runtime + "/kp");
  std::ofstream(runtime + "/kp/kpd.sock").put('x');
  EXPECT_EQ(resolveAddress(""), "unix:" + runtime + "/kp/kpd.sock");
  std::filesystem::remove_all(runtime);
}

TEST(Address, SystemSocketWithoutRuntimeDir) {
  ScopedEnv noAddress("KP_ADDRESS", nullptr);
  ScopedEnv noRuntime("XDG_RUNTIME_DIR", nullptr);
  EXPECT_EQ(defaultSocketPaths(), std::vector<std::string>{"/run/kp/kpd.sock"});
  EXPECT_EQ(resolveAddress(""), "unix:/run/kp/kpd.sock");
}

}  // namespace
}  // namespace kp::detail
