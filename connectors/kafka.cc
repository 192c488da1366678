// The consuming Source of Kafka: partitions assigned from metadata (new topics and partitions
// found by polling it), messages polled in batches, positions committed to the consumer group
// for external tools. The producer and embedded broker are in kafka_producer.cc, the admin and
// query helpers in kafka_admin.cc, the shared handles in kafka_client.h.

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <tuple>

#include "connectors/kafka_client.h"
#include "connectors/source.h"
#include "dsl/thread_name.h"

namespace projd {
namespace {

using Clock = std::chrono::steady_clock;
using kafka_client::ConfPtr;
using kafka_client::HandlePtr;
using kafka_client::ListPtr;
using kafka_client::LogCallback;
using kafka_client::NewHandle;
using kafka_client::QueuePtr;
using kafka_client::SetConf;

class KafkaSource;
void SourceLogCallback(const rd_kafka_t* rk, int level, const char* fac, const char* buf);
void SourceErrorCallback(rd_kafka_t* rk, int err, const char* reason, void* opaque);

// Wakes librdkafka's fetchers, each broker's thread, after a full consumer queue has paused
// them. librdkafka (2.0) stops fetching a partition once the queue holds
// queued.max.messages.kbytes, and looks again only when something wakes its broker thread: a
// request, a response, or its one-second timeout. Consuming from the queue wakes nothing, so a
// view in a backlog ran the queue dry and sat idle for up to a second each time (a plain view's
// catch-up lost about a tenth of its time there). A ListOffsets request for one partition of
// each leader broker, sent from this thread when the queue has run down, wakes each of them.
class FetchWaker {
 public:
  // Counts its wake-ups in *wakes.
  FetchWaker(rd_kafka_t* rk, std::atomic<int64_t>* wakes)
      : rk_(rk), wakes_(wakes), thread_([this] {
          NameThisThread("fetch-waker");
          Loop();
        }) {}
  ~FetchWaker() {
    {
      std::lock_guard<std::mutex> lock(mu_);  // not between the wait's check and its sleep
      stop_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }
  // One partition per leader broker (from the last metadata).
  void SetTargets(std::vector<TopicPartition> targets) {
    std::lock_guard<std::mutex> lock(mu_);
    targets_ = std::move(targets);
  }
  void Wake() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      wake_ = true;
    }
    cv_.notify_one();
  }

 private:
  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      cv_.wait(lock, [this] { return wake_ || stop_; });
      if (stop_) return;
      wake_ = false;
      std::vector<TopicPartition> targets = targets_;
      lock.unlock();
      for (const TopicPartition& tp : targets) {
        if (stop_) break;  // a broker down: no more waits
        int64_t lo, hi;    // the answer does not matter: the request is the wake-up
        rd_kafka_query_watermark_offsets(rk_, tp.topic.c_str(), tp.partition, &lo, &hi, 500);
      }
      if (!targets.empty()) wakes_->fetch_add(1, std::memory_order_relaxed);
      lock.lock();
    }
  }

  rd_kafka_t* rk_;
  std::atomic<int64_t>* wakes_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool wake_ = false;                    // guarded by mu_
  std::atomic<bool> stop_{false};        // set under mu_; read outside it between requests
  std::vector<TopicPartition> targets_;  // guarded by mu_
  std::thread thread_;                   // last: started once the members above exist
};

class KafkaSource final : public Source {
 public:
  KafkaSource(const KafkaOptions& options, std::string client_name)
      : options_(options), client_name_(std::move(client_name)) {}

