#include "server/service/lifecycle/retirement.h"

#include <spdlog/spdlog.h>

#include <utility>

namespace kp::service {
namespace {

using base::MutexLock;

// After this long, a retired device whose work still runs is reported in the log (once).
constexpr auto kWedgedWarning = std::chrono::seconds(10);

}  // namespace

Retirement::Retirement(DevicePool& pool, const ServiceConfig& config)
    : pool_(pool), config_(config) {}

Retirement::~Retirement() {
  releaseIdle();
  MutexLock lock(mutex_);
  if (retired_.empty()) return;
  for (const Retired& entry : retired_) {
    spdlog::warn("{} keeps {} bytes allocated until kpd exits: work submitted to it is still "
                 "running ({})",
                 entry.device->describe(), entry.device->allocatedBytes(), entry.reason);
  }
  // Freeing memory the GPU may still use is never safe: leave it to the operating system.
  new std::vector<Retired>(std::move(retired_));  // NOLINT: deliberately leaked
  retired_.clear();
}

std::string Retirement::outOfService(const std::string& what) {
  return what +
         "; kpd took the device out of service and ended the sessions on it: open a new session "
         "(a new instance of the device serves it)";
}

// ---- sessions ----

void Retirement::end(const std::shared_ptr<Session>& session, const std::string& reason,
                     std::optional<Clock::time_point> deadline) {
  {
    MutexLock lock(mutex_);
    endedSinceLastAsked_ = true;
  }
  if (!deadline) deadline = Clock::now() + std::chrono::milliseconds(config_.closeWaitMs);
  if (session->close(reason, *deadline)) return;
  if (session->device()->isLost()) {
    // Its device is out of service and its work may never finish: the device keeps what that
    // work uses until it does.
    bury(session, reason);
    return;
  }
  MutexLock lock(mutex_);
  draining_.push_back(session);
}

void Retirement::retryDraining() {
  std::vector<std::shared_ptr<Session>> draining;
  {
    MutexLock lock(mutex_);
    draining.swap(draining_);
  }
  for (const auto& session : draining) {
    end(session, "retrying the release of its GPU work", Clock::now());
  }
}

bool Retirement::takeEndedSinceLastAsked() {
  MutexLock lock(mutex_);
  return std::exchange(endedSinceLastAsked_, false);
}

void Retirement::bury(const std::shared_ptr<Session>& session, const std::string& reason) {
  std::vector<std::shared_ptr<void>> objects;
  session->abandon(reason, &objects);
  const auto& device = session->device();
  if (!device->isLost()) {
    device->markLost(device->describe() + " still ran work when its session went");
  }
  MutexLock lock(mutex_);
  Retired& entry = retireDevice(device, outOfService(device->lostReason()));
  for (auto& object : objects) entry.buried.push_back(std::move(object));
}

// ---- devices ----

Retirement::Retired& Retirement::retireDevice(const std::shared_ptr<engine::Device>& device,
                                              const std::string& reason) {
  device->markLost(reason);  // the first reason given sticks
  for (Retired& entry : retired_) {
    if (entry.device == device) return entry;
  }
  pool_.takeOutOfService(device);
  Retired entry;
  entry.device = device;
  entry.reason = reason;
  entry.since = Clock::now();
  retired_.push_back(std::move(entry));
  return retired_.back();
}

void Retirement::retire(const Trouble& trouble) {
  if (trouble.lost) {
    const std::string reason = outOfService(trouble.lostReason);
    {
      MutexLock lock(mutex_);
      for (const auto& device : trouble.devices) retireDevice(device, reason);
    }
    spdlog::error("{}: {}", trouble.device, reason);
    return;
  }
  const std::string culprit =
      trouble.culpritLabel.empty() ? "a session that has ended since" : trouble.culpritLabel;
  const std::string limit = std::to_string(config_.runawayMs) + " ms (--runaway-ms " +
                            std::to_string(config_.runawayMs) + ")";
  const std::string reason =
      outOfService(trouble.device + " was reset: an evaluation of " + culprit +
                   " ran for more than " + limit + " without finishing");
  const std::string culpritReason =
      "an evaluation of this session ran for more than " + limit +
      " without finishing: kpd reset " + trouble.device +
      " and ended the sessions on it, this one included (a shader must finish; split long "
      "work into shorter evaluations)";
  {
    MutexLock lock(mutex_);
    for (const auto& device : trouble.devices) {
      Retired& entry = retireDevice(device, reason);
      if (trouble.culprit != 0 && entry.culprit == 0) {
        entry.culprit = trouble.culprit;
        entry.culpritReason = culpritReason;
      }
    }
  }
  spdlog::error("runaway work: {} made no progress for {} ms, stuck on an evaluation of {}: "
                "resetting it ({} instance(s) of the device retired)",
                trouble.device, trouble.stalledMs, culprit, trouble.devices.size());
}

void Retirement::retireLost(const std::shared_ptr<engine::Device>& device) {
  MutexLock lock(mutex_);
  retireDevice(device, outOfService(device->lostReason()));
}

size_t Retirement::retireBusyDevices() {
  std::vector<std::shared_ptr<engine::Device>> busy;
  for (const auto& [index, device] : pool_.inService()) {
    if (device->busy()) busy.push_back(device);
  }
  MutexLock lock(mutex_);
  for (const auto& device : busy) {
    spdlog::warn("{} still runs work: leaving it running, with the memory it uses",
                 device->describe());
    retireDevice(device, "its work was still running when kpd shut down");
  }
  return busy.size();
}

std::optional<std::string> Retirement::reasonToEnd(const Session& session) const {
  MutexLock lock(mutex_);
  for (const Retired& entry : retired_) {
    if (entry.device != session.device()) continue;
    if (entry.culprit != 0 && entry.culprit == session.serial()) return entry.culpritReason;
    return entry.reason;
  }
  return std::nullopt;
}

void Retirement::endSessionsOnRetiredDevices(
    const std::vector<std::pair<std::shared_ptr<Session>, std::string>>& sessions) {
  std::vector<std::pair<std::shared_ptr<Session>, std::string>> ending = sessions;
  {
    MutexLock lock(mutex_);
    for (auto it = draining_.begin(); it != draining_.end();) {
      const Retired* retired = nullptr;
      for (const Retired& entry : retired_) {
        if (entry.device == (*it)->device()) retired = &entry;
      }
      if (retired == nullptr) {
        ++it;
        continue;
      }
      ending.emplace_back(*it, retired->reason);
      it = draining_.erase(it);
    }
  }
  for (const auto& [session, reason] : ending) bury(session, reason);
  if (!ending.empty()) spdlog::warn("ended {} session(s) on retired devices", ending.size());
}

void Retirement::releaseIdle() {
  std::vector<Retired> idle;
  {
    MutexLock lock(mutex_);
    const auto now = Clock::now();
    for (auto it = retired_.begin(); it != retired_.end();) {
      if (!it->device->busy()) {
        idle.push_back(std::move(*it));
        it = retired_.erase(it);
        continue;
      }
      if (!it->warned && now - it->since > kWedgedWarning) {
        it->warned = true;
        spdlog::warn("{} was retired {} s ago and its work is still running: its {} bytes stay "
                     "allocated until that work finishes or kpd exits",
                     it->device->describe(),
                     std::chrono::duration_cast<std::chrono::seconds>(now - it->since).count(),
                     it->device->allocatedBytes());
      }
      ++it;
    }
  }
  for (Retired& entry : idle) {
    const std::string name = entry.device->describe();
    const uint64_t before = entry.device->allocatedBytes();
    entry.buried.clear();
    spdlog::info("{} (retired: {}) has no work left: freed its {} bytes", name, entry.reason,
                 before);
    entry.device.reset();
  }
}

uint32_t Retirement::retiredCount() const {
  MutexLock lock(mutex_);
  return static_cast<uint32_t>(retired_.size());
}

}  // namespace kp::service
