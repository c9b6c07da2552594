// kpd: the kp daemon. Parses flags, opens the Vulkan instance, serves kp.v1 until SIGTERM or
// SIGINT, then shuts down cleanly (exit code 0). Everything else lives in the libraries.
#include <malloc.h>
#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>
#include <CLI/CLI.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

#include "kp/v1/types.pb.h"
#include "server/base/error.h"
#include "server/engine/fault_injection.h"
#include "server/engine/instance.h"
#include "server/service/server.h"

namespace {

void printDevices(const kp::engine::Instance& instance) {
  for (const auto& device : instance.devices()) {
    std::printf("%u: %s (%s, Vulkan %s, driver %s)\n", device.index, device.name.c_str(),
                device.type.c_str(), kp::engine::apiVersionString(device.apiVersion).c_str(),
                device.driverName.empty() ? "?" : device.driverName.c_str());
  }
}

// glibc gives each new thread a malloc arena of its own, up to 8 per core, and keeps up to
// twice its (self-raising) mmap threshold free at the top of each: kpd's threads come and go
// with connections, so its idle RSS crept up by tens of MiB with every wave of clients that
// moved multi-MiB tensors (measured: 14 -> 139 MiB of anonymous memory after 8 waves of the
// chaos clients, with no session left). Two arenas hold it flat (34-38 MiB) at no cost to the
// bandwidth benchmarks (a fixed 1 MiB mmap threshold did too, but cost 15-20% of stream
// bandwidth in page faults). MALLOC_ARENA_MAX or GLIBC_TUNABLES in the environment win.
void limitMallocArenas() {
  if (std::getenv("MALLOC_ARENA_MAX") == nullptr && std::getenv("GLIBC_TUNABLES") == nullptr) {
    mallopt(M_ARENA_MAX, 2);
  }
}

}  // namespace