  ~KafkaSource() override {
    waker_.reset();
    ReleaseBatch();
    bool reachable;
    {
      std::lock_guard<std::mutex> lock(mu_);
      reachable = !transport_problem_;
    }
    // The final positions, so external tools see where projd stopped (not when Kafka is
    // unreachable: a blocking commit would hold up the shutdown). The source may not have
    // noticed yet (it resumed from stored offsets and has asked Kafka nothing): a broker must
    // answer a metadata request within a second.
    if (reachable && rk_) {
      const rd_kafka_metadata_t* md = nullptr;
      reachable = rd_kafka_metadata(rk_.get(), 0, nullptr, &md, 1000) == RD_KAFKA_RESP_ERR_NO_ERROR;
      if (md) rd_kafka_metadata_destroy(md);
    }
    if (reachable) CommitFinal();
    queue_.reset();
    if (rk_ && reachable) {
      rd_kafka_consumer_close(rk_.get());
      rk_.reset();
    } else if (rk_) {
      // Closing would wait for a coordinator that cannot be reached, and so does librdkafka's
      // destroy while a consumer-group commit is outstanding (until its request times out):
      // the client is let go on a thread of its own, so that a stop (SIGTERM) or a reload is
      // not held up by it.
      rd_kafka_t* rk = rk_.release();
      std::thread([rk] {
        rd_kafka_destroy_flags(rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
      }).detach();
    }
  }

  bool Start(const std::vector<std::string>& topics,
             std::function<int64_t(const TopicPartition&)> start_offset,
             std::string* error) override {
    topics_ = topics;
    start_offset_ = std::move(start_offset);
    ConfPtr conf(rd_kafka_conf_new());
    const std::pair<const char*, std::string> defaults[] = {
        {"bootstrap.servers", options_.brokers},
        {"group.id", options_.group_id},
        {"client.id", client_name_},
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        // An offset the broker no longer has is an error (OnOffsetReset), not a silent jump
        // to the log start past events the view never read.
        {"auto.offset.reset", "error"},
        {"enable.partition.eof", "false"},
        {"fetch.wait.max.ms", "10"},
        {"fetch.error.backoff.ms", "100"},
        {"reconnect.backoff.max.ms", "2000"},
        {"topic.metadata.refresh.interval.ms", "5000"},
        {"allow.auto.create.topics", "false"},
        // Prefetch bounded by bytes, not by count: with librdkafka's default of 100,000
        // messages per partition the fetcher pauses while projd still has work queued, and the
        // next batch then waits for the broker (ingest ran at 60 % of its speed). A fetcher
        // paused by a full queue is woken once the queue has run down to half (FetchWaker), so
        // the queue need only hold the time of that wake-up and a fetch: 16, 32 and 64 MiB
        // caught a plain view up equally fast; 32 MiB peaked 90 MiB lower than 64.
        {"queued.min.messages", "1000000"},
        {"queued.max.messages.kbytes", "32768"},
        {"message.max.bytes",
         std::to_string(std::max<int64_t>(options_.max_event_bytes + 4096, 1000000))},
    };
    for (const auto& [k, v] : defaults) {
      if (!SetConf(conf.get(), k, v, error)) return false;
    }
    for (const auto& [k, v] : options_.properties) {
      if (!SetConf(conf.get(), k, v, error)) return false;
    }
    queue_cap_bytes_ = ConfNumber(conf.get(), "queued.max.messages.kbytes") * 1024;
    queue_cap_messages_ = ConfNumber(conf.get(), "queued.min.messages");
    rd_kafka_conf_set_opaque(conf.get(), this);
    rd_kafka_conf_set_log_cb(conf.get(), SourceLogCallback);
    rd_kafka_conf_set_error_cb(conf.get(), SourceErrorCallback);
    HandlePtr rk = NewHandle(RD_KAFKA_CONSUMER, std::move(conf), "Kafka consumer", error);
    if (!rk) return false;
    rk_ = std::move(rk);
    rd_kafka_poll_set_consumer(rk_.get());
    queue_.reset(rd_kafka_queue_get_consumer(rk_.get()));
    waker_ = std::make_unique<FetchWaker>(rk_.get(), &fetch_wakes_);
    RefreshMetadata(std::chrono::milliseconds(2000));
    return true;
  }

  bool Poll(std::vector<Message>* out, size_t max, std::chrono::milliseconds timeout) override {
    out->clear();
    ReleaseBatch();
    auto now = Clock::now();
    bool recheck;
    {
      std::lock_guard<std::mutex> lock(mu_);
      recheck = recheck_soon_;
      recheck_soon_ = false;
    }
    if (recheck) next_metadata_ = std::min(next_metadata_, now + std::chrono::seconds(1));
    {
      std::unique_lock<std::mutex> commit(commit_mu_, std::try_to_lock);
      if (commit.owns_lock()) MaybeCommit(now);
    }
    if (now >= next_metadata_) {
      RefreshMetadata(std::chrono::milliseconds(1000));
      now = Clock::now();
    }
    if (assigned_.empty()) {
      std::this_thread::sleep_for(std::min(timeout, std::chrono::milliseconds(200)));
      return true;
    }
    batch_.resize(max);
    oversize_.reserve(max);  // msg.error points into it: no reallocation while in use
    // rd_kafka_consume_batch_queue waits for `max` messages or the whole timeout, whichever
    // comes first: at a low rate every batch would wait out the timeout. So wait for the first
    // message only, then take what else is already fetched without waiting.
    ssize_t n = rd_kafka_consume_batch_queue(queue_.get(), static_cast<int>(timeout.count()),
                                             batch_.data(), 1);
    if (n == 1 && max > 1) {
      ssize_t more = rd_kafka_consume_batch_queue(queue_.get(), 0, batch_.data() + 1, max - 1);
      if (more > 0) n += more;
    }
    if (n < 0) {
      SetProblem(std::string("consume failed: ") + rd_kafka_err2str(rd_kafka_last_error()));
      batch_.clear();
      return true;
    }
    batch_.resize(static_cast<size_t>(n));
    bool got_message = false;
    uint64_t message_bytes = 0;  // of the messages polled (WatchQueue)
    size_t first_out = out->size();
    first_headers_.clear();
    for (rd_kafka_message_t* m : batch_) {
      if (m->err) {
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) continue;
        if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET && m->rkt) {
          OnOffsetReset(rd_kafka_topic_name(m->rkt), m->partition, m->offset);
          continue;
        }
        // "kafka: TOPIC [PARTITION]: reason", without the topic part when there is no topic.
        std::string what = "kafka: ";
        if (m->rkt) {
          what.append(rd_kafka_topic_name(m->rkt))
              .append(" [")
              .append(std::to_string(m->partition))
              .append("]: ");
        }
        what += rd_kafka_message_errstr(m);
        SetProblem(std::move(what));
        continue;
      }
      got_message = true;
      message_bytes += m->len + m->key_len;
      Message msg;
      msg.topic = rd_kafka_topic_name(m->rkt);
      msg.partition = m->partition;
      msg.offset = m->offset;
      rd_kafka_timestamp_type_t tstype;
      msg.timestamp_ms = rd_kafka_message_timestamp(m, &tstype);
      if (msg.timestamp_ms < 0) msg.timestamp_ms = 0;
      msg.has_key = m->key != nullptr;
      if (m->key) msg.key = std::string_view(static_cast<const char*>(m->key), m->key_len);
      if (m->payload) msg.value = std::string_view(static_cast<const char*>(m->payload), m->len);
      // Headers: views into the message, which lives until the next Poll; their array is
      // filled in below, once headers_ no longer grows.
      rd_kafka_headers_t* hdrs = nullptr;
      size_t first_header = headers_.size();
      if (read_headers_ && rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR &&
          hdrs) {
        const char* name;
        const void* value;
        size_t size;
        for (size_t i = 0;
             rd_kafka_header_get_all(hdrs, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
             ++i) {
          // A header without a value (null) keeps a null view: it reads as null, not "".
          headers_.push_back({name, value ? std::string_view(static_cast<const char*>(value), size)
                                          : std::string_view()});
        }
      }
      msg.header_count = headers_.size() - first_header;
      first_headers_.push_back(first_header);
      if (static_cast<int64_t>(m->len) > options_.max_event_bytes) {
        oversize_.push_back("event of " + std::to_string(m->len) +
                            " bytes is larger than --max-event-bytes " +
                            std::to_string(options_.max_event_bytes));
        msg.error = oversize_.back();
        msg.value = msg.value.substr(0, 65536);
      }
      out->push_back(msg);
    }
    for (size_t i = first_out; i < out->size(); ++i) {
      Message& msg = (*out)[i];
      msg.headers = msg.header_count ? headers_.data() + first_headers_[i - first_out] : nullptr;
    }
    WatchQueue(message_bytes, out->size() - first_out);
    if (got_message) ClearTransportProblem();
    return true;
  }

