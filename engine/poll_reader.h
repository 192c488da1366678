// Reading a poll's events ahead of their apply, on a thread of its own.
//
// A view's thread spends a sixth of a catch-up decoding and preparing events (Projector::Read:
// parsing JSON, the key, id, time, correlation), none of which needs a row. A PollReader reads
// the messages of the poll in hand on its thread while the view's thread applies them in
// order. Each chunk of eight messages is claimed by whichever thread gets to it first: when the
// view's thread catches up with the reader (which shares the cores with the committer and
// librdkafka), it reads the next chunk itself rather than wait for it; a chunk the reader has
// claimed it waits for, asleep after a short spin.
//
// Thread-safety: Start, Get and Finish from one thread (the view's); the reader thread only
// reads the poll's messages and writes their ReadEvents, which Get hands over once read.
#ifndef PROJD_ENGINE_POLL_READER_H_
#define PROJD_ENGINE_POLL_READER_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/projector.h"

namespace projd {

class PollReader {
 public:
  // Reads with `projector`'s Read (JSON events only: Avro decoding is not for two threads).
  // With `hash_ids` (a dedupe view), the events it reads also get their id's hash.
  PollReader(const Projector* projector, bool hash_ids, std::string view_name);
  ~PollReader();
  PollReader(const PollReader&) = delete;
  PollReader& operator=(const PollReader&) = delete;

  // Starts reading messages[0, n), which stay valid and unchanged until Finish.
  void Start(const Message* messages, size_t n);
  // Message i of the poll as read (i < n; in order: i is the one after the last asked for);
  // read here when the reader has not claimed it yet. The view's thread may move from it.
  ReadEvent* Get(size_t i);
  // Message i as read, when the reader has read it already; else null (nothing waits). Its
  // key_hash and id_hash let the view's thread ask for its row and id slots ahead of time.
  const ReadEvent* Peek(size_t i) const {
    return i < n_ && done_[i].load(std::memory_order_acquire) ? &reads_[i] : nullptr;
  }
  // Ends the poll: the reader stops reading it and lets go of its messages before this
  // returns.
  void Finish();

 private:
  void Loop();

  const Projector* projector_;
  const bool hash_ids_;
  std::vector<ReadEvent> reads_;
  const Message* messages_ = nullptr;
  size_t n_ = 0;
  // Messages are claimed kChunk at a time (one atomic step per chunk, not per message).
  static constexpr size_t kChunk = 8;
  std::atomic<size_t> claimed_{0};          // messages claimed (to be read by whoever claimed them)
  std::vector<std::atomic<uint8_t>> done_;  // message i read (by the reader)
  std::atomic<bool> cancel_{false};
  // The message the view's thread sleeps for (kNone: it is not sleeping). It spins a little
  // first: the reader, when running, reads a message in about a microsecond; when it is not (two
  // cores shared with the committer, librdkafka and often the broker), spinning or yielding
  // only takes the core from it. The reader wakes the view after storing done_ for that one.
  static constexpr size_t kNone = ~size_t{0};
  std::atomic<size_t> waiting_for_{kNone};
  std::mutex wait_mu_;
  std::condition_variable wait_cv_;
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t started_ = 0, finished_ = 0;  // polls handed to the reader, and read (guarded by mu_)
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace projd

#endif  // PROJD_ENGINE_POLL_READER_H_
