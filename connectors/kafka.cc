// Everything of projd that speaks Kafka: the consuming Source, the embedded broker and a
// producer. The only file that includes librdkafka.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <set>
#include <thread>

#include "connectors/log_limiter.h"
#include "connectors/source.h"

namespace projd {
namespace {

using Clock = std::chrono::steady_clock;

struct ConfDeleter {
  void operator()(rd_kafka_conf_t* c) const { rd_kafka_conf_destroy(c); }
};
struct HandleDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
struct QueueDeleter {
  void operator()(rd_kafka_queue_t* q) const { rd_kafka_queue_destroy(q); }
};
struct ListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* l) const {
    rd_kafka_topic_partition_list_destroy(l);
  }
};
using ConfPtr = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;
using HandlePtr = std::unique_ptr<rd_kafka_t, HandleDeleter>;
using QueuePtr = std::unique_ptr<rd_kafka_queue_t, QueueDeleter>;
using ListPtr = std::unique_ptr<rd_kafka_topic_partition_list_t, ListDeleter>;

bool SetConf(rd_kafka_conf_t* conf, const std::string& key, const std::string& value,
             std::string* error) {
  char errstr[512];
  if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), errstr, sizeof(errstr)) !=
      RD_KAFKA_CONF_OK) {
    *error = "kafka property " + key + ": " + errstr;
    return false;
  }
  return true;
}

// librdkafka logs go to our stderr only at warning level and above, in one line each, and a
// line repeated in a loop (the embedded broker failing to accept, say) only now and then.
void LogCallback(const rd_kafka_t*, int level, const char* fac, const char* buf) {
  // The embedded broker answers metadata requests with an old protocol version, which makes
  // librdkafka warn about topic auto-creation on every request: noise, not news.
  if (strcmp(fac, "AUTOCREATE") == 0 || level > 4) return;
  static LogLimiter limiter;
  std::string line = std::string(fac) + ": " + buf;
  uint64_t suppressed;
  if (!limiter.Allow(line, &suppressed)) return;
  if (suppressed > 0) {
    fprintf(stderr, "level=warn component=kafka %s (%llu similar lines suppressed)\n", line.c_str(),
            static_cast<unsigned long long>(suppressed));
  } else {
    fprintf(stderr, "level=warn component=kafka %s\n", line.c_str());
  }
}

// A handle made with `conf`. rd_kafka_new takes the configuration over only when it succeeds:
// then the handle owns it; on failure `conf` still frees it. nullptr and *error ("cannot create
// WHAT: ...") on failure.
HandlePtr NewHandle(rd_kafka_type_t type, ConfPtr conf, const char* what, std::string* error) {
  char errstr[512];
  HandlePtr rk(rd_kafka_new(type, conf.get(), errstr, sizeof(errstr)));
  if (!rk) {
    *error = std::string("cannot create ") + what + ": " + errstr;
    return nullptr;
  }
  // The configuration is the handle's now: let go of it without freeing it.
  static_cast<void>(conf.release());
  return rk;
}

// A client handle for the short-lived admin and query helpers below: `settings` applied in
// order, warnings through LogCallback. nullptr and *error on failure.
HandlePtr NewClient(rd_kafka_type_t type,
                    const std::vector<std::pair<std::string, std::string>>& settings,
                    std::string* error) {
  ConfPtr conf(rd_kafka_conf_new());
  for (const auto& [k, v] : settings) {
    if (!SetConf(conf.get(), k, v, error)) return nullptr;
  }
  rd_kafka_conf_set_log_cb(conf.get(), LogCallback);
  return NewHandle(type, std::move(conf), "Kafka client", error);
}

class KafkaSource;
void SourceLogCallback(const rd_kafka_t* rk, int level, const char* fac, const char* buf);
void SourceErrorCallback(rd_kafka_t* rk, int err, const char* reason, void* opaque);

class KafkaSource final : public Source {
 public:
  KafkaSource(const KafkaOptions& options, std::string client_name)
      : options_(options), client_name_(std::move(client_name)) {}

