#include "server/service/lifecycle/session_registry.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <random>

#include "server/base/error.h"
#include "server/service/session/convert.h"

namespace kp::service {
namespace {

using base::ErrorCode;
using base::MutexLock;

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

// A session id as an error message may echo it: ids are 32 characters; anything longer (a
// client's mistake, or an attack on the size of error messages) is cut.
std::string echoed(const std::string& id) {
  constexpr size_t kLongest = 40;
  if (id.size() <= kLongest) return printable(id);
  return printable(id.substr(0, kLongest)) + "... (" + std::to_string(id.size()) + " bytes)";
}

}  // namespace

SessionRegistry::SessionRegistry(DevicePool& pool, Retirement& retirement,
                                 const ServiceConfig& config)
    : pool_(pool), retirement_(retirement), config_(config) {}

std::shared_ptr<engine::Device> SessionRegistry::openDevice(const v1::OpenSessionRequest& request) {
  const uint32_t index = request.device();
  const auto& devices = pool_.instance().devices();
  const bool restricted = pool_.served().size() < devices.size();
  KP_REQUIRE(
      index < devices.size(), ErrorCode::kNotFound,
      "device: device index " + std::to_string(index) +
          " does not exist: " + std::to_string(devices.size()) + " device(s) available" +
          (restricted ? "; this kpd serves device(s) " + pool_.servedList() + " (--devices)" : ""));
  KP_REQUIRE(pool_.serves(index), ErrorCode::kNotFound,
             "device: device " + std::to_string(index) +
                 " is not served by this kpd: it serves device(s) " + pool_.servedList() +
                 " (--devices)");
  const engine::DeviceInfo& info = devices[index];
  std::vector<uint32_t> families(request.queue_families().begin(), request.queue_families().end());
  std::map<uint32_t, uint32_t> asked;
  for (uint32_t family : families) {
    KP_REQUIRE(family < info.queueFamilies.size(), ErrorCode::kInvalidArgument,
               "queue_families: queue family " + std::to_string(family) +
                   " does not exist on device " + std::to_string(index) + ": it has " +
                   std::to_string(info.queueFamilies.size()) + " queue families");
    const engine::QueueFamilyInfo& familyInfo = info.queueFamilies[family];
    KP_REQUIRE(familyInfo.compute || familyInfo.transfer, ErrorCode::kInvalidArgument,
               "queue_families: queue family " + std::to_string(family) +
                   " supports neither compute nor transfer");
    KP_REQUIRE(++asked[family] <= familyInfo.queueCount, ErrorCode::kInvalidArgument,
               "queue_families: queue family " + std::to_string(family) + " has " +
                   std::to_string(familyInfo.queueCount) + " queue(s); more were requested");
  }
  auto device = pool_.open(index, families);
  if (!device->isLost()) return device;
  // Lost, and the watchdog has not retired it yet: do it now (the sessions on it end soon)
  // and open a fresh one.
  retirement_.retireLost(device);
  return pool_.open(index, families);
}

std::shared_ptr<Session> SessionRegistry::open(const v1::OpenSessionRequest& request,
                                               const std::string& peer, const std::string& owner,
                                               bool sameHost, v1::SessionOpened* opened) {
  {
    MutexLock lock(mutex_);
    KP_REQUIRE(sessions_.size() < config_.maxSessions, ErrorCode::kResourceExhausted,
               "the daemon already has " + std::to_string(sessions_.size()) +
                   " sessions open, its limit (--max-sessions " +
                   std::to_string(config_.maxSessions) + ")");
  }
  KP_REQUIRE(request.client_name().size() <= kMaxClientNameBytes, ErrorCode::kInvalidArgument,
             "client_name has " + std::to_string(request.client_name().size()) +
                 " bytes; at most " + std::to_string(kMaxClientNameBytes) + " are accepted");
  std::shared_ptr<engine::Device> device = openDevice(request);
  uint32_t lease =
      request.lease_seconds() > 0 ? request.lease_seconds() : config_.defaultLeaseSeconds;
  lease = std::min(lease, config_.maxLeaseSeconds);
  std::string client =
      request.client_name().empty() ? peer : printable(request.client_name()) + " @ " + peer;
  uint64_t serial = 0;
  {
    MutexLock lock(mutex_);
    serial = nextSerial_++;
  }
  auto session = std::make_shared<Session>(serial, printable(request.client_name()),
                                           request.device(), device, pool_, config_, lease, client);
  const std::string id = newSessionId();
  opened->set_session(id);
  opened->set_serial(serial);
  toProto(device->info(), opened->mutable_device());
  for (uint32_t family : device->families()) opened->add_queue_families(family);
  opened->set_lease_seconds(lease);
  opened->set_max_message_bytes(static_cast<uint64_t>(config_.maxMessageBytes));
  opened->set_pipelining(true);
  if (!config_.dataSocket.empty() && sameHost) opened->set_data_socket(config_.dataSocket);

  MutexLock lock(mutex_);
  KP_REQUIRE(sessions_.size() < config_.maxSessions, ErrorCode::kResourceExhausted,
             "the daemon reached its limit of " + std::to_string(config_.maxSessions) +
                 " sessions (--max-sessions)");
  sessions_.emplace(id, Entry{session, owner});
  spdlog::info("{} opened by {} on device {}", session->label(), client, request.device());
  return session;
}

std::unordered_map<std::string, SessionRegistry::Entry>::iterator SessionRegistry::lookup(
    const std::string& id, const std::string& owner) {
  KP_REQUIRE(!id.empty(), ErrorCode::kNotFound, "session is not set");
  auto found = sessions_.find(id);
  if (found != sessions_.end() && found->second.owner == owner) return found;
  auto ended = ended_.find(id);
  if (found == sessions_.end() && ended != ended_.end() && ended->second.owner == owner) {
    base::fail(ErrorCode::kNotFound,
               "session " + echoed(id) +
                   " does not exist any more (the session ended: " + ended->second.reason + ")");
  }
  base::fail(ErrorCode::kNotFound,
             "session " + echoed(id) + " does not exist (it ended or never existed)");
}

std::shared_ptr<Session> SessionRegistry::find(const std::string& id, const std::string& owner) {
  MutexLock lock(mutex_);
  auto found = lookup(id, owner);
  found->second.session->touch();
  return found->second.session;
}

void SessionRegistry::remember(const std::string& id, const std::string& owner,
                               const std::string& reason) {
  // Enough to answer the clients of every session that can be open at once.
  const size_t capacity = std::max<size_t>(1024, 2 * size_t{config_.maxSessions});
  if (!ended_.emplace(id, Ended{reason, owner}).second) return;
  endedOrder_.push_back(id);
  while (endedOrder_.size() > capacity) {
    ended_.erase(endedOrder_.front());
    endedOrder_.pop_front();
  }
}

void SessionRegistry::close(const std::string& id, const std::string& owner,
                            const std::string& reason) {
  std::shared_ptr<Session> session;
  {
    MutexLock lock(mutex_);
    auto found = lookup(id, owner);
    session = found->second.session;
    remember(id, owner, reason);
    sessions_.erase(found);
  }
  retirement_.end(session, reason);
}

void SessionRegistry::closeAll(const std::string& reason, Session::Clock::time_point deadline) {
  for (const auto& [session, why] :
       take([&](const Session&) -> std::optional<std::string> { return reason; })) {
    retirement_.end(session, why, deadline);
  }
}

std::vector<std::pair<std::shared_ptr<Session>, std::string>> SessionRegistry::take(
    const ReasonToEnd& reasonToEnd) {
  std::vector<std::pair<std::shared_ptr<Session>, std::string>> taken;
  MutexLock lock(mutex_);
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    std::optional<std::string> reason = reasonToEnd(*it->second.session);
    if (!reason) {
      ++it;
      continue;
    }
    remember(it->first, it->second.owner, *reason);
    taken.emplace_back(it->second.session, std::move(*reason));
    it = sessions_.erase(it);
  }
  return taken;
}

