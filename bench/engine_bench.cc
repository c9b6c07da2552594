// In-process engine benchmarks: the floor that the daemon paths are compared with.
// Prints one JSON object per measurement on stdout (bench/run collects them).
//
//   engine_bench small              small eval latency (sync+multiply+sync, dispatch only)
//   engine_bench bandwidth SIZES    host->device->host round trip per size (bytes)
//   engine_bench saxpy N...         saxpy on N floats (GPU-bound)
//   engine_bench pingpong           4 bytes to another process and back over a Unix socket:
//                                   the floor of any call from one process to another
//
// Results are checked (the products, the bytes of a round trip read back from the device,
// saxpy's y): a wrong one ends the program with "engine_bench: BENCH engine: wrong result: ..."
// on stderr and exit status 1. BENCH_ITERATIONS caps every timed loop (warm-ups at a tenth of
// it), for bench/run --smoke; BENCH_SMOKE_CORRUPT=engine feeds a wrong value in on purpose.
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
#include "bench_env.h"
#include "multiply.h"
#include "saxpy.h"

using namespace kp::engine;
using Clock = std::chrono::steady_clock;

namespace {

using kp::bench::corrupt;
using kp::bench::reps;

[[noreturn]] void wrongResult(const char* bench, const std::string& what) {
  std::fprintf(stderr, "engine_bench: %s engine: wrong result: %s\n", bench, what.c_str());
  std::exit(1);
}

std::string values(const std::vector<float>& data) {
  std::string text = "[";
  for (size_t i = 0; i < data.size() && i < 4; ++i) text += (i ? ", " : "") + std::to_string(data[i]);
  return text + (data.size() > 4 ? ", ...]" : "]");
}

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
  if (corrupt("engine")) host[2] = 2.5f;
  int wrong = 0;
  auto run = [&] {
    a->setData(host);  // the host write a client would make
    full->eval();
    wrong += c->vector<float>()[2] != 6.0f;
  };
  const std::vector<float> expected{2, 4, 6};
  timeMicros(reps(200), run);
  report("small_eval", "engine", ",\"sequence\":\"sync_mult_sync\"", timeMicros(reps(2000), run));
  if (wrong || c->vector<float>() != expected) {
    wrongResult("small_eval", "c = " + values(c->vector<float>()) + " (" +
                                  std::to_string(wrong) + " wrong evaluations), expected [2, 4, 6]");
  }

  auto dispatchOnly = Sequence::create(device);
  dispatchOnly->record(std::make_shared<OpAlgoDispatch>(algorithm));
  timeMicros(reps(200), [&] { dispatchOnly->eval(); });
  report("small_eval", "engine", ",\"sequence\":\"dispatch\"",
         timeMicros(reps(2000), [&] { dispatchOnly->eval(); }));
  c->setData(std::vector<float>{0, 0, 0});
  auto syncLocal = Sequence::create(device);
  syncLocal->record(std::make_shared<OpTensorSyncLocal>(std::vector{c}));
  syncLocal->eval();  // what the dispatches left
  if (c->vector<float>() != expected) {
    wrongResult("small_eval", "c = " + values(c->vector<float>()) +
                                  " after the dispatch-only evaluations, expected [2, 4, 6]");
  }
}