int main(int argc, char** argv) {
  limitMallocArenas();
  CLI::App app{"kpd: GPU compute as a service (Kompute's object model over gRPC)"};
  std::vector<std::string> listen;
  std::string logLevel = "info";
  bool listDevices = false;
  bool validation = false;
  unsigned drainMs = 10'000;
  kp::service::ServerOptions options;
  kp::service::ServiceConfig& config = options.service;

  app.add_option("--listen", listen,
                 "Address to serve: unix:PATH or HOST:PORT (repeatable). Default: " +
                     kp::service::defaultListenAddress());
  app.add_option("--log-level", logLevel, "trace, debug, info, warn, error, critical or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}))
      ->capture_default_str();
  app.add_flag("--list-devices", listDevices, "Print the Vulkan devices and exit");
  app.add_flag("--validation", validation,
               "Enable the Vulkan validation layer (development; slow)");
  app.add_option("--max-sessions", config.maxSessions, "Sessions open at once")
      ->capture_default_str();
  app.add_option("--lease-seconds", config.defaultLeaseSeconds,
                 "A session nobody uses for this long ends")
      ->capture_default_str();
  app.add_option("--max-lease-seconds", config.maxLeaseSeconds,
                 "Longest lease a client may ask for")
      ->capture_default_str();
  app.add_option("--eval-timeout-ms", config.evalTimeoutMs,
                 "Longest an evaluation may run before DEADLINE_EXCEEDED")
      ->capture_default_str();
  uint64_t runawayMs = 0;
  auto* runawayOption = app.add_option(
      "--runaway-ms", runawayMs,
      "Reset a device (ending the sessions on it) when one of its queues with work pending "
      "makes no progress for this long: a runaway shader. Default: --eval-timeout-ms + " +
          std::to_string(kp::service::kRunawayGraceMs) + "; 0: never");
  app.add_option("--max-wedged-devices", config.maxWedgedDevices,
                 "Retired instances of a device whose runaway work still runs (their memory "
                 "cannot be freed) before kpd stops opening that device again")
      ->check(CLI::Range(1u, 1000u))
      ->capture_default_str();
  std::string faults;
  app.add_option("--inject-fault", faults,
                 "Testing only: make Vulkan calls fail, e.g. device-lost-after=N, "
                 "device-lost-wait-every=N, oom-after=N")
      ->group("");  // hidden from --help
  app.add_option("--max-message-bytes", config.maxMessageBytes,
                 "Largest request or reply message, in bytes (at least 1 MiB: streams send "
                 "chunks of just under 1 MiB)")
      ->check(CLI::Range(static_cast<int>(kp::v1::PROTOCOL_MIN_MESSAGE_BYTES),
                         std::numeric_limits<int>::max()))
      ->capture_default_str();
  app.add_option("--session-memory-bytes", config.sessionMemoryBytes,
                 "Bytes of tensors one session may hold; 0: 75% of the device's largest "
                 "device-local memory heap")
      ->capture_default_str();
  app.add_option("--session-max-objects", config.sessionMaxObjects,
                 "Tensors + algorithms + sequences one session may hold")
      ->check(CLI::Range(1u, std::numeric_limits<uint32_t>::max()))
      ->capture_default_str();
  app.add_option("--max-sequence-ops", config.maxSequenceOps,
                 "Most ops one sequence may record (an op naming n tensors counts n)")
      ->check(CLI::Range(1u, std::numeric_limits<uint32_t>::max()))
      ->capture_default_str();
  app.add_option("--max-timestamps", config.maxTimestamps, "Largest total_timestamps of a sequence")
      ->capture_default_str();
  app.add_option("--drain-ms", drainMs, "On SIGTERM, how long in-flight calls may finish")
      ->capture_default_str();
  bool noLocalData = false;
  app.add_flag("--no-shared-memory", noLocalData,
               "Do not offer same-host clients the local data socket (shared memory)");
  std::string socketMode = "0660";
  app.add_option("--socket-mode", socketMode,
                 "Permission bits of the Unix sockets (octal; connecting needs write access, so "
                 "0660 admits the owner and the group, 0600 the owner only)")
      ->capture_default_str();
  app.add_option("--socket-group", options.socket.group,
                 "Group (name or id) of the Unix sockets, e.g. a 'kp' group of GPU users. "
                 "Default: kpd's primary group");
  app.add_option("--tls-cert", options.tls.certFile,
                 "PEM server certificate (chain): serve every TCP address over TLS");
  app.add_option("--tls-key", options.tls.keyFile, "PEM private key of --tls-cert");
  app.add_option("--tls-client-ca", options.tls.clientCaFile,
                 "PEM CA certificate(s): require TCP clients to present a certificate it "
                 "signed (mTLS)");
  app.add_option("--token-file", options.tokenFile,
                 "File holding a bearer token that every call must carry as the metadata "
                 "'authorization: Bearer <token>' (on every address, Unix sockets included)");
  app.add_flag("--insecure-tcp", options.insecureTcp,
               "Allow plain TCP (no TLS) on addresses other than loopback (dangerous)");
  CLI11_PARSE(app, argc, argv);
  options.localDataSocket = !noLocalData;
  config.runawayMs = runawayOption->count() > 0 ? runawayMs
                                                 : config.evalTimeoutMs + kp::service::kRunawayGraceMs;

  spdlog::set_level(spdlog::level::from_str(logLevel));
  spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ kpd: %v");

  // Signals are taken by sigwait below; block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  try {
    options.socket.mode = kp::service::parseSocketMode(socketMode);
    if (!faults.empty()) {
      kp::engine::FaultInjection::configure(faults);
      spdlog::warn("fault injection armed: {} (for tests only: Vulkan calls will fail on purpose)",
                   kp::engine::FaultInjection::spec());
    }
    auto instance = kp::engine::Instance::create({validation});
    if (listDevices) {
      printDevices(*instance);
      return 0;
    }
    if (instance->deviceCount() == 0) {
      spdlog::critical("no Vulkan device found (install a driver, e.g. mesa-vulkan-drivers)");
      return 1;
    }
    for (const auto& device : instance->devices()) {
      spdlog::info("device {}: {} ({}, Vulkan {}); a session may hold {} bytes of tensors",
                   device.index, device.name, device.type,
                   kp::engine::apiVersionString(device.apiVersion),
                   kp::service::sessionMemoryLimit(config, device));
    }
    options.listen = listen.empty() ? std::vector<std::string>{kp::service::defaultListenAddress()}
                                    : listen;
    if (config.runawayMs > 0) {
      spdlog::info("runaway work: a device whose queue makes no progress for {} ms "
                   "(--runaway-ms) is reset, ending the sessions on it",
                   config.runawayMs);
    } else {
      spdlog::warn("runaway work: devices are never reset (--runaway-ms 0): a shader that never "
                   "finishes keeps its device busy until kpd restarts");
    }
    auto server = kp::service::Server::start(instance, options);
    sd_notify(0, "READY=1");

    int signal = 0;
    sigwait(&signals, &signal);
    spdlog::info("received {}, shutting down", signal == SIGTERM ? "SIGTERM" : "SIGINT");
    sd_notify(0, "STOPPING=1");
    server->shutdown(std::chrono::milliseconds(drainMs));
    if (server->workLeftRunning()) {
      // A driver thread still executes runaway work: exit without tearing anything down.
      spdlog::warn("stopped, leaving work that never finished to the operating system");
      spdlog::shutdown();
      std::fflush(nullptr);
      std::_Exit(0);
    }
    spdlog::info("stopped");
    return 0;
  } catch (const kp::base::Error& error) {
    spdlog::critical("{}", error.what());
    return 1;
  } catch (const std::exception& error) {
    spdlog::critical("unexpected error: {}", error.what());
    return 1;
  }
}
