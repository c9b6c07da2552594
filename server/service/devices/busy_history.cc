#include "server/service/devices/busy_history.h"

#include <algorithm>

namespace kp::service {

using std::chrono::nanoseconds;

BusyHistory::BusyHistory(Clock::time_point start) {
  samples_.push_back({start, nanoseconds(0)});
}

void BusyHistory::observe(const std::shared_ptr<void>& instance, nanoseconds busy) {
  auto [entry, first] = seen_.try_emplace(instance, nanoseconds(0));
  if (busy <= entry->second) return;
  total_ += busy - entry->second;
  entry->second = busy;
}

void BusyHistory::sample(Clock::time_point now) {
  for (auto it = seen_.begin(); it != seen_.end();) {
    it = it->first.expired() ? seen_.erase(it) : std::next(it);
  }
  // Samples closer than kMinSpacing add nothing a 10 s window needs; skipping them bounds
  // the history whoever calls.
  if (!samples_.empty() && now < samples_.back().at + kMinSpacing) return;
  samples_.push_back({now, total_});
  // Keep one sample at or before the oldest window start still to come (now - kWindow), for
  // interpolation; drop the ones before it.
  const Clock::time_point oldestStart = now - kWindow;
  while (samples_.size() > 2 && samples_[1].at <= oldestStart) samples_.pop_front();
  while (samples_.size() > kMaxSamples) samples_.pop_front();
}

nanoseconds BusyHistory::totalAt(Clock::time_point at) const {
  if (samples_.empty()) return nanoseconds(0);
  // Before the first sample: the history's start (total 0), or the oldest kept.
  if (at <= samples_.front().at) return samples_.front().total;
  auto after = std::upper_bound(samples_.begin(), samples_.end(), at,
                                [](Clock::time_point t, const Sample& s) { return t < s.at; });
  if (after == samples_.end()) return samples_.back().total;
  const Sample& before = *std::prev(after);
  const double share = std::chrono::duration<double>(at - before.at).count() /
                       std::chrono::duration<double>(after->at - before.at).count();
  const auto gained = static_cast<double>((after->total - before.total).count());
  return before.total + nanoseconds(static_cast<int64_t>(gained * share));
}

double BusyHistory::fraction(Clock::time_point now) const {
  const nanoseconds busy = total_ - totalAt(now - kWindow);
  const double share =
      std::chrono::duration<double>(busy).count() / std::chrono::duration<double>(kWindow).count();
  return std::clamp(share, 0.0, 1.0);
}

}  // namespace kp::service
