// kpd's gRPC Unix socket. kpd creates and accepts on it itself (UnixSocket), rather than
// letting gRPC listen, for two reasons: the socket file gets its mode and group before it
// accepts anyone, and each accepted connection's SO_PEERCRED (uid, gid, pid of the client) is
// remembered before the connection is handed to the gRPC server
// (grpc::AddInsecureChannelFromFd), so that sessions belong to, and are logged with, their user.
#pragma once

#include <grpcpp/grpcpp.h>

#include <string>
#include <thread>

#include "server/service/transport/peer_credentials.h"
#include "server/service/transport/unix_socket.h"

namespace kp::service {

class UnixListener {
 public:
  // Creates the socket file at `path` and listens (see UnixSocket).
  UnixListener(std::string path, const UnixSocketOptions& options, PeerCredentials& peers);
  // Accepts on `fd`, a listening socket at `path` passed by systemd (see UnixSocket).
  UnixListener(int fd, std::string path, PeerCredentials& peers);
  ~UnixListener();

  UnixListener(const UnixListener&) = delete;
  UnixListener& operator=(const UnixListener&) = delete;

  // Accepts connections on a thread of its own and hands each one to `server` (started).
  void start(grpc::Server* server);
  // Stops accepting (new clients get ECONNREFUSED / ENOENT), closes the socket and removes
  // the file. Connections already handed to the server stay. Idempotent.
  void stop();

  const std::string& path() const { return socket_.path(); }
  std::string address() const { return socket_.address(); }

 private:
  UnixSocket socket_;
  PeerCredentials& peers_;
  std::thread thread_;
};

}  // namespace kp::service
