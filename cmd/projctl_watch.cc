// projctl watch VIEW: a view's changes as NDJSON on stdout (GET /v1/views/{view}/changes,
// api/feed_api.cc), followed across dropped connections, projd restarts and slow-consumer
// cut-offs by reconnecting from the last position seen. A small streaming HTTP/1.1 client of
// its own (projd::HttpCall reads whole answers): POSIX sockets, poll, chunked decoding.
#include "cmd/projctl_watch.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include "api/http_server.h"
#include "dsl/value.h"

namespace {

using projd::Value;
using Clock = std::chrono::steady_clock;

// projctl --timeout: how long a connection, a request's sending and an answer's head may take
// (the stream itself may stay quiet up to kIdleTimeoutMs: heartbeats keep it going).
int g_request_timeout_ms = 30000;
constexpr int kIdleTimeoutMs = 60000;  // four heartbeats (projd sends one every 15 s)
constexpr int kFirstBackoffMs = 200;
constexpr int kMaxBackoffMs = 5000;
constexpr size_t kMaxHead = 64 * 1024;
constexpr size_t kMaxErrorBody = 1 << 20;

// SIGINT and SIGTERM set the flag and wake any poll through the pipe.
volatile sig_atomic_t g_stop = 0;
int g_wake[2] = {-1, -1};

void OnStopSignal(int /*sig*/) {
  int saved = errno;
  g_stop = 1;
  if (g_wake[1] >= 0) {
    ssize_t ignored = write(g_wake[1], "x", 1);
    (void)ignored;
  }
  errno = saved;
}

bool InstallSignals() {
  if (pipe2(g_wake, O_CLOEXEC | O_NONBLOCK) != 0) return false;
  struct sigaction sa = {};
  sa.sa_handler = OnStopSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: a blocked call returns EINTR
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a closed stdout or socket is an EPIPE error instead
  return true;
}

// Waits until `fd` is ready for `events` (fd -1: only waits). 1 ready, 0 after `timeout_ms`,
// -1 at a stop signal.
int WaitFor(int fd, short events, int timeout_ms) {
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    if (g_stop) return -1;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return 0;
    pollfd p[2] = {{g_wake[0], POLLIN, 0}, {fd, events, 0}};
    int n = poll(p, fd >= 0 ? 2 : 1, static_cast<int>(left.count()));
    if (g_stop) return -1;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return 1;  // the caller's next call reports the error
    if (n > 0 && fd >= 0 && p[1].revents != 0) return 1;
  }
}

std::string Errno(int e) { return std::strerror(e); }

// How a step of the exchange went.
enum class Read { kOk, kEnd, kDropped, kIdle, kStopped };

// One HTTP/1.1 exchange whose answer's body is read line by line as it arrives.
class ChangeStream {
 public:
  ChangeStream() = default;
  ChangeStream(const ChangeStream&) = delete;
  ChangeStream& operator=(const ChangeStream&) = delete;
  ~ChangeStream() {
    if (fd_ >= 0) close(fd_);
  }

  // Connects to the first address of `host` that accepts.
  Read Connect(const std::string& host, uint16_t port, std::string* error);
  Read Send(const std::string& data, std::string* error);
  // Reads the answer's head: status() and Header() then tell it.
  Read ReadHead(std::string* error);
  int status() const { return status_; }
  std::string Header(const std::string& lower_name) const;
  // The next line of the body, without its newline. kEnd when the body ended where a line
  // ends; kDropped when the connection failed or closed mid-body; kIdle after kIdleTimeoutMs.
  Read NextLine(std::string* line, std::string* error);
  // The whole (rest of the) body: error answers.
  Read Body(std::string* body, std::string* error);

 private:
  Read ConnectOne(const addrinfo* a, std::string* error);
  Read Fill(int timeout_ms, std::string* error);
  bool Decode(std::string* error);
  bool DecodeChunks(std::string* error);