  ~KafkaSource() override {
    ReleaseBatch();
    bool reachable;
    {
      std::lock_guard<std::mutex> lock(mu_);
      reachable = !transport_problem_;
    }
    // The final positions, so external tools see where projd stopped (not when Kafka is
    // unreachable: a blocking commit would hold up the shutdown).
    if (reachable) CommitToGroup(false);
    queue_.reset();
    if (rk_) {
      rd_kafka_consumer_close(rk_.get());
      rk_.reset();
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
        {"auto.offset.reset", "earliest"},
        {"enable.partition.eof", "false"},
        {"fetch.wait.max.ms", "10"},
        {"fetch.error.backoff.ms", "100"},
        {"reconnect.backoff.max.ms", "2000"},
        {"topic.metadata.refresh.interval.ms", "5000"},
        {"allow.auto.create.topics", "false"},
        // Prefetch bounded by bytes, not by count: with librdkafka's default of 100,000
        // messages per partition the fetcher pauses while projd still has work queued, and the
        // next batch then waits for the broker (ingest ran at 60 % of its speed).
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
    rd_kafka_conf_set_opaque(conf.get(), this);
    rd_kafka_conf_set_log_cb(conf.get(), SourceLogCallback);
    rd_kafka_conf_set_error_cb(conf.get(), SourceErrorCallback);
    HandlePtr rk = NewHandle(RD_KAFKA_CONSUMER, std::move(conf), "Kafka consumer", error);
    if (!rk) return false;
    rk_ = std::move(rk);
    rd_kafka_poll_set_consumer(rk_.get());
    queue_.reset(rd_kafka_queue_get_consumer(rk_.get()));
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
    size_t first_out = out->size();
    first_headers_.clear();
    for (rd_kafka_message_t* m : batch_) {
      if (m->err) {
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) continue;
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
      if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR && hdrs) {
        const char* name;
        const void* value;
        size_t size;
        for (size_t i = 0;
             rd_kafka_header_get_all(hdrs, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
             ++i) {
          headers_.push_back(
              {name, value ? std::string_view(static_cast<const char*>(value), size) : ""});
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
    if (got_message) ClearTransportProblem();
    return true;
  }

  void Committed(const Position& next_offsets) override {
    if (next_offsets.empty()) return;
    last_positions_ = next_offsets;
    auto now = Clock::now();
    if (now < next_commit_) return;
    next_commit_ = now + std::chrono::seconds(1);
    CommitToGroup(true);
  }

  // Commits the last positions to the consumer group (informational only).
  void CommitToGroup(bool async) {
    if (!rk_ || last_positions_.empty()) return;
    ListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(last_positions_.size())));
    for (const auto& [tp, off] : last_positions_) {
      rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition)->offset = off;
    }
    rd_kafka_commit(rk_.get(), list.get(), async ? 1 : 0);
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

  SourceStatus Status() const override {
    SourceStatus st;
    std::vector<TopicPartition> parts;
    {
      std::lock_guard<std::mutex> lock(mu_);
      st.problem = problem_;
      st.healthy = problem_.empty();
      parts.assign(known_.begin(), known_.end());
    }
    for (const auto& tp : parts) {
      int64_t lo = -1, hi = -1;
      if (rk_ && rd_kafka_get_watermark_offsets(rk_.get(), tp.topic.c_str(), tp.partition, &lo,
                                                &hi) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        PartitionInfo info;
        info.low_watermark = lo;
        info.high_watermark = hi;
        st.partitions[tp] = info;
      } else {
        st.partitions[tp] = PartitionInfo();
      }
    }
    return st;
  }

  void Log(int level, const char* fac, const char* buf) {
    if (strcmp(fac, "AUTOCREATE") == 0 || level > 4) return;
    std::string msg = std::string(fac) + ": " + buf;
    if (options_.log) {
      options_.log(level <= 3 ? "error" : "warn", msg);
    } else {
      fprintf(stderr, "level=warn component=kafka %s\n", msg.c_str());
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
          if (assigned_.count(tp)) continue;
          int64_t offset = start_offset_(tp);
          rd_kafka_topic_partition_list_add(add.get(), topic.c_str(), tp.partition)->offset =
              offset;
          assigned_.insert(tp);
        }
      }
      rd_kafka_metadata_destroy(md);
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
  std::vector<size_t> first_headers_;   // per message of the Poll: its first in headers_
  std::set<TopicPartition> assigned_;
  Clock::time_point next_metadata_;
  Clock::time_point next_commit_;
  Position last_positions_;

  mutable std::mutex mu_;
  std::string problem_;             // guarded by mu_
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

class MockBroker final : public EmbeddedBroker {
 public:
  ~MockBroker() override {
    // librdkafka requires the mock cluster to go before the handle that hosts it.
    if (mcluster_) rd_kafka_mock_cluster_destroy(mcluster_);
    mcluster_ = nullptr;
    rk_.reset();
  }

  bool Init(int partitions, std::string* error) {
    partitions_ = partitions;
    ConfPtr conf(rd_kafka_conf_new());
    rd_kafka_conf_set_log_cb(conf.get(), LogCallback);
    HandlePtr rk = NewHandle(RD_KAFKA_PRODUCER, std::move(conf), "embedded broker", error);
    if (!rk) return false;
    rk_ = std::move(rk);
    mcluster_ = rd_kafka_mock_cluster_new(rk_.get(), 1);
    if (!mcluster_) {
      *error = "cannot start the embedded broker";
      return false;
    }
    bootstrap_ = rd_kafka_mock_cluster_bootstraps(mcluster_);
    return true;
  }

  const std::string& bootstrap() const override { return bootstrap_; }

  bool CreateTopic(const std::string& topic, std::string* error) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (topics_.count(topic)) return true;
    rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(mcluster_, topic.c_str(), partitions_, 1);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
      *error = "cannot create topic " + topic + ": " + rd_kafka_err2str(err);
      return false;
    }
    topics_.insert(topic);
    return true;
  }

 private:
  int partitions_ = 4;
  HandlePtr rk_;
  rd_kafka_mock_cluster_t* mcluster_ = nullptr;
  std::string bootstrap_;
  std::mutex mu_;
  std::set<std::string> topics_;
};

struct Delivery {
  std::atomic<bool> done{false};
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
  int32_t partition = -1;
  int64_t offset = -1;
};

void DeliveryCallback(rd_kafka_t*, const rd_kafka_message_t* m, void*) {
  auto* d = static_cast<Delivery*>(m->_private);
  if (!d) return;
  d->err = m->err;
  d->partition = m->partition;
  d->offset = m->offset;
  d->done = true;
}

class KafkaProducer final : public Producer {
 public:
  ~KafkaProducer() override {
    if (rk_) rd_kafka_flush(rk_.get(), 5000);
  }

