// The archive source (connectors/archive.h) over a file:// archive and a stand-in for Kafka:
// every offset delivered once and in order across archive and Kafka, gzip objects, values the
// sink wrote as JSON strings, a hole held with its reason, the gap check.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include "connectors/archive.h"

namespace {

namespace fs = std::filesystem;
using projd::Archive;
using projd::Message;
using projd::PartitionInfo;
using projd::TopicPartition;

// Kafka as the archive source sees it: a log of one partition starting at `log_start`, with the
// value "k<offset>" at each offset, delivered from where Start asks.
class FakeKafka final : public projd::Source {
 public:
  FakeKafka(int64_t log_start, int64_t end, int64_t* started_at)
      : log_start_(log_start), end_(end), started_at_(started_at) {}
  bool Start(const std::vector<std::string>& topics,
             std::function<int64_t(const TopicPartition&)> start_offset,
             std::string* /*error*/) override {
    next_ = start_offset(TopicPartition{topics[0], 0});
    *started_at_ = next_;
    if (next_ < log_start_) next_ = log_start_;  // what auto.offset.reset=earliest does
    topic_ = topics[0];
    return true;
  }
  bool Poll(std::vector<Message>* out, size_t max, std::chrono::milliseconds) override {
    out->clear();
    values_.clear();
    while (next_ < end_ && out->size() < max) {
      values_.push_back("k" + std::to_string(next_));
      Message m;
      m.topic = topic_;
      m.offset = next_++;
      out->push_back(m);
    }
    for (size_t i = 0; i < out->size(); ++i) (*out)[i].value = values_[i];
    return true;
  }
  void Seek(const TopicPartition&, int64_t offset) override { next_ = offset; }
  projd::SourceStatus Status() const override { return {}; }

 private:
  int64_t log_start_, end_, next_ = 0;
  int64_t* started_at_;
  std::string topic_;
  std::vector<std::string> values_;
};

struct Dir {
  std::string path;
  Dir() {
    path =
        (fs::temp_directory_path() / ("projd-archive-test-" + std::to_string(getpid()))).string();
    fs::remove_all(path);
    fs::create_directories(path + "/topics/t/partition=0");
  }
  ~Dir() { fs::remove_all(path); }
  // An object of values "a<offset>" for offsets [start, end).
  void Object(int64_t start, int64_t end, bool as_json_strings = false) {
    char name[64];
    snprintf(name, sizeof(name), "/topics/t/partition=0/t+0+%010lld.json",
             static_cast<long long>(start));
    std::ofstream out(path + name);
    for (int64_t o = start; o < end; ++o) {
      std::string v = "a" + std::to_string(o);
      out << (as_json_strings ? "\"" + v + "\"" : v) << "\n";
    }
  }
};

// Polls until `n` messages came or nothing more comes; returns "offset=value" per message.
std::vector<std::string> Drain(projd::Source* s, size_t n) {
  std::vector<std::string> got;
  std::vector<Message> batch;
  for (int idle = 0; got.size() < n && idle < 3;) {
    s->Poll(&batch, 7, std::chrono::milliseconds(1));
    if (batch.empty()) ++idle;
    for (const auto& m : batch)
      got.push_back(std::to_string(m.offset) + "=" + std::string(m.value));
  }
  return got;
}

projd::LogStarts LogStartAt(int64_t start, int64_t end) {
  return [start, end](const std::string&, std::map<int32_t, PartitionInfo>* marks, std::string*) {
    (*marks)[0] = PartitionInfo{start, end};
    return true;
  };
}

}  // namespace

