// Test helpers: a real kpd process on a private Unix socket, and a fixture with a Manager
// connected to it.
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "kp/kp.hpp"

namespace kp::test {

/// A kpd process serving unix:<temp dir>/kpd.sock, its output in <temp dir>/kpd.log.
class KpdProcess {
 public:
  /// Starts kpd with `extraArgs` and waits (up to 20 s) for its socket.
  explicit KpdProcess(const std::vector<std::string>& extraArgs = {});
  /// Kills kpd if it still runs and removes the temp dir.
  ~KpdProcess();

  KpdProcess(const KpdProcess&) = delete;
  KpdProcess& operator=(const KpdProcess&) = delete;

  /// True once the socket exists and the process runs.
  bool ready() const { return ready_; }
  /// "unix:<dir>/kpd.sock".
  const std::string& address() const { return address_; }
  /// The temp dir.
  const std::string& dir() const { return dir_; }
  /// kpd's output so far.
  std::string log() const;
  /// The first loopback TCP address kpd listens on ("127.0.0.1:PORT", as it logs it once the
  /// port is served: start it with --listen 127.0.0.1:0), waiting up to 20 s; "" if none.
  std::string tcpAddress() const;
  /// SIGTERM, then waits (up to 30 s); returns the exit status (-1 if not a normal exit).
  int terminate();
  /// SIGKILL, then waits.
  void kill();

 private:
  std::string dir_;
  std::string address_;
  pid_t pid_ = -1;
  bool ready_ = false;
};

/// Runs `command` through the shell; returns its exit status and fills `output` with its
/// stdout and stderr.
int runCommand(const std::string& command, std::string* output);

/// The SPIR-V of shaders/<name>.comp as built by CMake.
std::vector<uint32_t> builtShader(const std::string& name);

/// True when this test process runs with the same-host fast path switched off
/// ($KP_SHARED_MEMORY=0): CTest runs every test twice, as client_cpp.* with the fast path
/// and as client_cpp_socket.* without it.
bool sharedMemorySwitchedOff();

/// Options for a Manager on `address`, with the fast path on or off whatever the environment.
ManagerOptions managerOptions(const std::string& address, bool sharedMemory);

/// A test with its own kpd and a Manager connected to it, on the data path that the
/// environment selects (see sharedMemorySwitchedOff()).
class KpdTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  kp::Manager& mgr() { return *manager_; }

  std::unique_ptr<KpdProcess> kpd_;
  std::unique_ptr<kp::Manager> manager_;
};

/// GLSL: result[i] = lhs[i] * rhs[i] over float buffers 0, 1, 2.
extern const char* const kMultiplyGlsl;
/// GLSL: a[i] += 1 over float buffer 0.
extern const char* const kIncrementGlsl;

}  // namespace kp::test

namespace kp {
/// Test names of parameterised tests: "eDevice" rather than bytes.
inline void PrintTo(Tensor::TensorTypes type, std::ostream* out) {
  *out << Tensor::toString(type);
}
}  // namespace kp
