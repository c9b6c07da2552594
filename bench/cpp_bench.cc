// Benchmarks of the C++ client (kp_client) through a running kpd. Prints one JSON object per
// measurement on stdout (bench/run collects them), in the form of python_bench.py's.
//
//   cpp_bench small ADDRESS PATH              small eval latency (PATH: shm | socket)
//   cpp_bench bandwidth ADDRESS PATH BYTES...  host -> device -> host round trip
//
// PATH "shm" is the same-host fast path (shared memory and the local data socket); "socket"
// sends host copies over the gRPC connection (a Unix socket or TCP, as ADDRESS says). Rows are
// named cpp-shm, cpp-socket (Unix socket) and cpp-tcp; round trips over gRPC streams
// cpp-unix-stream and cpp-tcp-stream.
//
// Results are checked (the products; the bytes of a round trip, read back from the device): a
// wrong one ends the program with "cpp_bench: BENCH PATH: wrong result: ..." on stderr and exit
// status 1. BENCH_ITERATIONS caps every timed loop (warm-ups at a tenth of it), for
// bench/run --smoke; BENCH_SMOKE_CORRUPT=PATH[,PATH...] makes those paths feed a wrong value in
// on purpose, to show that the checks catch it.
#include <kp/kp.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "bench_env.h"

namespace {

using Clock = std::chrono::steady_clock;

const char* const kMultiply = R"(
#version 450
layout(local_size_x = 64) in;
layout(set = 0, binding = 0) readonly buffer Lhs { float lhs[]; };
layout(set = 0, binding = 1) readonly buffer Rhs { float rhs[]; };
layout(set = 0, binding = 2) writeonly buffer Out { float outValues[]; };
void main() {
  uint i = gl_GlobalInvocationID.x;
  if (i < outValues.length()) { outValues[i] = lhs[i] * rhs[i]; }
}
)";

using kp::bench::corrupt;
using kp::bench::reps;

// The row's path: cpp-shm, cpp-socket / cpp-tcp, or (round trips) cpp-unix-stream /
// cpp-tcp-stream.
std::string pathName(const std::string& address, const std::string& path, bool stream) {
  if (path == "shm") return "cpp-shm";
  const bool tcp = address.rfind("unix:", 0) != 0;
  if (stream) return tcp ? "cpp-tcp-stream" : "cpp-unix-stream";
  return tcp ? "cpp-tcp" : "cpp-socket";
}

int wrongResult(const char* bench, const std::string& path, const std::string& what) {
  std::fprintf(stderr, "cpp_bench: %s %s: wrong result: %s\n", bench, path.c_str(), what.c_str());
  return 1;
}

std::string values(const float* data, size_t count) {
  std::string text = "[";
  for (size_t i = 0; i < count; ++i) text += (i ? ", " : "") + std::to_string(data[i]);
  return text + "]";
}

constexpr int kWarmUp = 200;
constexpr int kTimed = 2000;

double percentile(std::vector<double> values, double p) {
  std::sort(values.begin(), values.end());
  const size_t index = static_cast<size_t>(p * (values.size() - 1) + 0.5);
  return values[std::min(index, values.size() - 1)];
}

// Microseconds of each of `iterations` runs of `body`.
template <typename F>
std::vector<double> timed(int iterations, F&& body) {
  std::vector<double> samples;
  samples.reserve(iterations);
  for (int i = 0; i < iterations; ++i) {
    const Clock::time_point start = Clock::now();
    body();
    samples.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
  }
  return samples;
}

void emit(const std::string& path, const char* sequence, const std::vector<double>& micros) {
  double sum = 0;
  for (double value : micros) sum += value;
  std::printf(
      "{\"bench\": \"small_eval\", \"path\": \"%s\", \"sequence\": \"%s\", \"n\": %zu, "
      "\"p50_us\": %.2f, \"p99_us\": %.2f, \"mean_us\": %.2f}\n",
      path.c_str(), sequence, micros.size(), percentile(micros, 0.5), percentile(micros, 0.99),
      sum / static_cast<double>(micros.size()));
  std::fflush(stdout);
}

