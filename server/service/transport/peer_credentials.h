// Who is on the other end of a call. For a Unix-socket connection that is the kernel's word
// (SO_PEERCRED: the uid, gid and pid of the process that connected), recorded by UnixListener
// when it accepts the connection, because gRPC itself (1.51) exposes no peer credentials: its
// AuthContext for Unix sockets holds only the transport security type, and the peer string of
// a server call is "unix:" (no uid) — or "fd:N" for connections handed to it by
// AddInsecureChannelFromFd, which is how kpd finds the record again. For TLS connections
// with client certificates, the certificate's common name. Thread-safe.
#pragma once

#include <grpcpp/grpcpp.h>
#include <sys/types.h>

#include <optional>
#include <string>
#include <unordered_map>

#include "server/base/mutex.h"

namespace kp::service {

struct PeerCredential {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  std::string address;  // the listening socket, "unix:/run/kp/kpd.sock"
};

// The owner name of a Unix-socket peer with user id `uid`.
std::string unixOwner(uid_t uid);

class PeerCredentials {
 public:
  // The connection on socket `fd` comes from `credential`. A later connection that reuses the
  // same descriptor number replaces it (by then the earlier one is closed).
  void remember(int fd, const PeerCredential& credential);
  // The credential of the connection a call with peer string `peer` came on, if known.
  std::optional<PeerCredential> find(const std::string& peer) const;

  // Who owns what the call opens: sessions are bound to their opener's owner, and a call from
  // another owner cannot name them. "uid 1000" on a Unix socket (the same as unixOwner gives
  // the local data socket), "certificate CN=alice" for a TLS client certificate, else "tcp":
  // every TCP client without a certificate (bearer token or loopback) is one owner.
  std::string owner(const grpc::ServerContextBase& context) const;

  // "uid 1000 gid 1000 pid 4242 on unix:/run/kp/kpd.sock", "ipv4:10.0.0.7:51234 (client
  // certificate CN=alice)" or the bare peer string: for the log.
  std::string describe(const grpc::ServerContextBase& context) const;

 private:
  mutable base::Mutex mutex_;
  std::unordered_map<int, PeerCredential> byFd_ KP_GUARDED_BY(mutex_);
};

}  // namespace kp::service
