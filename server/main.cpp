// kpd: the kp daemon. Reads its flags (flags.h), opens the Vulkan instance, serves kp.v1 until
// SIGTERM or SIGINT, then shuts down cleanly (exit code 0). Signals, readiness and lifetime
// only: everything else lives in the libraries.
#include <malloc.h>
#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "server/base/error.h"
#include "server/engine/fault_injection.h"
#include "server/engine/instance.h"
#include "server/flags.h"
#include "server/logging.h"
#include "server/service/server.h"
#include "server/systemd.h"
#include "server/version.h"

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
  kp::Flags flags;
  if (const int exitCode = kp::parseFlags(argc, argv, &flags); exitCode >= 0) return exitCode;
  kp::service::ServerOptions& options = flags.server;
  options.service.version = kp::kVersion;
  const kp::service::ServiceConfig& config = options.service;

  kp::setUpLogging(flags.logLevel);

  // Signals are taken by sigwait below; block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  try {
    options.socket.mode = kp::service::parseSocketMode(flags.socketMode);
    if (!flags.faults.empty()) {
      kp::engine::FaultInjection::configure(flags.faults);
      spdlog::warn("fault injection armed: {} (for tests only: Vulkan calls will fail on purpose)",
                   kp::engine::FaultInjection::spec());
    }
    auto instance = kp::engine::Instance::create({flags.validation});
    if (flags.listDevices) {
      printDevices(*instance);
      return 0;
    }
    if (instance->deviceCount() == 0) {
      spdlog::critical("no Vulkan device found (install a driver, e.g. mesa-vulkan-drivers)");
      return 1;
    }
    for (const auto& device : instance->devices()) {
      if (!config.devices.empty() && std::find(config.devices.begin(), config.devices.end(),
                                               device.index) == config.devices.end()) {
        spdlog::info("device {}: {} ({}): not served (--devices)", device.index, device.name,
                     device.type);
        continue;
      }
      spdlog::info("device {}: {} ({}, Vulkan {}); a session may hold {} bytes of tensors",
                   device.index, device.name, device.type,
                   kp::engine::apiVersionString(device.apiVersion),
                   kp::service::sessionMemoryLimit(config, device));
    }
    if (config.runawayMs > 0) {
      spdlog::info(
          "runaway work: a device whose queue makes no progress for {} ms "
          "(--runaway-ms) is reset, ending the sessions on it",
          config.runawayMs);
    } else {
      spdlog::warn(
          "runaway work: devices are never reset (--runaway-ms 0): a shader that never "
          "finishes keeps its device busy until kpd restarts");
    }
    // Socket activation (deploy/kpd.socket): serve the sockets systemd passed, in place of
    // the default address unless --listen names addresses too.
    const std::vector<kp::ActivatedSocket> activated = kp::activatedSockets();
    if (!activated.empty() && !flags.listenGiven) options.listen.clear();
    for (const kp::ActivatedSocket& socket : activated) {
      options.activatedSockets[socket.path] = socket.fd;
      const std::string address = "unix:" + socket.path;
      if (std::find(options.listen.begin(), options.listen.end(), address) == options.listen.end())
        options.listen.push_back(address);
    }
    auto server = kp::service::Server::start(instance, options);
    sd_notify(0, "READY=1");
    // The service watchdog (WatchdogSec=) hears from kpd only while the device watchdog, which
    // takes the locks submissions take, completes its rounds.
    std::unique_ptr<kp::WatchdogNotifier> watchdog;
    if (const auto interval = kp::watchdogInterval(); interval.count() > 0) {
      const auto maxAge = std::max<std::chrono::milliseconds>(
          std::chrono::duration_cast<std::chrono::milliseconds>(interval / 2),
          std::chrono::seconds(1));
      watchdog = std::make_unique<kp::WatchdogNotifier>(
          interval, [&server, maxAge] { return server->alive(maxAge); },
          [] { sd_notify(0, "WATCHDOG=1"); });
      spdlog::info("watchdog: telling systemd every {} ms that the submission path answers",
                   std::chrono::duration_cast<std::chrono::milliseconds>(interval / 2).count());
    }

    int signal = 0;
    sigwait(&signals, &signal);
    spdlog::info("received {}, shutting down", signal == SIGTERM ? "SIGTERM" : "SIGINT");
    sd_notify(0, "STOPPING=1");
    watchdog.reset();  // systemd stops watching once the service stops
    server->shutdown(std::chrono::milliseconds(flags.drainMs));
    // Every call has ended, every session is closed and its client told, gRPC has stopped:
    // nothing is left worth a teardown, and two things make one harmful. A driver thread may
    // still run runaway work on a retired device, whose memory must not be freed under it;
    // and gRPC's server destructor can wait about 10 s for clients that keep their
    // connections open (seen in tests/chaos), which would hold up a restart. So exit now and
    // leave the memory and descriptors to the operating system.
    if (server->workLeftRunning()) {
      spdlog::warn("stopped, leaving work that never finished to the operating system");
    } else {
      spdlog::info("stopped");
    }
    spdlog::shutdown();
    std::fflush(nullptr);
    std::_Exit(0);
  } catch (const kp::base::Error& error) {
    spdlog::critical("{}", error.what());
    return 1;
  } catch (const std::exception& error) {
    spdlog::critical("unexpected error: {}", error.what());
    return 1;
  }
}
