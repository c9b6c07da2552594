#include "server/service/lifecycle/session_registry.h"

#include <spdlog/spdlog.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <algorithm>
#include <cstdio>
#include <random>
#include <utility>

#include "server/service/session/convert.h"
#include "server/base/error.h"

namespace kp::service {
namespace {

std::string newSessionId() {
  std::random_device random;
  std::string id;
  for (int i = 0; i < 4; ++i) {
    char chunk[9];
    std::snprintf(chunk, sizeof(chunk), "%08x", random());
    id += chunk;
  }
  return id;
}

// Longest OpenSessionRequest.client_name accepted (it goes into the daemon's log).
constexpr size_t kMaxClientNameBytes = 256;

// The client's name as it may appear in a log line: printable ASCII only.
std::string printable(const std::string& text) {
  std::string result;
  for (char c : text) result.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  return result;
}

}  // namespace

SessionRegistry::SessionRegistry(DevicePool& pool, const ServiceConfig& config)
    : pool_(pool), config_(config) {
  reaper_ = std::thread([this] { reap(); });
}

SessionRegistry::~SessionRegistry() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  reaper_.join();
  closeAll("daemon shutting down");
}

std::shared_ptr<Session> SessionRegistry::open(const v1::OpenSessionRequest& request,
                                               const std::string& peer, bool sameHost,
                                               v1::SessionOpened* opened) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    KP_REQUIRE(sessions_.size() < config_.maxSessions, engine::ErrorCode::kResourceExhausted,
               "the daemon already has " + std::to_string(sessions_.size()) +
                   " sessions open, its limit (--max-sessions " +
                   std::to_string(config_.maxSessions) + ")");
  }
  KP_REQUIRE(request.client_name().size() <= kMaxClientNameBytes,
             engine::ErrorCode::kInvalidArgument,
             "client_name has " + std::to_string(request.client_name().size()) +
                 " bytes; at most " + std::to_string(kMaxClientNameBytes) + " are accepted");
  std::vector<uint32_t> families(request.queue_families().begin(), request.queue_families().end());
  std::shared_ptr<engine::Device> device;
  try {
    device = pool_.open(request.device(), families);
  } catch (const engine::Error& error) {
    throw engine::Error(error.code(), (error.code() == engine::ErrorCode::kNotFound
                                           ? std::string("device: ")
                                           : std::string("queue_families: ")) +
                                          error.what());
  }
  uint32_t lease = request.lease_seconds() > 0 ? request.lease_seconds()
                                               : config_.defaultLeaseSeconds;
  lease = std::min(lease, config_.maxLeaseSeconds);
  std::string client =
      request.client_name().empty() ? peer : printable(request.client_name()) + " @ " + peer;
  uint64_t number = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    number = nextNumber_++;
  }
  auto session =
      std::make_shared<Session>(newSessionId(), number, printable(request.client_name()),
                                request.device(), device, pool_, config_, lease, client);
  opened->set_session(session->id());
  toProto(device->info(), opened->mutable_device());
  for (uint32_t family : device->families()) opened->add_queue_families(family);
  opened->set_lease_seconds(lease);
  opened->set_max_message_bytes(static_cast<uint64_t>(config_.maxMessageBytes));
  if (!config_.dataSocket.empty() && sameHost) {
    opened->set_data_socket(config_.dataSocket);
  }

  std::lock_guard<std::mutex> lock(mutex_);
  KP_REQUIRE(sessions_.size() < config_.maxSessions, engine::ErrorCode::kResourceExhausted,
             "the daemon reached its limit of " + std::to_string(config_.maxSessions) +
                 " sessions (--max-sessions)");
  sessions_.emplace(session->id(), session);
  spdlog::info("session {} opened by {} on device {} (#{})", session->id(), client,
               request.device(), number);
  return session;
}

std::shared_ptr<Session> SessionRegistry::find(const std::string& id) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto found = sessions_.find(id);
  if (found == sessions_.end()) {
    auto ended = ended_.find(id);
    if (ended != ended_.end()) {
      engine::fail(engine::ErrorCode::kNotFound, "session " + id +
                                                     " does not exist any more (the session "
                                                     "ended: " +
                                                     ended->second + ")");
    }
    engine::fail(engine::ErrorCode::kNotFound,
                 id.empty() ? std::string("session is not set")
                            : "session " + id + " does not exist (it ended or never existed)");
  }
  found->second->touch();
  return found->second;
}

void SessionRegistry::remember(const std::string& id, const std::string& reason) {
  // Enough to answer the clients of every session that can be open at once.
  const size_t capacity = std::max<size_t>(1024, 2 * size_t{config_.maxSessions});
  if (!ended_.emplace(id, reason).second) return;
  endedSinceTrim_ = true;
  endedOrder_.push_back(id);
  while (endedOrder_.size() > capacity) {
    ended_.erase(endedOrder_.front());
    endedOrder_.pop_front();
  }
}

void SessionRegistry::end(const std::shared_ptr<Session>& session, const std::string& reason) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    remember(session->id(), reason);
  }
  if (session->close(reason)) return;
  if (session->device()->isLost()) {
    // Its device is out of service and its work may never finish: the pool keeps what that
    // work uses until it does.
    std::vector<std::shared_ptr<void>> keep;
    session->abandon(reason, &keep);
    pool_.bury(session->device(), std::move(keep));
    return;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  draining_.push_back(session);
}