TEST_CASE("archive source: archive below the log start, then Kafka, each offset once", "[engine]") {
  Dir d;
  d.Object(0, 10);
  d.Object(10, 25, true);  // values as JSON strings: delivered as their text
  d.Object(25, 40);        // overlaps Kafka, which starts at 30
  // One object gzip-compressed, as the sink writes with s3.compression.type=gzip.
  std::string plain = d.path + "/topics/t/partition=0/t+0+0000000000.json";
  REQUIRE(std::system(("gzip -f " + plain).c_str()) == 0);
  std::string error;
  auto archive = projd::OpenArchive("file://" + d.path, "", &error);
  REQUIRE(archive);
  int64_t missing_from = -1, missing_to = -1;
  REQUIRE(projd::ArchiveGap(archive.get(), "t", 0, 30, &missing_from, &missing_to, &error));
  CHECK(missing_from == missing_to);

  int64_t kafka_from = -1;
  auto source = projd::NewArchiveSource(std::make_unique<FakeKafka>(30, 50, &kafka_from),
                                        std::move(archive), LogStartAt(30, 50), false);
  int64_t view_next = 0;
  REQUIRE(source->Start(
      {"t"}, [&](const TopicPartition&) { return view_next; }, &error));
  auto got = Drain(source.get(), 50);
  REQUIRE(got.size() == 50);
  for (int64_t o = 0; o < 50; ++o) {
    std::string want = std::to_string(o) + "=" + (o < 40 ? "a" : "k") + std::to_string(o);
    CHECK(got[static_cast<size_t>(o)] == want);
  }
  CHECK(kafka_from == 40);  // Kafka takes over after the archive's last offset
  projd::SourceStatus st = source->Status();
  CHECK(st.archive);
  CHECK(st.archive_events == 40);
  CHECK(st.archive_objects == 3);
  CHECK_FALSE(st.held);
}

TEST_CASE("archive source: a view that resumes inside the archive starts at its position",
          "[engine]") {
  Dir d;
  d.Object(0, 10);
  d.Object(10, 20);
  std::string error;
  int64_t kafka_from = -1;
  auto source = projd::NewArchiveSource(std::make_unique<FakeKafka>(20, 25, &kafka_from),
                                        projd::OpenArchive("file://" + d.path, "", &error),
                                        LogStartAt(20, 25), false);
  REQUIRE(source->Start(
      {"t"}, [](const TopicPartition&) { return int64_t{13}; }, &error));
  auto got = Drain(source.get(), 12);
  REQUIRE(got.size() == 12);
  CHECK(got.front() == "13=a13");
  CHECK(got[6] == "19=a19");
  CHECK(got[7] == "20=k20");
  CHECK(kafka_from == 20);
}

TEST_CASE(
    "archive source: a hole holds the view with the missing offsets; the gap check names "
    "them",
    "[engine]") {
  Dir d;
  d.Object(0, 10);
  d.Object(15, 30);  // offsets 10..14 are nowhere
  std::string error;
  auto archive = projd::OpenArchive("file://" + d.path, "", &error);
  int64_t from = 0, to = 0;
  REQUIRE(projd::ArchiveGap(archive.get(), "t", 0, 30, &from, &to, &error));
  CHECK(from == 10);
  CHECK(to == 15);
  // A hole that ends past the log start: up to the log start.
  REQUIRE(projd::ArchiveGap(archive.get(), "t", 0, 12, &from, &to, &error));
  CHECK(from == 10);
  CHECK(to == 12);
  // Nothing missing below a log start the archive reaches.
  REQUIRE(projd::ArchiveGap(archive.get(), "t", 0, 8, &from, &to, &error));
  CHECK(from == to);

  int64_t kafka_from = -1;
  auto source = projd::NewArchiveSource(std::make_unique<FakeKafka>(30, 35, &kafka_from),
                                        std::move(archive), LogStartAt(30, 35), false);
  REQUIRE(source->Start(
      {"t"}, [](const TopicPartition&) { return int64_t{0}; }, &error));
  auto got = Drain(source.get(), 100);
  CHECK(got.size() == 10);  // offsets 0..9, then held
  projd::SourceStatus st = source->Status();
  CHECK(st.held);
  CHECK(st.problem.find("lacks offsets 10 to 14") != std::string::npos);
  CHECK(kafka_from == -1);  // Kafka never started past the hole
  // The missing object comes (a sink catching up): the archive is listed again at the next
  // try, and the view goes on, every offset once.
  d.Object(10, 15);
  got = Drain(source.get(), 100);
  REQUIRE(got.size() == 25);
  CHECK(got.front() == "10=a10");
  CHECK(got[4] == "14=a14");
  CHECK(got[5] == "15=a15");
  CHECK(got.back() == "34=k34");
  CHECK_FALSE(source->Status().held);
  CHECK(kafka_from == 30);
}

