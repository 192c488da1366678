// Benchmarks of projd's ingest path, each next to a baseline measured in the same process on
// the same data, so that ratios hold on a noisy machine.
//
//   projd_bench replay FILE.proj EVENTS.jsonl   parse-only baseline, in-memory replay
//                                               (projctl test), replay into LMDB (the
//                                               daemon's apply path), and a minimal
//                                               parse + LMDB get/put loop
//   projd_bench consume BROKERS TOPIC N          raw consume rate of N messages through the
//                                               Kafka source, no apply
//   projd_bench produce BROKERS TOPIC EVENTS.jsonl [PARTITIONS]
//                                               creates the topic and produces the events
//                                               (envelope keys honoured)
//   projd_bench latency BROKERS TOPIC EVENTS.jsonl HTTP_PORT VIEW RATE SECONDS
//                                               event -> visible latency: produces the events
//                                               at a steady RATE per second; every 50th event
//                                               is a probe, timed from its produce call to the
//                                               answer of a read that waits until the view has
//                                               applied it (min_position)
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "api/http_server.h"
#include "bench/apply_path.h"
#include "connectors/s3_client.h"
#include "connectors/source.h"
#include "dsl/compiler.h"
#include "dsl/value.h"
#include "dsl/value_internal.h"
#include "engine/projector.h"
#include "engine/replay.h"
#include "store/id_filter.h"
#include "store/kv.h"
#include "store/view_store.h"

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

std::vector<std::string> ReadLines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

// The event inside an envelope line, or the line itself.
std::string EventOf(const std::string& line, std::string* key) {
  projd::Value v;
  std::string error;
  if (projd::ParseJson(line, &v, &error) && v.is_object() && v.as_object().Find("value") &&
      v.as_object().Find("topic")) {
    if (const projd::Value* k = v.as_object().Find("key"); k && k->is_string()) {
      *key = k->as_string();
    }
    return projd::ToJson(*v.as_object().Find("value"));
  }
  return line;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t m = v.size() / 2;
  return v.size() % 2 == 1 ? v[m] : (v[m - 1] + v[m]) / 2;
}

void Row(const char* what, int64_t events, double secs, double baseline_rate) {
  double rate = events / secs;
  printf("%-44s %10.0f events/s", what, rate);
  if (baseline_rate > 0) printf("   %5.1f%% of baseline", 100.0 * rate / baseline_rate);
  printf("\n");
}

// The daemon's apply path over `events` into a fresh store in `dir` (change log of `keep`
// changes, 0: none); *secs is the time it took.
bool ApplyPath(const std::shared_ptr<const projd::Projection>& projection,
               const std::vector<std::string>& events, const std::string& dir, uint64_t keep,
               double* secs) {
  std::string error;
  projd::KvOptions ko;
  auto store = projd::ViewStore::Open(dir, ko, &error);
  if (!store) {
    std::cerr << error << "\n";
    return false;
  }
  store->UseIndexesOf(*projection);
  store->SetChangeLog({"bench"}, keep);
  double waited = 0;  // the applying thread waiting for the writer
  bool written =
      projd_bench::ApplyPipelined(projection, store.get(), events, "bench", secs, &waited);
  fprintf(stderr, "  (keep %llu: %.2f s, of which %.2f s waiting for the writer)\n",
          static_cast<unsigned long long>(keep), *secs, waited);
  return written;
}

