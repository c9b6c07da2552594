#include "request_harness.h"

#include <google/protobuf/stubs/logging.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "fuzz_input.pb.h"
#include "fuzz_shaders.h"
#include "input_run.h"

namespace kp::fuzz {
namespace {

// Requests one input may make: enough for deep states, few enough to keep every input fast.
constexpr int kMaxCalls = 64;

}  // namespace

service::ServiceConfig harnessConfig() {
  service::ServiceConfig config;
  // GLSL compiles in the kpd-compile worker, as in kpd ($KP_COMPILE_WORKER, or the build's).
  const char* worker = std::getenv("KP_COMPILE_WORKER");
  config.compiler.worker = worker != nullptr ? worker : KPD_COMPILE_BINARY;
  config.defaultLeaseSeconds = 600;
  config.maxLeaseSeconds = 600;
  // An evaluation that runs longer is answered DEADLINE_EXCEEDED and keeps running; closing
  // its session then waits for it.
  config.evalTimeoutMs = 2'000;
  config.closeWaitMs = 20'000;
  config.maxSessions = 4;
  config.sharedArenaBytes = 1 << 20;
  // 1 MiB of tensors: room for many small tensors, and the largest (256 Ki elements) still
  // evaluates in milliseconds on lavapipe; larger requests test the quota.
  config.sessionMemoryBytes = 1 << 20;
  config.sessionMaxObjects = 48;
  // Smaller than the memory quota, so that replies too large to send are reachable too.
  config.maxMessageBytes = 256 << 10;
  config.maxSequenceOps = 32;
  config.maxTimestamps = 64;
  return config;
}

void finding(const std::string& what) {
  std::fprintf(stderr, "\n==== kp request fuzzer: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

RequestHarness& RequestHarness::get() {
  // Never destroyed: the driver's threads may outlive static destruction at exit.
  static RequestHarness* harness = new RequestHarness();
  return *harness;
}

RequestHarness::RequestHarness() : config_(harnessConfig()) {
  const char* verbose = std::getenv("KP_FUZZ_VERBOSE");
  verbose_ = verbose != nullptr && std::strcmp(verbose, "1") == 0;
  spdlog::set_level(verbose_ ? spdlog::level::debug : spdlog::level::warn);
  // Inputs whose strings are not UTF-8 fail to decode, as gRPC would refuse them; protobuf
  // logs each one.
  if (!verbose_) google::protobuf::SetLogHandler(nullptr);
  const char* validation = std::getenv("KP_VALIDATION");
  engine::InstanceOptions options;
  options.validation = validation != nullptr && std::strcmp(validation, "1") == 0;
  instance_ = engine::Instance::create(options);
  if (instance_->deviceCount() == 0) finding("no Vulkan device to fuzz on");
  pool_ = std::make_unique<service::DevicePool>(instance_, config_);
  retirement_ = std::make_unique<service::Retirement>(*pool_, config_);
  registry_ = std::make_unique<service::SessionRegistry>(*pool_, *retirement_, config_);
  device_ = pool_->open(0, {});
  baselineDeviceRefs_ = device_.use_count();
  fuzzShaderSpirv();  // compile the embedded shaders now, not in the first input
  std::fprintf(stderr, "kp request fuzzer: device 0 is %s%s\n", device_->info().name.c_str(),
               instance_->validationEnabled() ? ", with the Vulkan validation layer" : "");
  checkBaseline();
}

void RequestHarness::run(const uint8_t* data, size_t size) {
  FuzzInput input;
  if (input.ParseFromArray(data, static_cast<int>(size))) {
    run(input);
    return;
  }
  // Not a FuzzInput: one raw request, decoded as gRPC would decode it.
  ++inputs_;
  {
    InputRun run(*this, v1::OpenSessionRequest(), false);
    if (size > 0) {
      run.raw(data[0], std::string(reinterpret_cast<const char*>(data) + 1, size - 1));
    }
    run.finish();
  }
  checkBaseline();
}

void RequestHarness::run(const FuzzInput& input) {
  ++inputs_;
  {
    InputRun run(*this, input.open(), input.attach_local());
    const int calls = std::min(input.calls_size(), kMaxCalls);
    for (int i = 0; i < calls; ++i) run.call(input.calls(i));
    run.finish();
  }
  checkBaseline();
}

void RequestHarness::shutdown() {
  checkBaseline();
  registry_.reset();
  retirement_.reset();
  device_.reset();
  pool_.reset();  // destroys the devices: the validation layer reports objects left alive
  if (instance_->validationEnabled() && instance_->validationErrors() > 0) {
    finding("the Vulkan validation layer reported " +
            std::to_string(instance_->validationErrors()) + " error(s) (see the log above)");
  }
  instance_.reset();
}

void RequestHarness::checkBaseline() {
  if (registry_->size() != 0) {
    finding("leak: " + std::to_string(registry_->size()) + " session(s) still open after the input");
  }
  for (const auto& [device, bytes] : pool_->memoryUsage()) {
    if (bytes != 0) {
      finding("leak: device " + std::to_string(device) + " still has " + std::to_string(bytes) +
              " bytes allocated after every session of the input was closed");
    }
  }
  if (device_.use_count() != baselineDeviceRefs_) {
    finding("leak: the device has " + std::to_string(device_.use_count()) +
            " references after every session of the input was closed (baseline " +
            std::to_string(baselineDeviceRefs_) + "): an engine object outlived its session");
  }
}

}  // namespace kp::fuzz
