#include "engine/committer.h"

#include <utility>

#include "dsl/thread_name.h"

namespace projd {

Committer::Committer(ViewStore* store, const std::atomic<bool>* stop, Callbacks callbacks)
    : store_(store), stop_(stop), callbacks_(std::move(callbacks)) {}

Committer::~Committer() { Stop(); }

void Committer::Start(bool record_changes, bool history_from_changes, std::string view_name) {
  inflight_.record_changes = record_changes;
  inflight_.history_from_changes = history_from_changes;
  thread_ = std::thread([this, name = std::move(view_name)] {
    NameThisThread("commit/", name);
    Loop();
  });
}

bool Committer::Wait(Done* done) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return !pending_; });
  if (failed_) return false;
  lock.unlock();
  *done = Done();
  if (!inflight_.empty()) {
    done->batch = true;
    done->offsets = !inflight_.next_offsets.empty();
    inflight_.Clear();
  }
  return true;
}

bool Committer::Busy() {
  std::lock_guard<std::mutex> lock(mu_);
  return pending_;
}

void Committer::Hand(Batch* batch, std::vector<int64_t>* timestamps, StagedBatch* staged,
                     std::chrono::steady_clock::time_point started) {
  std::swap(staged_, *staged);  // the written one's buffers are reused for the next
  started_ = started;
  std::swap(inflight_, *batch);
  inflight_timestamps_.swap(*timestamps);
  std::lock_guard<std::mutex> lock(mu_);
  pending_ = true;
  cv_.notify_all();
}

void Committer::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    exit_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

void Committer::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait(lock, [this] { return pending_ || exit_; });
    if (!pending_) return;
    lock.unlock();
    std::string error;
    bool ok = false;
    while (!(ok = store_->Write(staged_, &error))) {
      // A full disk or another storage failure: hold the batch (nothing is lost, nothing
      // consumed past it) and retry until it goes through or we are told to stop.
      callbacks_.write_failed(error);
      if (*stop_) break;
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
    if (ok) callbacks_.written(inflight_, inflight_timestamps_, started_);
    lock.lock();
    failed_ = !ok;
    pending_ = false;
    cv_.notify_all();
  }
}

}  // namespace projd
