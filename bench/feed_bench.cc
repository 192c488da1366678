// Change feeds under load: event -> subscriber latency with N subscribers, next to event ->
// visible for a polling reader in the same run (read-your-own-writes: a read that waits for the
// event's offset), and projd's resident memory at the end.
//
//   feed_bench BROKERS TOPIC HTTP_PORT VIEW RATE SECONDS SUBSCRIBERS
//
// Events {"type":"Tick","account":"fa-J","sent_us":WALL_CLOCK_US} go to TOPIC at RATE per
// second for SECONDS, spread over max(SUBSCRIBERS, 1) accounts. With one subscriber it follows
// the whole view; with more, subscriber J follows account fa-J (key=), as screens of a banking
// app each follow one account. The view (bench/feed.proj) copies sent_us into the row, so each
// change says when its event was produced. Every 50th event is produced synchronously and read
// back with min_position by the polling reader.
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "api/http_server.h"
#include "connectors/source.h"

namespace {

using Clock = std::chrono::steady_clock;

int64_t WallMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// One subscriber's connection: the bytes read, decoded from chunked encoding into lines.
struct Stream {
  int fd = -1;
  std::string raw, body;
  bool head_done = false;
  bool ok = true;
};

int Connect(uint16_t port, const std::string& target) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  std::string req = "GET " + target + " HTTP/1.1\r\nHost: bench\r\n\r\n";
  if (send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
    close(fd);
    return -1;
  }
  return fd;
}

// Moves whole chunks of s->raw into s->body.
void Decode(Stream* s) {
  if (!s->head_done) {
    size_t end = s->raw.find("\r\n\r\n");
    if (end == std::string::npos) return;
    s->ok = s->raw.compare(0, 12, "HTTP/1.1 200") == 0;
    s->raw.erase(0, end + 4);
    s->head_done = true;
  }
  size_t pos = 0;
  while (true) {
    size_t crlf = s->raw.find("\r\n", pos);
    if (crlf == std::string::npos) break;
    size_t n = std::strtoul(s->raw.c_str() + pos, nullptr, 16);
    if (s->raw.size() < crlf + 2 + n + 2) break;
    s->body.append(s->raw, crlf + 2, n);
    pos = crlf + 2 + n + 2;
    if (n == 0) break;
  }
  s->raw.erase(0, pos);
}

// Each whole line of s->body that is a change of an event sent at min_sent_us or later: its
// latency from sent_us to now.
void TakeLines(Stream* s, int64_t now_us, int64_t min_sent_us, std::vector<double>* latencies_ms) {
  size_t start = 0, nl;
  while ((nl = s->body.find('\n', start)) != std::string::npos) {
    size_t at = s->body.find("\"sent\":", start);
    if (at != std::string::npos && at < nl) {
      int64_t sent = std::strtoll(s->body.c_str() + at + 7, nullptr, 10);
      if (sent >= min_sent_us) latencies_ms->push_back(static_cast<double>(now_us - sent) / 1000.0);
    }
    start = nl + 1;
  }
  s->body.erase(0, start);
}

double Pct(std::vector<double>* v, double p) {
  if (v->empty()) return 0;
  std::sort(v->begin(), v->end());
  return (*v)[static_cast<size_t>(p / 100.0 * static_cast<double>(v->size() - 1))];
}