int Replay(const std::string& proj_path, const std::string& events_path) {
  std::ifstream in(proj_path);
  std::stringstream ss;
  ss << in.rdbuf();
  projd::CompiledFile compiled = projd::CompileFile(proj_path, ss.str());
  if (!compiled.ok()) {
    for (const auto& d : compiled.diagnostics) std::cerr << d.Format();
    return 1;
  }
  auto projection = compiled.projections[0];
  // Bare events in memory, for the loops that do not go through the file source.
  std::vector<std::string> lines = ReadLines(events_path);
  std::vector<std::string> events;
  events.reserve(lines.size());
  for (const auto& l : lines) {
    std::string key;
    events.push_back(EventOf(l, &key));
  }
  int64_t n = static_cast<int64_t>(events.size());
  printf("%lld events, projection %s\n", static_cast<long long>(n), projection->name().c_str());

  // 1. Baseline: JSON parsing alone (ParseJson: the quick reader, the full one when it is
  // unsure), and for reference the full reader alone (simdjson on demand).
  // 2. projctl test: the file source, the projector, rows in memory (PROJD_BENCH_READERS:
  // the threads reading ahead, default from the cores).
  // The two are run in turns, PROJD_BENCH_PAIRS times (default 3): this machine's speed
  // drifts by a third within seconds, so a ratio of runs far apart measures the drift; each
  // replay is set against the parse right before it, and the figures are the medians.
  if (const char* readers = getenv("PROJD_BENCH_READERS")) projd::SetReplayReaders(atoi(readers));
  int pairs = 3;
  if (const char* p = getenv("PROJD_BENCH_PAIRS")) pairs = std::max(1, atoi(p));
  projd::Value v;
  std::string error;
  int64_t parsed = 0;
  std::vector<double> parse_rates, full_rates, replay_rates, pair_ratios;
  for (int pair = 0; pair < pairs; ++pair) {
    auto t0 = Clock::now();
    for (const auto& e : events) parsed += projd::ParseJson(e, &v, &error) ? 1 : 0;
    auto t1 = Clock::now();
    parse_rates.push_back(n / Seconds(t0, t1));
    if (pair == 0) {
      t0 = Clock::now();
      for (const auto& e : events)
        parsed += projd::value_internal::FullParseJson(e, &v, &error) ? 1 : 0;
      t1 = Clock::now();
      full_rates.push_back(n / Seconds(t0, t1));
    }
    t0 = Clock::now();
    projd::ReplayResult result;
    if (!projd::Replay(projection, events_path, &result, &error)) {
      std::cerr << error << "\n";
      return 1;
    }
    t1 = Clock::now();
    replay_rates.push_back(n / Seconds(t0, t1));
    pair_ratios.push_back(replay_rates.back() / parse_rates.back());
    fprintf(stderr, "  (pair %d: JSON parse %.0f, replay in memory %.0f events/s: %.1f%%)\n",
            pair + 1, parse_rates.back(), replay_rates.back(), 100.0 * pair_ratios.back());
  }
  const double parse_rate = Median(parse_rates);
  Row("JSON parse only (baseline)", n, n / parse_rate, 0);
  Row("JSON parse, full reader alone (reference)", n, n / full_rates[0], parse_rate);
  Row("replay in memory (projctl test)", n, n / Median(replay_rates), parse_rate);
  printf("%-44s %10.1f%% (%d pairs)\n", "replay in memory / JSON parse, pairs' median",
         100.0 * Median(pair_ratios), pairs);

  // 3. Baseline: parse + the same balance updates straight into LMDB, in batches of the
  // daemon's size.
  constexpr size_t kBatch = 10000;  // ViewOptions::max_batch
  std::string dir = (std::filesystem::temp_directory_path() / "projd-bench-lmdb").string();
  std::filesystem::remove_all(dir);
  double direct_rate;
  {
    projd::KvOptions ko;
    auto env = projd::KvEnv::Open(dir, {"rows"}, ko, &error);
    if (!env) {
      std::cerr << error << "\n";
      return 1;
    }
    auto t0 = Clock::now();
    size_t i = 0;
    std::unordered_map<std::string, std::string> cache;
    while (i < events.size()) {
      auto txn = env->BeginWrite(&error);
      size_t end = std::min(events.size(), i + kBatch);
      for (; i < end; ++i) {
        if (!projd::ParseJson(events[i], &v, &error) || !v.is_object()) continue;
        const projd::Value* acc = v.as_object().Find("account_id");
        const projd::Value* amount = v.as_object().Find("amount");
        if (!acc || !acc->is_string()) continue;
        std::string_view old;
        projd::Decimal bal;
        if (txn->Get(0, acc->as_string(), &old)) {
          projd::Value ov;
          if (projd::DecodeBinary(old, &ov) && ov.is_number()) bal = ov.as_number();
        }
        if (amount && amount->is_number()) {
          projd::Decimal::Add(bal, amount->as_number(), &bal);
        }
        std::string buf;
        projd::EncodeBinary(projd::Value::Number(bal), &buf);
        txn->Put(0, acc->as_string(), buf);
      }
      txn->Commit();
    }
    auto t1 = Clock::now();
    direct_rate = n / Seconds(t0, t1);
    Row("parse + direct LMDB get/put (baseline)", n, Seconds(t0, t1), 0);
  }
  std::filesystem::remove_all(dir);

  // 4. The daemon's apply path without Kafka: projector + ViewStore batches of 10000, each
  // staged and written by a second thread while the next one is applied (as in the daemon) —
  // without a change log, then with the daemon's (every change kept: --changes-keep 1000000),
  // then with one pruned as it goes (--changes-keep 100000: the steady state of a long run).
  double plain_rate = 0;
  for (uint64_t keep : {uint64_t{0}, uint64_t{1000000}, uint64_t{100000}}) {
    std::filesystem::remove_all(dir);
    double secs = 0;
    if (!ApplyPath(projection, events, dir, keep, &secs)) return 1;
    if (keep == 0) {
      plain_rate = n / secs;
      Row("replay into LMDB (daemon apply path)", n, secs, direct_rate);
    } else {
      std::string what = "same, with the change log (keep " + std::to_string(keep) + ")";
      printf("%-44s %10.0f events/s  %5.1f%% of no change log\n", what.c_str(), n / secs,
             100.0 * (n / secs) / plain_rate);
    }
  }
  std::filesystem::remove_all(dir);
  return parsed > 0 ? 0 : 1;
}

