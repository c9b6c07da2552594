#include "server/flags.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <limits>
#include <thread>

#include "kp/v1/types.pb.h"
#include "server/service/config.h"
#include "server/version.h"

namespace kp {

int parseFlags(int argc, char** argv, Flags* flags) {
  CLI::App app{"kpd: GPU compute as a service (Kompute's object model over gRPC)"};
  app.set_version_flag("--version", std::string("kpd ") + kVersion);
  app.set_config("--config", kDefaultConfigFile,
                 "Read flags from this file (TOML or INI): one `name = value` per line, the "
                 "flag's name without its dashes, e.g. `max-sessions = 64`, `listen = "
                 "[\"unix:/run/kp/kpd.sock\", \"0.0.0.0:7070\"]`. Flags given here win. An "
                 "unknown name fails start-up. The default file is read if it exists");
  app.allow_config_extras(CLI::config_extras_mode::error);
  service::ServiceConfig& config = flags->server.service;
  std::vector<std::string> listen;
  app.add_option("--listen", listen,
                 "Address to serve: unix:PATH or HOST:PORT (repeatable). Default: " +
                     service::defaultListenAddress());
  app.add_option("--log-level", flags->logLevel, "trace, debug, info, warn, error, critical or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}))
      ->capture_default_str();
  app.add_flag("--list-devices", flags->listDevices, "Print the Vulkan devices and exit");
  app.add_option("--devices", config.devices,
                 "Serve only these devices (indices as --list-devices numbers them, which they "
                 "keep), e.g. --devices 1 or --devices 0,2. Default: every device")
      ->delimiter(',');
  app.add_flag("--validation", flags->validation,
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
          std::to_string(service::kRunawayGraceMs) + "; 0: never");
  app.add_option("--max-wedged-devices", config.maxWedgedDevices,
                 "Retired instances of a device whose runaway work still runs (their memory "
                 "cannot be freed) before kpd stops opening that device again")
      ->check(CLI::Range(1u, 1000u))
      ->capture_default_str();
  app.add_option("--inject-fault", flags->faults,
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
  app.add_option("--drain-ms", flags->drainMs, "On SIGTERM, how long in-flight calls may finish")
      ->capture_default_str();
  service::CompilerLimits& compiler = config.compiler;
  compiler.workers = std::max(1u, std::thread::hardware_concurrency() / 2);
  app.add_option("--compiler", compiler.worker,
                 "The GLSL compiler worker kpd starts for each compile. Default: kpd-compile "
                 "next to kpd");
  app.add_option("--max-shader-bytes", compiler.maxSourceBytes, "Largest GLSL source accepted")
      ->capture_default_str();
  app.add_option("--max-shader-private-bytes", config.maxShaderPrivateBytes,
                 "Bytes of an invocation's own (private and function-local) variables a shader "
                 "may declare")
      ->capture_default_str();
  app.add_option("--compile-memory-bytes", compiler.memoryBytes,
                 "Address space of a compiler worker: a shader needing more is refused")
      ->check(CLI::Range(uint64_t{64} << 20, std::numeric_limits<uint64_t>::max()))
      ->capture_default_str();
  app.add_option("--compile-cpu-seconds", compiler.cpuSeconds,
                 "CPU seconds one GLSL compile may take")
      ->check(CLI::Range(1u, 3600u))
      ->capture_default_str();
  app.add_option("--compile-timeout-ms", compiler.timeoutMs,
                 "Wall-clock time one GLSL compile may take")
      ->check(CLI::Range(100u, 3'600'000u))
      ->capture_default_str();
  app.add_option("--compile-workers", compiler.workers,
                 "GLSL compiles running at once (one per session or client at a time)")
      ->check(CLI::Range(1u, 256u))
      ->capture_default_str();
  app.add_option("--max-calls-per-connection", flags->server.maxCallsPerConnection,
                 "Calls one gRPC connection may have open at once (more wait in the client)")
      ->check(CLI::Range(8u, 100'000u))
      ->capture_default_str();
  bool noLocalData = false;
  app.add_flag("--no-shared-memory", noLocalData,
               "Do not offer same-host clients the local data socket (shared memory)");
  app.add_option("--max-local-connections", flags->server.local.maxConnections,
                 "Connections to the local data socket open at once")
      ->check(CLI::Range(1u, 1'000'000u))
      ->capture_default_str();
  app.add_option("--max-local-connections-per-user", flags->server.local.maxConnectionsPerUser,
                 "Connections to the local data socket one user may hold open")
      ->check(CLI::Range(1u, 1'000'000u))
      ->capture_default_str();
  app.add_option("--local-attach-timeout-ms", flags->server.local.attachTimeoutMs,
                 "A connection to the local data socket that has not attached to a session "
                 "within this time is closed")
      ->check(CLI::Range(10u, 3'600'000u))
      ->capture_default_str();
  app.add_option("--socket-mode", flags->socketMode,
                 "Permission bits of the Unix sockets (octal; connecting needs write access, so "
                 "0660 admits the owner and the group, 0600 the owner only)")
      ->capture_default_str();
  app.add_option("--socket-group", flags->server.socket.group,
                 "Group (name or id) of the Unix sockets, e.g. a 'kp' group of GPU users. "
                 "Default: kpd's primary group");
  app.add_option("--tls-cert", flags->server.tls.certFile,
                 "PEM server certificate (chain): serve every TCP address over TLS");
  app.add_option("--tls-key", flags->server.tls.keyFile, "PEM private key of --tls-cert");
  app.add_option("--tls-client-ca", flags->server.tls.clientCaFile,
                 "PEM CA certificate(s): require TCP clients to present a certificate it "
                 "signed (mTLS)");
  app.add_option("--token-file", flags->server.tokenFile,
                 "File holding a bearer token that every call must carry as the metadata "
                 "'authorization: Bearer <token>' (on every address, Unix sockets included)");
  app.add_option("--metrics-listen", flags->server.metricsListen,
                 "HOST:PORT of an HTTP listener serving Prometheus metrics at /metrics "
                 "(counts only: sessions, memory, evaluations, errors; e.g. 127.0.0.1:9464). "
                 "Default: none");
  app.add_flag("--insecure-tcp", flags->server.insecureTcp,
               "Allow plain TCP (no TLS) on addresses other than loopback (dangerous)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ConfigError& error) {
    // CLI11 says "INI was not able to parse KEY" for a name that is no flag.
    std::string message = error.what();
    const std::string unknown = "INI was not able to parse ";
    if (message.rfind(unknown, 0) == 0) {
      message = "unknown setting '" + message.substr(unknown.size()) +
                "' (settings are kpd's flags without their dashes: see kpd --help)";
    }
    std::fprintf(stderr, "kpd: configuration file %s: %s\n",
                 app.get_config_ptr()->as<std::string>().c_str(), message.c_str());
    return error.get_exit_code();
  } catch (const CLI::ParseError& error) {
    return app.exit(error);
  }
  flags->server.localDataSocket = !noLocalData;
  config.runawayMs =
      runawayOption->count() > 0 ? runawayMs : config.evalTimeoutMs + service::kRunawayGraceMs;
  flags->listenGiven = !listen.empty();
  flags->server.listen =
      listen.empty() ? std::vector<std::string>{service::defaultListenAddress()} : listen;
  return -1;
}

}  // namespace kp
