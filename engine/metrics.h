// Prometheus histograms for projd's /metrics: fixed buckets, lock-free observation.
#ifndef PROJD_ENGINE_METRICS_H_
#define PROJD_ENGINE_METRICS_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <string>

namespace projd {

class Histogram {
 public:
  // Upper bounds in seconds: 100 µs to 60 s.
  static constexpr std::array<double, 16> kBounds = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                     0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                                     1,      2.5,     10,     60};
  void Observe(double seconds, uint64_t count = 1);
  // Observations counted on one thread, then added to a Histogram in one step: a batch's
  // events cost an atomic addition per bucket used, not three per event.
  class Tally {
   public:
    void Observe(double seconds);

   private:
    friend class Histogram;
    std::array<uint64_t, kBounds.size() + 1> buckets_{};
    uint64_t count_ = 0;
    uint64_t sum_micros_ = 0;
  };
  void Add(const Tally& tally);
  // Adds `other`'s observations to this one's (a view swapped in carries on its predecessor's).
  void Add(const Histogram& other);
  // Appends NAME_bucket/_sum/_count lines with `labels` (e.g. view="x"; may be empty).
  void Write(const std::string& name, const std::string& labels, std::string* out) const;

 private:
  static size_t BucketOf(double seconds);                            // seconds >= 0
  std::array<std::atomic<uint64_t>, kBounds.size() + 1> buckets_{};  // last: +Inf
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_micros_{0};
};

}  // namespace projd

#endif  // PROJD_ENGINE_METRICS_H_
