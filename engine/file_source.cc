// A Source over a JSONL file, for projctl test / diff / explain. It lives in engine/ because it
// reads JSON with the value model of dsl/, which connectors/ does not know.
#include <fstream>
#include <sstream>

#include "connectors/source.h"
#include "dsl/value.h"

namespace projd {
namespace {

class FileSource final : public Source {
 public:
  bool Open(const std::string& path, const std::string& default_topic, std::string* error) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      *error = "cannot open " + path;
      return false;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    data_ = ss.str();
    default_topic_ = default_topic;
    return true;
  }

  bool Start(const std::vector<std::string>&, std::function<int64_t(const TopicPartition&)>,
             std::string*) override {
    return true;
  }

  bool Poll(std::vector<Message>* out, size_t max, std::chrono::milliseconds) override {
    out->clear();
    held_.clear();
    held_.reserve(max);
    while (out->size() < max && pos_ < data_.size()) {
      size_t end = data_.find('\n', pos_);
      if (end == std::string::npos) end = data_.size();
      std::string_view line(data_.data() + pos_, end - pos_);
      pos_ = end + 1;
      ++line_no_;
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) {
        line.remove_suffix(1);
      }
      size_t b = line.find_first_not_of(" \t");
      if (b == std::string_view::npos) continue;  // blank line
      line.remove_prefix(b);
      out->push_back(Decode(line));
    }
    return !(out->empty() && pos_ >= data_.size());
  }

  void Seek(const TopicPartition&, int64_t) override {}

  SourceStatus Status() const override {
    SourceStatus st;
    for (const auto& [tp, next] : next_offset_) {
      PartitionInfo info;
      info.low_watermark = 0;
      info.high_watermark = next;
      st.partitions[tp] = info;
    }
    return st;
  }

 private:
  // A line holding an envelope object gives its parts; anything else is a bare event.
  Message Decode(std::string_view line) {
    Message m;
    Value v;
    std::string error;
    std::string topic = default_topic_;
    int32_t partition = 0;
    int64_t timestamp = 0;
    bool has_key = false;
    std::string key;
    std::string value(line);
    bool parsed = ParseJson(line, &v, &error);
    if (parsed && v.is_object() && v.as_object().Find("value") &&
        (v.as_object().Find("topic") || v.as_object().Find("partition") ||
         v.as_object().Find("timestamp") || v.as_object().Find("key"))) {
      const Object& o = v.as_object();
      if (const Value* t = o.Find("topic"); t && t->is_string()) topic = t->as_string();
      int64_t p = 0;
      if (const Value* pv = o.Find("partition"); pv && pv->is_number() &&
                                                 pv->as_number().ToInt64(&p) && p >= 0 &&
                                                 p < (1 << 20)) {
        partition = static_cast<int32_t>(p);
      }
      if (const Value* ts = o.Find("timestamp"); ts && ts->is_number()) {
        ts->as_number().ToInt64(&timestamp);
      }
      if (const Value* k = o.Find("key"); k && !k->is_null()) {
        has_key = true;
        key = k->is_string() ? k->as_string() : ToJson(*k);
      }
      value = ToJson(*o.Find("value"));
    }
    TopicPartition tp{topic, partition};
    int64_t& next = next_offset_[tp];
    held_.push_back({std::move(topic), std::move(key), std::move(value)});
    const Held& h = held_.back();
    m.topic = h.topic;
    m.partition = partition;
    m.offset = next++;
    m.timestamp_ms = timestamp;
    m.has_key = has_key;
    m.key = h.key;
    m.value = h.value;
    return m;
  }

  struct Held {
    std::string topic, key, value;
  };
  std::string data_;
  std::string default_topic_;
  size_t pos_ = 0;
  int64_t line_no_ = 0;
  std::vector<Held> held_;
  std::map<TopicPartition, int64_t> next_offset_;
};

}  // namespace

std::unique_ptr<Source> NewFileSource(const std::string& path, const std::string& default_topic,
                                      std::string* error) {
  auto s = std::make_unique<FileSource>();
  if (!s->Open(path, default_topic, error)) return nullptr;
  return s;
}

}  // namespace projd
