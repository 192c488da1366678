#include "connectors/archive.h"

#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <sstream>
#include <thread>

#include "connectors/s3_client.h"
#include "dsl/value.h"

namespace projd {
namespace {

namespace fs = std::filesystem;

// The start offset in an object name "TOPIC+P+START.json" (false for other names).
bool ParseObjectName(std::string_view name, const std::string& topic, int32_t partition,
                     int64_t* start) {
  size_t slash = name.rfind('/');
  std::string_view base = slash == std::string_view::npos ? name : name.substr(slash + 1);
  std::string head = topic + "+" + std::to_string(partition) + "+";
  // The sink's JSON format, gzip-compressed with s3.compression.type=gzip.
  std::string_view kExt = ".json";
  if (base.size() > 8 && base.substr(base.size() - 8) == ".json.gz") kExt = ".json.gz";
  if (base.size() <= head.size() + kExt.size() || base.compare(0, head.size(), head) != 0 ||
      base.substr(base.size() - kExt.size()) != kExt) {
    return false;
  }
  std::string_view digits = base.substr(head.size(), base.size() - head.size() - kExt.size());
  if (digits.empty() || digits.size() > 18) return false;
  int64_t v = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *start = v;
  return true;
}

// A .json.gz object's bytes, inflated (zlib). false with *error when they are not gzip.
bool Gunzip(const std::string& name, std::string* body, std::string* error) {
  if (name.size() < 3 || name.compare(name.size() - 3, 3, ".gz") != 0) return true;
  z_stream z{};
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) {
    *error = "cannot inflate " + name;
    return false;
  }
  std::string out;
  char buf[1 << 16];
  z.next_in = reinterpret_cast<Bytef*>(body->data());
  z.avail_in = static_cast<uInt>(body->size());
  int rc = Z_OK;
  while (rc == Z_OK) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof(buf);
    rc = inflate(&z, Z_NO_FLUSH);
    out.append(buf, sizeof(buf) - z.avail_out);
    // Concatenated gzip members (several flushes appended) go on with the next member.
    if (rc == Z_STREAM_END && z.avail_in > 0) rc = inflateReset(&z);
  }
  inflateEnd(&z);
  if (rc != Z_STREAM_END) {
    *error = name + " is not a whole gzip stream";
    return false;
  }
  *body = std::move(out);
  return true;
}

std::string PartitionPath(const std::string& topic, int32_t partition) {
  return "topics/" + topic + "/partition=" + std::to_string(partition) + "/";
}

class FileArchive final : public Archive {
 public:
  FileArchive(std::string url, std::string root) : url_(std::move(url)), root_(std::move(root)) {}

  bool List(const std::string& topic, int32_t partition, std::vector<Object>* out,
            std::string* error) override {
    out->clear();
    fs::path dir = fs::path(root_) / PartitionPath(topic, partition);
    std::error_code ec;
    if (!fs::exists(root_, ec)) {
      *error = "archive folder " + root_ + " does not exist";
      return false;
    }
    if (!fs::is_directory(dir, ec)) return true;  // nothing archived of this partition
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      Object o;
      std::string name = it->path().filename().string();
      if (!ParseObjectName(name, topic, partition, &o.start)) continue;
      o.name = it->path().string();
      o.size = it->file_size(ec);
      out->push_back(std::move(o));
    }
    if (ec) {
      *error = "cannot list " + dir.string() + ": " + ec.message();
      return false;
    }
    std::sort(out->begin(), out->end(),
              [](const Object& a, const Object& b) { return a.start < b.start; });
    return true;
  }

  bool Read(const Object& object, std::string* body, std::string* error) override {
    std::ifstream in(object.name, std::ios::binary);
    if (!in) {
      *error = "cannot read " + object.name;
      return false;
    }
    std::ostringstream s;
    s << in.rdbuf();
    if (in.bad()) {
      *error = "cannot read " + object.name;
      return false;
    }
    *body = std::move(s).str();
    return Gunzip(object.name, body, error);
  }

  const std::string& url() const override { return url_; }
  std::unique_ptr<Archive> Clone() const override {
    return std::make_unique<FileArchive>(url_, root_);
  }

 private:
  std::string url_, root_;
};

// s3://BUCKET/PREFIX: objects under PREFIX/topics/... (or topics/... without a prefix).
class S3Archive final : public Archive {
 public:
  S3Archive(std::string url, const S3Options& options, std::string bucket, std::string prefix)
      : url_(std::move(url)),
        options_(options),
        bucket_(std::move(bucket)),
        prefix_(std::move(prefix)),
        client_(options) {}

