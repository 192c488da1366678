#include "engine/metrics.h"

#include <cstdio>

namespace projd {

constexpr std::array<double, 16> Histogram::kBounds;

size_t Histogram::BucketOf(double seconds) {
  size_t i = 0;
  while (i < kBounds.size() && seconds > kBounds[i]) ++i;
  return i;
}

void Histogram::Observe(double seconds, uint64_t count) {
  if (seconds < 0) seconds = 0;
  buckets_[BucketOf(seconds)].fetch_add(count, std::memory_order_relaxed);
  count_.fetch_add(count, std::memory_order_relaxed);
  sum_micros_.fetch_add(static_cast<uint64_t>(seconds * 1e6) * count, std::memory_order_relaxed);
}

void Histogram::Tally::Observe(double seconds) {
  if (seconds < 0) seconds = 0;
  ++buckets_[BucketOf(seconds)];
  ++count_;
  sum_micros_ += static_cast<uint64_t>(seconds * 1e6);
}

void Histogram::Add(const Tally& tally) {
  if (tally.count_ == 0) return;
  for (size_t i = 0; i < buckets_.size(); ++i) {
    if (tally.buckets_[i] != 0) buckets_[i].fetch_add(tally.buckets_[i], std::memory_order_relaxed);
  }
  count_.fetch_add(tally.count_, std::memory_order_relaxed);
  sum_micros_.fetch_add(tally.sum_micros_, std::memory_order_relaxed);
}

void Histogram::Add(const Histogram& other) {
  for (size_t i = 0; i < buckets_.size(); ++i) {
    buckets_[i].fetch_add(other.buckets_[i].load(std::memory_order_relaxed),
                          std::memory_order_relaxed);
  }
  count_.fetch_add(other.count_.load(std::memory_order_relaxed), std::memory_order_relaxed);
  sum_micros_.fetch_add(other.sum_micros_.load(std::memory_order_relaxed),
                        std::memory_order_relaxed);
}

void Histogram::Write(const std::string& name, const std::string& labels, std::string* out) const {
  std::string sep = labels.empty() ? "" : ",";
  uint64_t cumulative = 0;
  char buf[64];
  for (size_t i = 0; i < kBounds.size(); ++i) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    snprintf(buf, sizeof(buf), "%g", kBounds[i]);
    out->append(name).append("_bucket{").append(labels).append(sep).append("le=\"");
    out->append(buf).append("\"} ").append(std::to_string(cumulative)).append("\n");
  }
  cumulative += buckets_[kBounds.size()].load(std::memory_order_relaxed);
  *out += name + "_bucket{" + labels + sep + "le=\"+Inf\"} " + std::to_string(cumulative) + "\n";
  snprintf(buf, sizeof(buf), "%.6f",
           static_cast<double>(sum_micros_.load(std::memory_order_relaxed)) / 1e6);
  *out += name + "_sum" + (labels.empty() ? "" : "{" + labels + "}") + " " + buf + "\n";
  *out += name + "_count" + (labels.empty() ? "" : "{" + labels + "}") + " " +
          std::to_string(cumulative) + "\n";
}

}  // namespace projd
