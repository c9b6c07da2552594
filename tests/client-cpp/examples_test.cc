// The examples of client-cpp/examples/, run against a kpd found through $KP_ADDRESS.
#include <gtest/gtest.h>

#include <sstream>

#include "kpd_process.h"

namespace kp::test {
namespace {

class ExamplesTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(kpd_.ready()) << kpd_.log(); }

  // Runs `binary` with KP_ADDRESS set to the test's kpd; returns its exit status.
  int run(const std::string& binary, std::string* output) {
    return runCommand("KP_ADDRESS='" + kpd_.address() + "' '" + binary + "'", output);
  }

  KpdProcess kpd_;
};

TEST_F(ExamplesTest, ArrayMultiplicationIsKomputesReadme) {
  std::string output;
  ASSERT_EQ(run(KP_EXAMPLE_ARRAY_MULTIPLICATION, &output), 0) << output;
  EXPECT_EQ(output, "4  8  12  10  10  10  ");
}

TEST_F(ExamplesTest, LogisticRegressionLearns) {
  std::string output;
  ASSERT_EQ(run(KP_EXAMPLE_LOGISTIC_REGRESSION, &output), 0) << output;
  std::istringstream words(output);
  std::string w, equals, b, equals2;
  float w0 = 0, w1 = 0, bias = 0;
  words >> w >> equals >> w0 >> w1 >> b >> equals2 >> bias;
  ASSERT_EQ(w + equals + b + equals2, "w=b=") << output;
  EXPECT_GT(w0, 0.0f);
  EXPECT_LT(w0, 0.01f);
  EXPECT_GT(w1, 1.5f);
  EXPECT_LT(bias, 0.7f);
}

TEST(ExamplesNoDaemon, ClearErrorWithoutDaemon) {
  std::string output;
  const int status = runCommand(
      "KP_ADDRESS=unix:/tmp/kp-client-cpp-nobody.sock '" KP_EXAMPLE_ARRAY_MULTIPLICATION "'",
      &output);
  EXPECT_NE(status, 0);
  EXPECT_NE(output.find("cannot reach kpd at unix:/tmp/kp-client-cpp-nobody.sock"),
            std::string::npos)
      << output;
}

}  // namespace
}  // namespace kp::test
