// The short-lived Kafka clients of tools and tests: topic creation and deletion, a topic's
// watermarks, record deletion and a consumer group's committed offsets.
#include <chrono>
#include <thread>

#include "connectors/kafka_client.h"
#include "connectors/source.h"

namespace projd {
namespace {

using kafka_client::HandlePtr;
using kafka_client::ListPtr;
using kafka_client::NewClient;
using kafka_client::QueuePtr;

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

bool DeleteKafkaTopic(const std::string& brokers, const std::string& topic, std::string* error) {
  HandlePtr rk = NewClient(RD_KAFKA_PRODUCER, {{"bootstrap.servers", brokers}}, error);
  if (!rk) return false;
  rd_kafka_DeleteTopic_t* dt = rd_kafka_DeleteTopic_new(topic.c_str());
  QueuePtr queue(rd_kafka_queue_new(rk.get()));
  rd_kafka_DeleteTopics(rk.get(), &dt, 1, nullptr, queue.get());
  rd_kafka_event_t* ev = rd_kafka_queue_poll(queue.get(), 60000);
  bool ok = false;
  if (!ev) {
    *error = "delete topic " + topic + ": timed out";
  } else if (rd_kafka_event_error(ev)) {
    *error = std::string("delete topic ") + topic + ": " + rd_kafka_event_error_string(ev);
  } else {
    const rd_kafka_DeleteTopics_result_t* res = rd_kafka_event_DeleteTopics_result(ev);
    size_t cnt = 0;
    const rd_kafka_topic_result_t** results = rd_kafka_DeleteTopics_result_topics(res, &cnt);
    ok = cnt == 1 && !rd_kafka_topic_result_error(results[0]);
    if (!ok) {
      *error = "delete topic " + topic + ": " +
               (cnt == 1 ? rd_kafka_topic_result_error_string(results[0]) : "no result");
    }
  }
  if (ev) rd_kafka_event_destroy(ev);
  rd_kafka_DeleteTopic_destroy(dt);
  return ok;
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
      (*out)[id] = PartitionInfo{KnownOffset(lo), KnownOffset(hi)};
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
  for (int i = 0; !err && i < list->cnt; ++i) err = list->elems[i].err;
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

}  // namespace projd
