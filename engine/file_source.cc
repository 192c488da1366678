// A Source over a JSONL file, for projctl test / diff / explain. It lives in engine/ because it
// reads JSON with the value model of dsl/, which connectors/ does not know.
#include <fstream>
#include <sstream>

#include "connectors/source.h"
#include "dsl/program.h"
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
  // Skips one JSON value starting at s[*i] (after whitespace); false when malformed. Only
  // finds the value's extent: its content is checked where it is parsed.
  static bool SkipValue(std::string_view s, size_t* i) {
    auto ws = [&] {
      while (*i < s.size() && (s[*i] == ' ' || s[*i] == '\t' || s[*i] == '\r' || s[*i] == '\n')) {
        ++*i;
      }
    };
    ws();
    if (*i >= s.size()) return false;
    int depth = 0;
    do {
      if (*i >= s.size()) return false;
      char c = s[*i];
      if (c == '"') {
        for (++*i; *i < s.size() && s[*i] != '"'; ++*i) {
          if (s[*i] == '\\') ++*i;
        }
        if (*i >= s.size()) return false;
        ++*i;
      } else if (c == '{' || c == '[') {
        ++depth;
        ++*i;
      } else if (c == '}' || c == ']') {
        if (--depth < 0) return false;
        ++*i;
      } else if (depth == 0) {
        // A scalar at the top: up to the next delimiter.
        while (*i < s.size() && s[*i] != ',' && s[*i] != '}' && s[*i] != ']' && s[*i] != ' ' &&
               s[*i] != '\t' && s[*i] != '\r' && s[*i] != '\n') {
          ++*i;
        }
      } else {
        ++*i;
      }
    } while (depth > 0);
    return true;
  }

  // The raw text of each top-level member of an object line; false when the line is not a
  // simple object (then it is a bare event).
  static bool Members(std::string_view s,
                      std::vector<std::pair<std::string, std::string_view>>* out) {
    size_t i = 0;
    if (s.empty() || s[0] != '{') return false;
    ++i;
    auto ws = [&] {
      while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n')) ++i;
    };
    ws();
    if (i < s.size() && s[i] == '}') return i + 1 == s.size();
    while (true) {
      ws();
      if (i >= s.size() || s[i] != '"') return false;
      size_t k0 = ++i;
      while (i < s.size() && s[i] != '"' && s[i] != '\\') ++i;
      if (i >= s.size() || s[i] != '"') return false;  // escaped names: not an envelope
      std::string name(s.substr(k0, i - k0));
      ++i;
      ws();
      if (i >= s.size() || s[i] != ':') return false;
      ++i;
      ws();
      size_t v0 = i;
      if (!SkipValue(s, &i)) return false;
      out->emplace_back(std::move(name), s.substr(v0, i - v0));
      ws();
      if (i < s.size() && s[i] == ',') {
        ++i;
        continue;
      }
      if (i < s.size() && s[i] == '}') {
        ++i;
        ws();
        return i == s.size();
      }
      return false;
    }
  }

  // A line holding an envelope object gives its parts; anything else is a bare event.
  Message Decode(std::string_view line) {
    Message m;
    std::string topic = default_topic_;
    int32_t partition = 0;
    int64_t timestamp = 0;
    bool has_key = false;
    std::string key;
    std::string_view value = line;
    std::vector<std::pair<std::string, std::string_view>> members;
    if (Members(line, &members)) {
      // An envelope has a value, at least one other envelope field, and nothing else: a bare
      // event that happens to have "key" and "value" fields stays a bare event.
      const std::string_view* raw_value = nullptr;
      bool envelope_field = false, other_field = false;
      for (const auto& [name, raw] : members) {
        if (name == "value") {
          raw_value = &raw;
        } else if (name == "topic" || name == "partition" || name == "timestamp" || name == "key") {
          envelope_field = true;
        } else {
          other_field = true;
        }
      }
      if (raw_value && envelope_field && !other_field) {
        for (const auto& [name, raw] : members) {
          Value v;
          std::string error;
          if (name == "value" || !ParseJson(raw, &v, &error)) continue;
          if (name == "topic" && v.is_string()) topic = v.as_string();
          int64_t p = 0;
          if (name == "partition" && v.is_number() && v.as_number().ToInt64(&p) && p >= 0 &&
              p < (1 << 20)) {
            partition = static_cast<int32_t>(p);
          }
          if (name == "timestamp") {
            if (v.is_number()) {
              v.as_number().ToInt64(&timestamp);
            } else if (v.is_string()) {
              TimeFromValue(v, &timestamp);
            }
          }
          if (name == "key" && !v.is_null()) {
            has_key = true;
            key = v.is_string() ? v.as_string() : ToJson(v);
          }
        }
        value = *raw_value;
      }
    }
    if (!last_next_ || topic != last_tp_.topic || partition != last_tp_.partition) {
      last_tp_ = TopicPartition{topic, partition};
      last_next_ = &next_offset_[last_tp_];
    }
    int64_t& next = *last_next_;
    held_.push_back({std::move(topic), std::move(key)});
    const Held& h = held_.back();
    m.topic = h.topic;
    m.partition = partition;
    m.offset = next++;
    m.timestamp_ms = timestamp;
    m.has_key = has_key;
    m.key = h.key;
    m.value = value;  // points into data_, which lives as long as the source
    return m;
  }

  struct Held {
    std::string topic, key;
  };
  std::string data_;
  std::string default_topic_;
  size_t pos_ = 0;
  int64_t line_no_ = 0;
  std::vector<Held> held_;
  std::map<TopicPartition, int64_t> next_offset_;
  TopicPartition last_tp_;        // the partition of the previous line, and
  int64_t* last_next_ = nullptr;  // its entry in next_offset_ (map entries stay put)
};

}  // namespace

std::unique_ptr<Source> NewFileSource(const std::string& path, const std::string& default_topic,
                                      std::string* error) {
  auto s = std::make_unique<FileSource>();
  if (!s->Open(path, default_topic, error)) return nullptr;
  return s;
}

}  // namespace projd
