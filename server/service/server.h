// The gRPC server of kpd: kp.v1.Compute plus the standard health service, on Unix sockets
// and/or TCP ports.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "server/engine/instance.h"
#include "server/service/config.h"
#include "server/service/devices/device_pool.h"
#include "server/service/lifecycle/device_watchdog.h"
#include "server/service/lifecycle/lease_reaper.h"
#include "server/service/lifecycle/retirement.h"
#include "server/service/lifecycle/session_registry.h"
#include "server/service/transport/call_gate.h"
#include "server/service/transport/compute_service.h"
#include "server/service/transport/local_channel.h"
#include "server/service/transport/metrics_endpoint.h"
#include "server/service/transport/metrics_page.h"
#include "server/service/transport/peer_credentials.h"
#include "server/service/transport/tcp_security.h"
#include "server/service/transport/unix_listener.h"

namespace kp::service {

struct ServerOptions {
  // "unix:/path/to/socket" or "host:port" (port 0 picks a free one).
  std::vector<std::string> listen;
  ServiceConfig service;
  // Offer same-host clients the local data socket (shared memory, evaluations without gRPC)
  // next to the first Unix socket, at its path + ".data".
  bool localDataSocket = true;
  // Mode and group of the Unix sockets (the local data socket's too).
  UnixSocketOptions socket;
  // Connections of the local data socket (its frame limit is service.maxMessageBytes).
  LocalChannelLimits local;
  // TLS of the TCP ports (none: plain TCP, allowed on loopback only unless insecureTcp).
  TlsOptions tls;
  bool insecureTcp = false;
  // Calls one gRPC connection may have open at once (HTTP/2 concurrent streams): a client that
  // never reads its replies holds a serving thread per call, so one connection may not hold
  // more than this many.
  uint32_t maxCallsPerConnection = 128;
  // A file holding the bearer token every call must carry; empty: no token.
  std::string tokenFile;
  // Listening Unix sockets made by another process (systemd's socket activation), by path:
  // a "unix:PATH" of `listen` whose PATH is here is served on that descriptor instead of a
  // socket kpd makes, and is left listening and in place when kpd stops.
  std::map<std::string, int> activatedSockets;
  // "host:port" of the HTTP listener of the Prometheus page (/metrics); empty: none.
  std::string metricsListen;
};

// The default local socket: $XDG_RUNTIME_DIR/kp/kpd.sock, else /run/kp/kpd.sock.
std::string defaultListenAddress();

class Server {
 public:
  // Binds every address and starts serving; Error(kUnavailable) naming the address that could
  // not be bound, Error(kInvalidArgument) for unsafe or inconsistent security options (plain
  // TCP on a non-loopback address without insecureTcp, a TLS file that cannot be read, ...).
  static std::unique_ptr<Server> start(std::shared_ptr<engine::Instance> instance,
                                       const ServerOptions& options);
  ~Server();

  // True while the device watchdog completes its rounds (see DeviceWatchdog::lastCheck): the
  // last one finished less than `maxAge` ago.
  bool alive(std::chrono::milliseconds maxAge) const;

  // The addresses served, with chosen TCP ports filled in.
  const std::vector<std::string>& addresses() const { return addresses_; }
  // The Prometheus page's "host:port" (chosen port filled in); empty without metricsListen.
  std::string metricsAddress() const { return metrics_ ? metrics_->address() : ""; }

  // Stops taking calls (new ones get UNAVAILABLE "kpd is shutting down"; the Unix sockets
  // are closed and removed), lets the calls in flight finish (a running Eval returns its
  // result) for up to `drain`, then ends every session (each session stream sends its
  // `closed` event; their GPU work is waited for until `drain` is spent, at least
  // kMinGpuWait) and stops gRPC, dropping the connections at once. Devices whose work is still
  // running then are retired: their memory stays allocated (see workLeftRunning).
  void shutdown(std::chrono::milliseconds drain);
  // After shutdown: true when work submitted to a device is still running (a runaway shader),
  // so its memory could not be freed. The process should then exit without running
  // destructors (std::_Exit): a driver's threads still executing it must not see the
  // driver's state torn down under them.
  bool workLeftRunning() const;

  // At shutdown, the least time given to the sessions' GPU work to finish.
  static constexpr std::chrono::milliseconds kMinGpuWait{1000};
  // Blocks until the server has shut down.
  void wait();

 private:
  Server() = default;

  ServerOptions options_;
  CallGate gate_;
  PeerCredentials peers_;
  std::unique_ptr<DevicePool> pool_;
  std::unique_ptr<Retirement> retirement_;
  std::unique_ptr<SessionRegistry> registry_;
  std::unique_ptr<DeviceWatchdog> watchdog_;
  std::unique_ptr<LeaseReaper> reaper_;
  std::unique_ptr<ComputeService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<LocalChannel> local_;
  std::vector<std::unique_ptr<UnixListener>> unixListeners_;
  std::vector<std::string> addresses_;
  std::unique_ptr<MetricsPage> metricsPage_;
  std::unique_ptr<MetricsEndpoint> metrics_;  // last: stopped first, before what it reads
  bool shutDown_ = false;
};

}  // namespace kp::service