int small(const std::string& address, const std::string& path) {
  kp::ManagerOptions options;
  options.address = address;
  options.sharedMemory = path == "shm";
  kp::Manager mgr(options);
  if (path == "shm" && !mgr.sharedMemory()) {
    std::fprintf(stderr, "cpp_bench: the shared-memory path is not available at %s\n",
                 address.c_str());
    return 1;
  }
  const std::string name = pathName(address, path, false);
  auto a = mgr.tensor({2, 2, 2});
  auto b = mgr.tensor({1, 2, 3});
  auto c = mgr.tensor({0, 0, 0});
  auto algo = mgr.algorithm({a, b, c}, kMultiply, kp::Workgroup{1, 1, 1});
  auto full = mgr.sequence()
                  ->record<kp::OpTensorSyncDevice>({a, b})
                  ->record<kp::OpAlgoDispatch>(algo)
                  ->record<kp::OpTensorSyncLocal>({c});
  float host[3] = {2, 2, 2};
  if (corrupt(name)) host[2] = 2.5f;
  int wrong = 0;
  auto run = [&] {
    std::memcpy(a->data(), host, sizeof(host));  // the host write a program would make
    full->eval();
    wrong += c->data()[2] != 6.0f;
  };
  auto expected = [&] {
    const float* out = c->data();
    return out[0] == 2.0f && out[1] == 4.0f && out[2] == 6.0f;
  };
  timed(reps(kWarmUp), run);
  emit(name, "sync_mult_sync", timed(reps(kTimed), run));
  if (wrong || !expected()) {
    return wrongResult("small_eval", name,
                       "c = " + values(c->data(), 3) + " (" + std::to_string(wrong) +
                           " wrong evaluations), expected [2, 4, 6]");
  }

  auto dispatch = mgr.sequence()->record<kp::OpAlgoDispatch>(algo);
  auto evalDispatch = [&] { dispatch->eval(); };
  timed(reps(kWarmUp), evalDispatch);
  emit(name, "dispatch", timed(reps(kTimed), evalDispatch));
  std::memset(c->data(), 0, 3 * sizeof(float));
  mgr.sequence()->record<kp::OpTensorSyncLocal>({c})->eval();  // what the dispatches left
  if (!expected()) {
    return wrongResult("small_eval", name,
                       "c = " + values(c->data(), 3) +
                           " after the dispatch-only evaluations, expected [2, 4, 6]");
  }
  return 0;
}

// The round trip of python_bench.py's bandwidth: the program's array into the host copy,
// evaluate [SyncDevice, SyncLocal], the host copy out into another array.
int bandwidth(const std::string& address, const std::string& path,
              const std::vector<uint64_t>& sizes) {
  kp::ManagerOptions options;
  options.address = address;
  options.sharedMemory = path == "shm";
  kp::Manager mgr(options);
  const std::string name = pathName(address, path, true);
  for (uint64_t size : sizes) {
    const size_t count = size / sizeof(float);
    std::vector<float> source(count);
    for (size_t i = 0; i < count; ++i) source[i] = static_cast<float>(i % 65521);
    std::vector<float> written = source;
    if (corrupt(name) && count > 0) written.back() += 1;
    std::vector<float> target(count);
    auto tensor = mgr.tensor(std::vector<float>(count, 0.0f));
    auto seq = mgr.sequence()
                   ->record<kp::OpTensorSyncDevice>({tensor})
                   ->record<kp::OpTensorSyncLocal>({tensor});
    auto run = [&] {
      std::memcpy(tensor->data(), written.data(), size);
      seq->eval();
      std::memcpy(target.data(), tensor->data(), size);
    };
    const int iterations = size >= (64u << 20) ? 5 : size >= (1u << 20) ? 20 : 200;
    run();
    const std::vector<double> micros = timed(reps(iterations), run);
    double sum = 0;
    for (double value : micros) sum += value;
    std::printf(
        "{\"bench\": \"bandwidth\", \"path\": \"%s\", \"bytes\": %llu, \"n\": %zu, "
        "\"p50_us\": %.2f, \"p99_us\": %.2f, \"mean_us\": %.2f}\n",
        name.c_str(), static_cast<unsigned long long>(size), micros.size(),
        percentile(micros, 0.5), percentile(micros, 0.99),
        sum / static_cast<double>(micros.size()));
    std::fflush(stdout);
    if (target != source) {
      return wrongResult("bandwidth", name,
                         std::to_string(size) + " bytes came back different from those written");
    }
    // Through the device: the host copy is cleared between SyncDevice and SyncLocal.
    std::memcpy(tensor->data(), written.data(), size);
    mgr.sequence()->record<kp::OpTensorSyncDevice>({tensor})->eval();
    std::memset(tensor->data(), 0, size);
    mgr.sequence()->record<kp::OpTensorSyncLocal>({tensor})->eval();
    if (std::memcmp(tensor->data(), source.data(), size) != 0) {
      return wrongResult("bandwidth", name,
                         std::to_string(size) +
                             " bytes read back from the device differ from those written to it");
    }
    seq->destroy();
    tensor->destroy();
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  try {
    if (args.size() == 3 && args[0] == "small" && (args[2] == "shm" || args[2] == "socket")) {
      return small(args[1], args[2]);
    }
    if (args.size() >= 4 && args[0] == "bandwidth" && (args[2] == "shm" || args[2] == "socket")) {
      std::vector<uint64_t> sizes;
      for (size_t i = 3; i < args.size(); ++i) sizes.push_back(std::stoull(args[i]));
      return bandwidth(args[1], args[2], sizes);
    }
  } catch (const std::exception& error) {
    std::fprintf(stderr, "cpp_bench: %s\n", error.what());
    return 1;
  }
  std::fprintf(stderr,
               "usage: cpp_bench small ADDRESS shm|socket\n"
               "       cpp_bench bandwidth ADDRESS shm|socket BYTES...\n");
  return 2;
}
