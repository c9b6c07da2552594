#include "server/service/devices/shader_compiler.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstring>

#include "server/base/error.h"
#include "server/base/metrics.h"

extern char** environ;

namespace kp::service {
namespace {

using base::ErrorCode;
using base::MutexLock;
using Clock = std::chrono::steady_clock;

constexpr size_t kCacheCapacity = 128;
// Requesters whose last turn is remembered (for fairness between them).
constexpr size_t kRemembered = 1024;

// kpd-compile beside the running program (kpd and kpd-compile are installed together).
std::string defaultWorker() {
  char path[PATH_MAX];
  const ssize_t length = ::readlink("/proc/self/exe", path, sizeof(path) - 1);
  if (length <= 0) return "kpd-compile";
  std::string self(path, static_cast<size_t>(length));
  return self.substr(0, self.rfind('/') + 1) + "kpd-compile";
}

// A file descriptor closed when it goes.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_;
};

// A connected pair of sockets (sockets, not pipes: writes to a worker that died fail with
// EPIPE instead of raising SIGPIPE, thanks to MSG_NOSIGNAL).
void socketPair(Fd* mine, Fd* theirs) {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    base::fail(
        ErrorCode::kUnavailable,
        std::string("cannot start the shader compiler: socketpair: ") + std::strerror(errno));
  }
  mine->reset(fds[0]);
  theirs->reset(fds[1]);
}

}  // namespace

// One requester's turn to compile: waits until a worker slot is free and the requester has no
// other compile running, oldest request first.
class ShaderCompiler::Turn {
 public:
  Turn(ShaderCompiler& compiler, const std::string& requester)
      : compiler_(compiler), requester_(requester) {
    MutexLock lock(compiler_.mutex_);
    const uint64_t ticket = compiler_.nextTicket_++;
    compiler_.waiting_.emplace_back(ticket, requester);
    while (!mayRun(ticket)) compiler_.turns_.wait(compiler_.mutex_);
    compiler_.waiting_.erase(
        std::find_if(compiler_.waiting_.begin(), compiler_.waiting_.end(),
                     [&](const auto& entry) { return entry.first == ticket; }));
    compiler_.running_.insert(requester_);
    compiler_.lastServed_[requester_] = ++compiler_.turnsGiven_;
    if (compiler_.lastServed_.size() > kRemembered) {
      compiler_.lastServed_.erase(
          std::min_element(compiler_.lastServed_.begin(), compiler_.lastServed_.end(),
                           [](const auto& a, const auto& b) { return a.second < b.second; }));
    }
  }
  ~Turn() {
    {
      MutexLock lock(compiler_.mutex_);
      compiler_.running_.erase(requester_);
    }
    compiler_.turns_.notifyAll();
  }
  Turn(const Turn&) = delete;
  Turn& operator=(const Turn&) = delete;

 private:
  // When a worker is free, it goes to the waiting request (of a requester not compiling now)
  // whose requester was served longest ago, the oldest request first among equals.
  bool mayRun(uint64_t ticket) const KP_REQUIRES(compiler_.mutex_) {
    if (compiler_.running_.size() >= compiler_.limits_.workers) return false;
    const std::pair<uint64_t, std::string>* next = nullptr;
    uint64_t nextServed = 0;
    for (const auto& entry : compiler_.waiting_) {
      if (compiler_.running_.count(entry.second)) continue;
      auto served = compiler_.lastServed_.find(entry.second);
      const uint64_t when = served == compiler_.lastServed_.end() ? 0 : served->second;
      if (next == nullptr || when < nextServed) {
        next = &entry;
        nextServed = when;
      }
    }
    return next != nullptr && next->first == ticket;
  }

  ShaderCompiler& compiler_;
  const std::string requester_;
};

ShaderCompiler::ShaderCompiler(CompilerLimits limits) : limits_(std::move(limits)) {}

uint64_t ShaderCompiler::cacheHits() const {
  MutexLock lock(mutex_);
  return hits_;
}

uint32_t ShaderCompiler::waiting() const {
  MutexLock lock(mutex_);
  return static_cast<uint32_t>(waiting_.size());
}

uint64_t ShaderCompiler::workerFailures() const {
  MutexLock lock(mutex_);
  return failures_;
}

std::vector<uint32_t> ShaderCompiler::cached(const std::string& source) {
  auto found = cache_.find(source);
  if (found == cache_.end()) return {};
  ++hits_;
  order_.splice(order_.begin(), order_, found->second.second);
  return found->second.first;
}

std::vector<uint32_t> ShaderCompiler::compile(const std::string& source, const std::string& name,
                                              const std::string& requester) {
  KP_REQUIRE(!source.empty(), ErrorCode::kInvalidArgument, "GLSL source is empty");
  KP_REQUIRE(source.size() <= limits_.maxSourceBytes, ErrorCode::kInvalidArgument,
             "the source has " + std::to_string(source.size()) +
                 " bytes, more than a shader may have (--max-shader-bytes " +
                 std::to_string(limits_.maxSourceBytes) + ")");
  {
    MutexLock lock(mutex_);
    if (std::vector<uint32_t> spirv = cached(source); !spirv.empty()) return spirv;
  }
  std::vector<uint32_t> spirv;
  {
    base::ScopedTimer timer(base::metrics().compiles);
    Turn turn(*this, requester);
    spirv = runWorker(source, name);
  }
  MutexLock lock(mutex_);
  if (cache_.count(source) == 0) {
    order_.push_front(source);
    cache_[source] = {spirv, order_.begin()};
    while (cache_.size() > kCacheCapacity) {
      cache_.erase(order_.back());
      order_.pop_back();
    }
  }
  return spirv;
}

