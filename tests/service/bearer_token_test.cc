// The bearer token: read from its file, compared exactly.
#include "server/service/transport/bearer_token.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "server/base/error.h"

namespace kp::service {
namespace {

std::string writeTemp(const std::string& contents) {
  char pattern[] = "/tmp/kp-token-test-XXXXXX";
  const int fd = mkstemp(pattern);
  close(fd);
  std::ofstream(pattern) << contents;
  return pattern;
}

TEST(BearerToken, MatchesOnlyTheExactToken) {
  BearerToken token("abc123");
  EXPECT_TRUE(token.matches("abc123"));
  EXPECT_FALSE(token.matches(""));
  EXPECT_FALSE(token.matches("abc12"));
  EXPECT_FALSE(token.matches("abc1234"));
  EXPECT_FALSE(token.matches("abc124"));
  EXPECT_FALSE(token.matches("ABC123"));
  EXPECT_FALSE(token.matches(std::string("abc123\0", 7)));
}

TEST(BearerToken, FromFileTrimsWhitespace) {
  const std::string path = writeTemp("  s3cret\n");
  EXPECT_TRUE(BearerToken::fromFile(path).matches("s3cret"));
  std::remove(path.c_str());
}

TEST(BearerToken, FromFileRefusesEmptyMissingOrSeveralWords) {
  const std::string empty = writeTemp("\n \n");
  EXPECT_THROW(BearerToken::fromFile(empty), base::Error);
  const std::string twoWords = writeTemp("one two\n");
  EXPECT_THROW(BearerToken::fromFile(twoWords), base::Error);
  EXPECT_THROW(BearerToken::fromFile("/nonexistent/token"), base::Error);
  std::remove(empty.c_str());
  std::remove(twoWords.c_str());
}

}  // namespace
}  // namespace kp::service
