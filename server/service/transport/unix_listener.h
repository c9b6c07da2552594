// kpd's local socket. kpd creates and accepts on it itself, rather than letting gRPC listen,
// for two reasons: the socket file gets its mode and group before it accepts anyone (no
// window with the umask's permissions), and each accepted connection's SO_PEERCRED (uid, gid,
// pid of the client) is read and remembered before the connection is handed to the gRPC
// server (grpc::AddInsecureChannelFromFd), so that sessions are logged with their user.
#pragma once

#include <grpcpp/grpcpp.h>
#include <sys/types.h>

#include <atomic>
#include <string>
#include <thread>

#include "server/service/transport/peer_credentials.h"

namespace kp::service {

struct UnixSocketOptions {
  // Permission bits of the socket file. Connecting needs write permission, so 0660 lets the
  // owner and the group in, 0600 the owner only.
  mode_t mode = 0660;
  // Group of the socket file (name or number); empty: the daemon's primary group.
  std::string group;
};

// "0660" -> 0660; Error(kInvalidArgument) for anything that is not octal permission bits.
mode_t parseSocketMode(const std::string& text);

class UnixListener {
 public:
  // Creates the socket file at `path` and listens. A missing parent folder is created with
  // mode 0755; a stale socket of a previous daemon is replaced, a live one is not.
  // Error(kUnavailable) naming the path when any step fails.
  UnixListener(std::string path, const UnixSocketOptions& options, PeerCredentials& peers);
  ~UnixListener();

  UnixListener(const UnixListener&) = delete;
  UnixListener& operator=(const UnixListener&) = delete;

  // Accepts connections on a thread of its own and hands each one to `server` (started).
  void start(grpc::Server* server);
  // Stops accepting (new clients get ECONNREFUSED / ENOENT), closes the socket and removes
  // the file. Connections already handed to the server stay. Idempotent.
  void stop();

  const std::string& path() const { return path_; }
  std::string address() const { return "unix:" + path_; }

 private:
  void acceptLoop(grpc::Server* server);

  const std::string path_;
  PeerCredentials& peers_;
  int listenFd_ = -1;
  int wakeFd_ = -1;  // an eventfd: written by stop() to end acceptLoop's poll
  ino_t inode_ = 0;  // of the socket file we created (removed only if still ours)
  std::thread thread_;
  bool stopped_ = false;
};

}  // namespace kp::service