  int fd_ = -1;
  int status_ = 0;
  std::vector<std::pair<std::string, std::string>> headers_;  // names lower-cased
  std::string raw_;                                           // received, not yet decoded
  std::string body_;                                          // decoded; lines from pos_
  size_t pos_ = 0;
  size_t scanned_ = 0;  // body_ holds no newline before this
  bool chunked_ = false;
  bool has_length_ = false;
  uint64_t left_ = 0;        // Content-Length: body bytes still to come
  uint64_t chunk_left_ = 0;  // bytes of the current chunk still to come
  bool chunk_crlf_ = false;  // a chunk's data ended: its CRLF comes next
  bool in_trailer_ = false;  // after the last chunk: trailer lines until an empty one
  bool eof_ = false;         // the peer closed
  bool done_ = false;        // the body is complete
};

Read ChangeStream::Connect(const std::string& host, uint16_t port, std::string* error) {
  std::string name = host;
  if (name.size() > 2 && name.front() == '[' && name.back() == ']') {
    name = name.substr(1, name.size() - 2);  // [::1]
  }
  addrinfo hints = {};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int rc = getaddrinfo(name.c_str(), std::to_string(port).c_str(), &hints, &res);
  if (g_stop) {
    if (rc == 0) freeaddrinfo(res);
    return Read::kStopped;
  }
  if (rc != 0) {
    *error = "cannot resolve " + name + ": " + gai_strerror(rc);
    return Read::kDropped;
  }
  Read result = Read::kDropped;
  for (const addrinfo* a = res; a; a = a->ai_next) {
    result = ConnectOne(a, error);
    if (result != Read::kDropped) break;
  }
  freeaddrinfo(res);
  return result;
}

Read ChangeStream::ConnectOne(const addrinfo* a, std::string* error) {
  int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
  if (fd < 0) {
    *error = "cannot create a socket: " + Errno(errno);
    return Read::kDropped;
  }
  if (connect(fd, a->ai_addr, a->ai_addrlen) != 0 && errno != EINPROGRESS) {
    *error = "cannot connect: " + Errno(errno);
    close(fd);
    return Read::kDropped;
  }
  int ready = WaitFor(fd, POLLOUT, g_request_timeout_ms);
  int err = 0;
  socklen_t len = sizeof(err);
  if (ready == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if (ready != 1 || err != 0) {
    close(fd);
    if (ready < 0) return Read::kStopped;
    *error = ready == 0 ? "cannot connect: no answer within 10 s" : "cannot connect: " + Errno(err);
    return Read::kDropped;
  }
  fd_ = fd;
  return Read::kOk;
}

Read ChangeStream::Send(const std::string& data, std::string* error) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = send(fd_, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n > 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      int ready = WaitFor(fd_, POLLOUT, g_request_timeout_ms);
      if (ready < 0) return Read::kStopped;
      if (ready == 0) {
        *error = "cannot send the request: timed out";
        return Read::kDropped;
      }
      continue;
    }
    *error = "cannot send the request: " + Errno(errno);
    return Read::kDropped;
  }
  return Read::kOk;
}

// Receives more bytes into raw_. kEnd when the peer closed.
Read ChangeStream::Fill(int timeout_ms, std::string* error) {
  char buf[65536];
  while (true) {
    if (g_stop) return Read::kStopped;
    ssize_t n = recv(fd_, buf, sizeof(buf), 0);
    if (n > 0) {
      raw_.append(buf, static_cast<size_t>(n));
      return Read::kOk;
    }
    if (n == 0) {
      eof_ = true;
      return Read::kEnd;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      *error = Errno(errno);
      return Read::kDropped;
    }
    int ready = WaitFor(fd_, POLLIN, timeout_ms);
    if (ready < 0) return Read::kStopped;
    if (ready == 0) {
      *error = "nothing from projd for " + std::to_string(timeout_ms / 1000) + " s";
      return Read::kIdle;
    }
  }
}

