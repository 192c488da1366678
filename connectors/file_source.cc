// A Source over a JSONL file, for projctl test / diff / explain. It lives in engine/ because it
// reads JSON with the value model of dsl/, which connectors/ does not know.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <deque>
#include <mutex>
#include <set>

#include "connectors/json_extent.h"
#include "connectors/source.h"
#include "dsl/program.h"
#include "dsl/value.h"

namespace projd {
namespace {

class FileSource final : public Source {
 public:
  ~FileSource() override {
    if (mapped_) munmap(const_cast<char*>(data_.data()), data_.size());
  }

  bool Open(const std::string& path, const std::string& default_topic, size_t polls_kept,
            std::string* error) {
    default_topic_ = default_topic;
    polls_.resize(polls_kept < 1 ? 1 : polls_kept);
    // A regular file is mapped (no copy; the messages point into it); anything else (a pipe)
    // is read whole.
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      *error = "cannot open " + path + ": " + std::strerror(errno);
      return false;
    }
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
      void* p = mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ,
                     MAP_PRIVATE | MAP_POPULATE, fd, 0);
      if (p != MAP_FAILED) {
        close(fd);
        mapped_ = true;
        data_ = std::string_view(static_cast<const char*>(p), static_cast<size_t>(st.st_size));
        return true;
      }
    }
    char buf[1 << 16];
    while (true) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n == 0) break;
      if (n < 0) {
        if (errno == EINTR) continue;
        *error = "cannot read " + path + ": " + std::strerror(errno);
        close(fd);
        return false;
      }
      owned_.append(buf, static_cast<size_t>(n));
    }
    close(fd);
    data_ = owned_;
    return true;
  }

  bool Start(const std::vector<std::string>&, std::function<int64_t(const TopicPartition&)>,
             std::string*) override {
    return true;
  }

  bool Poll(std::vector<Message>* out, size_t max, std::chrono::milliseconds) override {
    out->clear();
    poll_ = &polls_[next_poll_++ % polls_.size()];
    poll_->held.clear();
    poll_->held.reserve(max);
    poll_->header_text.clear();
    poll_->header_sets.clear();
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
    {
      std::lock_guard<std::mutex> lock(status_mu_);  // Status may be asked on another thread
      status_offsets_ = next_offset_;
    }
    return !(out->empty() && pos_ >= data_.size());
  }

  void Seek(const TopicPartition&, int64_t) override {}

  SourceStatus Status() const override {
    SourceStatus st;
    std::lock_guard<std::mutex> lock(status_mu_);
    for (const auto& [tp, next] : status_offsets_) {
      PartitionInfo info;
      info.low_watermark = 0;
      info.high_watermark = next;
      st.partitions[tp] = info;
    }
    if (!bad_envelope_.empty()) {
      st.healthy = false;
      st.problem = bad_envelope_;
    }
    return st;
  }

 private:
  // The raw text of each top-level member of an object line; false when the line is not a
  // simple object (then it is a bare event).
  static bool Members(std::string_view s,
                      std::vector<std::pair<std::string_view, std::string_view>>* out) {
    out->clear();
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
      std::string_view name = s.substr(k0, i - k0);
      ++i;
      ws();
      if (i >= s.size() || s[i] != ':') return false;
      ++i;
      ws();
      size_t v0 = i;
      if (!SkipJsonValue(s, &i)) return false;
      out->emplace_back(name, s.substr(v0, i - v0));
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

  // The content of a JSON string token without escapes, as a view; false for anything else
  // (which then goes through the full parser).
  static bool PlainString(std::string_view raw, std::string_view* out) {
    if (raw.size() < 2 || raw.front() != '"' || raw.back() != '"') return false;
    std::string_view body = raw.substr(1, raw.size() - 2);
    for (char c : body) {
      unsigned char u = static_cast<unsigned char>(c);
      if (c == '\\' || c == '"' || u < 0x20 || u >= 0x80) return false;  // ASCII only
    }
    *out = body;
    return true;
  }

  static bool PlainInteger(std::string_view raw, int64_t* out) {
    auto [end, ec] = std::from_chars(raw.data(), raw.data() + raw.size(), *out);
    return ec == std::errc() && end == raw.data() + raw.size();
  }

  std::string_view Intern(std::string_view topic) {
    auto it = topics_.find(topic);
    if (it == topics_.end()) it = topics_.emplace(topic).first;
    return *it;
  }

  // A line holding an envelope object gives its parts; anything else is a bare event.
  Message Decode(std::string_view line) {
    Message m;
    std::string_view topic = default_topic_;
    int32_t partition = 0;
    int64_t timestamp = 0;
    bool has_key = false;
    std::string_view key;
    std::string_view value = line;
    const std::vector<MessageHeader>* headers = nullptr;
    if (Members(line, &members_)) {
      // An envelope has a value, at least one other envelope field, and nothing else: a bare
      // event that happens to have "key" and "value" fields stays a bare event.
      const std::string_view* raw_value = nullptr;
      bool envelope_field = false, other_field = false;
      for (const auto& [name, raw] : members_) {
        if (name == "value") {
          raw_value = &raw;
        } else if (name == "topic" || name == "partition" || name == "timestamp" || name == "key" ||
                   name == "headers") {
          envelope_field = true;
        } else {
          other_field = true;
        }
      }
      if (raw_value && envelope_field && !other_field) {
        for (const auto& [name, raw] : members_) {
          if (name == "value") continue;
          // The common forms without the full parser: plain strings, integers.
          std::string_view text;
          int64_t n = 0;
          if (name == "topic" && PlainString(raw, &text)) {
            topic = Intern(text);
            continue;
          }
          if (name == "key" && PlainString(raw, &text)) {
            has_key = true;
            key = text;  // points into data_
            continue;
          }
          if ((name == "partition" || name == "timestamp") && PlainInteger(raw, &n)) {
            if (name == "timestamp") timestamp = n;
            if (name == "partition" && n >= 0 && n < (1 << 20)) {
              partition = static_cast<int32_t>(n);
            } else if (name == "partition") {
              BadEnvelope(raw);
            }
            continue;
          }
          Value v;
          std::string error;
          if (!ParseJson(raw, &v, &error)) continue;
          if (name == "headers" && v.is_object()) {
            // {"name": "value", ...}: each member is one header, a string as it is, another
            // value as its JSON text (a number 5 is the header "5"); null is no header.
            auto& sets = poll_->header_sets;
            auto& text = poll_->header_text;
            sets.emplace_back();
            for (const auto& [hname, hvalue] : v.as_object().members()) {
              if (hvalue.is_null()) continue;
              text.push_back(hname);
              std::string_view n = text.back();
              text.push_back(hvalue.is_string() ? hvalue.as_string() : ToJson(hvalue));
              sets.back().push_back({n, text.back()});
            }
            headers = &sets.back();
            continue;
          }
          if (name == "topic" && v.is_string()) topic = Intern(v.as_string());
          int64_t p = 0;
          if (name == "partition" && v.is_number() && v.as_number().IsInteger() &&
              v.as_number().ToInt64(&p) && p >= 0 && p < (1 << 20)) {
            partition = static_cast<int32_t>(p);
          } else if (name == "partition") {
            BadEnvelope(raw);
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
            poll_->held.push_back(v.is_string() ? v.as_string() : ToJson(v));
            key = poll_->held.back();
          }
        }
        // "value": null is a Kafka tombstone (a message without a value), as projd reads one.
        value = *raw_value == "null" ? std::string_view() : *raw_value;
      }
    }
    if (!last_next_ || topic != last_tp_.topic || partition != last_tp_.partition) {
      last_tp_ = TopicPartition{std::string(topic), partition};
      last_next_ = &next_offset_[last_tp_];
    }
    int64_t& next = *last_next_;
    m.topic = topic;  // default_topic_ or an interned name: both outlive the source's messages
    m.partition = partition;
    m.offset = next++;
    m.timestamp_ms = timestamp;
    m.has_key = has_key;
    m.key = key;
    m.value = value;  // points into data_, which lives as long as the source
    if (headers && !headers->empty()) {
      m.headers = headers->data();
      m.header_count = headers->size();
    }
    return m;
  }

  // An envelope's "partition" that is no partition: the first such line, for Status (projctl
  // test fails with it rather than replay the event on a partition the file did not name).
  void BadEnvelope(std::string_view raw) {
    std::lock_guard<std::mutex> lock(status_mu_);
    if (!bad_envelope_.empty()) return;
    bad_envelope_ = "events file line " + std::to_string(line_no_) +
                    ": \"partition\" must be a whole number from 0 to 1048575, not " +
                    std::string(raw.substr(0, 40));
  }
  std::string bad_envelope_;  // guarded by status_mu_

  std::string_view data_;  // the file: mapped, or owned_
  bool mapped_ = false;
  std::string owned_;
  std::string default_topic_;
  size_t pos_ = 0;
  int64_t line_no_ = 0;
  // What a poll's messages point to outside the file, kept for `polls_kept` polls.
  struct PollStore {
    // Keys that needed unescaping (reserved for `max` entries, so the views stay put).
    std::vector<std::string> held;
    // Envelope headers (deques: what they hold stays put).
    std::deque<std::string> header_text;
    std::deque<std::vector<MessageHeader>> header_sets;
  };
  std::vector<PollStore> polls_;
  size_t next_poll_ = 0;
  PollStore* poll_ = nullptr;  // the current poll's
  std::set<std::string, std::less<>> topics_;
  std::vector<std::pair<std::string_view, std::string_view>> members_;
  Position next_offset_;
  mutable std::mutex status_mu_;
  Position status_offsets_;       // next_offset_ as of the last poll, for Status (guarded)
  TopicPartition last_tp_;        // the partition of the previous line, and
  int64_t* last_next_ = nullptr;  // its entry in next_offset_ (map entries stay put)
};

}  // namespace

std::unique_ptr<Source> NewFileSource(const std::string& path, const std::string& default_topic,
                                      std::string* error, size_t polls_kept) {
  auto s = std::make_unique<FileSource>();
  if (!s->Open(path, default_topic, polls_kept, error)) return nullptr;
  return s;
}

}  // namespace projd
