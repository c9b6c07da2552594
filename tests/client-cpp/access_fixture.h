// Test helpers for access control (TLS, client certificates, the bearer token): a kpd serving
// its Unix socket and a loopback TCP port with TLS, certificates made at test time, and
// environment variables set for one test.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kp/kp.hpp"
#include "kpd_process.h"
#include "test_pki.h"

namespace kp::test {

/// Sets (or, with nullopt, unsets) an environment variable until destroyed, then restores it.
class ScopedEnv {
 public:
  ScopedEnv(std::string name, const std::optional<std::string>& value);
  ~ScopedEnv();

  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  std::optional<std::string> saved_;
};

/// {1, 2, 3} * {4, 5, 6} evaluated by `mgr` (OpMult): {4, 10, 18} when all is well.
std::vector<float> multiply(Manager& mgr);

/// Success when `text` contains `part`; else a failure that shows both.
::testing::AssertionResult contains(const std::string& text, const std::string& part);

/// The message of the error that opening a Manager with `options` throws, which must be an
/// `Expected` (a failure of the test, and "", otherwise).
template <typename Expected>
std::string refusal(const ManagerOptions& options) {
  try {
    Manager mgr(options);
  } catch (const Expected& error) {
    return error.what();
  } catch (const std::exception& error) {
    ADD_FAILURE() << "unexpected error: " << error.what();
    return "";
  }
  ADD_FAILURE() << "the Manager opened";
  return "";
}

/// A test with a PKI (pki()) and, after startKpd(), a kpd with TLS on 127.0.0.1 (skipped
/// where there is no openssl). KP_ADDRESS, KP_TOKEN* and KP_TLS_* are unset for the test.
class AccessTest : public ::testing::Test {
 protected:
  static constexpr const char* kToken = "s3cret-token-for-tests";

  void SetUp() override;
  void TearDown() override;

  /// Starts kpd on its Unix socket and on 127.0.0.1:<free port> with --tls-cert and
  /// --tls-key of pki(), plus `extraArgs`; waits until it listens on both. Fatal failures
  /// if not: call it in ASSERT_NO_FATAL_FAILURE().
  void startKpd(const std::vector<std::string>& extraArgs = {});
  /// Writes kToken (and a newline) to a 0600 file beside pki()'s; its path.
  std::string writeTokenFile();

  const TestPki& pki() const { return *pki_; }
  KpdProcess& kpd() { return *kpd_; }
  /// kpd's TCP address, "127.0.0.1:PORT".
  const std::string& tcpAddress() const { return tcpAddress_; }
  /// Options for "tls:<tcpAddress()>" with pki()'s CA, on the data path the run selects.
  ManagerOptions tlsOptions() const;
  /// Options for kpd's Unix socket, on the data path the run selects.
  ManagerOptions unixOptions() const;

 private:
  std::unique_ptr<TestPki> pki_;
  std::unique_ptr<KpdProcess> kpd_;
  std::string tcpAddress_;
  std::vector<std::unique_ptr<ScopedEnv>> cleared_;
};

}  // namespace kp::test