TEST_CASE("archive source: a rebuild with allow_gap passes a hole the archive still has",
          "[engine]") {
  Dir d;
  d.Object(0, 10);
  d.Object(15, 20);  // offsets 10..14 are nowhere, and 20..29 neither (Kafka starts at 30)
  std::string error;
  int64_t kafka_from = -1;
  auto source = projd::NewArchiveSource(std::make_unique<FakeKafka>(30, 35, &kafka_from),
                                        projd::OpenArchive("file://" + d.path, "", &error),
                                        LogStartAt(30, 35), true);
  REQUIRE(source->Start(
      {"t"}, [](const TopicPartition&) { return int64_t{0}; }, &error));
  auto got = Drain(source.get(), 100);
  REQUIRE(got.size() == 20);  // 0..9, 15..19, then Kafka's 30..34
  CHECK(got[9] == "9=a9");
  CHECK(got[10] == "15=a15");
  CHECK(got[14] == "19=a19");
  CHECK(got[15] == "30=k30");
  CHECK_FALSE(source->Status().held);
  CHECK(kafka_from == 30);
}

TEST_CASE("archive URLs", "[engine]") {
  std::string error;
  CHECK_FALSE(projd::OpenArchive("ftp://x", "", &error));
  CHECK(error.find("not file:///DIR or s3://BUCKET/PREFIX") != std::string::npos);
  CHECK_FALSE(projd::OpenArchive("file://relative/dir", "", &error));
  CHECK_FALSE(projd::OpenArchive("s3:///prefix", "", &error));
  unsetenv("AWS_ACCESS_KEY_ID");
  CHECK_FALSE(projd::OpenArchive("s3://bucket/prefix", "http://127.0.0.1:1", &error));
  CHECK(error.find("AWS_ACCESS_KEY_ID") != std::string::npos);
}

TEST_CASE("archive gap: an archive that ends before the log start", "[engine]") {
  Dir d;
  d.Object(0, 10);
  std::string error;
  auto archive = projd::OpenArchive("file://" + d.path, "", &error);
  int64_t from = 0, to = 0;
  REQUIRE(projd::ArchiveGap(archive.get(), "t", 0, 40, &from, &to, &error));
  CHECK(from == 10);
  CHECK(to == 40);
  // Nothing archived of a partition: all of it is missing.
  REQUIRE(projd::ArchiveGap(archive.get(), "t", 1, 5, &from, &to, &error));
  CHECK(from == 0);
  CHECK(to == 5);
}

TEST_CASE("archive source: an object with an empty line, or more lines than its offsets, holds",
          "[engine]") {
  // Variant 0: a blank line in the middle of the second object (its offsets would shift by one
  // and run into the third object's); variant 1: two lines too many at its end; variant 2: a
  // blank line in the last object (no next object to run into).
  for (int variant = 0; variant < 3; ++variant) {
    Dir d;
    d.Object(0, 10);
    d.Object(10, 20);
    d.Object(20, 30);
    int64_t start = variant == 2 ? 20 : 10;
    char file[64];
    snprintf(file, sizeof(file), "/topics/t/partition=0/t+0+%010lld.json",
             static_cast<long long>(start));
    std::string body;
    for (int64_t o = start; o < start + 10; ++o) {
      body += "a" + std::to_string(o) + "\n";
      if (variant != 1 && o == start + 4) body += "\n";
    }
    if (variant == 1) body += "extra1\nextra2\n";
    std::ofstream(d.path + file) << body;
    std::string error;
    auto archive = projd::OpenArchive("file://" + d.path, "", &error);
    int64_t kafka_from = -1;
    auto source = projd::NewArchiveSource(std::make_unique<FakeKafka>(30, 35, &kafka_from),
                                          std::move(archive), LogStartAt(30, 35), false);
    REQUIRE(source->Start(
        {"t"}, [](const TopicPartition&) { return int64_t{0}; }, &error));
    auto got = Drain(source.get(), 100);
    INFO("variant " << variant);
    // Every message delivered is at its own offset, none from the malformed object on.
    for (const auto& g : got) {
      size_t eq = g.find('=');
      CHECK(g.substr(eq + 1) == "a" + g.substr(0, eq));
    }
    CHECK(got.size() == (variant == 2 ? 25u : 10u));
    projd::SourceStatus st = source->Status();
    CHECK(st.held);
    CHECK(st.problem.find(std::string(file + 22) + " is malformed") != std::string::npos);
    const char* why[] = {"its 11 lines run past the next object", "its 12 lines run past",
                         "line 6 is empty"};
    CHECK(st.problem.find(why[variant]) != std::string::npos);
    CHECK(kafka_from == -1);
  }
}
