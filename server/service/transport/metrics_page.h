// kpd's Prometheus page (text exposition format 0.0.4): the gauges read when it is scraped
// (per served device: sessions, objects, tensor bytes, memory allocated and free, busy
// fraction, evaluations running and queued, availability, as GetLoad reports them; submissions
// pending, compiles waiting, retired devices) and the counters and histograms of base::metrics() (evaluations and their latency,
// failed calls by status, device resets, shader compiles and their time, compiler worker
// failures). Names are prefixed `kpd_`; per-device series carry a `device` label. Holds no
// session id, only counts.
#pragma once

#include <chrono>
#include <string>

#include "server/service/devices/device_pool.h"
#include "server/service/lifecycle/retirement.h"
#include "server/service/lifecycle/session_registry.h"

namespace kp::service {

class MetricsPage {
 public:
  MetricsPage(DevicePool& pool, const SessionRegistry& registry, const Retirement& retirement,
              std::string version)
      : pool_(pool),
        registry_(registry),
        retirement_(retirement),
        version_(std::move(version)),
        started_(std::chrono::steady_clock::now()) {}

  // The page as of now. Thread-safe.
  std::string render() const;

 private:
  DevicePool& pool_;
  const SessionRegistry& registry_;
  const Retirement& retirement_;
  const std::string version_;
  const std::chrono::steady_clock::time_point started_;
};

}  // namespace kp::service