Read ChangeStream::ReadHead(std::string* error) {
  size_t end;
  while ((end = raw_.find("\r\n\r\n")) == std::string::npos) {
    if (raw_.size() > kMaxHead) {
      *error = "the answer's head is too long";
      return Read::kDropped;
    }
    Read r = Fill(g_request_timeout_ms, error);
    if (r == Read::kEnd) *error = "the connection closed before the answer";
    if (r == Read::kEnd || r == Read::kIdle) return Read::kDropped;
    if (r != Read::kOk) return r;
  }
  std::string head = raw_.substr(0, end + 2);
  raw_.erase(0, end + 4);
  if (head.rfind("HTTP/1.", 0) != 0 || head.size() < 12) {
    *error = "not an HTTP answer";
    return Read::kDropped;
  }
  status_ = std::atoi(head.c_str() + 9);
  for (size_t at = head.find("\r\n") + 2; at < head.size();) {
    size_t eol = head.find("\r\n", at);
    std::string line = head.substr(at, eol - at);
    at = eol + 2;
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon), value = line.substr(colon + 1);
    std::transform(name.begin(), name.end(), name.begin(), ::tolower);
    value.erase(0, value.find_first_not_of(" \t"));
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.pop_back();
    headers_.emplace_back(name, value);
  }
  std::string te = Header("transfer-encoding");
  std::transform(te.begin(), te.end(), te.begin(), ::tolower);
  chunked_ = te.find("chunked") != std::string::npos;
  std::string length = Header("content-length");
  if (!chunked_ && !length.empty()) {
    has_length_ = true;
    left_ = std::strtoull(length.c_str(), nullptr, 10);
    done_ = left_ == 0;
  }
  return Read::kOk;
}

std::string ChangeStream::Header(const std::string& lower_name) const {
  for (const auto& [n, v] : headers_) {
    if (n == lower_name) return v;
  }
  return "";
}

// Moves what raw_ holds of the body into body_. false (with *error) on broken chunk framing.
bool ChangeStream::Decode(std::string* error) {
  if (chunked_) return DecodeChunks(error);
  size_t n = raw_.size();
  if (has_length_) {
    n = static_cast<size_t>(std::min<uint64_t>(n, left_));
    left_ -= n;
    done_ = left_ == 0;
  }
  body_.append(raw_, 0, n);
  raw_.erase(0, n);
  return true;
}

bool ChangeStream::DecodeChunks(std::string* error) {
  size_t at = 0;  // consumed of raw_
  while (!done_) {
    if (chunk_left_ > 0) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(chunk_left_, raw_.size() - at));
      body_.append(raw_, at, n);
      at += n;
      chunk_left_ -= n;
      if (chunk_left_ > 0) break;
      chunk_crlf_ = true;
    }
    if (chunk_crlf_) {
      if (raw_.size() - at < 2) break;
      if (raw_.compare(at, 2, "\r\n") != 0) {
        *error = "bad chunked encoding: no CRLF after a chunk";
        return false;
      }
      at += 2;
      chunk_crlf_ = false;
    }
    size_t eol = raw_.find("\r\n", at);
    if (eol == std::string::npos) {
      if (raw_.size() - at > 4096) {
        *error = "bad chunked encoding: a chunk-size line too long";
        return false;
      }
      break;
    }
    std::string line = raw_.substr(at, eol - at);
    at = eol + 2;
    if (in_trailer_) {
      done_ = line.empty();  // the empty line after the trailer fields ends the body
      continue;
    }
    std::string hex = line.substr(0, line.find(';'));  // chunk extensions are ignored
    while (!hex.empty() && (hex.back() == ' ' || hex.back() == '\t')) hex.pop_back();
    if (hex.empty() || hex.size() > 15 ||
        hex.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos) {
      *error = "bad chunked encoding: chunk size '" + line + "'";
      return false;
    }
    chunk_left_ = std::strtoull(hex.c_str(), nullptr, 16);
    in_trailer_ = chunk_left_ == 0;
  }
  raw_.erase(0, at);
  return true;
}

