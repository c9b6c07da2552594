// An outside project built against `cmake --install` of this build: find_package(kp_client)
// + target_link_libraries(app kp::client), then run against a kpd.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "kpd_process.h"

namespace kp::test {
namespace {

namespace fs = std::filesystem;

class OutsideProjectTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/kp-outside-XXXXXX";
    dir_ = mkdtemp(pattern);
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  // Runs a command; fails the test with its output if it does not exit 0.
  void mustRun(const std::string& command) {
    std::string output;
    const int status = runCommand(command, &output);
    ASSERT_EQ(status, 0) << command << "\n" << output;
  }

  std::string dir_;
};

TEST_F(OutsideProjectTest, FindPackageBuildAndRun) {
  const std::string cmake = KP_CMAKE_COMMAND;
  const std::string prefix = dir_ + "/prefix";
  const std::string build = dir_ + "/build";

  ASSERT_NO_FATAL_FAILURE(mustRun("'" + cmake + "' --install '" KP_BUILD_DIR "' --prefix '" +
                                  prefix + "' --component kp_client"));

  // The installed headers are the public API only: no generated code, no gRPC.
  ASSERT_TRUE(fs::exists(prefix + "/include/kp/kp.hpp"));
  int headers = 0;
  for (const auto& entry : fs::recursive_directory_iterator(prefix)) {
    const std::string name = entry.path().string();
    EXPECT_EQ(name.find(".pb."), std::string::npos) << name;
    if (entry.path().extension() != ".hpp") continue;
    ++headers;
    std::ifstream file(entry.path());
    std::stringstream text;
    text << file.rdbuf();
    for (const char* internal : {"#include <grpc", "#include <google/protobuf", ".pb.h"}) {
      EXPECT_EQ(text.str().find(internal), std::string::npos) << name << " has " << internal;
    }
  }
  EXPECT_GE(headers, 10);

  ASSERT_NO_FATAL_FAILURE(mustRun("'" + cmake + "' -S '" KP_OUTSIDE_PROJECT_DIR "' -B '" + build +
                                  "' -G '" KP_CMAKE_GENERATOR "' -DCMAKE_PREFIX_PATH='" + prefix +
                                  "' -DCMAKE_BUILD_TYPE=Release"));
  ASSERT_NO_FATAL_FAILURE(mustRun("'" + cmake + "' --build '" + build + "'"));
  const std::string app = build + "/kp_outside";

  std::string output;
  ASSERT_EQ(runCommand("'" + app + "' --help", &output), 0) << output;
  EXPECT_NE(output.find("usage: kp_outside"), std::string::npos) << output;

  KpdProcess kpd;
  ASSERT_TRUE(kpd.ready()) << kpd.log();
  ASSERT_EQ(runCommand("'" + app + "' '" + kpd.address() + "'", &output), 0) << output;
  EXPECT_EQ(output, "0 4 12\n");
}

}  // namespace
}  // namespace kp::test
