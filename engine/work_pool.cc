#include "engine/work_pool.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>

#include "dsl/thread_name.h"

namespace projd {

WorkPool::WorkPool(size_t threads, size_t max_queued) : max_queued_(max_queued) {
  threads = std::max<size_t>(1, threads);
  for (size_t i = 0; i < threads; ++i) {
    threads_.emplace_back([this] {
      NameThisThread("query");
      Loop();
    });
  }
}

WorkPool::~WorkPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    queue_.clear();
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

bool WorkPool::Submit(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_ || queue_.size() >= max_queued_) return false;
    queue_.push_back(std::move(task));
  }
  cv_.notify_one();
  return true;
}

size_t WorkPool::queued() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

size_t WorkPool::running() const {
  std::lock_guard<std::mutex> lock(mu_);
  return running_;
}

void WorkPool::Loop() {
  // Linux applies nice values per thread: long work yields the CPU to the I/O threads.
  setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), 5);
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
    if (stop_) return;
    std::function<void()> task = std::move(queue_.front());
    queue_.pop_front();
    ++running_;
    lock.unlock();
    task();
    task = nullptr;  // its captures go before the lock is taken again
    lock.lock();
    --running_;
  }
}

}  // namespace projd
