// The open sessions of the daemon, by their secret id: the only table that holds the ids (a
// session itself knows only its public serial). It opens sessions, finds them for every
// request, and hands them over to be ended (retirement.h decides how). It remembers why
// recently ended sessions ended, to tell their clients. Thread-safe.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "kp/v1/compute.pb.h"
#include "server/base/mutex.h"
#include "server/service/config.h"
#include "server/service/devices/device_pool.h"
#include "server/service/lifecycle/retirement.h"
#include "server/service/session/session.h"

namespace kp::service {

class SessionRegistry {
 public:
  SessionRegistry(DevicePool& pool, Retirement& retirement, const ServiceConfig& config);

  SessionRegistry(const SessionRegistry&) = delete;
  SessionRegistry& operator=(const SessionRegistry&) = delete;

  // Opens a session for `owner` (PeerCredentials::owner: who may use it) and fills `opened`.
  // RESOURCE_EXHAUSTED beyond maxSessions. `peer` describes the client for the log; `sameHost`:
  // the client is on this host (Unix socket), so it is offered the local data socket.
  std::shared_ptr<Session> open(const v1::OpenSessionRequest& request, const std::string& peer,
                                const std::string& owner, bool sameHost, v1::SessionOpened* opened);
  // The open session `id` of `owner` (marked active now). NOT_FOUND for unknown or ended
  // sessions, and for another owner's, with the same message as for an unknown one; for a
  // recently ended session of `owner` the message says why it ended. The id is echoed
  // truncated.
  std::shared_ptr<Session> find(const std::string& id, const std::string& owner);

  // Ends session `id` of `owner` (NOT_FOUND as find) / every session, with `reason`: see
  // Retirement::end.
  void close(const std::string& id, const std::string& owner, const std::string& reason);
  void closeAll(const std::string& reason, Session::Clock::time_point deadline);

  // Takes out of the table every session for which `reasonToEnd` gives a reason, and returns
  // them with it (the caller ends them).
  using ReasonToEnd = std::function<std::optional<std::string>(const Session&)>;
  std::vector<std::pair<std::shared_ptr<Session>, std::string>> take(
      const ReasonToEnd& reasonToEnd);

  // The label of the open session with serial `serial` ("session #3 (python kp 0.1.0 pid 42)"),
  // "" if none.
  std::string label(uint64_t serial) const;
  size_t size() const;
  // Open sessions by device index (devices without any left out). Takes no session's lock.
  std::map<uint32_t, uint32_t> countByDevice() const;
  uint64_t objectCount() const;
  // Bytes that the open sessions' replies not yet sent hold (see Session::holdReply).
  uint64_t replyBytesHeld() const;
  // The open sessions with their owners, oldest first (ListSessions).
  std::vector<std::pair<std::shared_ptr<Session>, std::string>> list() const;
  const ServiceConfig& config() const { return config_; }

 private:
  struct Entry {
    std::shared_ptr<Session> session;
    std::string owner;
  };
  struct Ended {
    std::string reason;
    std::string owner;
  };
  // The entry of open session `id` of `owner`; NOT_FOUND otherwise (see find).
  std::unordered_map<std::string, Entry>::iterator lookup(const std::string& id,
                                                          const std::string& owner)
      KP_REQUIRES(mutex_);
  // Remembers why session `id` of `owner` ended, for find().
  void remember(const std::string& id, const std::string& owner, const std::string& reason)
      KP_REQUIRES(mutex_);
  // The device a new session asks for; its fields checked.
  std::shared_ptr<engine::Device> openDevice(const v1::OpenSessionRequest& request);

  DevicePool& pool_;
  Retirement& retirement_;
  const ServiceConfig& config_;
  mutable base::Mutex mutex_;
  std::unordered_map<std::string, Entry> sessions_ KP_GUARDED_BY(mutex_);
  // Why recently ended sessions ended (bounded: the oldest are forgotten first).
  std::unordered_map<std::string, Ended> ended_ KP_GUARDED_BY(mutex_);
  std::deque<std::string> endedOrder_ KP_GUARDED_BY(mutex_);
  uint64_t nextSerial_ KP_GUARDED_BY(mutex_) = 1;
};

}  // namespace kp::service
