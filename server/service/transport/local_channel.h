// The local data socket (proto/kp/v1/local.proto): the same-host fast path. Clients on this
// host attach a connection to their session, map its shared-memory arenas (memfds passed with
// SCM_RIGHTS) and send evaluations as length-prefixed protobuf frames, without gRPC. One
// thread per connection; connections never share state but their session.
//
// Every connection costs kpd a bounded amount until it has proven itself: before it attaches,
// a frame may hold a few KiB only and the attach must come within a deadline; frames are
// read as their bytes arrive (a frame's announced length allocates nothing); connections are
// capped in total and per user; running out of threads or descriptors refuses one connection,
// never the socket.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "server/base/log_throttle.h"
#include "server/base/mutex.h"
#include "server/service/lifecycle/session_registry.h"
#include "server/service/transport/call_gate.h"
#include "server/service/transport/unix_socket.h"

namespace kp::service {

struct LocalChannelLimits {
  // Largest frame of an attached connection (kpd's --max-message-bytes).
  uint64_t maxFrameBytes = 256 << 20;
  // Connections open at once, in all and per user (--max-local-connections,
  // --max-local-connections-per-user).
  uint32_t maxConnections = 1024;
  uint32_t maxConnectionsPerUser = 256;
  // A connection that has not attached by then is closed (--local-attach-timeout-ms).
  uint32_t attachTimeoutMs = 10'000;
};

class LocalChannel {
 public:
  // Largest frame before a connection attached (an attach request is a few dozen bytes).
  static constexpr uint32_t kMaxFrameBeforeAttach = 4096;

  // Serves `path` with the mode and group of `socket`. Peers must be root, the daemon's user,
  // or in the socket's group (the daemon's primary group by default), besides knowing their
  // session's secret id and being the user that opened it. Every request is a call of `gate`
  // (shutdown waits for it).
  LocalChannel(std::string path, const UnixSocketOptions& socket, SessionRegistry& registry,
               CallGate& gate, LocalChannelLimits limits);
  ~LocalChannel();

  LocalChannel(const LocalChannel&) = delete;
  LocalChannel& operator=(const LocalChannel&) = delete;

  const std::string& path() const { return socket_.path(); }
  // Takes no new connections (requests on open ones are refused while draining).
  void stopAccepting();
  // Stops accepting, closes every connection and joins their threads. Idempotent.
  void stop();
  // Connections open now.
  size_t connections() const;

 private:
  void acceptLoop();
  // Admits `connection` (peer allowed, caps) and starts its thread; closes it otherwise.
  void admit(const UnixSocket::Connection& connection);
  void serve(int fd, ucred peer);
  // Unlists the connection on `fd` (its thread is joined later) and closes the descriptor.
  void finished(int fd, uid_t uid);
  bool peerAllowed(int fd, const ucred& peer) const;

  UnixSocket socket_;
  base::LogThrottle refusals_;  // refused connections: logged at most every 10 s
  const gid_t group_;  // the socket's group
  SessionRegistry& registry_;
  CallGate& gate_;
  const LocalChannelLimits limits_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> accepting_{true};
  std::thread acceptor_;
  mutable base::Mutex mutex_;
  // Live connections: fd -> thread. Finished threads are joined at the next accept or stop.
  std::unordered_map<int, std::thread> connections_ KP_GUARDED_BY(mutex_);
  std::map<uid_t, uint32_t> perUser_ KP_GUARDED_BY(mutex_);
  std::vector<std::thread> finished_ KP_GUARDED_BY(mutex_);
};

}  // namespace kp::service
