#include "engine/poll_reader.h"

#include <algorithm>
#include <string>
#include <utility>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "dsl/thread_name.h"

namespace projd {
namespace {

void Pause() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#endif
}

}  // namespace

PollReader::PollReader(const Projector* projector, bool hash_ids, std::string view_name)
    : projector_(projector), hash_ids_(hash_ids), thread_([this, name = std::move(view_name)] {
        NameThisThread("read/", name);
        Loop();
      }) {}

PollReader::~PollReader() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cancel_ = true;
  cv_.notify_all();
  thread_.join();
}

void PollReader::Start(const Message* messages, size_t n) {
  // The reader is between polls.
  if (reads_.size() < n) {
    reads_.resize(n);
    done_ = std::vector<std::atomic<uint8_t>>(n);
  }
  for (size_t i = 0; i < n; ++i) done_[i].store(0, std::memory_order_relaxed);
  messages_ = messages;
  n_ = n;
  claimed_.store(0, std::memory_order_relaxed);
  cancel_.store(false, std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lock(mu_);  // publishes the fields above to the reader
    ++started_;
  }
  cv_.notify_all();
}

ReadEvent* PollReader::Get(size_t i) {
  if (done_[i].load(std::memory_order_acquire)) return &reads_[i];
  // Not read yet: its chunk is claimed here unless the reader has claimed it (then it is being
  // read). Chunks start at multiples of kChunk, so an unclaimed one starts at i.
  size_t expected = i;
  if (claimed_.compare_exchange_strong(expected, i + kChunk, std::memory_order_relaxed)) {
    for (size_t j = i, end = std::min(i + kChunk, n_); j < end; ++j) {
      projector_->Read(messages_[j], &reads_[j]);
      reads_[j].key_hash = reads_[j].id_hash = 0;    // no prefetch hints: read just in time
      done_[j].store(1, std::memory_order_relaxed);  // read by this thread: no hand-over
    }
    return &reads_[i];
  }
  for (int spins = 0; spins < 256; ++spins) {
    if (done_[i].load(std::memory_order_acquire)) return &reads_[i];
    Pause();
  }
  // Sleep until the reader has read it. waiting_for_ is stored before done_ is checked, and the
  // reader stores done_ before it loads waiting_for_ (both sequentially consistent), so one of
  // the two sees the other; the reader notifies under wait_mu_, so not before the wait began.
  std::unique_lock<std::mutex> lock(wait_mu_);
  waiting_for_.store(i, std::memory_order_seq_cst);
  wait_cv_.wait(lock, [&] { return done_[i].load(std::memory_order_seq_cst) != 0; });
  waiting_for_.store(kNone, std::memory_order_relaxed);
  return &reads_[i];
}

void PollReader::Finish() {
  cancel_.store(true, std::memory_order_relaxed);
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return finished_ == started_; });
}

void PollReader::Loop() {
  while (true) {
    const Message* messages;
    size_t n;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stop_ || started_ != finished_; });
      if (stop_) return;
      messages = messages_;
      n = n_;
    }
    while (!cancel_.load(std::memory_order_relaxed)) {
      size_t i = claimed_.fetch_add(kChunk, std::memory_order_relaxed);
      if (i >= n) break;
      for (size_t j = i, end = std::min(i + kChunk, n); j < end; ++j) {
        projector_->Read(messages[j], &reads_[j]);
        SetPrefetchHashes(&reads_[j], hash_ids_);
        done_[j].store(1, std::memory_order_seq_cst);
        if (waiting_for_.load(std::memory_order_seq_cst) == j) {
          std::lock_guard<std::mutex> lock(wait_mu_);
          wait_cv_.notify_one();
        }
      }
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++finished_;
    }
    cv_.notify_all();
  }
}

}  // namespace projd