  bool List(const std::string& topic, int32_t partition, std::vector<Object>* out,
            std::string* error) override {
    out->clear();
    std::vector<S3Client::Object> objects;
    if (!client_.List(bucket_, prefix_ + PartitionPath(topic, partition), &objects, error)) {
      return false;
    }
    for (auto& o : objects) {
      Object a;
      if (!ParseObjectName(o.key, topic, partition, &a.start)) continue;
      a.name = std::move(o.key);
      a.size = o.size;
      out->push_back(std::move(a));
    }
    std::sort(out->begin(), out->end(),
              [](const Object& a, const Object& b) { return a.start < b.start; });
    return true;
  }

  bool Read(const Object& object, std::string* body, std::string* error) override {
    return client_.Get(bucket_, object.name, body, error) && Gunzip(object.name, body, error);
  }

  const std::string& url() const override { return url_; }
  std::unique_ptr<Archive> Clone() const override {
    return std::make_unique<S3Archive>(url_, options_, bucket_, prefix_);
  }

 private:
  std::string url_;
  S3Options options_;
  std::string bucket_, prefix_;
  S3Client client_;
};

// The lines of an object body: each value, in order (a last line without '\n' counts).
class Lines {
 public:
  explicit Lines(std::string_view body) : body_(body) {}
  bool Next(std::string_view* line) {
    if (at_ >= body_.size()) return false;
    size_t nl = body_.find('\n', at_);
    size_t end = nl == std::string_view::npos ? body_.size() : nl;
    *line = body_.substr(at_, end - at_);
    if (!line->empty() && line->back() == '\r') line->remove_suffix(1);
    at_ = nl == std::string_view::npos ? body_.size() : nl + 1;
    return true;
  }

 private:
  std::string_view body_;
  size_t at_ = 0;
};

class ArchiveSource final : public Source {
 public:
  ArchiveSource(std::unique_ptr<Source> kafka, std::unique_ptr<Archive> archive,
                LogStarts log_starts, bool pass_holes)
      : kafka_(std::move(kafka)),
        archive_(std::move(archive)),
        fetcher_(archive_->Clone()),
        log_starts_(std::move(log_starts)),
        pass_holes_(pass_holes) {}

  ~ArchiveSource() override {
    if (prefetch_.valid()) prefetch_.wait();
  }

  bool Start(const std::vector<std::string>& topics,
             std::function<int64_t(const TopicPartition&)> start_offset,
             std::string* /*error*/) override {
    topics_ = topics;
    start_offset_ = std::move(start_offset);
    return true;
  }

