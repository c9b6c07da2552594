// kp::detail::LocalChannel: the same-host fast path of one session (proto/kp/v1/local.proto).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "kp/v1/local.pb.h"
#include "client-cpp/src/local/local_link.h"
#include "client-cpp/src/local/shared_arena.h"

namespace kp::detail {

/// The local data socket of one session: a pool of connections attached to it, one per
/// concurrent caller (evaluations on different connections run concurrently in the daemon),
/// and the session's shared-memory arenas, mapped here the first time a tensor needs one.
/// Thread-safe.
class LocalChannel {
 public:
  /// Connects to the data socket at `path` and attaches the connection to `session` (the
  /// secret session id). Throws LinkError when the socket cannot be used, kp::Error when the
  /// daemon refuses the attach.
  LocalChannel(std::string path, std::string session);

  LocalChannel(const LocalChannel&) = delete;
  LocalChannel& operator=(const LocalChannel&) = delete;

  /// The data socket's path.
  const std::string& path() const { return path_; }

  /// Sends `frame` (see writeLocalFrame) on an idle connection of the pool, or a new one when
  /// all are busy, and parses the reply into `response`, whose `code` the caller checks.
  /// Throws LinkError when the connection fails (it leaves the pool).
  void call(const std::string& frame, v1::LocalResponse* response);

  /// The mapping of arena `id` (SharedRegion.arena), asked from the daemon the first time.
  /// Throws LinkError, or kp::Error when the daemon refuses.
  std::shared_ptr<SharedArena> arena(uint64_t id);

  /// Closes the idle connections; busy ones close when their call returns, and later calls
  /// throw LinkError. Arenas stay mapped for the tensors in them. Idempotent.
  void close();

 private:
  std::unique_ptr<LocalLink> acquire();
  void release(std::unique_ptr<LocalLink> link);
  std::unique_ptr<LocalLink> connect() const;

  const std::string path_;
  const std::string session_;
  std::mutex mutex_;
  bool closed_ = false;
  std::vector<std::unique_ptr<LocalLink>> idle_;
  std::map<uint64_t, std::shared_ptr<SharedArena>> arenas_;
};

}  // namespace kp::detail
