#include "kpd_process.h"

#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>
#include <thread>

namespace kp::test {
namespace {

// True when a Unix socket at `path` accepts a connection.
bool accepts(const std::string& path) {
  const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path.c_str(), sizeof(address.sun_path) - 1);
  const bool connected = connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  close(fd);
  return connected;
}

}  // namespace

KpdProcess::KpdProcess(const std::vector<std::string>& extraArgs) {
  char pattern[] = "/tmp/kp-client-cpp-XXXXXX";
  dir_ = mkdtemp(pattern);
  const std::string socket = dir_ + "/kpd.sock";
  address_ = "unix:" + socket;
  std::vector<std::string> args = {KPD_BINARY, "--listen",   address_, "--log-level",
                                   "info",     "--drain-ms", "2000"};
  args.insert(args.end(), extraArgs.begin(), extraArgs.end());
  const std::string logPath = dir_ + "/kpd.log";
  pid_ = fork();
  if (pid_ == 0) {
    FILE* log = fopen(logPath.c_str(), "w");
    if (log != nullptr) {
      dup2(fileno(log), STDOUT_FILENO);
      dup2(fileno(log), STDERR_FILENO);
    }
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    execv(KPD_BINARY, argv.data());
    _exit(127);
  }
  // Wait until the socket accepts connections: it exists a moment before kpd listens on it.
  // kpd opens its local data socket (the fast path) just after: wait for that one too, or a
  // client could connect before it exists and do without.
  const bool dataSocket =
      std::find(extraArgs.begin(), extraArgs.end(), "--no-shared-memory") == extraArgs.end();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    if (std::filesystem::exists(socket) && accepts(socket) &&
        (!dataSocket || accepts(socket + ".data"))) {
      ready_ = true;
      return;
    }
    if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
      pid_ = -1;  // exited at once
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

KpdProcess::~KpdProcess() {
  kill();
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

std::string KpdProcess::log() const {
  std::ifstream file(dir_ + "/kpd.log");
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

std::string KpdProcess::tcpAddress() const {
  // kpd logs "listening on 127.0.0.1:PORT (...)" once the port is served.
  const std::regex listening(R"(listening on (127\.0\.0\.1:[0-9]+) \()");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  std::smatch match;
  std::string text = log();
  while (!std::regex_search(text, match, listening)) {
    if (std::chrono::steady_clock::now() > deadline) return "";
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    text = log();
  }
  return match[1];
}

int KpdProcess::terminate() {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  for (int i = 0; i < 300; ++i) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  kill();
  return -1;
}

void KpdProcess::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

int runCommand(const std::string& command, std::string* output) {
  output->clear();
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return -1;
  char buffer[4096];
  size_t read = 0;
  while ((read = fread(buffer, 1, sizeof(buffer), pipe)) > 0) output->append(buffer, read);
  const int status = pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::vector<uint32_t> builtShader(const std::string& name) {
  std::ifstream file(std::string(KP_SHADER_DIR) + "/" + name + ".spv", std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  std::vector<uint32_t> words(bytes.size() / 4);
  std::copy(bytes.begin(), bytes.begin() + words.size() * 4, reinterpret_cast<char*>(words.data()));
  return words;
}

bool sharedMemorySwitchedOff() {
  const char* value = std::getenv("KP_SHARED_MEMORY");
  return value != nullptr && std::string(value) == "0";
}

ManagerOptions managerOptions(const std::string& address, bool sharedMemory) {
  ManagerOptions options;
  options.address = address;
  options.sharedMemory = sharedMemory;
  return options;
}

void KpdTest::SetUp() {
  kpd_ = std::make_unique<KpdProcess>();
  ASSERT_TRUE(kpd_->ready()) << "kpd did not start:\n" << kpd_->log();
  manager_ = std::make_unique<kp::Manager>(kpd_->address());
  // The run tests the path it is named after.
  ASSERT_EQ(manager_->sharedMemory(), !sharedMemorySwitchedOff());
}

void KpdTest::TearDown() {
  manager_.reset();
  if (HasFailure() && kpd_) std::cerr << "---- kpd log ----\n" << kpd_->log();
}

const char* const kMultiplyGlsl = R"(
#version 450
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) readonly buffer Lhs { float lhs[]; };
layout(set = 0, binding = 1) readonly buffer Rhs { float rhs[]; };
layout(set = 0, binding = 2) writeonly buffer Out { float result[]; };
void main() {
    uint i = gl_GlobalInvocationID.x;
    result[i] = lhs[i] * rhs[i];
}
)";

const char* const kIncrementGlsl = R"(
#version 450
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) buffer A { float a[]; };
void main() { a[gl_GlobalInvocationID.x] += 1.0; }
)";

}  // namespace kp::test
