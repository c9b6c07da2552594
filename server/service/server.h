// The gRPC server of kpd: kp.v1.Compute plus the standard health service, on Unix sockets
// and/or TCP ports.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "compute_service.h"
#include "config.h"
#include "device_pool.h"
#include "instance.h"
#include "local_channel.h"
#include "session_registry.h"

namespace kp::service {

struct ServerOptions {
  // "unix:/path/to/socket" or "host:port" (port 0 picks a free one).
  std::vector<std::string> listen;
  ServiceConfig service;
  // Offer same-host clients the local data socket (shared memory, evaluations without gRPC)
  // next to the first Unix socket, at its path + ".data".
  bool localDataSocket = true;
};

// The default local socket: $XDG_RUNTIME_DIR/kp/kpd.sock, else /run/kp/kpd.sock.
std::string defaultListenAddress();

class Server {
 public:
  // Binds every address and starts serving; Error(kUnavailable) naming the address that could
  // not be bound.
  static std::unique_ptr<Server> start(std::shared_ptr<engine::Instance> instance,
                                       const ServerOptions& options);
  ~Server();

  // The addresses served, with chosen TCP ports filled in.
  const std::vector<std::string>& addresses() const { return addresses_; }

  // Ends every session, then stops serving, giving in-flight calls up to `drain` to finish.
  void shutdown(std::chrono::milliseconds drain);
  // Blocks until the server has shut down.
  void wait();

 private:
  Server() = default;

  ServerOptions options_;
  std::unique_ptr<DevicePool> pool_;
  std::unique_ptr<SessionRegistry> registry_;
  std::unique_ptr<ComputeService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<LocalChannel> local_;
  std::vector<std::string> addresses_;
  std::vector<std::string> socketPaths_;
  bool shutDown_ = false;
};

}  // namespace kp::service