Read ChangeStream::NextLine(std::string* line, std::string* error) {
  while (true) {
    if (!Decode(error)) return Read::kDropped;
    size_t nl = body_.find('\n', std::max(pos_, scanned_));
    if (nl != std::string::npos) {
      line->assign(body_, pos_, nl - pos_);
      if (!line->empty() && line->back() == '\r') line->pop_back();
      pos_ = nl + 1;
      scanned_ = pos_;
      if (pos_ > 65536 && pos_ * 2 > body_.size()) {
        body_.erase(0, pos_);
        pos_ = scanned_ = 0;
      }
      return Read::kOk;
    }
    scanned_ = body_.size();
    if (done_ || (eof_ && !chunked_ && !has_length_)) {
      if (pos_ == body_.size()) return Read::kEnd;
      *error = "the stream ended in the middle of a line";
      return Read::kDropped;
    }
    if (eof_) {
      *error = "closed mid-stream";
      return Read::kDropped;
    }
    Read r = Fill(kIdleTimeoutMs, error);
    if (r != Read::kOk && r != Read::kEnd) return r;
  }
}

Read ChangeStream::Body(std::string* body, std::string* error) {
  while (true) {
    if (!Decode(error)) return Read::kDropped;
    if (done_ || eof_ || body_.size() > kMaxErrorBody) break;
    Read r = Fill(g_request_timeout_ms, error);
    if (r == Read::kStopped) return r;
    if (r != Read::kOk) break;  // what came is the answer
  }
  *body = body_.substr(pos_);
  return Read::kOk;
}

// ---- the watcher ----

struct Watcher {
  std::string host;
  uint16_t port = 0;
  std::string token;
  std::string view;
  std::string start;                                         // --from; "" is projd's now
  std::vector<std::pair<std::string, std::string>> filters;  // where=, key=
  std::string position;     // the last position seen (a change's, a heartbeat's): resumes here
  std::string from;         // the from= of the current connection
  bool connected = false;   // a stream was open once: failures since are reconnected
  bool progressed = false;  // the current connection gave a line
};

// What a connection came to: reconnect (after `reason` on stderr), or exit with `code`.
struct Outcome {
  bool retry = false;
  int code = 0;
  std::string reason;
  int wait_ms = 0;  // a wait projd asked for (Retry-After); 0: the backoff
};

Outcome Exit(int code) { return Outcome{false, code, "", 0}; }
Outcome Retry(std::string reason) { return Outcome{true, 0, std::move(reason), 0}; }

std::string Request(Watcher& w) {
  w.from = !w.position.empty() ? w.position : w.start;
  std::string target = "/v1/views/" + projd::PercentEncode(w.view) + "/changes";
  char sep = '?';
  if (!w.from.empty()) {
    target += "?from=" + projd::PercentEncode(w.from);
    sep = '&';
  }
  for (const auto& [name, value] : w.filters) {
    target += sep + name + "=" + projd::PercentEncode(value);
    sep = '&';
  }
  std::string request = "GET " + target + " HTTP/1.1\r\nHost: " + w.host + ":" +
                        std::to_string(w.port) +
                        "\r\nAccept: application/x-ndjson\r\nConnection: close\r\n";
  if (!w.token.empty()) request += "Authorization: Bearer " + w.token + "\r\n";
  return request + "\r\n";
}

std::string StringField(const Value& v, const char* name) {
  const Value* f = v.is_object() ? v.as_object().Find(name) : nullptr;
  if (!f || f->is_null()) return "";
  return f->is_string() ? f->as_string() : projd::ToJson(*f);
}

