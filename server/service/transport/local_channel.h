// The local data socket (proto/kp/v1/local.proto): the same-host fast path. Clients on this
// host attach a connection to their session, map its shared-memory arenas (memfds passed with
// SCM_RIGHTS) and send evaluations as length-prefixed protobuf frames, without gRPC.
// One thread per connection; connections never share state but their session.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>

#include "server/base/mutex.h"
#include "server/service/transport/call_gate.h"
#include "server/service/lifecycle/session_registry.h"

namespace kp::service {

class LocalChannel {
 public:
  // Serves `path` (a Unix socket path, created with permission bits `mode`). Peers must be
  // root, the daemon's user, or in the daemon's group (SO_PEERCRED), besides knowing their
  // session's secret id. Every request is a call of `gate` (shutdown waits for it).
  LocalChannel(std::string path, SessionRegistry& registry, CallGate& gate,
               uint64_t maxFrameBytes, unsigned mode);
  ~LocalChannel();

  LocalChannel(const LocalChannel&) = delete;
  LocalChannel& operator=(const LocalChannel&) = delete;

  const std::string& path() const { return path_; }
  // Takes no new connections (requests on open ones are refused while draining).
  void stopAccepting();
  // Stops accepting, closes every connection and joins their threads. Idempotent.
  void stop();

 private:
  void acceptLoop();
  void serve(int fd, uid_t uid, pid_t pid);

  const std::string path_;
  SessionRegistry& registry_;
  CallGate& gate_;
  const uint64_t maxFrameBytes_;
  int listener_ = -1;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> accepting_{true};
  std::thread acceptor_;
  base::Mutex mutex_;
  // Live connections: fd -> thread. Finished threads are joined at the next accept or stop.
  std::unordered_map<int, std::thread> connections_ KP_GUARDED_BY(mutex_);
  std::vector<std::thread> finished_ KP_GUARDED_BY(mutex_);
};

}  // namespace kp::service
