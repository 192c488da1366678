// Producing to Kafka: the Producer (one message at a time, waiting for its delivery, or many
// without waiting), and the embedded broker (librdkafka's mock cluster, for projd without
// --brokers).
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <atomic>
#include <mutex>
#include <set>

#include "connectors/kafka_client.h"
#include "connectors/source.h"

namespace projd {
namespace {

using Clock = std::chrono::steady_clock;
using kafka_client::ConfPtr;
using kafka_client::HandlePtr;
using kafka_client::LogCallback;
using kafka_client::NewHandle;
using kafka_client::SetConf;

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

  void FailRequests(int16_t api_key, const std::vector<int>& errors) override {
    std::vector<rd_kafka_resp_err_t> codes(errors.size());
    for (size_t i = 0; i < errors.size(); ++i)
      codes[i] = static_cast<rd_kafka_resp_err_t>(errors[i]);
    rd_kafka_mock_push_request_errors_array(mcluster_, api_key, codes.size(), codes.data());
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
