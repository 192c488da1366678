// A view's committer: writes the view's staged batches to its store on a thread of its own, one
// batch at a time, while the view's thread applies the next (engine/README.md, "The apply loop:
// two batches in flight").
//
// The view's thread applies a batch, stages it, waits for the batch in flight (Wait), then
// hands the staged one over (Hand). A write that fails is retried every second until it goes
// through, or given up once the view is told to stop: Wait then returns false and nothing more
// is handed over.
//
// Thread-safety: Start, Wait, Hand and Stop are called by the view's thread only; the callbacks
// run on the committer's thread, under no lock of the committer. The committer's lock guards
// the hand-over flags; the batch in flight and its staged writes belong to the committer's
// thread from Hand until the next Wait returns, and to the view's thread otherwise.
#ifndef PROJD_ENGINE_COMMITTER_H_
#define PROJD_ENGINE_COMMITTER_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "store/records.h"
#include "store/view_store.h"

namespace projd {

class Committer {
 public:
  struct Callbacks {
    // After each write that failed: the batch is held (nothing past it is handed over) and
    // retried a second later, unless the view is told to stop.
    std::function<void(const std::string& error)> write_failed;
    // After the batch is written (durable): its event timestamps, and when its first event was
    // applied. Returns before the view's thread may hand over the next batch.
    std::function<void(const Batch& batch, const std::vector<int64_t>& timestamps,
                       std::chrono::steady_clock::time_point started)>
        written;
  };
  // Writes to `store`; gives up a failing write once `stop` is set.
  Committer(ViewStore* store, const std::atomic<bool>* stop, Callbacks callbacks);
  ~Committer();  // Stop()
  Committer(const Committer&) = delete;
  Committer& operator=(const Committer&) = delete;

  // Starts the committer's thread; the batch it keeps in flight (swapped with the view's at
  // each Hand) records changes and history as told. The thread is named for the view.
  void Start(bool record_changes, bool history_from_changes, std::string view_name);

  // What the batch handed over last, now written, was.
  struct Done {
    bool batch = false;    // a batch was handed over since the last Wait, and is written
    bool offsets = false;  // it carried next offsets (moved the view's position)
  };
  // Waits until the batch in flight, if any, is written. False when it could not be (given up:
  // the view is told to stop); then nothing more may be handed over. Each written batch is
  // reported in *done by one Wait only.
  bool Wait(Done* done);
  // True while a batch handed over is not written yet.
  bool Busy();
  // Hands over the batch just applied, its event timestamps and its staged writes (`staged`,
  // encoded by ViewStore::Stage), when its first event was applied (`started`). Only after a
  // Wait that returned true. *batch, *timestamps and *staged get the previous batch's, for
  // reuse.
  void Hand(Batch* batch, std::vector<int64_t>* timestamps, StagedBatch* staged,
            std::chrono::steady_clock::time_point started);
  // Writes a batch still handed over, then ends the thread and joins it.
  void Stop();

 private:
  void Loop();

  ViewStore* const store_;
  const std::atomic<bool>* const stop_;
  const Callbacks callbacks_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool pending_ = false;  // guarded by mu_: a batch is handed over, not written
  bool failed_ = false;   // guarded by mu_: gave up (told to stop)
  bool exit_ = false;     // guarded by mu_
  // The batch in flight (counts, offsets), its Kafka timestamps, when its first event was
  // applied, and its staged writes.
  Batch inflight_;
  std::vector<int64_t> inflight_timestamps_;
  std::chrono::steady_clock::time_point started_;
  StagedBatch staged_;
};

}  // namespace projd

#endif  // PROJD_ENGINE_COMMITTER_H_