  bool Init(const std::string& brokers,
            const std::vector<std::pair<std::string, std::string>>& props, std::string* error) {
    ConfPtr conf(rd_kafka_conf_new());
    if (!SetConf(conf.get(), "bootstrap.servers", brokers, error) ||
        !SetConf(conf.get(), "linger.ms", "5", error) ||
        !SetConf(conf.get(), "enable.idempotence", "true", error)) {
      return false;
    }
    for (const auto& [k, v] : props) {
      if (!SetConf(conf.get(), k, v, error)) return false;
    }
    rd_kafka_conf_set_dr_msg_cb(conf.get(), DeliveryCallback);
    rd_kafka_conf_set_log_cb(conf.get(), LogCallback);
    HandlePtr rk = NewHandle(RD_KAFKA_PRODUCER, std::move(conf), "Kafka producer", error);
    if (!rk) return false;
    rk_ = std::move(rk);
    return true;
  }

  bool Produce(const std::string& topic, int32_t partition, std::string_view key,
               std::string_view value, int64_t timestamp_ms, int32_t* partition_out,
               int64_t* offset_out, std::string* error) override {
    Delivery d;
    rd_kafka_resp_err_t err = rd_kafka_producev(
        rk_.get(), RD_KAFKA_V_TOPIC(topic.c_str()),
        RD_KAFKA_V_PARTITION(partition < 0 ? RD_KAFKA_PARTITION_UA : partition),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_KEY(key.empty() ? nullptr : const_cast<char*>(key.data()), key.size()),
        RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
        RD_KAFKA_V_TIMESTAMP(timestamp_ms), RD_KAFKA_V_OPAQUE(&d), RD_KAFKA_V_END);
    if (err) {
      *error = std::string("produce failed: ") + rd_kafka_err2str(err);
      return false;
    }
    auto deadline = Clock::now() + std::chrono::seconds(30);
    while (!d.done && Clock::now() < deadline) rd_kafka_poll(rk_.get(), 10);
    if (!d.done) {
      // The message may still be delivered later; it must not point at our stack then.
      rd_kafka_flush(rk_.get(), 60000);
      *error = "produce timed out";
      return false;
    }
    if (d.err) {
      *error = std::string("delivery failed: ") + rd_kafka_err2str(d.err);
      return false;
    }
    if (partition_out) *partition_out = d.partition;
    if (offset_out) *offset_out = d.offset;
    return true;
  }

  bool ProduceAsync(const std::string& topic, std::string_view key, std::string_view value,
                    std::string* error) override {
    return ProduceAsync(topic, key, value, {}, error);
  }