int Consume(const std::string& brokers, const std::string& topic, int64_t n) {
  projd::KafkaOptions ko;
  ko.brokers = brokers;
  ko.group_id = "projd-bench";
  auto source = projd::NewKafkaSource(ko, "projd-bench");
  source->SkipHeaders();  // counted, not read
  std::string error;
  if (!source->Start(
          {topic}, [](const projd::TopicPartition&) { return int64_t{0}; }, &error)) {
    std::cerr << error << "\n";
    return 1;
  }
  std::vector<projd::Message> msgs;
  // The clock starts when the first messages arrive, and the rate counts the messages after
  // them: the stretch of the topic after the first poll, as bench/lib.sh's catch_up counts
  // projd's from its first applied event.
  int64_t got = 0, bytes = 0, first = 0;
  Clock::time_point t0;
  bool started = false;
  auto deadline = Clock::now() + std::chrono::seconds(300);
  while (got < n && Clock::now() < deadline) {
    source->Poll(&msgs, 10000, std::chrono::milliseconds(100));
    if (!msgs.empty() && !started) {
      started = true;
      t0 = Clock::now();
      first = static_cast<int64_t>(msgs.size());
    }
    got += static_cast<int64_t>(msgs.size());
    for (const auto& m : msgs) bytes += static_cast<int64_t>(m.value.size());
  }
  auto t1 = Clock::now();
  if (!started) {
    std::cerr << "raw consume: no message from " << topic << " within 300 s\n";
    return 1;
  }
  printf("raw consume: %lld messages (%lld bytes) in %.2f s: %.0f msgs/s\n",
         static_cast<long long>(got), static_cast<long long>(bytes), Seconds(t0, t1),
         (got - first) / Seconds(t0, t1));
  return got >= n ? 0 : 1;
}

int Produce(const std::string& brokers, const std::string& topic, const std::string& path,
            int partitions) {
  std::string error;
  if (!projd::CreateKafkaTopic(brokers, topic, partitions, &error)) {
    std::cerr << error << "\n";
    return 1;
  }
  auto producer = projd::Producer::Create(brokers, {{"linger.ms", "20"}}, &error);
  if (!producer) {
    std::cerr << error << "\n";
    return 1;
  }
  std::ifstream in(path);
  std::string line;
  int64_t n = 0;
  auto t0 = Clock::now();
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    std::string key;
    std::string value = EventOf(line, &key);
    if (!producer->ProduceAsync(topic, key, value, &error)) {
      std::cerr << error << "\n";
      return 1;
    }
    ++n;
  }
  if (!producer->Flush(std::chrono::seconds(300), &error)) {
    std::cerr << error << "\n";
    return 1;
  }
  printf("produced %lld events to %s in %.2f s\n", static_cast<long long>(n), topic.c_str(),
         Seconds(t0, Clock::now()));
  return 0;
}

