// Kompute's KP_LOG_* macros (kp/logger.hpp): fmt-style fields filled in order.
#include <gtest/gtest.h>

#include "kp/kp.hpp"

namespace kp::test {
namespace {

using detail::formatFields;

TEST(LoggerTest, FieldsAreFilledInOrder) {
  EXPECT_EQ(formatFields("a {} b {} c", {"1", "two"}), "a 1 b two c");
  EXPECT_EQ(formatFields("{:.2f} and {x}", {"3.5", "y"}), "3.5 and y");  // specs not applied
  EXPECT_EQ(formatFields("{{}} {}", {"v"}), "{} v");
  EXPECT_EQ(formatFields("{} {} {}", {"only"}), "only  ");  // missing arguments: empty
  EXPECT_EQ(formatFields("unclosed {", {"x"}), "unclosed {");
}

TEST(LoggerTest, KomputesMacrosCompileAndLog) {
  testing::internal::CaptureStderr();
  KP_LOG_INFO("tensor {} has {} elements", "t", 3);
  KP_LOG_WARN("plain");
  KP_LOG_DEBUG("below the default level: {}", 1);
  const std::string written = testing::internal::GetCapturedStderr();
  EXPECT_NE(written.find("[kp] [info] tensor t has 3 elements\n"), std::string::npos) << written;
  EXPECT_NE(written.find("[kp] [warn] plain\n"), std::string::npos) << written;
  EXPECT_EQ(written.find("below the default level"), std::string::npos) << written;
}

}  // namespace
}  // namespace kp::test