  bool ProduceAsync(const std::string& topic, std::string_view key, std::string_view value,
                    const std::vector<std::pair<std::string, std::string>>& headers,
                    std::string* error) override {
    while (true) {
      // The headers go to librdkafka with the message (on success it owns them).
      rd_kafka_headers_t* hdrs = nullptr;
      if (!headers.empty()) {
        hdrs = rd_kafka_headers_new(headers.size());
        for (const auto& [name, v] : headers) {
          rd_kafka_header_add(hdrs, name.data(), static_cast<ssize_t>(name.size()), v.data(),
                              static_cast<ssize_t>(v.size()));
        }
      }
      rd_kafka_resp_err_t err = rd_kafka_producev(
          rk_.get(), RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
          RD_KAFKA_V_KEY(key.empty() ? nullptr : const_cast<char*>(key.data()), key.size()),
          RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()), RD_KAFKA_V_HEADERS(hdrs),
          RD_KAFKA_V_OPAQUE(nullptr), RD_KAFKA_V_END);
      if (err && hdrs) rd_kafka_headers_destroy(hdrs);
      if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        rd_kafka_poll(rk_.get(), 50);
        continue;
      }
      if (err) {
        *error = std::string("produce failed: ") + rd_kafka_err2str(err);
        return false;
      }
      rd_kafka_poll(rk_.get(), 0);
      return true;
    }
  }

  bool Flush(std::chrono::milliseconds timeout, std::string* error) override {
    rd_kafka_resp_err_t err = rd_kafka_flush(rk_.get(), static_cast<int>(timeout.count()));
    if (err) {
      *error = std::string("flush failed: ") + rd_kafka_err2str(err);
      return false;
    }
    return true;
  }

 private:
  HandlePtr rk_;
};

}  // namespace

bool CreateKafkaTopic(const std::string& brokers, const std::string& topic, int partitions,
                      std::string* error) {
  HandlePtr rk = NewClient(RD_KAFKA_PRODUCER, {{"bootstrap.servers", brokers}}, error);
  if (!rk) return false;
  char errstr[512];
  rd_kafka_NewTopic_t* nt =
      rd_kafka_NewTopic_new(topic.c_str(), partitions, 1, errstr, sizeof(errstr));
  if (!nt) {
    *error = errstr;
    return false;
  }
  QueuePtr queue(rd_kafka_queue_new(rk.get()));
  rd_kafka_AdminOptions_t* opts =
      rd_kafka_AdminOptions_new(rk.get(), RD_KAFKA_ADMIN_OP_CREATETOPICS);
  rd_kafka_AdminOptions_set_operation_timeout(opts, 30000, errstr, sizeof(errstr));
  rd_kafka_CreateTopics(rk.get(), &nt, 1, opts, queue.get());
  rd_kafka_event_t* ev = rd_kafka_queue_poll(queue.get(), 60000);
  bool ok = false;
  if (!ev) {
    *error = "create topic " + topic + ": timed out";
  } else if (rd_kafka_event_error(ev)) {
    *error = std::string("create topic ") + topic + ": " + rd_kafka_event_error_string(ev);
  } else {
    const rd_kafka_CreateTopics_result_t* res = rd_kafka_event_CreateTopics_result(ev);
    size_t cnt;
    const rd_kafka_topic_result_t** results = rd_kafka_CreateTopics_result_topics(res, &cnt);
    ok = true;
    for (size_t i = 0; i < cnt; ++i) {
      rd_kafka_resp_err_t e = rd_kafka_topic_result_error(results[i]);
      if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
        ok = false;
        *error = std::string("create topic ") + topic + ": " +
                 rd_kafka_topic_result_error_string(results[i]);
      }
    }
  }
  if (ev) rd_kafka_event_destroy(ev);
  rd_kafka_AdminOptions_destroy(opts);
  rd_kafka_NewTopic_destroy(nt);
  if (!ok) return false;
  // Wait until the topic's partitions have leaders, so producing at once works.
  for (int i = 0; i < 100; ++i) {
    rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk.get(), topic.c_str(), nullptr);
    const rd_kafka_metadata_t* md = nullptr;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk.get(), 0, rkt, &md, 2000);
    rd_kafka_topic_destroy(rkt);
    bool ready = false;
    if (!err && md->topic_cnt == 1 && !md->topics[0].err &&
        md->topics[0].partition_cnt == partitions) {
      ready = true;
      for (int p = 0; p < md->topics[0].partition_cnt; ++p) {
        ready = ready && md->topics[0].partitions[p].leader >= 0;
      }
    }
    if (md) rd_kafka_metadata_destroy(md);
    if (ready) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  *error = "topic " + topic + " has no leaders after 10 s";
  return false;
}

