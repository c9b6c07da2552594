// A listening Unix socket file that kpd owns (its gRPC sockets and its local data socket). The
// file gets its mode and group before it accepts anyone (it is made under a temporary name and
// renamed into place), a stale file of a daemon that is gone is replaced and a live one is not,
// and accept() survives running out of descriptors: it waits for some to be freed instead of
// giving up for good. Thread-safe: one thread accepts while another may stop().
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <optional>
#include <string>

#include "server/base/log_throttle.h"

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
// The id of group `group` (a name or a number); Error(kInvalidArgument) if there is none.
gid_t groupId(const std::string& group);

class UnixSocket {
 public:
  // Creates the socket file at `path` and listens. A missing parent folder is created with
  // mode 0755. Error(kUnavailable) naming the path when any step fails.
  UnixSocket(std::string path, const UnixSocketOptions& options);
  // Takes over `fd`, a listening Unix stream socket that another process made at `path`
  // (systemd's socket activation: sd_listen_fds). stop() leaves it listening and its file in
  // place, for its owner: connections that arrive while kpd is down wait there for the next
  // kpd. Error(kUnavailable) if `fd` is not usable.
  UnixSocket(int fd, std::string path);
  // stop()
  ~UnixSocket();

  UnixSocket(const UnixSocket&) = delete;
  UnixSocket& operator=(const UnixSocket&) = delete;

  struct Connection {
    int fd = -1;   // close-on-exec; non-blocking if asked
    ucred peer{};  // SO_PEERCRED: the client's pid, uid, gid
  };
  // Waits for the next connection; nullopt once stop() was called. Connections whose peer
  // cannot be read are closed and skipped.
  std::optional<Connection> accept(bool nonBlocking);
  // Ends a waiting accept(), closes the socket and removes the file (if it is still this
  // socket's: not a newer daemon's). Idempotent.
  void stop();

  const std::string& path() const { return path_; }
  std::string address() const { return "unix:" + path_; }

 private:
  const std::string path_;
  int listenFd_ = -1;
  int wakeFd_ = -1;                 // an eventfd: written by stop() to end accept()'s poll
  ino_t inode_ = 0;                 // of the socket file made here
  bool adopted_ = false;            // made by another process (socket activation): left as it is
  base::LogThrottle acceptErrors_;  // accept failures: logged at most every 10 s
};

}  // namespace kp::service