// Event -> visible latency at a steady rate. The stream is produced asynchronously (linger
// 5 ms, librdkafka's default); each probe is produced synchronously to learn its offset, then
// read back with min_position=TOPIC:PARTITION:OFFSET+1 so the server answers the moment the view
// has applied it. Latency = produce call -> that answer.
int Latency(const std::string& brokers, const std::string& topic, const std::string& path,
            uint16_t port, const std::string& view, int rate, int seconds) {
  std::string error;
  std::vector<std::pair<std::string, std::string>> events;  // key, value
  for (const auto& line : ReadLines(path)) {
    std::string key;
    std::string value = EventOf(line, &key);
    events.emplace_back(std::move(key), std::move(value));
  }
  if (events.empty() || rate <= 0 || seconds <= 0) return 2;
  auto stream = projd::Producer::Create(brokers, {{"linger.ms", "5"}}, &error);
  auto probe = projd::Producer::Create(brokers, {{"linger.ms", "0"}}, &error);
  if (!stream || !probe) {
    std::cerr << error << "\n";
    return 1;
  }
  // The stream and the probes run on their own threads so a slow probe never holds the
  // stream back: one event in 50 is a probe.
  constexpr int kProbeEvery = 50;
  const int64_t total = static_cast<int64_t>(rate) * seconds;
  std::vector<double> latencies_ms, acks_ms;  // produce -> visible; produce -> broker ack
  std::atomic<int64_t> failures{0};
  int64_t timeouts = 0, behind = 0;
  auto start = Clock::now();
  std::thread probes([&] {
    std::string perror;
    for (int64_t i = 0; i < total; i += kProbeEvery) {
      std::this_thread::sleep_until(start + std::chrono::microseconds(i * 1000000 / rate));
      const auto& [key, value] = events[static_cast<size_t>(i) % events.size()];
      auto t0 = Clock::now();
      int32_t partition = 0;
      int64_t offset = 0;
      if (!probe->Produce(topic, -1, key, value, 0, &partition, &offset, &perror)) {
        ++failures;
        continue;
      }
      acks_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      std::string target = "/v1/views/" + view + "?min_position=" + topic + ":" +
                           std::to_string(partition) + ":" + std::to_string(offset + 1) +
                           "&wait_ms=10000";
      projd::HttpClientResult r;
      if (!projd::HttpCall("127.0.0.1", port, "GET", target, {}, "", std::chrono::seconds(15), &r,
                           &perror)) {
        ++failures;
      } else if (r.status == 504) {
        ++timeouts;
      } else if (r.status != 200) {
        ++failures;
      } else {
        latencies_ms.push_back(
            std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      }
    }
  });
  for (int64_t i = 0; i < total; ++i) {
    if (i % kProbeEvery == 0) continue;
    // Event i is due at start + i / rate; wait for it, or note that the loop fell behind.
    auto due = start + std::chrono::microseconds(i * 1000000 / rate);
    auto now = Clock::now();
    if (now < due) {
      std::this_thread::sleep_until(due);
    } else if (now - due > std::chrono::milliseconds(50)) {
      ++behind;
    }
    const auto& [key, value] = events[static_cast<size_t>(i) % events.size()];
    if (!stream->ProduceAsync(topic, key, value, &error)) ++failures;
  }
  probes.join();
  double elapsed = Seconds(start, Clock::now());
  stream->Flush(std::chrono::seconds(30), &error);
  if (latencies_ms.empty()) {
    std::cerr << "no probe was seen\n";
    return 1;
  }
  std::sort(latencies_ms.begin(), latencies_ms.end());
  std::sort(acks_ms.begin(), acks_ms.end());
  auto pct_of = [](const std::vector<double>& v, double p) {
    return v[static_cast<size_t>(p / 100.0 * static_cast<double>(v.size() - 1))];
  };
  auto pct = [&](double p) { return pct_of(latencies_ms, p); };
  // The baseline: the broker's acknowledgement of the same probes, a floor no consumer beats.
  printf("produce -> broker ack (baseline): p50 %.2f ms, p99 %.2f ms\n", pct_of(acks_ms, 50),
         pct_of(acks_ms, 99));
  printf(
      "event -> visible at %.0f events/s for %.0f s: %zu probes, p50 %.2f ms, p99 %.2f ms, "
      "max %.2f ms (timeouts %lld, failures %lld, late ticks %lld)\n",
      total / elapsed, elapsed, latencies_ms.size(), pct(50), pct(99), latencies_ms.back(),
      static_cast<long long>(timeouts), static_cast<long long>(failures),
      static_cast<long long>(behind));
  return timeouts == 0 && failures == 0 ? 0 : 1;
}

// Writes offsets [0, high watermark / 2) of every partition of `topic` to `where` (file:///DIR
// or s3://BUCKET/PREFIX with PROJD_S3_ENDPOINT and the AWS_* credentials) in the layout of
// Kafka Connect's S3 sink, objects of 10,000 values, then deletes them from Kafka, as
// retention would have: what an archive rebuild reads (bench/archive.sh).
int ArchiveHalf(const std::string& brokers, const std::string& topic, const std::string& where) {
  std::string error;
  std::map<int32_t, projd::PartitionInfo> marks;
  if (!projd::QueryWatermarks(brokers, {}, topic, &marks, &error)) {
    std::cerr << error << "\n";
    return 1;
  }
  std::unique_ptr<projd::S3Client> s3;
  std::string bucket, prefix, dir;
  if (where.rfind("s3://", 0) == 0) {
    projd::S3Options o;
    const char* endpoint = std::getenv("PROJD_S3_ENDPOINT");
    if (!projd::S3OptionsFromEnvironment(endpoint ? endpoint : "", &o, &error)) {
      std::cerr << error << "\n";
      return 1;
    }
    s3 = std::make_unique<projd::S3Client>(o);
    std::string rest = where.substr(5);
    bucket = rest.substr(0, rest.find('/'));
    prefix = rest.find('/') == std::string::npos ? "" : rest.substr(rest.find('/') + 1) + "/";
    if (!s3->CreateBucket(bucket, &error)) {
      std::cerr << error << "\n";
      return 1;
    }
  } else {
    dir = where.substr(std::string("file://").size()) + "/";
  }
  std::map<int32_t, int64_t> cut;
  for (const auto& [p, info] : marks) cut[p] = info.high_watermark.value_or(0) / 2;
  struct Pending {
    int64_t start = 0, n = 0;
    std::string body;
  };
  std::map<int32_t, Pending> pending;
  int64_t objects = 0, values = 0;
  auto flush = [&](int32_t p) -> bool {
    Pending& o = pending[p];
    if (o.n == 0) return true;
    char name[64];
    snprintf(name, sizeof(name), "+%d+%010lld.json", p, static_cast<long long>(o.start));
    std::string key = "topics/" + topic + "/partition=" + std::to_string(p) + "/" + topic + name;
    if (s3) {
      if (!s3->Put(bucket, prefix + key, o.body, &error)) return false;
    } else {
      std::filesystem::create_directories(std::filesystem::path(dir + key).parent_path());
      std::ofstream(dir + key, std::ios::binary) << o.body;
    }
    ++objects;
    o.start += o.n;
    o.n = 0;
    o.body.clear();
    return true;
  };
  projd::KafkaOptions ko;
  ko.brokers = brokers;
  ko.group_id = "projd-bench";
  auto source = projd::NewKafkaSource(ko, "projd-bench-archive");
  if (!source->Start(
          {topic}, [](const projd::TopicPartition&) { return int64_t{0}; }, &error)) {
    std::cerr << error << "\n";
    return 1;
  }
  std::map<int32_t, int64_t> next;
  auto done = [&]() {
    for (const auto& [p, c] : cut) {
      if (next[p] < c) return false;
    }
    return true;
  };
  std::vector<projd::Message> msgs;
  auto deadline = Clock::now() + std::chrono::seconds(600);
  while (!done() && Clock::now() < deadline) {
    source->Poll(&msgs, 10000, std::chrono::milliseconds(100));
    for (const auto& m : msgs) {
      if (m.offset >= cut[m.partition] || m.offset != next[m.partition]) continue;
      Pending& o = pending[m.partition];
      o.body.append(m.value);
      o.body.push_back('\n');
      ++o.n;
      ++values;
      next[m.partition] = m.offset + 1;
      if (o.n == 10000 && !flush(m.partition)) {
        std::cerr << error << "\n";
        return 1;
      }
    }
  }
  for (const auto& [p, c] : cut) {
    if (!flush(p) || !projd::DeleteKafkaRecords(brokers, topic, p, c, &error)) {
      std::cerr << error << "\n";
      return 1;
    }
  }
  printf("archived %lld values in %lld objects to %s and deleted them from %s\n",
         static_cast<long long>(values), static_cast<long long>(objects), where.c_str(),
         topic.c_str());
  return done() ? 0 : 1;
}

// The dedupe filter as a restarted view holds it (store/id_filter.h): N ids loaded, then new
// ids looked up — levels grown from 65,536 keys against one level reserved for the count
// (ViewStore::LoadIdFilter), each with and without the prefetch 8 lookups ahead that the
// view's thread makes.
int IdFilterLookups(int64_t n) {
  std::vector<std::string> present, fresh;
  present.reserve(static_cast<size_t>(n));
  fresh.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    present.push_back("e-" + std::to_string(i));
    fresh.push_back("new-" + std::to_string(i));
  }
  std::vector<uint64_t> hashes;
  for (const auto& k : fresh) hashes.push_back(std::hash<std::string_view>()(k));
  for (bool reserved : {false, true}) {
    projd::IdFilter f;
    if (reserved) f.Reserve(static_cast<size_t>(n + n / 2));
    for (const auto& k : present) f.Add(k);
    for (bool prefetch : {false, true}) {
      int64_t maybe = 0;
      auto t0 = Clock::now();
      for (size_t i = 0; i < fresh.size(); ++i) {
        if (prefetch && i + 8 < fresh.size()) f.Prefetch(hashes[i + 8]);
        maybe += f.MayContain(fresh[i]) ? 1 : 0;
      }
      double secs = Seconds(t0, Clock::now());
      printf("%-9s %zu level(s), %5.1f MiB, %s: %6.1f ns per new id, %.3f %% false positives\n",
             reserved ? "reserved" : "grown", f.levels(), f.bytes() / 1048576.0,
             prefetch ? "prefetch 8 ahead" : "no prefetch     ", 1e9 * secs / n, 100.0 * maybe / n);
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> a(argv + 1, argv + argc);
  if (a.size() == 3 && a[0] == "replay") return Replay(a[1], a[2]);
  if (a.size() == 4 && a[0] == "consume") return Consume(a[1], a[2], std::stoll(a[3]));
  if ((a.size() == 4 || a.size() == 5) && a[0] == "produce") {
    return Produce(a[1], a[2], a[3], a.size() == 5 ? std::stoi(a[4]) : 4);
  }
  if (a.size() == 4 && a[0] == "archive") return ArchiveHalf(a[1], a[2], a[3]);
  if (a.size() == 2 && a[0] == "idfilter") return IdFilterLookups(std::stoll(a[1]));
  if (a.size() == 8 && a[0] == "latency") {
    return Latency(a[1], a[2], a[3], static_cast<uint16_t>(std::stoi(a[4])), a[5], std::stoi(a[6]),
                   std::stoi(a[7]));
  }
  std::cerr << "usage: projd_bench replay FILE.proj EVENTS.jsonl\n"
               "       projd_bench consume BROKERS TOPIC N\n"
               "       projd_bench produce BROKERS TOPIC EVENTS.jsonl [PARTITIONS]\n"
               "       projd_bench latency BROKERS TOPIC EVENTS.jsonl HTTP_PORT VIEW RATE SECONDS\n"
               "       projd_bench archive BROKERS TOPIC file:///DIR|s3://BUCKET/PREFIX\n"
               "       projd_bench idfilter N\n";
  return 2;
}