bool QueryWatermarks(const std::string& brokers,
                     const std::vector<std::pair<std::string, std::string>>& props,
                     const std::string& topic, std::map<int32_t, PartitionInfo>* out,
                     std::string* error) {
  out->clear();
  std::vector<std::pair<std::string, std::string>> settings = {{"bootstrap.servers", brokers}};
  settings.insert(settings.end(), props.begin(), props.end());
  HandlePtr rk = NewClient(RD_KAFKA_PRODUCER, settings, error);
  if (!rk) return false;
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk.get(), topic.c_str(), nullptr);
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_resp_err_t err = rd_kafka_metadata(rk.get(), 0, rkt, &md, 5000);
  rd_kafka_topic_destroy(rkt);
  if (err) {
    *error = "cannot read metadata of " + topic + ": " + rd_kafka_err2str(err);
    return false;
  }
  bool ok = md->topic_cnt == 1 && !md->topics[0].err;
  if (!ok) {
    *error = "topic " + topic + ": " +
             (md->topic_cnt == 1 ? rd_kafka_err2str(md->topics[0].err) : "not found");
  } else {
    for (int p = 0; p < md->topics[0].partition_cnt; ++p) {
      int32_t id = md->topics[0].partitions[p].id;
      int64_t lo = -1, hi = -1;
      err = rd_kafka_query_watermark_offsets(rk.get(), topic.c_str(), id, &lo, &hi, 5000);
      if (err) {
        *error = "cannot read offsets of " + topic + " [" + std::to_string(id) +
                 "]: " + rd_kafka_err2str(err);
        ok = false;
        break;
      }
      (*out)[id] = PartitionInfo{lo, hi};
    }
  }
  rd_kafka_metadata_destroy(md);
  return ok;
}

bool DeleteKafkaRecords(const std::string& brokers, const std::string& topic, int32_t partition,
                        int64_t before_offset, std::string* error) {
  HandlePtr rk = NewClient(RD_KAFKA_PRODUCER, {{"bootstrap.servers", brokers}}, error);
  if (!rk) return false;
  ListPtr list(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), partition)->offset = before_offset;
  rd_kafka_DeleteRecords_t* del = rd_kafka_DeleteRecords_new(list.get());
  QueuePtr queue(rd_kafka_queue_new(rk.get()));
  rd_kafka_DeleteRecords(rk.get(), &del, 1, nullptr, queue.get());
  rd_kafka_event_t* ev = rd_kafka_queue_poll(queue.get(), 30000);
  bool ok = false;
  if (!ev) {
    *error = "delete records: timed out";
  } else if (rd_kafka_event_error(ev)) {
    *error = std::string("delete records: ") + rd_kafka_event_error_string(ev);
  } else {
    const rd_kafka_DeleteRecords_result_t* res = rd_kafka_event_DeleteRecords_result(ev);
    const rd_kafka_topic_partition_list_t* offsets = rd_kafka_DeleteRecords_result_offsets(res);
    ok = offsets && offsets->cnt == 1 && !offsets->elems[0].err;
    if (!ok) *error = "delete records failed";
  }
  if (ev) rd_kafka_event_destroy(ev);
  rd_kafka_DeleteRecords_destroy(del);
  return ok;
}

bool QueryCommitted(const std::string& brokers, const std::string& group, const std::string& topic,
                    int partitions, std::map<int32_t, int64_t>* out, std::string* error) {
  HandlePtr rk = NewClient(
      RD_KAFKA_CONSUMER,
      {{"bootstrap.servers", brokers}, {"group.id", group}, {"enable.auto.commit", "false"}},
      error);
  if (!rk) return false;
  ListPtr list(rd_kafka_topic_partition_list_new(partitions));
  for (int p = 0; p < partitions; ++p)
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p);
  rd_kafka_resp_err_t err = rd_kafka_committed(rk.get(), list.get(), 10000);
  if (err) {
    *error = std::string("cannot read committed offsets: ") + rd_kafka_err2str(err);
    rd_kafka_consumer_close(rk.get());
    return false;
  }
  for (int i = 0; i < list->cnt; ++i) {
    (*out)[list->elems[i].partition] = list->elems[i].offset < 0 ? -1 : list->elems[i].offset;
  }
  rd_kafka_consumer_close(rk.get());
  return true;
}

std::unique_ptr<Source> NewKafkaSource(const KafkaOptions& options, std::string client_name) {
  return std::make_unique<KafkaSource>(options, std::move(client_name));
}

std::unique_ptr<EmbeddedBroker> EmbeddedBroker::Start(int partitions, std::string* error) {
  auto b = std::make_unique<MockBroker>();
  if (!b->Init(partitions, error)) return nullptr;
  return b;
}

std::unique_ptr<Producer> Producer::Create(
    const std::string& brokers, const std::vector<std::pair<std::string, std::string>>& props,
    std::string* error) {
  auto p = std::make_unique<KafkaProducer>();
  if (!p->Init(brokers, props, error)) return nullptr;
  return p;
}

}  // namespace projd
