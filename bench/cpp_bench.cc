// Benchmarks of the C++ client (kp_client) through a running kpd. Prints one JSON object per
// measurement on stdout (bench/run collects them), in the form of python_bench.py's.
//
//   cpp_bench small ADDRESS PATH              small eval latency (PATH: shm | socket)
//   cpp_bench bandwidth ADDRESS PATH BYTES...  host -> device -> host round trip
//
// PATH "shm" is the same-host fast path (shared memory and the local data socket); "socket"
// sends host copies over the gRPC connection (a Unix socket or TCP, as ADDRESS says).
#include <kp/kp.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

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
      "{\"bench\": \"small_eval\", \"path\": \"cpp-%s\", \"sequence\": \"%s\", \"n\": %zu, "
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
  auto a = mgr.tensor({2, 2, 2});
  auto b = mgr.tensor({1, 2, 3});
  auto c = mgr.tensor({0, 0, 0});
  auto algo = mgr.algorithm({a, b, c}, kMultiply, kp::Workgroup{1, 1, 1});
  auto full = mgr.sequence()
                  ->record<kp::OpTensorSyncDevice>({a, b})
                  ->record<kp::OpAlgoDispatch>(algo)
                  ->record<kp::OpTensorSyncLocal>({c});
  const float host[3] = {2, 2, 2};
  bool wrong = false;
  auto run = [&] {
    std::memcpy(a->data(), host, sizeof(host));  // the host write a program would make
    full->eval();
    wrong |= c->data()[2] != 6.0f;
  };
  timed(kWarmUp, run);
  emit(path, "sync_mult_sync", timed(kTimed, run));

  auto dispatch = mgr.sequence()->record<kp::OpAlgoDispatch>(algo);
  auto evalDispatch = [&] { dispatch->eval(); };
  timed(kWarmUp, evalDispatch);
  emit(path, "dispatch", timed(kTimed, evalDispatch));
  if (wrong) {
    std::fprintf(stderr, "cpp_bench: the multiplication gave wrong values\n");
    return 1;
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
  for (uint64_t size : sizes) {
    const size_t count = size / sizeof(float);
    const std::vector<float> source(count, 1.5f);
    std::vector<float> target(count);
    auto tensor = mgr.tensor(std::vector<float>(count, 0.0f));
    auto seq = mgr.sequence()
                   ->record<kp::OpTensorSyncDevice>({tensor})
                   ->record<kp::OpTensorSyncLocal>({tensor});
    auto run = [&] {
      std::memcpy(tensor->data(), source.data(), size);
      seq->eval();
      std::memcpy(target.data(), tensor->data(), size);
    };
    const int iterations = size >= (64u << 20) ? 5 : size >= (1u << 20) ? 20 : 200;
    run();
    const std::vector<double> micros = timed(iterations, run);
    double sum = 0;
    for (double value : micros) sum += value;
    std::printf(
        "{\"bench\": \"bandwidth\", \"path\": \"cpp-%s\", \"bytes\": %llu, \"n\": %zu, "
        "\"p50_us\": %.2f, \"p99_us\": %.2f, \"mean_us\": %.2f}\n",
        path.c_str(), static_cast<unsigned long long>(size), micros.size(),
        percentile(micros, 0.5), percentile(micros, 0.99),
        sum / static_cast<double>(micros.size()));
    std::fflush(stdout);
    if (target.back() != 1.5f) {
      std::fprintf(stderr, "cpp_bench: the round trip gave wrong values\n");
      return 1;
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