// An error answer as projctl prints it: the error, then the detail (where it is in --where,
// the oldest position kept, or the detail as it came).
std::string ErrorText(const Value& v, const std::string& body) {
  std::string error = StringField(v, "error");
  if (error.empty()) return body;
  const Value* d = v.as_object().Find("detail");
  if (!d || d->is_null()) return error;
  if (d->is_string()) return error + ": " + d->as_string();
  std::string line = StringField(*d, "line"), column = StringField(*d, "column");
  if (!line.empty() && !column.empty()) {
    return error + " (--where, line " + line + ", column " + column + ")";
  }
  std::string oldest = StringField(*d, "oldest");
  if (!oldest.empty()) {
    return error + ": " + StringField(*d, "hint") + " (the oldest position kept: " + oldest + ")";
  }
  return error + ": " + projd::ToJson(*d);
}

// An answer other than 200: 503 and (once a stream was open) other 5xx are waited out; the
// rest end the watch with the error on stderr.
Outcome Refused(Watcher& w, ChangeStream& s) {
  std::string body, error;
  if (s.Body(&body, &error) == Read::kStopped) return Exit(0);
  int status = s.status();
  Value v;
  if (!projd::ParseJson(body, &v, &error)) v = Value();
  std::string text = ErrorText(v, body);
  if (status == 503 || (status >= 500 && w.connected)) {
    Outcome o = Retry("projd answered " + std::to_string(status) + " " + text);
    int after = std::atoi(s.Header("retry-after").c_str());
    if (after > 0) o.wait_ms = std::min(after, 60) * 1000;
    return o;
  }
  if (status == 410 && w.connected) {
    const Value* d = v.is_object() ? v.as_object().Find("detail") : nullptr;
    std::cerr << "projctl watch: cannot resume from " << w.from
              << ": projd no longer keeps the changes after it (the oldest position it can "
                 "resume from is "
              << (d ? StringField(*d, "oldest") : "unknown") << "); changes were missed\n";
    return Exit(1);
  }
  std::cerr << "projctl: " << status << " " << text << "\n";
  return Exit(1);
}

// Writes `line` and a newline to stdout at once. 0, -1 at a stop signal before any of it was
// written, else the errno of the failed write.
int WriteLine(const std::string& line) {
  std::string out = line + "\n";
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = write(STDOUT_FILENO, out.data() + done, out.size() - done);
    if (n > 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) {
      if (g_stop && done == 0) return -1;
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (WaitFor(STDOUT_FILENO, POLLOUT, 3600 * 1000) < 0 && done == 0) return -1;
      continue;
    }
    return n < 0 ? errno : EIO;
  }
  return 0;
}

// A control line (not a change): the heartbeat's position is kept; an end of the stream gives
// the Outcome in *end (true).
bool Control(Watcher& w, const Value& v, const std::string& line, Outcome* end) {
  const projd::Object& o = v.as_object();
  std::string position = StringField(v, "position");
  if (o.Find("heartbeat")) {
    if (!StringField(v, "heartbeat").empty()) w.position = StringField(v, "heartbeat");
    return false;
  }
  if (o.Find("rebuilt")) {
    std::cerr << line << "\nprojctl watch: view " << w.view
              << " was rebuilt with a changed definition (" << StringField(v, "rebuilt")
              << "); its changes from " << position << " on follow the new definition\n";
    *end = Exit(3);
    return true;
  }
  std::string error = StringField(v, "error");
  if (error == "slow consumer") {
    if (!position.empty()) w.position = position;
    *end = Retry("cut off by projd as a slow consumer (stdout was read too slowly)");
    return true;
  }
  std::cerr << "projctl watch: projd ended the stream: " << line << "\n";
  if (error == "changes pruned before they were sent") {
    std::cerr << "projctl watch: the changes after " << (position.empty() ? w.from : position)
              << " are no longer kept; watch from a later position, or from now\n";
  }
  *end = Exit(1);
  return true;
}