void SessionRegistry::close(const std::string& id, const std::string& reason) {
  std::shared_ptr<Session> session;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = sessions_.find(id);
    if (found == sessions_.end()) {
      engine::fail(engine::ErrorCode::kNotFound,
                   id.empty() ? std::string("session is not set")
                              : "session " + id + " does not exist (it ended or never existed)");
    }
    session = found->second;
    sessions_.erase(found);
  }
  end(session, reason);
}

void SessionRegistry::closeLater(const std::string& id, const std::string& reason) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    toClose_.emplace_back(id, reason);
  }
  wake_.notify_all();
}

void SessionRegistry::closeAll(const std::string& reason) {
  closeAll(reason, Session::Clock::now() + std::chrono::milliseconds(config_.closeWaitMs));
}

void SessionRegistry::closeAll(const std::string& reason, Session::Clock::time_point deadline) {
  std::unordered_map<std::string, std::shared_ptr<Session>> sessions;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    sessions.swap(sessions_);
    for (const auto& [id, session] : sessions) remember(id, reason);
  }
  for (const auto& [id, session] : sessions) {
    if (session->close(reason, deadline)) continue;
    if (session->device()->isLost()) {
      std::vector<std::shared_ptr<void>> keep;
      session->abandon(reason, &keep);
      pool_.bury(session->device(), std::move(keep));
      continue;
    }
    std::lock_guard<std::mutex> lock(mutex_);
    draining_.push_back(session);
  }
}

size_t SessionRegistry::endSessionsOnRetiredDevices() {
  const std::vector<DevicePool::RetiredDevice> retired = pool_.retiredDevices();
  if (retired.empty()) return 0;
  auto retiredOf = [&](const Session& session) -> const DevicePool::RetiredDevice* {
    for (const auto& entry : retired) {
      if (entry.device == session.device()) return &entry;
    }
    return nullptr;
  };
  std::vector<std::pair<std::shared_ptr<Session>, std::string>> ending;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto it = sessions_.begin(); it != sessions_.end();) {
      const DevicePool::RetiredDevice* entry = retiredOf(*it->second);
      if (!entry) {
        ++it;
        continue;
      }
      const std::string& reason = it->first == entry->culprit && !entry->culpritReason.empty()
                                      ? entry->culpritReason
                                      : entry->reason;
      remember(it->first, reason);
      ending.emplace_back(it->second, reason);
      it = sessions_.erase(it);
    }
    for (auto it = draining_.begin(); it != draining_.end();) {
      const DevicePool::RetiredDevice* entry = retiredOf(**it);
      if (!entry) {
        ++it;
        continue;
      }
      ending.emplace_back(*it, entry->reason);
      it = draining_.erase(it);
    }
  }
  for (const auto& [session, reason] : ending) {
    std::vector<std::shared_ptr<void>> keep;
    session->abandon(reason, &keep);
    pool_.bury(session->device(), std::move(keep));
  }
  return ending.size();
}

std::string SessionRegistry::label(const std::string& id) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto found = sessions_.find(id);
  return found == sessions_.end() ? std::string() : found->second->label();
}

size_t SessionRegistry::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return sessions_.size();
}

uint64_t SessionRegistry::objectCount() const {
  std::lock_guard<std::mutex> lock(mutex_);
  uint64_t total = 0;
  for (const auto& [id, session] : sessions_) total += session->objectCount();
  return total;
}

void SessionRegistry::reap() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    wake_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_ || !toClose_.empty(); });
    if (stopping_) break;
    const auto now = Session::Clock::now();
    std::vector<std::pair<std::shared_ptr<Session>, std::string>> requested;
    for (const auto& [id, reason] : toClose_) {
      auto found = sessions_.find(id);
      if (found == sessions_.end()) continue;
      requested.emplace_back(found->second, reason);
      sessions_.erase(found);
    }
    toClose_.clear();
    std::vector<std::shared_ptr<Session>> expired;
    for (auto it = sessions_.begin(); it != sessions_.end();) {
      const auto idle = now - it->second->lastActive();
      if (idle > std::chrono::seconds(it->second->leaseSeconds())) {
        expired.push_back(it->second);
        it = sessions_.erase(it);
      } else {
        ++it;
      }
    }
    std::vector<std::shared_ptr<Session>> draining;
    draining.swap(draining_);
    const bool trim = std::exchange(endedSinceTrim_, false);
    lock.unlock();
    for (const auto& [session, reason] : requested) end(session, reason);
    for (const auto& session : expired) {
      end(session, "idle for more than " + std::to_string(session->leaseSeconds()) + " s");
    }
    for (const auto& session : draining) end(session, "retrying the release of its GPU work");
#if defined(__GLIBC__)
    // Sessions ended since the last round: give the memory their tensors held (host memory on
    // a CPU device, host copies and staging everywhere) back to the system rather than keep it
    // in the allocator's free lists.
    if (trim) malloc_trim(0);
#else
    (void)trim;
#endif
    lock.lock();
  }
}

}  // namespace kp::service
