#include "access_fixture.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <iostream>

namespace kp::test {

ScopedEnv::ScopedEnv(std::string name, const std::optional<std::string>& value)
    : name_(std::move(name)) {
  if (const char* old = std::getenv(name_.c_str())) saved_ = old;
  if (value) {
    setenv(name_.c_str(), value->c_str(), 1);
  } else {
    unsetenv(name_.c_str());
  }
}

ScopedEnv::~ScopedEnv() {
  if (saved_) {
    setenv(name_.c_str(), saved_->c_str(), 1);
  } else {
    unsetenv(name_.c_str());
  }
}

::testing::AssertionResult contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "\"" << text << "\"\n  does not contain \"" << part << "\"";
}

void AccessTest::SetUp() {
  for (const char* name :
       {"KP_TOKEN", "KP_TOKEN_FILE", "KP_TLS_CA", "KP_TLS_CERT", "KP_TLS_KEY", "KP_ADDRESS"}) {
    cleared_.push_back(std::make_unique<ScopedEnv>(name, std::nullopt));
  }
  std::string output;
  if (runCommand("command -v openssl", &output) != 0) GTEST_SKIP() << "needs openssl";
  pki_ = std::make_unique<TestPki>();
  ASSERT_TRUE(pki_->ok()) << pki_->error();
}

void AccessTest::TearDown() {
  if (HasFailure() && kpd_) std::cerr << "---- kpd log ----\n" << kpd_->log();
  kpd_.reset();
  cleared_.clear();
}

void AccessTest::startKpd(const std::vector<std::string>& extraArgs) {
  std::vector<std::string> args = {"--listen",   "127.0.0.1:0",
                                   "--tls-cert", pki_->path("server.pem"),
                                   "--tls-key",  pki_->path("server.key")};
  args.insert(args.end(), extraArgs.begin(), extraArgs.end());
  kpd_ = std::make_unique<KpdProcess>(args);
  ASSERT_TRUE(kpd_->ready()) << "kpd did not start:\n" << kpd_->log();
  tcpAddress_ = kpd_->tcpAddress();
  ASSERT_FALSE(tcpAddress_.empty()) << "no TCP port in kpd's log:\n" << kpd_->log();
}

std::string AccessTest::writeTokenFile() {
  const std::string path = pki_->path("token");
  std::ofstream(path) << kToken << "\n";
  chmod(path.c_str(), 0600);
  return path;
}

ManagerOptions AccessTest::tlsOptions() const {
  ManagerOptions options = managerOptions("tls:" + tcpAddress_, !sharedMemorySwitchedOff());
  options.tlsCa = pki_->path("kp-test-ca.pem");
  return options;
}

ManagerOptions AccessTest::unixOptions() const {
  return managerOptions(kpd_->address(), !sharedMemorySwitchedOff());
}

std::vector<float> multiply(Manager& mgr) {
  auto lhs = mgr.tensor({1, 2, 3});
  auto rhs = mgr.tensor({4, 5, 6});
  auto out = mgr.tensor({0, 0, 0});
  mgr.sequence()
      ->record<OpTensorSyncDevice>({lhs, rhs})
      ->record<OpMult>({lhs, rhs, out}, mgr.algorithm())
      ->record<OpTensorSyncLocal>({out})
      ->eval();
  return out->vector();
}

}  // namespace kp::test
