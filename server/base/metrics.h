// kpd's own counters and latency histograms, kept for its Prometheus page (see
// server/service/transport/metrics_page.h): what happened since start-up, as opposed to the
// gauges (sessions, memory in use) that the page reads from the registry and the devices when
// it is scraped. Recording is a few relaxed atomic additions: no lock, no allocation, so the
// evaluation path can afford it. One process-wide set, like a Prometheus client's default
// registry.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>

namespace kp::base {

// A Prometheus histogram of durations with fixed bucket bounds (seconds, ascending).
class Histogram {
 public:
  static constexpr size_t kBuckets = 18;
  // 25 µs .. 10 s: small evaluations on a GPU take tens of microseconds, runaway ones seconds.
  static constexpr std::array<double, kBuckets> kBounds = {
      25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3,
      25e-3, 50e-3, 100e-3, 250e-3, 500e-3, 1.0,  2.5,    5.0,  10.0};

  void observe(std::chrono::nanoseconds duration);

  struct Snapshot {
    std::array<uint64_t, kBuckets> cumulative{};  // observations <= kBounds[i]
    uint64_t count = 0;                           // every observation (the +Inf bucket)
    double sumSeconds = 0;
  };
  Snapshot snapshot() const;

 private:
  std::array<std::atomic<uint64_t>, kBuckets + 1> counts_{};  // the last one: above every bound
  std::atomic<uint64_t> sumNs_{0};
};

// Observes, when it goes out of scope, how long it lived (however the scope is left).
class ScopedTimer {
 public:
  explicit ScopedTimer(Histogram& histogram)
      : histogram_(histogram), started_(std::chrono::steady_clock::now()) {}
  ~ScopedTimer() { histogram_.observe(std::chrono::steady_clock::now() - started_); }
  ScopedTimer(const ScopedTimer&) = delete;
  ScopedTimer& operator=(const ScopedTimer&) = delete;

 private:
  Histogram& histogram_;
  const std::chrono::steady_clock::time_point started_;
};

struct Metrics {
  // Evaluations that finished and were collected (Eval, EvalAwait, the local data socket),
  // from submission to collection.
  Histogram evaluations;
  // Shader compilations that ran the compiler (cache hits excluded; failures included),
  // waiting for a worker included.
  Histogram compiles;
  // Failed calls by gRPC status code (0..16), counted where failures become statuses.
  std::array<std::atomic<uint64_t>, 17> errorsByStatus{};

  void countError(int statusCode) {
    if (statusCode > 0 && statusCode < static_cast<int>(errorsByStatus.size())) {
      errorsByStatus[static_cast<size_t>(statusCode)].fetch_add(1, std::memory_order_relaxed);
    }
  }
};

// The process's metrics.
Metrics& metrics();

}  // namespace kp::base
