// A view's lag history for GET /v1/views/{view}/lag: one sample a second (the daemon adds
// them), the last hour kept.
//
// Thread-safety: every method may be called from any thread; the history has its own lock.
#ifndef PROJD_ENGINE_LAG_SAMPLES_H_
#define PROJD_ENGINE_LAG_SAMPLES_H_

#include <cstdint>
#include <deque>
#include <mutex>
#include <vector>

namespace projd {

class LagHistory {
 public:
  struct Sample {
    int64_t time_ms;
    int64_t lag_events;
    double lag_seconds;
    double events_per_second;
  };

  // Appends `s` (newest last) and drops the samples more than an hour older than it.
  void Add(const Sample& s);
  // The samples at or after `since_ms`, oldest first.
  std::vector<Sample> Since(int64_t since_ms) const;
  // Takes over the samples of `from` older than this history's first (a rebuilt view swapped
  // in for another keeps the chart's past); `from` is left empty.
  void TakeOlderFrom(LagHistory& from);

 private:
  mutable std::mutex mu_;
  std::deque<Sample> samples_;  // guarded by mu_, oldest first
};

}  // namespace projd

#endif  // PROJD_ENGINE_LAG_SAMPLES_H_
