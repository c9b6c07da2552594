// TLS and client certificates (kpd --tls-cert, --tls-key, --tls-client-ca) from the C++
// client: ManagerOptions::tlsCa / tlsCert / tlsKey, the KP_TLS_* variables, and the errors
// of a wrong CA, a missing client certificate, and PEM files that cannot be read.
#include <gtest/gtest.h>

#include "access_fixture.h"

namespace kp::test {
namespace {

using TlsTest = AccessTest;

const std::vector<float> kProduct = {4, 10, 18};

TEST_F(TlsTest, RightCaEvaluates) {
  ASSERT_NO_FATAL_FAILURE(startKpd());
  EXPECT_TRUE(contains(kpd().log(), "listening on " + tcpAddress() + " (TLS)"));
  {
    Manager mgr(tlsOptions());
    EXPECT_EQ(mgr.address(), "tls:" + tcpAddress());
    EXPECT_FALSE(mgr.sharedMemory());  // TCP: no same-host fast path
    EXPECT_EQ(multiply(mgr), kProduct);
  }
  // tlsCa alone selects TLS for host:port; it may be the PEM text; "localhost" is a name of
  // the server's certificate.
  ManagerOptions options;
  options.address = "localhost:" + tcpAddress().substr(tcpAddress().rfind(':') + 1);
  options.tlsCa = pki().read("kp-test-ca.pem");
  Manager mgr(options);
  EXPECT_EQ(multiply(mgr), kProduct);
  // compileSource() without a session, with the same options.
  EXPECT_FALSE(compileSource(kMultiplyGlsl, options).empty());
}

TEST_F(TlsTest, NoCaOrWrongCaIsRefusedInWords) {
  ASSERT_NO_FATAL_FAILURE(startKpd());
  const std::string address = "tls:" + tcpAddress();
  ManagerOptions options = tlsOptions();
  options.tlsCa.clear();  // the system's CAs, which never signed the test server's certificate
  std::string message = refusal<UnavailableError>(options);
  EXPECT_TRUE(contains(message, "cannot reach kpd at " + address));
  EXPECT_TRUE(contains(message, "TLS handshake failed"));
  EXPECT_TRUE(contains(message, "tlsCa"));

  options.tlsCa = pki().path("other-ca.pem");
  message = refusal<UnavailableError>(options);
  EXPECT_TRUE(contains(message, "cannot reach kpd at " + address));
  EXPECT_TRUE(contains(message, "TLS handshake failed"));

  // A plain-text client gets no service either.
  EXPECT_TRUE(contains(refusal<UnavailableError>(managerOptions(tcpAddress(), false)),
                       "cannot reach kpd at " + tcpAddress()));
  // The daemon still serves clients that hold the right CA.
  Manager mgr(tlsOptions());
  EXPECT_EQ(multiply(mgr), kProduct);
}

TEST_F(TlsTest, ClientCertificateRequiredByTlsClientCa) {
  ASSERT_NO_FATAL_FAILURE(startKpd({"--tls-client-ca", pki().path("kp-test-ca.pem")}));
  EXPECT_TRUE(contains(kpd().log(), "(TLS, client certificates required)"));
  const std::string address = "tls:" + tcpAddress();

  std::string message = refusal<UnavailableError>(tlsOptions());  // no certificate
  EXPECT_TRUE(contains(message, "cannot reach kpd at " + address));
  EXPECT_TRUE(contains(message, "client certificate"));

  ManagerOptions stranger = tlsOptions();  // a certificate of another CA
  stranger.tlsCert = pki().path("stranger.pem");
  stranger.tlsKey = pki().path("stranger.key");
  EXPECT_TRUE(contains(refusal<UnavailableError>(stranger), "cannot reach kpd at " + address));

  ManagerOptions options = tlsOptions();
  options.tlsCert = pki().path("kp-test-client.pem");
  options.tlsKey = pki().path("kp-test-client.key");
  Manager mgr(options);
  EXPECT_EQ(multiply(mgr), kProduct);
  EXPECT_TRUE(contains(kpd().log(), "client certificate CN=kp-test-client"));
}

TEST_F(TlsTest, EnvironmentWorksAsOptions) {
  ASSERT_NO_FATAL_FAILURE(startKpd({"--tls-client-ca", pki().path("kp-test-ca.pem")}));
  ScopedEnv address("KP_ADDRESS", tcpAddress());  // host:port: KP_TLS_CA selects TLS
  ScopedEnv ca("KP_TLS_CA", pki().path("kp-test-ca.pem"));
  ScopedEnv cert("KP_TLS_CERT", pki().path("kp-test-client.pem"));
  ScopedEnv key("KP_TLS_KEY", pki().path("kp-test-client.key"));
  {
    Manager mgr;
    EXPECT_EQ(mgr.address(), tcpAddress());
    EXPECT_EQ(multiply(mgr), kProduct);
  }
  // An option given: no KP_TLS_* variable is read (here, no client certificate).
  ManagerOptions options = tlsOptions();
  EXPECT_TRUE(contains(refusal<UnavailableError>(options), "client certificate"));
  // The variables do not apply to Unix sockets (kpd serves them without TLS).
  Manager local(unixOptions());
  EXPECT_EQ(multiply(local), kProduct);
}

TEST_F(TlsTest, UnreadableOrInconsistentSettingsAreNamed) {
  const std::string missing = pki().path("nothing.pem");
  ManagerOptions options;
  options.address = "tls:127.0.0.1:1";
  options.tlsCa = missing;
  std::string message = refusal<InvalidArgumentError>(options);
  EXPECT_TRUE(contains(message, "ManagerOptions::tlsCa: cannot read " + missing));
  EXPECT_TRUE(contains(message, "No such file or directory"));

  options.tlsCa = pki().path("kp-test-ca.pem");
  options.tlsCert = pki().path("kp-test-client.pem");  // no key
  EXPECT_TRUE(contains(refusal<InvalidArgumentError>(options),
                       "ManagerOptions::tlsCert and ManagerOptions::tlsKey: give both"));
  options.tlsKey = missing;
  EXPECT_TRUE(contains(refusal<InvalidArgumentError>(options),
                       "ManagerOptions::tlsKey: cannot read " + missing));

  {
    ScopedEnv cert("KP_TLS_CERT", missing);
    ScopedEnv key("KP_TLS_KEY", pki().path("kp-test-client.key"));
    EXPECT_TRUE(contains(refusal<InvalidArgumentError>(managerOptions("tls:127.0.0.1:1", false)),
                         "$KP_TLS_CERT: cannot read " + missing));
  }

  ManagerOptions unix = managerOptions("unix:" + pki().path("kpd.sock"), false);
  unix.tlsCa = pki().path("kp-test-ca.pem");
  EXPECT_TRUE(contains(refusal<InvalidArgumentError>(unix), "is a Unix socket"));
}

}  // namespace
}  // namespace kp::test