// The polling reader: one probe every 50 events, produced synchronously, then read back with
// min_position (the answer comes the moment the view has applied it).
void Probe(projd::Producer* probe, const std::string& topic, uint16_t port, const std::string& view,
           const std::string& value, std::vector<double>* out) {
  std::string error;
  auto t0 = Clock::now();
  int32_t partition = 0;
  int64_t offset = 0;
  if (!probe->Produce(topic, -1, "", value, 0, &partition, &offset, &error)) return;
  std::string target = "/v1/views/" + view + "?min_position=" + topic + ":" +
                       std::to_string(partition) + ":" + std::to_string(offset + 1) +
                       "&wait_ms=10000";
  projd::HttpClientResult r;
  if (projd::HttpCall("127.0.0.1", port, "GET", target, {}, "", std::chrono::seconds(15), &r,
                      &error) &&
      r.status == 200) {
    out->push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
}

int64_t ResidentBytes(uint16_t port) {
  projd::HttpClientResult r;
  std::string error;
  if (!projd::HttpCall("127.0.0.1", port, "GET", "/metrics", {}, "", std::chrono::seconds(5), &r,
                       &error)) {
    return 0;
  }
  size_t at = r.body.find("\nprocess_resident_memory_bytes ");
  return at == std::string::npos ? 0 : std::strtoll(r.body.c_str() + at + 31, nullptr, 10);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 8) {
    std::cerr << "usage: feed_bench BROKERS TOPIC HTTP_PORT VIEW RATE SECONDS SUBSCRIBERS\n";
    return 2;
  }
  std::string brokers = argv[1], topic = argv[2], view = argv[4];
  uint16_t port = static_cast<uint16_t>(std::stoi(argv[3]));
  int rate = std::stoi(argv[5]), seconds = std::stoi(argv[6]), subscribers = std::stoi(argv[7]);
  rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  std::vector<Stream> streams(static_cast<size_t>(subscribers));
  for (int j = 0; j < subscribers; ++j) {
    std::string target = "/v1/views/" + view + "/changes";
    if (subscribers > 1) target += "?key=fa-" + std::to_string(j);
    streams[static_cast<size_t>(j)].fd = Connect(port, target);
    if (streams[static_cast<size_t>(j)].fd < 0) {
      std::cerr << "cannot open subscriber " << j << "\n";
      return 1;
    }
  }
  std::string error;
  // Both without linger, so that the subscribers and the polling reader time the same path.
  auto stream = projd::Producer::Create(brokers, {{"linger.ms", "0"}}, &error);
  auto probe = projd::Producer::Create(brokers, {{"linger.ms", "0"}}, &error);
  if (!stream || !probe) {
    std::cerr << error << "\n";
    return 1;
  }
  int accounts = std::max(subscribers, 1);
  const int64_t total = static_cast<int64_t>(rate) * seconds;
  std::atomic<bool> done{false};
  std::atomic<int64_t> start_us{INT64_MAX};  // events sent from then on are counted
  std::vector<double> visible_ms;
  std::thread producer([&] {
    std::string perror;
    // Warm-up: both producers connected and the view's consumer going before the clock starts.
    for (int w = 0; w < 10; ++w) {
      std::string value =
          R"({"type":"Tick","account":"fa-0","sent_us":)" + std::to_string(WallMicros()) + "}";
      int32_t partition;
      int64_t offset;
      probe->Produce(topic, -1, "", value, 0, &partition, &offset, &perror);
      stream->ProduceAsync(topic, "", value, &perror);
      stream->Flush(std::chrono::seconds(10), &perror);
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
    start_us = WallMicros();
    auto start = Clock::now();
    for (int64_t i = 0; i < total; ++i) {
      std::this_thread::sleep_until(start + std::chrono::microseconds(i * 1000000 / rate));
      std::string value = R"({"type":"Tick","account":"fa-)" + std::to_string(i % accounts) +
                          R"(","sent_us":)" + std::to_string(WallMicros()) + "}";
      if (i % 50 == 0) {
        Probe(probe.get(), topic, port, view, value, &visible_ms);
      } else {
        stream->ProduceAsync(topic, "", value, &perror);
      }
    }
    stream->Flush(std::chrono::seconds(30), &perror);
    std::this_thread::sleep_for(std::chrono::seconds(2));  // the last changes arrive
    done = true;
  });
  std::vector<double> latencies_ms;
  std::vector<pollfd> fds(streams.size());
  char buf[65536];
  while (!done) {
    for (size_t k = 0; k < streams.size(); ++k) fds[k] = pollfd{streams[k].fd, POLLIN, 0};
    if (poll(fds.data(), fds.size(), 100) <= 0) continue;
    int64_t now = WallMicros();
    for (size_t k = 0; k < streams.size(); ++k) {
      if (!(fds[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = recv(streams[k].fd, buf, sizeof(buf), 0);
      if (n <= 0) continue;
      streams[k].raw.append(buf, static_cast<size_t>(n));
      Decode(&streams[k]);
      TakeLines(&streams[k], now, start_us.load(), &latencies_ms);  // not the warm-up's
    }
  }
  producer.join();
  int64_t rss = ResidentBytes(port);
  size_t failed = 0;
  for (auto& s : streams) {
    failed += s.ok ? 0 : 1;
    close(s.fd);
  }
  size_t changes = latencies_ms.size(), probes = visible_ms.size();
  double p50 = Pct(&latencies_ms, 50), p99 = Pct(&latencies_ms, 99);
  double max = latencies_ms.empty() ? 0.0 : latencies_ms.back();
  printf(
      "%d subscriber(s), %d events/s for %d s: %zu changes received, event -> subscriber "
      "p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
      subscribers, rate, seconds, changes, p50, p99, max);
  printf(
      "  same run, polling reader (min_position), %zu probes: event -> visible p50 %.2f ms, "
      "p99 %.2f ms; projd RSS %.0f MiB%s\n",
      probes, Pct(&visible_ms, 50), Pct(&visible_ms, 99), static_cast<double>(rss) / (1 << 20),
      failed ? (", " + std::to_string(failed) + " subscriber(s) refused").c_str() : "");
  return changes > 0 && failed == 0 ? 0 : 1;
}