std::vector<uint32_t> ShaderCompiler::runWorker(const std::string& source,
                                                const std::string& name) {
  const std::string worker = limits_.worker.empty() ? defaultWorker() : limits_.worker;
  Fd input, childInput, output, childOutput;
  socketPair(&input, &childInput);
  socketPair(&output, &childOutput);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, childInput.get(), 0);
  posix_spawn_file_actions_adddup2(&actions, childOutput.get(), 1);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  const std::string memory = std::to_string(limits_.memoryBytes);
  const std::string cpu = std::to_string(limits_.cpuSeconds);
  const std::string stack = std::to_string(limits_.stackBytes);
  std::vector<char*> argv = {const_cast<char*>(worker.c_str()),
                             const_cast<char*>("--memory-bytes"),
                             const_cast<char*>(memory.c_str()),
                             const_cast<char*>("--cpu-seconds"),
                             const_cast<char*>(cpu.c_str()),
                             const_cast<char*>("--stack-bytes"),
                             const_cast<char*>(stack.c_str()),
                             const_cast<char*>(name.c_str()),
                             nullptr};
  pid_t pid = -1;
  const int spawned = ::posix_spawn(&pid, worker.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  childInput.reset();
  childOutput.reset();
  if (spawned != 0) {
    base::fail(ErrorCode::kUnavailable,
               "cannot start the shader compiler " + worker + ": " + std::strerror(spawned));
  }

  // Feed the source and collect the result at once, until the worker is done, the result grows
  // past its limit, or the deadline passes.
  const auto deadline = Clock::now() + std::chrono::milliseconds(limits_.timeoutMs);
  std::string result;
  size_t sent = 0;
  bool overlong = false, late = false;
  while (output.get() >= 0) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      late = true;
      break;
    }
    pollfd fds[2] = {{output.get(), POLLIN, 0}, {input.get(), POLLOUT, 0}};
    const int ready = ::poll(fds, input.get() >= 0 ? 2 : 1, static_cast<int>(left.count()));
    if (ready < 0 && errno != EINTR) break;
    if (input.get() >= 0 && (fds[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
      const ssize_t n = ::send(input.get(), source.data() + sent, source.size() - sent,
                               MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) sent += static_cast<size_t>(n);
      if (n < 0 && errno != EAGAIN && errno != EINTR) sent = source.size();  // it died
      if (sent == source.size()) input.reset();                              // end of the source
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      char buffer[65536];
      const ssize_t n = ::recv(output.get(), buffer, sizeof(buffer), MSG_DONTWAIT);
      if (n > 0) {
        result.append(buffer, static_cast<size_t>(n));
        if (result.size() > limits_.maxSpirvBytes + 1) {
          overlong = true;
          break;
        }
      } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        output.reset();  // the worker is done
      }
    }
  }
  if (late || overlong) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }

  const auto tooComplex = [&](const std::string& why) {
    {
      MutexLock lock(mutex_);
      ++failures_;
    }
    spdlog::warn("shader compiler: {}", why);
    base::fail(ErrorCode::kInvalidArgument, "shader too complex: " + why);
  };
  if (late) {
    tooComplex("compiling it took longer than " + std::to_string(limits_.timeoutMs) +
               " ms (--compile-timeout-ms)");
  }
  if (overlong) {
    tooComplex("its SPIR-V would exceed " + std::to_string(limits_.maxSpirvBytes) + " bytes");
  }
  if (WIFSIGNALED(status)) {
    const int signal = WTERMSIG(status);
    if (signal == SIGSEGV || signal == SIGBUS) {
      tooComplex("compiling it overflowed the compiler's stack of " +
                 std::to_string(limits_.stackBytes >> 10) +
                 " KiB (an expression or a nesting too deep)");
    }
    if (signal == SIGXCPU || signal == SIGKILL) {
      tooComplex("compiling it took more than " + std::to_string(limits_.cpuSeconds) +
                 " s of CPU (--compile-cpu-seconds)");
    }
    tooComplex("compiling it needed more than " + std::to_string(limits_.memoryBytes >> 20) +
               " MiB of memory (--compile-memory-bytes) or ended with signal " +
               std::to_string(signal));
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || result.empty()) {
    tooComplex("the compiler worker failed (exit status " +
               std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) + ")");
  }
  if (result[0] == 'E') base::fail(ErrorCode::kInvalidArgument, result.substr(1));
  KP_REQUIRE(result[0] == 'S' && (result.size() - 1) % sizeof(uint32_t) == 0, ErrorCode::kInternal,
             "the shader compiler answered something that is not SPIR-V");
  std::vector<uint32_t> spirv((result.size() - 1) / sizeof(uint32_t));
  std::memcpy(spirv.data(), result.data() + 1, spirv.size() * sizeof(uint32_t));
  return spirv;
}

}  // namespace kp::service
