#include "engine/lag_samples.h"

#include <limits>

namespace projd {

void LagHistory::Add(const Sample& s) {
  std::lock_guard<std::mutex> lock(mu_);
  samples_.push_back(s);
  while (!samples_.empty() && samples_.front().time_ms < s.time_ms - 3600 * 1000) {
    samples_.pop_front();
  }
}

void LagHistory::TakeOlderFrom(LagHistory& from) {
  if (&from == this) return;
  std::scoped_lock lock(mu_, from.mu_);
  int64_t first = samples_.empty() ? std::numeric_limits<int64_t>::max() : samples_.front().time_ms;
  // Both are oldest first: the older ones of `from` go before ours, newest last.
  for (auto it = from.samples_.rbegin(); it != from.samples_.rend(); ++it) {
    if (it->time_ms < first) {
      samples_.push_front(*it);
      first = it->time_ms;
    }
  }
  from.samples_.clear();
}

std::vector<LagHistory::Sample> LagHistory::Since(int64_t since_ms) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Sample> out;
  for (const auto& s : samples_) {
    if (s.time_ms >= since_ms) out.push_back(s);
  }
  return out;
}

}  // namespace projd
