// Starts the real kpd binary on a private socket, calls it, and stops it with SIGTERM.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>

#include <grpcpp/generic/generic_stub.h>

#include <condition_variable>
#include <mutex>
#include "kp/v1/compute.grpc.pb.h"

namespace {

class KpdProcess {
 public:
  explicit KpdProcess(const char* drainMs = "2000") {
    char pattern[] = "/tmp/kpd-test-XXXXXX";
    dir_ = mkdtemp(pattern);
    address_ = "unix:" + dir_ + "/kpd.sock";
    pid_ = fork();
    if (pid_ == 0) {
      execl(KPD_BINARY, KPD_BINARY, "--listen", address_.c_str(), "--log-level", "info",
            "--drain-ms", drainMs, static_cast<char*>(nullptr));
      _exit(127);
    }
    // Wait for the socket to appear (at most 20 s), then for the connection: connecting before
    // the socket exists would put the channel into reconnect backoff.
    const auto deadline = std::chrono::system_clock::now() + std::chrono::seconds(20);
    while (!std::filesystem::exists(dir_ + "/kpd.sock") &&
           std::chrono::system_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    channel_ = grpc::CreateChannel(address_, grpc::InsecureChannelCredentials());
    ready_ = channel_->WaitForConnected(deadline);
  }
  ~KpdProcess() {
    if (pid_ > 0 && !stopped_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    std::filesystem::remove_all(dir_);
  }

  // Sends SIGTERM and returns the exit status (-1 if it did not exit normally within 20 s).
  int terminate() {
    kill(pid_, SIGTERM);
    for (int i = 0; i < 200; ++i) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        stopped_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return -1;
  }

  bool ready() const { return ready_; }
  const std::string& socketPath() const { return dir_; }
  std::shared_ptr<grpc::Channel> channel() const { return channel_; }

 private:
  std::string dir_;
  std::string address_;
  pid_t pid_ = -1;
  bool ready_ = false;
  bool stopped_ = false;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST(KpdProcess, ListDevicesThenStopsCleanlyOnSigterm) {
  KpdProcess kpd;
  ASSERT_TRUE(kpd.ready()) << "kpd did not start serving";

  auto stub = kp::v1::Compute::NewStub(kpd.channel());
  grpc::ClientContext context;
  kp::v1::ListDevicesRequest request;
  kp::v1::ListDevicesResponse response;
  grpc::Status status = stub->ListDevices(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_GE(response.devices_size(), 1);
  const auto& device = response.devices(0);
  EXPECT_EQ(device.index(), 0u);
  EXPECT_FALSE(device.name().empty());
  EXPECT_EQ(device.max_work_group_count_size(), 3);
  EXPECT_GT(device.max_work_group_count(0), 0u);
  EXPECT_GE(device.queue_families_size(), 1);
  EXPECT_TRUE(device.queue_families(device.default_queue_family()).compute());

  EXPECT_EQ(kpd.terminate(), 0);
  EXPECT_FALSE(std::filesystem::exists(kpd.socketPath() + "/kpd.sock"))
      << "kpd should remove its socket on exit";
}

// Regression: with a client channel connected (idle), kpd took seconds to exit on SIGTERM:
// gRPC's graceful shutdown waited for the client to answer a ping, which an idle C++ channel
// does only when its backup poller runs. kpd now drains its own calls and then stops gRPC
// without waiting.
TEST(KpdProcess, StopsAtOnceWithAnIdleClientConnected) {
  KpdProcess kpd("10000");
  ASSERT_TRUE(kpd.ready());
  auto stub = kp::v1::Compute::NewStub(kpd.channel());
  grpc::ClientContext context;
  kp::v1::ListDevicesResponse response;
  ASSERT_TRUE(stub->ListDevices(&context, kp::v1::ListDevicesRequest(), &response).ok());
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(kpd.terminate(), 0);
  const auto elapsed = std::chrono::steady_clock::now() - started;
  EXPECT_LT(elapsed, std::chrono::milliseconds(1500))
      << "kpd took "
      << std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count()
      << " ms to stop with an idle client connected";
}

TEST(KpdProcess, ServesTheStandardHealthService) {
  KpdProcess kpd;
  ASSERT_TRUE(kpd.ready());
  // grpc.health.v1.Health/Check with an empty service name, sent as raw bytes (no generated
  // health stubs needed): an empty request is an empty message.
  grpc::GenericStub generic(kpd.channel());
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  grpc::ByteBuffer request;
  grpc::Slice empty("");
  request = grpc::ByteBuffer(&empty, 1);
  grpc::ByteBuffer reply;
  std::mutex mutex;
  std::condition_variable done;
  bool finished = false;
  grpc::Status status;
  generic.UnaryCall(&context, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request,
                    &reply, [&](grpc::Status s) {
                      std::lock_guard<std::mutex> lock(mutex);
                      status = s;
                      finished = true;
                      done.notify_all();
                    });
  std::unique_lock<std::mutex> lock(mutex);
  done.wait(lock, [&] { return finished; });
  ASSERT_TRUE(status.ok()) << status.error_message();
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(reply.Dump(&slices).ok());
  std::string bytes;
  for (const auto& slice : slices) bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  // HealthCheckResponse{status: SERVING (1)} encodes as field 1 varint 1: 0x08 0x01.
  EXPECT_EQ(bytes, std::string("\x08\x01", 2));
}

}  // namespace