// One line of the stream: a change is printed as it came; control lines as Control says.
bool OnLine(Watcher& w, const std::string& line, Outcome* end) {
  Value v;
  std::string error;
  if (!projd::ParseJson(line, &v, &error) || !v.is_object()) {
    std::cerr << "projctl watch: projd sent a line that is not a JSON object: " << line << "\n";
    *end = Exit(1);
    return true;
  }
  const projd::Object& o = v.as_object();
  if (!o.Find("key") && (o.Find("heartbeat") || o.Find("rebuilt") || o.Find("error"))) {
    return Control(w, v, line, end);
  }
  int rc = WriteLine(line);
  if (rc != 0) {
    // Ctrl-C, or stdout closed (projctl watch v | head -5): quietly done.
    if (rc != -1 && rc != EPIPE) {
      std::cerr << "projctl watch: cannot write to stdout: " << Errno(rc) << "\n";
    }
    *end = Exit(rc == -1 || rc == EPIPE ? 0 : 1);
    return true;
  }
  std::string position = StringField(v, "position");
  if (!position.empty()) w.position = position;
  return false;
}

// Reads an open stream until it ends.
Outcome Follow(Watcher& w, ChangeStream& s) {
  std::string line, error;
  while (true) {
    Read r = s.NextLine(&line, &error);
    switch (r) {
      case Read::kStopped:
        return Exit(0);
      case Read::kEnd:
        return Retry("the stream ended (projd stopped, or the view was replaced)");
      case Read::kIdle:
        return Retry(error);
      case Read::kDropped:
        return Retry("connection lost: " + error);
      case Read::kOk:
        break;
    }
    if (line.empty()) continue;
    w.progressed = true;
    Outcome end;
    if (OnLine(w, line, &end)) return end;
  }
}

// One connection: request, answer, stream.
Outcome Connection(Watcher& w) {
  ChangeStream s;
  std::string error;
  Read r = s.Connect(w.host, w.port, &error);
  if (r == Read::kOk) r = s.Send(Request(w), &error);
  if (r == Read::kOk) r = s.ReadHead(&error);
  if (r == Read::kStopped) return Exit(0);
  if (r != Read::kOk) {
    if (w.connected) return Retry(error);
    std::cerr << "projctl: cannot reach projd at " << w.host << ":" << w.port << ": " << error
              << "\n";
    return Exit(1);
  }
  if (s.status() != 200) return Refused(w, s);
  w.connected = true;
  // Where projd started the stream: a reconnect before the first change resumes there.
  std::string start = s.Header("x-projd-feed-position");
  if (w.position.empty() && !start.empty()) w.position = start;
  return Follow(w, s);
}

}  // namespace

namespace projctl {

// projctl watch: prints the changes until Ctrl-C or SIGTERM (exit 0), an error (1) or a rebuild
// with a changed definition (3); reconnects after drops from the last position seen.
int Watch(const std::string& host, uint16_t port, const std::string& token, const std::string& view,
          const std::string& from, const std::vector<std::pair<std::string, std::string>>& filters,
          int timeout_ms) {
  g_request_timeout_ms = timeout_ms;
  if (!InstallSignals()) {
    std::cerr << "projctl watch: cannot create a pipe: " << Errno(errno) << "\n";
    return 1;
  }
  Watcher w;
  w.host = host;
  w.port = port;
  w.token = token;
  w.view = view;
  w.start = from;
  w.filters = filters;
  int backoff = kFirstBackoffMs;
  while (true) {
    w.progressed = false;
    Outcome o = Connection(w);
    if (!o.retry) return o.code;
    if (w.progressed) backoff = kFirstBackoffMs;
    int wait = o.wait_ms > 0 ? o.wait_ms : backoff;
    std::string resume = !w.position.empty() ? w.position : (w.start.empty() ? "now" : w.start);
    char seconds[32];
    std::snprintf(seconds, sizeof(seconds), "%.1f", wait / 1000.0);
    std::cerr << "projctl watch: " << o.reason << "; reconnecting in " << seconds << " s from "
              << resume << std::endl;
    if (WaitFor(-1, 0, wait) < 0) return 0;
    backoff = std::min(backoff * 2, kMaxBackoffMs);
  }
}

}  // namespace projctl
