#include "test_pki.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "kpd_process.h"

namespace kp::test {

TestPki::TestPki() {
  char pattern[] = "/tmp/kp-client-cpp-pki-XXXXXX";
  const char* made = mkdtemp(pattern);
  if (made == nullptr) {
    error_ = "cannot make a temp dir";
    return;
  }
  dir_ = made;
  (void)(makeCa("kp-test-ca") && makeCa("other-ca") &&
         makeLeaf("server", "kp-test-ca",
                  "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n") &&
         makeLeaf("kp-test-client", "kp-test-ca", "extendedKeyUsage=clientAuth\n") &&
         makeLeaf("stranger", "other-ca", "extendedKeyUsage=clientAuth\n"));
}

TestPki::~TestPki() {
  if (dir_.empty()) return;
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

std::string TestPki::read(const std::string& file) const {
  std::ifstream in(path(file), std::ios::binary);
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

bool TestPki::openssl(const std::string& args) {
  std::string output;
  if (runCommand("cd '" + dir_ + "' && openssl " + args, &output) == 0) return true;
  error_ = "openssl " + args + ":\n" + output;
  return false;
}

bool TestPki::makeCa(const std::string& name) {
  return openssl("req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout " +
                 name + ".key -out " + name + ".pem -days 2 -subj /CN=" + name +
                 " -addext basicConstraints=critical,CA:TRUE"
                 " -addext keyUsage=critical,keyCertSign,cRLSign");
}

bool TestPki::makeLeaf(const std::string& name, const std::string& ca,
                       const std::string& extensions) {
  std::ofstream(path(name + ".ext")) << extensions;
  return openssl("req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout " + name +
                 ".key -out " + name + ".csr -subj /CN=" + name) &&
         openssl("x509 -req -in " + name + ".csr -CA " + ca + ".pem -CAkey " + ca +
                 ".key -CAcreateserial -out " + name + ".pem -days 2 -extfile " + name + ".ext");
}

}  // namespace kp::test
