// A view's read-your-writes waiters: callbacks waiting for the view's applied position to reach
// a required one (min_position waits of the HTTP API).
//
// Thread-safety: every method may be called from any thread. The waiters have their own lock,
// a leaf: nothing else is locked and no callback runs while it is held. The view calls
// TakeReached and Add while it holds its own lock (publishing a position and taking the
// waiters it satisfies is one step, and so is checking a position and adding a waiter, so
// that no publication slips between the two); Cancel takes only this one.
#ifndef PROJD_ENGINE_WAITERS_H_
#define PROJD_ENGINE_WAITERS_H_

#include <cstdint>
#include <functional>
#include <mutex>
#include <vector>

#include "connectors/position.h"

namespace projd {

class PositionWaiters {
 public:
  // Registers fn to wait for `required`; returns its id for Cancel (never 0).
  uint64_t Add(Position required, std::function<void()> fn);
  // Forgets the waiter `id` (nothing when it already fired or was cancelled).
  void Cancel(uint64_t id);
  // Removes the waiters whose required position `position` reaches and appends their callbacks
  // to *ready, in the order they were added, for the caller to run once it holds no lock.
  void TakeReached(const Position& position, std::vector<std::function<void()>>* ready);
  // Removes every waiter and appends its callback to *ready (the view stops: see View::Stop).
  void TakeAll(std::vector<std::function<void()>>* ready);

 private:
  struct Waiter {
    uint64_t id;
    Position required;
    std::function<void()> fn;
  };
  std::mutex mu_;
  std::vector<Waiter> waiters_;  // guarded by mu_
  uint64_t next_id_ = 1;         // guarded by mu_
};

}  // namespace projd

#endif  // PROJD_ENGINE_WAITERS_H_