  bool Poll(std::vector<Message>* out, size_t max, std::chrono::milliseconds timeout) override {
    out->clear();
    unwrapped_.clear();
    if (kafka_started_) return kafka_->Poll(out, max, timeout);
    if (!decided_ && !Decide()) {
      std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(timeout, kRetry));
      return true;
    }
    while (out->size() < max) {
      if (!loaded_) {
        if (!out->empty()) break;  // a new object: the messages so far view the last one
        std::string problem;
        int r = Load(&problem);
        if (r < 0) {
          Hold(problem);
          std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(timeout, kRetry));
          return true;
        }
        if (r == 0) break;  // the archive is read: Kafka next
      }
      Part& p = parts_[current_];
      std::string_view line;
      if (!lines_->Next(&line)) {
        FinishObject();
        break;
      }
      // Each line is one message at the next offset, up to the next object's start: an empty
      // line, or one past that start, would put events at offsets they do not have. The view
      // holds on such an object (it never applies events at a guessed offset).
      const Archive::Object& o = p.objects[p.object];
      if (line.empty() ||
          (p.object + 1 < p.objects.size() && line_offset_ >= p.objects[p.object + 1].start)) {
        std::string why = line.empty()
                              ? "line " + std::to_string(line_offset_ - o.start + 1) + " is empty"
                              : "it holds more lines than offsets before the next object, " +
                                    p.objects[p.object + 1].name;
        Hold("archive " + archive_->url() + ": object " + o.name + " is malformed: " + why +
             "; each line is one message, at consecutive offsets from the name's start");
        loaded_ = false;  // read again, and found so again, until the object is mended
        lines_.reset();
        if (out->empty()) {
          std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(timeout, kRetry));
          return true;
        }
        break;
      }
      int64_t offset = line_offset_++;
      if (offset < p.next) continue;  // before the view's position
      Message m;
      m.topic = p.tp.topic;
      m.partition = p.tp.partition;
      m.offset = offset;
      m.value = Unwrap(line);
      out->push_back(m);
      p.next = offset + 1;
      std::lock_guard<std::mutex> lock(mu_);
      ++events_;
    }
    if (!out->empty()) Clear();
    if (AllDone()) StartKafka();
    return true;
  }

  void Committed(const Position& next_offsets) override {
    if (kafka_started_) kafka_->Committed(next_offsets);
  }

  void Seek(const TopicPartition& tp, int64_t offset) override {
    if (kafka_started_) {
      kafka_->Seek(tp, offset);
      return;
    }
    for (auto& p : parts_) {
      if (p.tp == tp) p.next = offset;
    }
  }

  // The archive's events come with their headers (already in hand); Kafka's may skip them.
  void SkipHeaders() override { kafka_->SkipHeaders(); }

  SourceStatus Status() const override {
    SourceStatus s;
    if (kafka_started_) s = kafka_->Status();
    std::lock_guard<std::mutex> lock(mu_);
    if (!kafka_started_) {
      s.partitions = marks_;
      s.healthy = problem_.empty();
      s.problem = problem_;
      s.held = held_;
    }
    s.archive = true;
    s.archive_events = events_;
    s.archive_objects = objects_;
    s.archive_bytes = bytes_;
    return s;
  }

 private:
  static constexpr std::chrono::milliseconds kRetry{1000};

  struct Part {
    TopicPartition tp;
    int64_t next = 0;
    int64_t log_start = 0;
    bool listed = false;
    bool fresh = false;       // listed since the last object was loaded
    int64_t read_start = -1;  // the start of the last object read to its end
    std::vector<Archive::Object> objects;
    size_t object = 0;
    bool done = false;
  };

  // A value the sink wrote as a JSON string (a String converter's value under the JSON
  // format: "{\"type\":...}") is the string's text, as Kafka held it; anything else is the
  // line itself.
  std::string_view Unwrap(std::string_view line) {
    if (line.size() < 2 || line.front() != '"') return line;
    Value v;
    std::string error;
    if (!ParseJson(line, &v, &error) || !v.is_string()) return line;
    unwrapped_.push_back(v.as_string());
    return unwrapped_.back();
  }

  // Which partitions start below Kafka's log start. false (retried) while Kafka cannot be
  // asked.
  bool Decide() {
    std::map<TopicPartition, PartitionInfo> marks;
    std::vector<Part> parts;
    for (const auto& topic : topics_) {
      std::map<int32_t, PartitionInfo> m;
      std::string error;
      if (!log_starts_(topic, &m, &error)) {
        if (error.find("Unknown topic") != std::string::npos) continue;  // Kafka waits for it
        std::lock_guard<std::mutex> lock(mu_);
        problem_ = "cannot read where the log of " + topic + " starts: ";
        problem_ += error;
        return false;
      }
      for (const auto& [part, info] : m) {
        TopicPartition tp{topic, part};
        marks[tp] = info;
        int64_t next = start_offset_(tp);
        if (info.low_watermark && *info.low_watermark > next) {
          Part p;
          p.tp = tp;
          p.next = next;
          p.log_start = *info.low_watermark;
          parts.push_back(std::move(p));
        }
      }
    }
    parts_ = std::move(parts);
    decided_ = true;
    std::lock_guard<std::mutex> lock(mu_);
    marks_ = std::move(marks);
    problem_.clear();
    return true;
  }

  bool AllDone() const {
    return std::all_of(parts_.begin(), parts_.end(), [](const Part& p) { return p.done; });
  }

  // Loads the next object to read: 1 loaded, 0 every partition's archive is read, -1 the
  // archive cannot be read or leaves a hole (*problem).
  int Load(std::string* problem) {
    for (current_ = 0; current_ < parts_.size(); ++current_) {
      Part& p = parts_[current_];
      if (p.done) continue;
      if (!List(&p, problem)) return -1;
      // Objects wholly before the position are passed by their successor's start.
      while (p.object + 1 < p.objects.size() && p.objects[p.object + 1].start <= p.next) {
        ++p.object;
      }
      if (p.object >= p.objects.size() || p.objects[p.object].start > p.next) {
        if (p.next >= p.log_start) {
          p.done = true;  // Kafka has the rest
          continue;
        }
        // A hole. The listing may predate objects written since (a sink catching up): it is
        // read again before the hole counts.
        if (!p.fresh) {
          p.listed = false;
          if (!List(&p, problem)) return -1;
          --current_;  // this partition again (wraps at 0 and comes back with the ++)
          continue;
        }
        int64_t to = p.object < p.objects.size() ? std::min(p.objects[p.object].start, p.log_start)
                                                 : p.log_start;
        if (pass_holes_) {
          // A rebuild asked for with allow_gap: the missing offsets are passed, as Kafka's
          // first offset is taken without the archive.
          p.next = to;
          --current_;
          continue;
        }
        *problem = "archive " + archive_->url() + " lacks offsets " + std::to_string(p.next) +
                   " to " + std::to_string(to - 1) + " of " + p.tp.topic + ":" +
                   std::to_string(p.tp.partition) + ", which Kafka no longer has";
        p.listed = false;  // listed again at the next try: the object may have come
        return -1;
      }
      p.fresh = false;
      const Archive::Object& o = p.objects[p.object];
      std::string error;
      if (!Fetch(o, &body_, &error)) {
        *problem = "archive " + archive_->url() + ": " + error;
        return -1;
      }
      // More lines than offsets before the next object's start: the lines past it would be
      // taken for the next object's events (found before any line of it is delivered).
      if (p.object + 1 < p.objects.size()) {
        int64_t lines = static_cast<int64_t>(std::count(body_.begin(), body_.end(), '\n')) +
                        (!body_.empty() && body_.back() != '\n' ? 1 : 0);
        const Archive::Object& next = p.objects[p.object + 1];
        if (o.start + lines > next.start) {
          *problem = "archive " + archive_->url() + ": object " + o.name + " is malformed: its " +
                     std::to_string(lines) + " lines run past the next object, " + next.name +
                     "; each line is one message, at consecutive offsets from the name's start";
          return -1;
        }
      }
      lines_ = std::make_unique<Lines>(body_);
      line_offset_ = o.start;
      loaded_ = true;
      Prefetch(p);
      return 1;
    }
    return 0;
  }

  // Lists the partition's objects unless they are listed; false with *problem when the
  // archive cannot be listed.
  bool List(Part* p, std::string* problem) {
    if (p->listed) return true;
    std::string error;
    if (!archive_->List(p->tp.topic, p->tp.partition, &p->objects, &error)) {
      *problem = "archive " + archive_->url() + ": " + error;
      return false;
    }
    p->listed = p->fresh = true;
    // Past the objects already read (a listing again finds them again).
    p->object = 0;
    while (p->object < p->objects.size() && p->objects[p->object].start <= p->read_start) {
      ++p->object;
    }
    return true;
  }

  // The object, from the prefetch when it is the one fetched ahead.
  bool Fetch(const Archive::Object& o, std::string* body, std::string* error) {
    if (prefetch_.valid() && prefetched_name_ == o.name) {
      auto [ok, data] = prefetch_.get();
      prefetched_name_.clear();
      if (ok) {
        *body = std::move(data);
        return true;
      }
      *error = std::move(data);
      return false;
    }
    if (prefetch_.valid()) prefetch_.wait();
    return archive_->Read(o, body, error);
  }

  // Starts reading the partition's next object while this one is applied.
  void Prefetch(const Part& p) {
    if (prefetch_.valid() || p.object + 1 >= p.objects.size()) return;
    Archive::Object next = p.objects[p.object + 1];
    prefetched_name_ = next.name;
    Archive* fetcher = fetcher_.get();
    prefetch_ = std::async(std::launch::async, [fetcher, next]() {
      std::string body, error;
      if (fetcher->Read(next, &body, &error)) return std::make_pair(true, std::move(body));
      return std::make_pair(false, std::move(error));
    });
  }

  void FinishObject() {
    Part& p = parts_[current_];
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++objects_;
      bytes_ += static_cast<int64_t>(body_.size());
    }
    // An object that holds fewer lines than its successor's start says leaves a hole, found
    // by Load at the next object.
    p.next = std::max(p.next, line_offset_);
    p.read_start = p.objects[p.object].start;
    ++p.object;
    loaded_ = false;
    lines_.reset();
  }

  void StartKafka() {
    std::map<TopicPartition, int64_t> handover;
    for (const auto& p : parts_) handover[p.tp] = p.next;
    auto view_start = start_offset_;
    std::string error;
    if (!kafka_->Start(
            topics_,
            [handover, view_start](const TopicPartition& tp) {
              int64_t at = view_start(tp);
              auto it = handover.find(tp);
              return it == handover.end() ? at : std::max(at, it->second);
            },
            &error)) {
      Hold("cannot start consuming Kafka after the archive: " + error);
      return;
    }
    kafka_started_ = true;
  }

  void Hold(const std::string& problem) {
    std::lock_guard<std::mutex> lock(mu_);
    problem_ = problem;
    held_ = true;
  }
  void Clear() {
    std::lock_guard<std::mutex> lock(mu_);
    problem_.clear();
    held_ = false;
  }

  std::unique_ptr<Source> kafka_;
  std::unique_ptr<Archive> archive_;
  std::unique_ptr<Archive> fetcher_;  // the prefetch thread's client
  LogStarts log_starts_;
  const bool pass_holes_;  // a rebuild asked for with allow_gap: holes are passed
  std::vector<std::string> topics_;
  std::function<int64_t(const TopicPartition&)> start_offset_;
  bool decided_ = false;
  bool kafka_started_ = false;
  std::vector<Part> parts_;
  size_t current_ = 0;
  bool loaded_ = false;
  std::string body_;
  std::unique_ptr<Lines> lines_;
  int64_t line_offset_ = 0;
  std::deque<std::string> unwrapped_;  // the values Unwrap decoded, until the next Poll
  std::future<std::pair<bool, std::string>> prefetch_;
  std::string prefetched_name_;
  mutable std::mutex mu_;  // what Status reads
  std::map<TopicPartition, PartitionInfo> marks_;
  std::string problem_;
  bool held_ = false;
  int64_t events_ = 0, objects_ = 0, bytes_ = 0;
};

}  // namespace

