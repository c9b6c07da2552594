// The bearer token (kpd --token-file) from the C++ client: ManagerOptions::token, $KP_TOKEN
// and $KP_TOKEN_FILE, over TCP with TLS and over the Unix socket (with and without the
// same-host fast path); a missing or wrong token is UnauthenticatedError with kpd's words.
#include <gtest/gtest.h>

#include "access_fixture.h"

namespace kp::test {
namespace {

using TokenTest = AccessTest;

const std::vector<float> kProduct = {4, 10, 18};

// Checks that `options` (whose token is left empty) is refused without a token and with a
// wrong one, and evaluates with the right one.
void expectTokenRequired(ManagerOptions options, const char* token) {
  std::string message = refusal<UnauthenticatedError>(options);
  EXPECT_TRUE(contains(message, "this kpd requires a token"));
  EXPECT_TRUE(contains(message, "this client sent no token: set ManagerOptions::token"));
  options.token = "not-the-token";
  message = refusal<UnauthenticatedError>(options);
  EXPECT_TRUE(contains(message, "does not hold this kpd's bearer token"));
  EXPECT_TRUE(contains(message, "the token this client sent came from ManagerOptions::token"));
  options.token = token;
  Manager mgr(options);
  EXPECT_EQ(mgr.sharedMemory(), options.address.rfind("unix:", 0) == 0 && *options.sharedMemory);
  EXPECT_EQ(multiply(mgr), kProduct);
  // The token goes with every call: plain ones, evaluations, and compiles.
  EXPECT_FALSE(mgr.listDevices().empty());
  EXPECT_FALSE(mgr.compileSource(kMultiplyGlsl).empty());
}

TEST_F(TokenTest, OverTlsAndOverTheUnixSocket) {
  ASSERT_NO_FATAL_FAILURE(startKpd({"--token-file", writeTokenFile()}));
  expectTokenRequired(tlsOptions(), kToken);
  expectTokenRequired(unixOptions(), kToken);
  EXPECT_TRUE(contains(kpd().log(), "refused a call"));
}

TEST_F(TokenTest, EnvironmentWorksAsOptions) {
  const std::string tokenFile = writeTokenFile();
  ASSERT_NO_FATAL_FAILURE(startKpd({"--token-file", tokenFile}));
  {
    ScopedEnv token("KP_TOKEN", kToken);
    Manager overTls(tlsOptions());
    EXPECT_EQ(multiply(overTls), kProduct);
    Manager local(unixOptions());
    EXPECT_EQ(multiply(local), kProduct);
    // The option wins over the variable.
    ManagerOptions options = unixOptions();
    options.token = "not-the-token";
    EXPECT_TRUE(contains(refusal<UnauthenticatedError>(options), "does not hold"));
  }
  {
    ScopedEnv file("KP_TOKEN_FILE", tokenFile);
    Manager local(unixOptions());
    EXPECT_EQ(multiply(local), kProduct);
    // $KP_TOKEN wins over $KP_TOKEN_FILE.
    ScopedEnv token("KP_TOKEN", "not-the-token");
    EXPECT_TRUE(contains(refusal<UnauthenticatedError>(unixOptions()), "came from $KP_TOKEN)"));
  }
  // compileSource() without a session reads the variables too.
  ScopedEnv token("KP_TOKEN", kToken);
  EXPECT_FALSE(compileSource(kMultiplyGlsl, kpd().address()).empty());
}

TEST_F(TokenTest, BadTokenSettingsAreNamed) {
  ManagerOptions options = managerOptions("unix:" + pki().path("kpd.sock"), false);
  options.token = "two words";
  EXPECT_TRUE(contains(refusal<InvalidArgumentError>(options),
                       "ManagerOptions::token: the token must be one non-empty word"));
  const std::string missing = pki().path("no-token");
  ScopedEnv file("KP_TOKEN_FILE", missing);
  EXPECT_TRUE(contains(refusal<InvalidArgumentError>(managerOptions(options.address, false)),
                       "$KP_TOKEN_FILE: cannot read " + missing));
}

}  // namespace
}  // namespace kp::test
