// All open sessions of the daemon. Opens sessions, finds them by id for every request, ends
// them on request, on lease expiry (a background reaper) and at shutdown. Thread-safe.
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "server/service/config.h"
#include "server/service/devices/device_pool.h"
#include "kp/v1/compute.pb.h"
#include "server/service/session/session.h"

namespace kp::service {

class SessionRegistry {
 public:
  SessionRegistry(DevicePool& pool, const ServiceConfig& config);
  ~SessionRegistry();

  SessionRegistry(const SessionRegistry&) = delete;
  SessionRegistry& operator=(const SessionRegistry&) = delete;

  // Opens a session and fills `opened`. RESOURCE_EXHAUSTED beyond maxSessions.
  // `sameHost`: the client is on this host (Unix socket), so it is offered the local data
  // socket.
  std::shared_ptr<Session> open(const v1::OpenSessionRequest& request, const std::string& peer,
                                bool sameHost, v1::SessionOpened* opened);
  // The open session `id` (marked active now). NOT_FOUND for unknown or ended sessions; for a
  // recently ended one the message says why it ended.
  std::shared_ptr<Session> find(const std::string& id);
  // Ends session `id`. NOT_FOUND if there is none.
  void close(const std::string& id, const std::string& reason);
  // Ends session `id` soon, on the registry's own thread (for callers that must not block).
  // Does nothing if there is no such session.
  void closeLater(const std::string& id, const std::string& reason);
  // Ends every session (daemon shutdown), waiting for their running evaluations until
  // `deadline` at most (sessions whose work did not finish stay draining).
  void closeAll(const std::string& reason, Session::Clock::time_point deadline);
  void closeAll(const std::string& reason);
  // Ends at once every session (open or draining) on a retired device (see DevicePool::
  // retiredDevices), telling each the reason; their objects go to DevicePool::bury. Returns how
  // many sessions ended.
  size_t endSessionsOnRetiredDevices();
  // The label of open session `id` ("session #3 (python kp 0.1.0 pid 42)"), "" if none.
  std::string label(const std::string& id) const;

  size_t size() const;
  const ServiceConfig& config() const { return config_; }
  uint64_t objectCount() const;

 private:
  void reap();
  void end(const std::shared_ptr<Session>& session, const std::string& reason);
  // Remembers why session `id` ended, for find(). Requires mutex_.
  void remember(const std::string& id, const std::string& reason);

  DevicePool& pool_;
  const ServiceConfig& config_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<Session>> sessions_;
  // Ended sessions whose GPU work had not finished; retried by the reaper.
  std::vector<std::shared_ptr<Session>> draining_;
  // Sessions to end on the reaper thread: (id, reason).
  std::vector<std::pair<std::string, std::string>> toClose_;
  // Why recently ended sessions ended (bounded: the oldest are forgotten first).
  std::unordered_map<std::string, std::string> ended_;
  std::deque<std::string> endedOrder_;
  uint64_t nextNumber_ = 1;  // of the next session's label
  bool endedSinceTrim_ = false;  // a session ended since the reaper last trimmed the heap
  bool stopping_ = false;
  std::condition_variable wake_;
  std::thread reaper_;
};

}  // namespace kp::service
