// Keeps a flood of one log line from filling the disk: each kind of line (its text with the
// digits left out, so "fd 17" and "fd 18" are one kind) is written at most kBurst times per
// kWindow; the lines held back are counted and reported with the next one written.
//
// Thread-safe.
#ifndef PROJD_CONNECTORS_LOG_LIMITER_H_
#define PROJD_CONNECTORS_LOG_LIMITER_H_

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace projd {

class LogLimiter {
 public:
  static constexpr int kBurst = 10;
  static constexpr std::chrono::seconds kWindow{10};

  // true when the line should be written; *suppressed then holds how many lines of its kind
  // were held back since the last one written (0 usually).
  bool Allow(std::string_view line, uint64_t* suppressed) {
    std::string kind;
    kind.reserve(line.size() < 160 ? line.size() : 160);
    for (char c : line) {
      if (kind.size() >= 160) break;
      if (c < '0' || c > '9') kind.push_back(c);
    }
    auto now = std::chrono::steady_clock::now();
    std::lock_guard<std::mutex> lock(mu_);
    if (kinds_.size() > 4096) kinds_.clear();  // bounded: forget old kinds wholesale
    Entry& e = kinds_[kind];
    if (e.count == 0 || now - e.window_start >= kWindow) {
      e.window_start = now;
      e.count = 0;
    }
    *suppressed = 0;
    if (++e.count > kBurst) {
      ++e.suppressed;
      return false;
    }
    *suppressed = e.suppressed;
    e.suppressed = 0;
    return true;
  }

 private:
  struct Entry {
    std::chrono::steady_clock::time_point window_start;
    int count = 0;
    uint64_t suppressed = 0;
  };
  std::mutex mu_;
  std::unordered_map<std::string, Entry> kinds_;
};

}  // namespace projd

#endif  // PROJD_CONNECTORS_LOG_LIMITER_H_