  // After a poll: when the queue was nearly full (the fetchers may have paused) and has since
  // run down under half, the fetchers are woken (FetchWaker), before the queue is empty.
  // The queue's bytes are estimated from its length and the mean size of the messages polled
  // (`messages` of them, of `bytes` in all).
  void WatchQueue(uint64_t bytes, size_t messages) {
    if (!waker_ || messages == 0) return;
    const double mean = static_cast<double>(bytes) / static_cast<double>(messages);
    mean_message_bytes_ =
        mean_message_bytes_ == 0 ? mean : mean_message_bytes_ + (mean - mean_message_bytes_) / 8;
    auto fill = [this](double length) {
      return std::max(queue_cap_bytes_ > 0 ? length * mean_message_bytes_ / queue_cap_bytes_ : 0.0,
                      queue_cap_messages_ > 0 ? length / queue_cap_messages_ : 0.0);
    };
    // The queue as this poll found it (what is left, and what it took) and as it left it: one
    // poll may take a whole queue (large events, a small queue), and must then wake at once.
    const double left = static_cast<double>(rd_kafka_queue_length(queue_.get()));
    if (fill(left + static_cast<double>(batch_.size())) >= 0.7) queue_was_full_ = true;
    if (queue_was_full_ && fill(left) < 0.5) {
      queue_was_full_ = false;
      waker_->Wake();
    }
  }

