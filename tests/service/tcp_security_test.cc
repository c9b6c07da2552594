// Which TCP addresses count as loopback (plain TCP allowed), and the checks of the TLS flags.
#include "server/service/transport/tcp_security.h"

#include <gtest/gtest.h>

#include "server/base/error.h"

namespace kp::service {
namespace {

TEST(IsLoopbackAddress, LoopbackForms) {
  for (const char* address : {"127.0.0.1:0", "127.8.9.10:7070", "localhost:7070", "[::1]:7070",
                              "ipv4:127.0.0.1:1", "ipv6:[::1]:1", "[::ffff:127.0.0.1]:1"}) {
    EXPECT_TRUE(isLoopbackAddress(address)) << address;
  }
}

TEST(IsLoopbackAddress, EverythingElse) {
  for (const char* address : {"0.0.0.0:7070", "[::]:7070", ":7070", "10.0.0.1:7070",
                              "128.0.0.1:1", "gpu-host:7070", "localhost.example.com:1",
                              "[::2]:1", "[::ffff:10.0.0.1]:1", "7070"}) {
    EXPECT_FALSE(isLoopbackAddress(address)) << address;
  }
}

TEST(TcpCredentials, PlainTcpBeyondLoopbackNeedsTheFlag) {
  EXPECT_NE(tcpCredentials("127.0.0.1:0", {}, false), nullptr);
  try {
    tcpCredentials("0.0.0.0:7070", {}, false);
    FAIL() << "expected a refusal";
  } catch (const base::Error& error) {
    EXPECT_EQ(error.code(), base::ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(error.what()).find("refusing to serve 0.0.0.0:7070 without TLS"),
              std::string::npos);
  }
  EXPECT_NE(tcpCredentials("0.0.0.0:7070", {}, true), nullptr);
}

TEST(CheckTlsOptions, Inconsistent) {
  EXPECT_NO_THROW(checkTlsOptions({}));
  EXPECT_THROW(checkTlsOptions({"cert.pem", "", ""}), base::Error);
  EXPECT_THROW(checkTlsOptions({"", "key.pem", ""}), base::Error);
  EXPECT_THROW(checkTlsOptions({"", "", "ca.pem"}), base::Error);
  EXPECT_THROW(checkTlsOptions({"/nonexistent/cert.pem", "/nonexistent/key.pem", ""}),
               base::Error);
}

}  // namespace
}  // namespace kp::service
