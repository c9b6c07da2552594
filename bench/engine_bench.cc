// In-process engine benchmarks: the floor that the daemon paths are compared with.
// Prints one JSON object per measurement on stdout (bench/run collects them).
//
//   engine_bench small              small eval latency (sync+multiply+sync, dispatch only)
//   engine_bench bandwidth SIZES    host->device->host round trip per size (bytes)
//   engine_bench saxpy N...         saxpy on N floats (GPU-bound)
//   engine_bench pingpong           4 bytes to another process and back over a Unix socket:
//                                   the floor of any call from one process to another
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "server/engine/engine.h"
#include "multiply.h"
#include "saxpy.h"

using namespace kp::engine;
using Clock = std::chrono::steady_clock;

namespace {

double percentile(std::vector<double> values, double p) {
  std::sort(values.begin(), values.end());
  size_t index = static_cast<size_t>(p * (values.size() - 1) + 0.5);
  return values[std::min(index, values.size() - 1)];
}

template <typename F>
std::vector<double> timeMicros(int iterations, F&& body) {
  std::vector<double> samples;
  samples.reserve(iterations);
  for (int i = 0; i < iterations; ++i) {
    auto start = Clock::now();
    body();
    samples.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
  }
  return samples;
}

void report(const char* bench, const char* path, const std::string& extra,
            const std::vector<double>& micros) {
  std::printf(
      "{\"bench\":\"%s\",\"path\":\"%s\"%s,\"n\":%zu,\"p50_us\":%.2f,\"p99_us\":%.2f,"
      "\"mean_us\":%.2f}\n",
      bench, path, extra.c_str(), micros.size(), percentile(micros, 0.5),
      percentile(micros, 0.99),
      [&] {
        double sum = 0;
        for (double v : micros) sum += v;
        return sum / micros.size();
      }());
  std::fflush(stdout);
}

std::vector<uint32_t> words(const uint32_t* begin, size_t count) {
  return std::vector<uint32_t>(begin, begin + count);
}

void smallEval(const std::shared_ptr<Device>& device) {
  auto a = Tensor::create(device, std::vector<float>{2, 2, 2});
  auto b = Tensor::create(device, std::vector<float>{1, 2, 3});
  auto c = Tensor::create(device, std::vector<float>{0, 0, 0});
  auto spirv = words(kSpirv_multiply, sizeof(kSpirv_multiply) / 4);
  auto algorithm = Algorithm::create(device, {a, b, c}, spirv, Workgroup{1, 1, 1});

  auto full = Sequence::create(device);
  full->record(std::make_shared<OpTensorSyncDevice>(std::vector{a, b}))
      .record(std::make_shared<OpAlgoDispatch>(algorithm))
      .record(std::make_shared<OpTensorSyncLocal>(std::vector{c}));
  std::vector<float> host{2, 2, 2};
  auto run = [&] {
    a->setData(host);  // the host write a client would make
    full->eval();
    volatile float sink = c->vector<float>()[2];
    (void)sink;
  };
  timeMicros(200, run);
  report("small_eval", "engine", ",\"sequence\":\"sync_mult_sync\"", timeMicros(2000, run));

  auto dispatchOnly = Sequence::create(device);
  dispatchOnly->record(std::make_shared<OpAlgoDispatch>(algorithm));
  timeMicros(200, [&] { dispatchOnly->eval(); });
  report("small_eval", "engine", ",\"sequence\":\"dispatch\"",
         timeMicros(2000, [&] { dispatchOnly->eval(); }));
}

void bandwidth(const std::shared_ptr<Device>& device, const std::vector<uint64_t>& sizes) {
  for (uint64_t bytes : sizes) {
    const uint64_t count = bytes / 4;
    std::vector<float> in(count, 1.5f), out(count);
    auto tensor = Tensor::create(device, DataType::kFloat32, count, TensorType::kDevice);
    auto sequence = Sequence::create(device);
    sequence->record(std::make_shared<OpTensorSyncDevice>(std::vector{tensor}))
        .record(std::make_shared<OpTensorSyncLocal>(std::vector{tensor}));
    auto run = [&] {
      tensor->setHostData(in.data(), bytes);  // the client's data into the host copy
      sequence->eval();
      tensor->getHostData(out.data(), bytes);  // and back out
    };
    const int iterations = bytes >= (64ull << 20) ? 5 : bytes >= (1ull << 20) ? 20 : 200;
    run();
    report("bandwidth", "engine", ",\"bytes\":" + std::to_string(bytes),
           timeMicros(iterations, run));

    std::vector<double> copy = timeMicros(iterations, [&] {
      std::memcpy(out.data(), in.data(), bytes);
      std::memcpy(in.data(), out.data(), bytes);
    });
    report("bandwidth", "memcpy", ",\"bytes\":" + std::to_string(bytes), copy);
  }
}

void saxpy(const std::shared_ptr<Device>& device, const std::vector<uint64_t>& counts) {
  const uint64_t maxChunk = device->info().maxStorageBufferRange / 4;
  auto spirv = words(kSpirv_saxpy, sizeof(kSpirv_saxpy) / 4);
  for (uint64_t count : counts) {
    // A device binds at most maxStorageBufferRange bytes per buffer: split into chunks.
    auto sequence = Sequence::create(device);
    std::vector<std::shared_ptr<Tensor>> keep;
    for (uint64_t done = 0; done < count; done += maxChunk) {
      const uint64_t n = std::min(maxChunk, count - done);
      auto x = Tensor::create(device, DataType::kFloat32, n, TensorType::kStorage);
      auto y = Tensor::create(device, DataType::kFloat32, n, TensorType::kStorage);
      auto algorithm = Algorithm::create(device, {x, y}, spirv,
                                         Workgroup{static_cast<uint32_t>(std::min<uint64_t>((n + 255) / 256, 65535)), 1, 1},
                                         {}, Constants::of<float>({2.0f}));
      sequence->record(std::make_shared<OpAlgoDispatch>(algorithm));
      keep.insert(keep.end(), {x, y});
    }
    sequence->eval();
    // About a second of evaluations (5 to 200): a GPU evaluates 2^28 floats in a millisecond,
    // where a few samples would be noise. python_bench.py's saxpy uses the same rule.
    const double once = timeMicros(1, [&] { sequence->eval(); })[0];
    const int iterations = static_cast<int>(std::clamp(1e6 / std::max(once, 1.0), 5.0, 200.0));
    report("saxpy", "engine", ",\"floats\":" + std::to_string(count),
           timeMicros(iterations, [&] { sequence->eval(); }));
  }
}

// No Vulkan: a forked child echoes 4-byte messages on a socketpair. A daemon call on the
// same host costs at least this (the client wakes the daemon, the daemon wakes the client).
void pingpong() {
  int sockets[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM, 0, sockets) != 0) return;
  const pid_t child = ::fork();
  char message[4] = {};
  if (child == 0) {
    ::close(sockets[0]);
    while (::read(sockets[1], message, sizeof(message)) == sizeof(message)) {
      if (::write(sockets[1], message, sizeof(message)) != sizeof(message)) break;
    }
    ::_exit(0);
  }
  ::close(sockets[1]);
  auto roundTrip = [&] {
    if (::write(sockets[0], message, sizeof(message)) != sizeof(message) ||
        ::read(sockets[0], message, sizeof(message)) != sizeof(message)) {
      std::abort();
    }
  };
  timeMicros(2000, roundTrip);
  report("small_eval", "unix-pingpong", ",\"sequence\":\"none\"", timeMicros(20000, roundTrip));
  ::close(sockets[0]);
  ::waitpid(child, nullptr, 0);
}

std::vector<uint64_t> numbers(int argc, char** argv, int from) {
  std::vector<uint64_t> values;
  for (int i = from; i < argc; ++i) values.push_back(std::strtoull(argv[i], nullptr, 10));
  return values;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: engine_bench small | bandwidth BYTES... | saxpy FLOATS... | pingpong\n");
    return 2;
  }
  if (std::string(argv[1]) == "pingpong") {
    pingpong();
    return 0;
  }
  auto instance = Instance::create();
  auto device = Device::open(instance, 0);
  const std::string what = argv[1];
  if (what == "small") smallEval(device);
  if (what == "bandwidth") bandwidth(device, numbers(argc, argv, 2));
  if (what == "saxpy") saxpy(device, numbers(argc, argv, 2));
  return 0;
}
