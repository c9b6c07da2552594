#include "server/base/metrics.h"

#include <algorithm>

namespace kp::base {

void Histogram::observe(std::chrono::nanoseconds duration) {
  const int64_t ns = std::max<int64_t>(0, duration.count());
  const double seconds = static_cast<double>(ns) * 1e-9;
  const size_t bucket = static_cast<size_t>(
      std::lower_bound(kBounds.begin(), kBounds.end(), seconds) - kBounds.begin());
  counts_[bucket].fetch_add(1, std::memory_order_relaxed);
  sumNs_.fetch_add(static_cast<uint64_t>(ns), std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot snapshot;
  uint64_t running = 0;
  for (size_t i = 0; i < kBuckets; ++i) {
    running += counts_[i].load(std::memory_order_relaxed);
    snapshot.cumulative[i] = running;
  }
  snapshot.count = running + counts_[kBuckets].load(std::memory_order_relaxed);
  snapshot.sumSeconds = static_cast<double>(sumNs_.load(std::memory_order_relaxed)) * 1e-9;
  return snapshot;
}

Metrics& metrics() {
  static Metrics instance;
  return instance;
}

}  // namespace kp::base