std::string SessionRegistry::label(uint64_t serial) const {
  MutexLock lock(mutex_);
  for (const auto& [id, entry] : sessions_) {
    if (entry.session->serial() == serial) return entry.session->label();
  }
  return "";
}

std::map<uint32_t, uint32_t> SessionRegistry::countByDevice() const {
  std::map<uint32_t, uint32_t> counts;
  MutexLock lock(mutex_);
  for (const auto& [id, entry] : sessions_) counts[entry.session->deviceIndex()] += 1;
  return counts;
}

size_t SessionRegistry::size() const {
  MutexLock lock(mutex_);
  return sessions_.size();
}

uint64_t SessionRegistry::objectCount() const {
  MutexLock lock(mutex_);
  uint64_t total = 0;
  for (const auto& [id, entry] : sessions_) total += entry.session->objectCount();
  return total;
}

std::vector<std::pair<std::shared_ptr<Session>, std::string>> SessionRegistry::list() const {
  std::vector<std::pair<std::shared_ptr<Session>, std::string>> sessions;
  {
    MutexLock lock(mutex_);
    for (const auto& [id, entry] : sessions_) sessions.emplace_back(entry.session, entry.owner);
  }
  std::sort(sessions.begin(), sessions.end(),
            [](const auto& a, const auto& b) { return a.first->serial() < b.first->serial(); });
  return sessions;
}

uint64_t SessionRegistry::replyBytesHeld() const {
  MutexLock lock(mutex_);
  uint64_t total = 0;
  for (const auto& [id, entry] : sessions_) total += entry.session->replyBytesHeld();
  return total;
}

}  // namespace kp::service
