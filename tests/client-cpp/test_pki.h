// Test helper: throwaway certificates made with openssl at test time (no key is committed).
#pragma once

#include <string>

namespace kp::test {

/// A PKI in a temp dir, removed with it: the CA "kp-test-ca"; "server", its certificate for
/// localhost and 127.0.0.1; "kp-test-client", a client certificate of that CA; and a second
/// CA "other-ca" with its own client certificate "stranger". Each NAME has NAME.pem and
/// (but for the CAs' use here) NAME.key.
class TestPki {
 public:
  /// Makes the certificates; see ok().
  TestPki();
  /// Removes the temp dir.
  ~TestPki();

  TestPki(const TestPki&) = delete;
  TestPki& operator=(const TestPki&) = delete;

  /// True when every certificate was made; else error() holds openssl's output.
  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  /// The path of `file` (e.g. "server.pem") in the temp dir.
  std::string path(const std::string& file) const { return dir_ + "/" + file; }
  /// The contents of `file`.
  std::string read(const std::string& file) const;

 private:
  // Runs openssl with `args` in the temp dir; false (and error_ set) when it fails.
  bool openssl(const std::string& args);
  bool makeCa(const std::string& name);
  bool makeLeaf(const std::string& name, const std::string& ca, const std::string& extensions);

  std::string dir_;
  std::string error_;
};

}  // namespace kp::test
