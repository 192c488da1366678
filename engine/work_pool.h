// A bounded pool of threads for long work of the HTTP API (queries, scans, history pages), so
// that it never runs on, and never delays, the server's I/O threads: liveness probes and point
// reads keep answering while clients run full scans.
//
// Thread-safety: Submit may be called from any thread. The destructor finishes the task each
// thread is running, drops the queued ones (their closures are destroyed unrun) and joins.
#ifndef PROJD_ENGINE_WORK_POOL_H_
#define PROJD_ENGINE_WORK_POOL_H_

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace projd {

class WorkPool {
 public:
  // `threads` workers (at least 1), at most `max_queued` tasks waiting for one. The workers run
  // at a lower scheduling priority (nice +5) than the I/O threads.
  WorkPool(size_t threads, size_t max_queued);
  ~WorkPool();
  WorkPool(const WorkPool&) = delete;
  WorkPool& operator=(const WorkPool&) = delete;

  // Queues `task`; false (the task is not run) when max_queued tasks are already waiting.
  bool Submit(std::function<void()> task);

  // Tasks waiting and tasks running now.
  size_t queued() const;
  size_t running() const;

 private:
  void Loop();

  const size_t max_queued_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;  // guarded by mu_
  size_t running_ = 0;                       // guarded by mu_
  bool stop_ = false;                        // guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace projd

#endif  // PROJD_ENGINE_WORK_POOL_H_
