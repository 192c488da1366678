#include "engine/waiters.h"

#include <algorithm>

namespace projd {

uint64_t PositionWaiters::Add(Position required, std::function<void()> fn) {
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t id = next_id_++;
  waiters_.push_back({id, std::move(required), std::move(fn)});
  return id;
}

void PositionWaiters::Cancel(uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  waiters_.erase(std::remove_if(waiters_.begin(), waiters_.end(),
                                [id](const Waiter& w) { return w.id == id; }),
                 waiters_.end());
}

void PositionWaiters::TakeReached(const Position& position,
                                  std::vector<std::function<void()>>* ready) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    if (position.Reached(it->required)) {
      ready->push_back(std::move(it->fn));
      it = waiters_.erase(it);
    } else {
      ++it;
    }
  }
}

void PositionWaiters::TakeAll(std::vector<std::function<void()>>* ready) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& w : waiters_) ready->push_back(std::move(w.fn));
  waiters_.clear();
}

}  // namespace projd