  static double ConfNumber(rd_kafka_conf_t* conf, const char* name) {
    char value[64];
    size_t size = sizeof value;
    if (rd_kafka_conf_get(conf, name, value, &size) != RD_KAFKA_CONF_OK) return 0;
    return std::strtod(value, nullptr);
  }

  void Committed(const Position& next_offsets) override {
    if (next_offsets.empty()) return;
    std::lock_guard<std::mutex> lock(commit_mu_);
    last_positions_ = next_offsets;
    MaybeCommit(Clock::now());
  }

  // Commits the written positions to the consumer group (informational, for lag tools), at
  // most once a second. Called after each write and from Poll: a position written within a
  // second of the last commit reaches the group without waiting for another batch, and the
  // positions are committed again every 10 s, so that a commit lost to a broker outage is
  // made good. Under commit_mu_.
  void MaybeCommit(Clock::time_point now) {
    if (last_positions_.empty() || now < next_commit_) return;
    if (last_positions_ == requested_positions_ && now < next_recommit_) return;
    next_commit_ = now + std::chrono::seconds(1);
    next_recommit_ = now + std::chrono::seconds(10);
    requested_positions_ = last_positions_;
    CommitToGroup(true);
  }

  // Commits the last positions to the consumer group (informational only). A synchronous
  // commit returns the first error, the request's or a partition's. Under commit_mu_.
  rd_kafka_resp_err_t CommitToGroup(bool async) {
    if (!rk_ || last_positions_.empty()) return RD_KAFKA_RESP_ERR_NO_ERROR;
    ListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(last_positions_.size())));
    for (const auto& [tp, off] : last_positions_) {
      rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition)->offset = off;
    }
    rd_kafka_resp_err_t err = rd_kafka_commit(rk_.get(), list.get(), async ? 1 : 0);
    for (int i = 0; !async && !err && i < list->cnt; ++i) err = list->elems[i].err;
    return err;
  }

  // The final commit on a clean stop. The group's coordinator may still be loading its
  // offsets (a broker just started) or moving: retriable answers are retried for up to five
  // seconds, so the group ends where the view stopped; a failure is logged, never fatal.
  void CommitFinal() {
    std::lock_guard<std::mutex> lock(commit_mu_);
    auto give_up = Clock::now() + std::chrono::seconds(5);
    rd_kafka_resp_err_t err;
    while ((err = CommitToGroup(false)) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      bool retriable = err == RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS ||
                       err == RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE ||
                       err == RD_KAFKA_RESP_ERR_NOT_COORDINATOR ||
                       err == RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT ||
                       err == RD_KAFKA_RESP_ERR__TIMED_OUT || err == RD_KAFKA_RESP_ERR__WAIT_COORD;
      if (!retriable || Clock::now() >= give_up) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      Log(4, "COMMIT",
          (std::string("the final positions were not committed to group ") + options_.group_id +
           ": " + rd_kafka_err2str(err))
              .c_str());
    }
  }

  void Seek(const TopicPartition& tp, int64_t offset) override {
    ListPtr list(rd_kafka_topic_partition_list_new(1));
    rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition)->offset = offset;
    rd_kafka_error_t* err = rd_kafka_seek_partitions(rk_.get(), list.get(), 5000);
    if (err) {
      SetProblem(std::string("seek failed: ") + rd_kafka_error_string(err));
      rd_kafka_error_destroy(err);
    }
  }

  void SkipHeaders() override { read_headers_ = false; }

  SourceStatus Status() const override {
    SourceStatus st;
    std::vector<TopicPartition> parts;
    std::map<TopicPartition, std::pair<int64_t, int64_t>> reset_marks;
    {
      std::lock_guard<std::mutex> lock(mu_);
      reset_marks = reset_marks_;
      st.problem = problem_;
      st.healthy = problem_.empty();
      if (!gap_problem_.empty()) {
        st.problem = gap_problem_;
        st.healthy = false;
        st.held = true;
      }
      parts.assign(known_.begin(), known_.end());
    }
    st.fetch_wakes = fetch_wakes_.load(std::memory_order_relaxed);
    for (const auto& tp : parts) {
      int64_t lo = -1, hi = -1;
      if (!rk_ || rd_kafka_get_watermark_offsets(rk_.get(), tp.topic.c_str(), tp.partition, &lo,
                                                 &hi) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        lo = hi = -1;
      }
      auto mark = reset_marks.find(tp);
      if (hi < 0 && mark != reset_marks.end()) std::tie(lo, hi) = mark->second;
      PartitionInfo info;
      info.low_watermark = KnownOffset(lo);
      info.high_watermark = KnownOffset(hi);
      st.partitions[tp] = info;
    }
    return st;
  }

  void Log(int level, const char* fac, const char* buf) {
    if (strcmp(fac, "AUTOCREATE") == 0 || level > 4) return;
    std::string msg = std::string(fac) + ": " + buf;
    if (options_.log) {
      options_.log(level <= 3 ? "error" : "warn", msg);
    } else {
      kafka_client::WriteKafkaLog(level <= 3 ? "error" : "warn", msg);
    }
  }

  // Client-level errors (all brokers down, transport failures) show in Status() at once.
  void OnError(int err, const char* reason) {
    auto code = static_cast<rd_kafka_resp_err_t>(err);
    if (code == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN || code == RD_KAFKA_RESP_ERR__TRANSPORT ||
        code == RD_KAFKA_RESP_ERR__RESOLVE || code == RD_KAFKA_RESP_ERR__AUTHENTICATION ||
        code == RD_KAFKA_RESP_ERR__SSL) {
      SetProblem("cannot reach Kafka at " + options_.brokers + ": " + reason);
    }
  }

 private:
  void ReleaseBatch() {
    for (rd_kafka_message_t* m : batch_) rd_kafka_message_destroy(m);
    batch_.clear();
    oversize_.clear();
    headers_.clear();
  }

  // The broker no longer has the offset this partition was to be read from (retention, or
  // DeleteRecords, deleted it). From offset 0 (a new view, or a rebuild that allowed the gap)
  // the partition starts at the log start, as a consumer with nothing read yet does. Past
  // offset 0 the view has read the events before and would miss the deleted ones: the source
  // holds (the view is stalled, naming them) until the view is rebuilt. An offset past the
  // log's end (the topic recreated) holds it too, saying so (the view also fails on it:
  // View::CheckLogEnd).
  void OnOffsetReset(const std::string& topic, int32_t partition, int64_t offset) {
    int64_t lo = -1, hi = -1;
    rd_kafka_query_watermark_offsets(rk_.get(), topic.c_str(), partition, &lo, &hi, 5000);
    if (offset <= 0) {
      Log(4, "OFFSET",
          (topic + " [" + std::to_string(partition) + "]: offsets 0.." +
           (lo > 0 ? std::to_string(lo - 1) : std::string("?")) +
           " are no longer in the log: reading from its start")
              .c_str());
      // After the error the partition fetches nothing more: assigned again, at the log start.
      ListPtr one(rd_kafka_topic_partition_list_new(1));
      rd_kafka_topic_partition_list_add(one.get(), topic.c_str(), partition)->offset =
          lo >= 0 ? lo : RD_KAFKA_OFFSET_BEGINNING;
      if (rd_kafka_error_t* e = rd_kafka_incremental_unassign(rk_.get(), one.get())) {
        rd_kafka_error_destroy(e);
      }
      if (rd_kafka_error_t* e = rd_kafka_incremental_assign(rk_.get(), one.get())) {
        SetProblem(std::string("assign failed: ") + rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
      }
      return;
    }
    std::string why = topic + ":" + std::to_string(partition) + ": ";
    if (hi >= 0) {
      // The partition fetches nothing more, so librdkafka's own watermarks may stay unknown:
      // these are reported for it instead (the view compares its position with the log end).
      std::lock_guard<std::mutex> lock(mu_);
      reset_marks_[TopicPartition{topic, partition}] = {lo, hi};
    }
    if (hi >= 0 && offset > hi) {  // not deleted: the log is shorter than the view's position
      why += "offset " + std::to_string(offset) + " is past the log's end (offset " +
             std::to_string(hi) +
             "): the topic was recreated or the broker replaced; rebuild the view";
    } else {
      why += "offsets " + std::to_string(offset) + ".." +
             (lo > offset ? std::to_string(lo - 1) : std::string("?")) +
             " were deleted from the log (retention) before the view read them; rebuild the "
             "view (from the archive, when there is one)";
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (gap_problem_.empty()) gap_problem_ = std::move(why);
  }

  void SetProblem(std::string p) {
    std::lock_guard<std::mutex> lock(mu_);
    problem_ = std::move(p);
    transport_problem_ = true;
    recheck_soon_ = true;  // ask for metadata within a second to see when it is over
  }
  void ClearTransportProblem() {
    std::lock_guard<std::mutex> lock(mu_);
    if (transport_problem_ && missing_topics_.empty()) problem_.clear();
    transport_problem_ = false;
  }

  // Finds the partitions of our topics and assigns the new ones.
  void RefreshMetadata(std::chrono::milliseconds timeout) {
    next_metadata_ = Clock::now() + std::chrono::seconds(missing_topics_.empty() ? 10 : 1);
    ListPtr add(rd_kafka_topic_partition_list_new(4));
    std::map<int32_t, TopicPartition> leaders;  // one partition per leader broker (FetchWaker)
    std::set<std::string> missing;
    std::string failure;
    for (const auto& topic : topics_) {
      rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk_.get(), topic.c_str(), nullptr);
      const rd_kafka_metadata_t* md = nullptr;
      rd_kafka_resp_err_t err =
          rd_kafka_metadata(rk_.get(), 0, rkt, &md, static_cast<int>(timeout.count()));
      rd_kafka_topic_destroy(rkt);
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        failure =
            std::string("cannot reach Kafka at ") + options_.brokers + ": " + rd_kafka_err2str(err);
        next_metadata_ = Clock::now() + std::chrono::seconds(1);
        continue;
      }
      for (int i = 0; i < md->topic_cnt; ++i) {
        const rd_kafka_metadata_topic_t& t = md->topics[i];
        if (t.err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || t.partition_cnt == 0) {
          missing.insert(topic);
          continue;
        }
        if (t.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
          failure = "topic " + topic + ": " + rd_kafka_err2str(t.err);
          continue;
        }
        for (int p = 0; p < t.partition_cnt; ++p) {
          TopicPartition tp{topic, t.partitions[p].id};
          if (t.partitions[p].leader >= 0) leaders.emplace(t.partitions[p].leader, tp);
          if (assigned_.count(tp)) continue;
          int64_t offset = start_offset_(tp);
          rd_kafka_topic_partition_list_add(add.get(), topic.c_str(), tp.partition)->offset =
              offset;
          assigned_.insert(tp);
        }
      }
      rd_kafka_metadata_destroy(md);
    }
    if (!leaders.empty() && waker_) {  // else (no metadata) the last targets stay
      std::vector<TopicPartition> targets;
      targets.reserve(leaders.size());
      for (const auto& [leader, tp] : leaders) targets.push_back(tp);
      waker_->SetTargets(std::move(targets));
    }
    if (add->cnt > 0) {
      rd_kafka_error_t* e = rd_kafka_incremental_assign(rk_.get(), add.get());
      if (e) {
        failure = std::string("assign failed: ") + rd_kafka_error_string(e);
        rd_kafka_error_destroy(e);
        for (int i = 0; i < add->cnt; ++i) {
          assigned_.erase(TopicPartition{add->elems[i].topic, add->elems[i].partition});
        }
      }
    }
    std::lock_guard<std::mutex> lock(mu_);
    missing_topics_ = missing;
    known_ = assigned_;
    if (!failure.empty()) {
      problem_ = failure;
      transport_problem_ = true;
    } else if (!missing.empty()) {
      std::string names;
      for (const auto& m : missing) names += (names.empty() ? "" : ", ") + m;
      problem_ = (missing.size() == 1 ? "topic does not exist: " : "topics do not exist: ") + names;
      transport_problem_ = false;
    } else if (!transport_problem_) {
      problem_.clear();
    } else {
      // Metadata works again: the broker is reachable.
      problem_.clear();
      transport_problem_ = false;
    }
  }

  KafkaOptions options_;
  std::string client_name_;
  std::vector<std::string> topics_;
  std::function<int64_t(const TopicPartition&)> start_offset_;
  HandlePtr rk_;
  QueuePtr queue_;
  std::vector<rd_kafka_message_t*> batch_;
  std::vector<std::string> oversize_;
  std::vector<MessageHeader> headers_;  // of the current Poll's messages
  bool read_headers_ = true;            // false after SkipHeaders
  std::vector<size_t> first_headers_;   // per message of the Poll: its first in headers_
  std::set<TopicPartition> assigned_;
  std::unique_ptr<FetchWaker> waker_;
  std::atomic<int64_t> fetch_wakes_{0};
  double queue_cap_bytes_ = 0, queue_cap_messages_ = 0;  // the fetchers pause at either
  double mean_message_bytes_ = 0;                        // of the messages polled lately
  bool queue_was_full_ = false;
  Clock::time_point next_metadata_;
  std::mutex commit_mu_;  // the commit state below, written from the view's thread and Poll's
  Clock::time_point next_commit_, next_recommit_;
  Position last_positions_;       // the last written position
  Position requested_positions_;  // the last one committed

  mutable std::mutex mu_;
  std::string problem_;      // guarded by mu_
  std::string gap_problem_;  // guarded by mu_: events lost to retention (OnOffsetReset)
  // guarded by mu_: the watermarks (low, high) asked for at an offset reset (OnOffsetReset)
  std::map<TopicPartition, std::pair<int64_t, int64_t>> reset_marks_;
  bool transport_problem_ = false;  // guarded by mu_
  bool recheck_soon_ = false;       // guarded by mu_
  std::set<std::string> missing_topics_;
  std::set<TopicPartition> known_;  // guarded by mu_
};

void SourceLogCallback(const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
  auto* self = static_cast<KafkaSource*>(rd_kafka_opaque(rk));
  if (self) {
    self->Log(level, fac, buf);
  } else {
    LogCallback(rk, level, fac, buf);
  }
}

void SourceErrorCallback(rd_kafka_t*, int err, const char* reason, void* opaque) {
  if (opaque) static_cast<KafkaSource*>(opaque)->OnError(err, reason);
}

}  // namespace

std::unique_ptr<Source> NewKafkaSource(const KafkaOptions& options, std::string client_name) {
  return std::make_unique<KafkaSource>(options, std::move(client_name));
}

}  // namespace projd