void bandwidth(const std::shared_ptr<Device>& device, const std::vector<uint64_t>& sizes) {
  for (uint64_t bytes : sizes) {
    const uint64_t count = bytes / 4;
    std::vector<float> source(count), out(count);
    for (uint64_t i = 0; i < count; ++i) source[i] = static_cast<float>(i % 65521);
    std::vector<float> in = source;
    if (corrupt("engine") && count > 0) in.back() += 1;
    auto tensor = Tensor::create(device, DataType::kFloat32, count, TensorType::kDevice);
    auto sequence = Sequence::create(device);
    sequence->record(std::make_shared<OpTensorSyncDevice>(std::vector{tensor}))
        .record(std::make_shared<OpTensorSyncLocal>(std::vector{tensor}));
    auto run = [&] {
      tensor->setHostData(in.data(), bytes);  // the client's data into the host copy
      sequence->eval();
      tensor->getHostData(out.data(), bytes);  // and back out
    };
    const int iterations = reps(bytes >= (64ull << 20) ? 5 : bytes >= (1ull << 20) ? 20 : 200);
    run();
    report("bandwidth", "engine", ",\"bytes\":" + std::to_string(bytes),
           timeMicros(iterations, run));
    if (out != source) {
      wrongResult("bandwidth", std::to_string(bytes) + " bytes came back different");
    }
    // Through the device: the host copy is cleared between SyncDevice and SyncLocal.
    tensor->setHostData(in.data(), bytes);
    auto toDevice = Sequence::create(device);
    toDevice->record(std::make_shared<OpTensorSyncDevice>(std::vector{tensor}));
    toDevice->eval();
    std::fill(out.begin(), out.end(), 0.0f);
    tensor->setHostData(out.data(), bytes);
    auto toHost = Sequence::create(device);
    toHost->record(std::make_shared<OpTensorSyncLocal>(std::vector{tensor}));
    toHost->eval();
    tensor->getHostData(out.data(), bytes);
    if (out != source) {
      wrongResult("bandwidth", std::to_string(bytes) +
                                   " bytes read back from the device differ from those written");
    }

    std::vector<double> copy = timeMicros(iterations, [&] {
      std::memcpy(out.data(), in.data(), bytes);
      std::memcpy(in.data(), out.data(), bytes);
    });
    report("bandwidth", "memcpy", ",\"bytes\":" + std::to_string(bytes), copy);
  }
}

// saxpy's result, on min(count, 2^20) floats with the same shader and workgroup rule (the
// timed tensors are storage tensors, which have no host copy to read).
void verifySaxpy(const std::shared_ptr<Device>& device, const std::vector<uint32_t>& spirv,
                 uint64_t count) {
  const uint64_t n = std::min<uint64_t>(count, 1u << 20);
  std::vector<float> x0(n), y0(n, 0.5f);
  for (uint64_t i = 0; i < n; ++i) x0[i] = static_cast<float>(i % 1000);
  auto x = Tensor::create(device, x0);
  auto y = Tensor::create(device, y0);
  if (corrupt("engine")) y->setData(std::vector<float>(n, 0.75f));
  auto algorithm = Algorithm::create(
      device, {x, y}, spirv,
      Workgroup{static_cast<uint32_t>(std::min<uint64_t>((n + 255) / 256, 65535)), 1, 1}, {},
      Constants::of<float>({2.0f}));
  auto sequence = Sequence::create(device);
  sequence->record(std::make_shared<OpTensorSyncDevice>(std::vector{x, y}))
      .record(std::make_shared<OpAlgoDispatch>(algorithm))
      .record(std::make_shared<OpTensorSyncLocal>(std::vector{y}));
  sequence->eval();
  const std::vector<float> got = y->vector<float>();
  for (uint64_t i = 0; i < n; ++i) {
    if (got[i] != 2.0f * x0[i] + y0[i]) {
      wrongResult("saxpy", "y[" + std::to_string(i) + "] = " + std::to_string(got[i]) +
                               ", expected " + std::to_string(2.0f * x0[i] + y0[i]) + " (of " +
                               std::to_string(n) + " floats)");
    }
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
    const int iterations =
        reps(static_cast<int>(std::clamp(1e6 / std::max(once, 1.0), 5.0, 200.0)));
    report("saxpy", "engine", ",\"floats\":" + std::to_string(count),
           timeMicros(iterations, [&] { sequence->eval(); }));
    keep.clear();
    sequence.reset();
    verifySaxpy(device, spirv, count);
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
  timeMicros(reps(2000), roundTrip);
  report("small_eval", "unix-pingpong", ",\"sequence\":\"none\"",
         timeMicros(reps(20000), roundTrip));
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
