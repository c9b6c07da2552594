#include "server/service/transport/metrics_page.h"

#include <grpcpp/grpcpp.h>

#include <array>
#include <map>
#include <sstream>

#include "server/base/metrics.h"

namespace kp::service {
namespace {

// gRPC's status code names, by number, for the `code` label of kpd_errors_total.
constexpr std::array<const char*, 17> kStatusNames = {
    "OK",        "CANCELLED",      "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
    "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED",   "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
    "DATA_LOSS", "UNAUTHENTICATED"};

// A label value, escaped as the exposition format asks (backslash, quote, newline).
std::string labelValue(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

class Writer {
 public:
  Writer() { out_.precision(12); }
  // Starts a metric family.
  void family(const char* name, const char* type, const char* help) {
    out_ << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
  }
  template <typename T>
  void sample(const std::string& name, const std::string& labels, T value) {
    out_ << name;
    if (!labels.empty()) out_ << '{' << labels << '}';
    out_ << ' ' << value << '\n';
  }
  void histogram(const char* name, const char* help, const base::Histogram& histogram) {
    family(name, "histogram", help);
    const base::Histogram::Snapshot snapshot = histogram.snapshot();
    const std::string bucket = std::string(name) + "_bucket";
    for (size_t i = 0; i < base::Histogram::kBuckets; ++i) {
      std::ostringstream bound;
      bound << base::Histogram::kBounds[i];
      sample(bucket, "le=\"" + bound.str() + "\"", snapshot.cumulative[i]);
    }
    sample(bucket, "le=\"+Inf\"", snapshot.count);
    sample(std::string(name) + "_sum", "", snapshot.sumSeconds);
    sample(std::string(name) + "_count", "", snapshot.count);
  }
  std::string text() const { return out_.str(); }

 private:
  std::ostringstream out_;
};

std::string deviceLabel(uint32_t device) {
  return "device=\"" + std::to_string(device) + "\"";
}

}  // namespace

std::string MetricsPage::render() const {
  Writer page;
  // Per device: every device served, with zeros where nothing runs.
  struct PerDevice {
    uint64_t sessions = 0, objects = 0, tensorBytes = 0;
    DevicePool::Load load;
  };
  std::map<uint32_t, PerDevice> devices;
  for (const DevicePool::Load& load : pool_.load()) devices[load.index].load = load;
  for (const auto& [session, owner] : registry_.list()) {
    PerDevice& device = devices[session->deviceIndex()];
    device.sessions += 1;
    device.objects += session->objectCount();
    device.tensorBytes += session->tensorBytes();
  }
  // One gauge family with a value per device.
  const auto perDevice = [&](const char* name, const char* help, auto value) {
    page.family(name, "gauge", help);
    for (const auto& [index, device] : devices)
      page.sample(name, deviceLabel(index), value(device));
  };

  page.family("kpd_build_info", "gauge", "kpd's version (always 1).");
  page.sample("kpd_build_info", "version=\"" + labelValue(version_) + "\"", 1);
  page.family("kpd_uptime_seconds", "gauge", "Seconds since kpd started serving.");
  page.sample(
      "kpd_uptime_seconds", "",
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started_)
          .count());
  perDevice("kpd_sessions", "Open sessions, by device.",
            [](const PerDevice& device) { return device.sessions; });
  perDevice("kpd_objects",
            "Tensors, algorithms and sequences held by the open sessions, by device.",
            [](const PerDevice& device) { return device.objects; });
  perDevice("kpd_tensor_bytes", "Bytes of the open sessions' tensors, by device.",
            [](const PerDevice& device) { return device.tensorBytes; });
  perDevice("kpd_device_memory_allocated_bytes", "Device memory kpd has allocated, by device.",
            [](const PerDevice& device) { return device.load.usedBytes; });
  perDevice("kpd_device_memory_free_bytes",
            "Device memory still free for kpd (GetLoad's memory_free_bytes), by device.",
            [](const PerDevice& device) { return device.load.freeBytes; });
  perDevice("kpd_device_busy_fraction",
            "Share of the last 10 s during which the device had work submitted, by device.",
            [](const PerDevice& device) { return device.load.busyFraction; });
  perDevice("kpd_evaluations_running", "Submissions running on the device's queues, by device.",
            [](const PerDevice& device) { return device.load.running; });
  perDevice("kpd_evaluations_queued",
            "Submissions waiting behind another on the device's queues, by device.",
            [](const PerDevice& device) { return device.load.queued; });
  perDevice("kpd_device_available",
            "1 while kpd opens the device, 0 once it stopped (--max-wedged-devices), by device.",
            [](const PerDevice& device) { return device.load.available ? 1 : 0; });
  page.family("kpd_pending_submissions", "gauge", "Submissions to the devices not yet finished.");
  page.sample("kpd_pending_submissions", "", pool_.pendingSubmissions());
  page.family("kpd_retired_devices", "gauge",
              "Devices taken out of service whose memory could not be freed (runaway work).");
  page.sample("kpd_retired_devices", "", retirement_.retiredCount());
  page.family("kpd_device_resets_total", "counter",
              "Devices taken out of service and reopened (lost, or wedged by runaway work).");
  page.sample("kpd_device_resets_total", "", pool_.resets());

  const base::Metrics& metrics = base::metrics();
  page.histogram("kpd_evaluation_seconds",
                 "Evaluations from submission to collection (Eval, EvalAwait, the data socket).",
                 metrics.evaluations);
  page.family("kpd_errors_total", "counter", "Failed calls, by gRPC status code.");
  for (size_t code = 1; code < kStatusNames.size(); ++code) {
    page.sample("kpd_errors_total", std::string("code=\"") + kStatusNames[code] + "\"",
                metrics.errorsByStatus[code].load(std::memory_order_relaxed));
  }
  ShaderCompiler& compiler = pool_.compiler();
  page.histogram("kpd_shader_compile_seconds",
                 "GLSL compilations that ran the compiler worker (cache hits excluded), "
                 "waiting for a worker included.",
                 metrics.compiles);
  page.family("kpd_shader_compile_cache_hits_total", "counter",
              "GLSL compilations answered from the cache.");
  page.sample("kpd_shader_compile_cache_hits_total", "", compiler.cacheHits());
  page.family("kpd_shader_compiles_waiting", "gauge", "Compilations waiting for a worker.");
  page.sample("kpd_shader_compiles_waiting", "", compiler.waiting());
  page.family("kpd_compiler_worker_failures_total", "counter",
              "Compiler workers that crashed or ran past their memory or CPU limit.");
  page.sample("kpd_compiler_worker_failures_total", "", compiler.workerFailures());
  return page.text();
}

}  // namespace kp::service