int64_t ArchiveObjectEnd(const Archive::Object& object, const std::string& body) {
  Lines lines(body);
  int64_t n = 0;
  std::string_view line;
  while (lines.Next(&line)) ++n;
  return object.start + n;
}

bool ArchiveGap(Archive* archive, const std::string& topic, int32_t partition, int64_t log_start,
                int64_t* missing_from, int64_t* missing_to, std::string* error) {
  *missing_from = *missing_to = 0;
  if (log_start <= 0) return true;
  std::vector<Archive::Object> objects;
  if (!archive->List(topic, partition, &objects, error)) return false;
  // Each object below the log start is read (its line count is its length): a hole between
  // two objects is found exactly, whatever their names say.
  int64_t covered = 0;  // offsets [0, covered) are in the archive
  for (size_t i = 0; i < objects.size() && covered < log_start; ++i) {
    if (objects[i].start > covered) {
      *missing_from = covered;
      *missing_to = std::min(objects[i].start, log_start);
      return true;
    }
    std::string body;
    if (!archive->Read(objects[i], &body, error)) return false;
    covered = std::max(covered, ArchiveObjectEnd(objects[i], body));
  }
  if (covered < log_start) {
    *missing_from = covered;
    *missing_to = log_start;
  }
  return true;
}

std::unique_ptr<Archive> OpenArchive(const std::string& url, const std::string& s3_endpoint,
                                     std::string* error) {
  const std::string kFile = "file://", kS3 = "s3://";
  if (url.compare(0, kS3.size(), kS3) == 0) {
    std::string rest = url.substr(kS3.size());
    size_t slash = rest.find('/');
    std::string bucket = rest.substr(0, slash);
    std::string prefix = slash == std::string::npos ? "" : rest.substr(slash + 1);
    while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
    if (!prefix.empty()) prefix += "/";
    if (bucket.empty()) {
      *error = "archive " + url + ": an S3 archive is s3://BUCKET/PREFIX";
      return nullptr;
    }
    S3Options options;
    if (!S3OptionsFromEnvironment(s3_endpoint, &options, error)) {
      *error = "archive " + url + ": " + *error;
      return nullptr;
    }
    // Objects of a few hundred MB may take minutes; a server that stops answering fails the
    // read within 10 s (the view then holds and retries).
    options.timeout_ms = 15 * 60 * 1000;
    options.stall_ms = 10000;
    return std::make_unique<S3Archive>(url, options, bucket, prefix);
  }
  if (url.compare(0, kFile.size(), kFile) == 0) {
    std::string root = url.substr(kFile.size());
    if (root.empty() || root[0] != '/') {
      *error = "archive " + url + ": a file archive is file:///ABSOLUTE/PATH";
      return nullptr;
    }
    while (root.size() > 1 && root.back() == '/') root.pop_back();
    return std::make_unique<FileArchive>(url, root);
  }
  *error = "archive " + url + ": not file:///DIR or s3://BUCKET/PREFIX";
  return nullptr;
}

std::unique_ptr<Source> NewArchiveSource(std::unique_ptr<Source> kafka,
                                         std::unique_ptr<Archive> archive, LogStarts log_starts,
                                         bool pass_holes) {
  return std::make_unique<ArchiveSource>(std::move(kafka), std::move(archive),
                                         std::move(log_starts), pass_holes);
}

}  // namespace projd
