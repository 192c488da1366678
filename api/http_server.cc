// The HTTP/1.1 server of projd on Boost.Beast (see http_server.h for the contract).
//
// Structure (after the habits of Beast's advanced server example):
//   Core     owns the io_context, the acceptor, the I/O threads, the PostAfter timers and a
//            registry of live sessions. It is shared: each Responder holds it, so the
//            io_context outlives every Responder and a late answer can never touch a
//            destroyed context.
//   Session  one connection, all of its state touched only on its strand. It reads requests
//            ahead (up to max_pipelined unanswered ones), hands each to the handler with a
//            Responder, and writes the answers strictly in request order. Responders hold
//            it weakly; it keeps itself alive while answers are owed and it is open.
//   PendingReply  what a Responder holds: answers at most once; if every copy of the
//            Responder is dropped unanswered, the request gets a 500 so the pipeline never
//            stalls.
//
// Timeouts, with beast::tcp_stream (which closes the socket when one expires):
//   - waiting for the first byte of a request: idle_timeout when no answer is outstanding,
//     no limit while the handler still owes an answer (the client is waiting for us);
//   - from then until the request is complete: read_timeout (slowloris clients are dropped);
//   - writing one response: idle_timeout;
//   - while a streamed answer (HttpResponse::stream) is sent: idle_timeout for each write, and
//     a read without a deadline that only notices the client closing (a stream may be quiet).
// After a final response (Connection: close, or an error), the server shuts down its sending
// side and drains what the client still sends for a short while before closing, so that the
// client reads the answer instead of a connection reset. A streamed answer is always final.
#include "api/http_server.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <condition_variable>
#include <cstddef>
#include <cstdio>
#include <deque>
#include <exception>
#include <filesystem>
#include <limits>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

namespace projd {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

constexpr size_t kFirstReadBytes = 4096;
constexpr size_t kBodyReadBytes = 65536;
// Bounds of the chunked framing, which Beast's parser leaves open: it waits for a chunk-size
// line, and for the last chunk with its trailer section, to arrive whole before it parses them.
constexpr size_t kMaxChunkLineBytes = 4096;  // chunk size and extensions, without the CRLF
constexpr size_t kMaxTrailerBytes = 8192;    // and at most max_header_bytes
constexpr std::chrono::milliseconds kMaxLinger{2000};
constexpr std::chrono::milliseconds kAcceptRetryDelay{100};

std::string_view View(beast::string_view s) { return std::string_view(s.data(), s.size()); }

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Strict percent-decoding: false on a '%' not followed by two hex digits.
bool DecodeStrict(std::string_view s, bool plus_is_space, std::string* out) {
  out->clear();
  out->reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size()) return false;
      int hi = HexValue(s[i + 1]);
      int lo = HexValue(s[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out->push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out->push_back(' ');
    } else {
      out->push_back(c);
    }
  }
  return true;
}

std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

void AppendJsonString(std::string_view s, std::string* out) {
  static const char kHex[] = "0123456789abcdef";
  out->push_back('"');
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(c);
    } else if (u < 0x20) {
      out->append("\\u00");
      out->push_back(kHex[u >> 4]);
      out->push_back(kHex[u & 15]);
    } else {
      out->push_back(c);
    }
  }
  out->push_back('"');
}

HttpResponse ErrorResponse(int status, std::string_view error, std::string_view detail) {
  HttpResponse response;
  response.status = status;
  response.body = "{\"error\":";
  AppendJsonString(error, &response.body);
  if (!detail.empty()) {
    response.body += ",\"detail\":";
    AppendJsonString(detail, &response.body);
  }
  response.body += "}";
  return response;
}

std::string FormatEndpoint(const tcp::endpoint& endpoint) {
  std::string address = endpoint.address().to_string();
  if (endpoint.address().is_v6()) address = "[" + address + "]";
  return address + ":" + std::to_string(endpoint.port());
}

// Fills path, segments and query from the raw target. False (with *detail) when the target is
// not origin-form (or absolute-form) or holds a malformed percent escape.
bool ParseTarget(std::string_view target, HttpRequest* request, std::string* detail) {
  std::string_view path = target;
  std::string_view query;
  size_t question = target.find('?');
  if (question != std::string_view::npos) {
    path = target.substr(0, question);
    query = target.substr(question + 1);
  }
  // absolute-form ("http://host/path"), which HTTP/1.1 servers must accept.
  size_t scheme_end = path.find("://");
  if (!path.empty() && path[0] != '/' && scheme_end != std::string_view::npos) {
    size_t slash = path.find('/', scheme_end + 3);
    path = slash == std::string_view::npos ? std::string_view("/") : path.substr(slash);
  }
  if (path.empty() || path[0] != '/') {
    *detail = "the request target must start with '/'";
    return false;
  }
  if (!DecodeStrict(path, false, &request->path)) {
    *detail = "malformed percent escape in the path";
    return false;
  }
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    if (end > start) {
      std::string segment;
      DecodeStrict(path.substr(start, end - start), false, &segment);
      request->segments.push_back(std::move(segment));
    }
    start = end + 1;
  }
  start = 0;
  while (start < query.size()) {
    size_t end = query.find('&', start);
    if (end == std::string_view::npos) end = query.size();
    std::string_view part = query.substr(start, end - start);
    start = end + 1;
    if (part.empty()) continue;
    size_t equals = part.find('=');
    std::string_view name = part.substr(0, equals);
    std::string_view value =
        equals == std::string_view::npos ? std::string_view() : part.substr(equals + 1);
    std::string decoded_name, decoded_value;
    if (!DecodeStrict(name, true, &decoded_name) || !DecodeStrict(value, true, &decoded_value)) {
      *detail = "malformed percent escape in the query";
      return false;
    }
    request->query.emplace_back(std::move(decoded_name), std::move(decoded_value));
  }
  return true;
}

bool IsFramingHeader(std::string_view name) {
  return EqualsIgnoreCase(name, "content-length") || EqualsIgnoreCase(name, "connection") ||
         EqualsIgnoreCase(name, "transfer-encoding") || EqualsIgnoreCase(name, "server");
}

bool HasLineBreak(std::string_view s) { return s.find_first_of("\r\n") != std::string_view::npos; }

// An answer's body file, open while it is sent (HttpResponse::body_file).
struct OpenFile {
  int fd = -1;
  uint64_t size = 0;
  uint64_t remaining = 0;  // bytes not yet sent
  std::shared_ptr<HttpFileBody> body;
  OpenFile() = default;
  OpenFile(const OpenFile&) = delete;
  OpenFile& operator=(const OpenFile&) = delete;
  ~OpenFile() {
    if (fd >= 0) close(fd);
  }
  // Reads the next piece of at most `max` bytes into *out; false when the file ends early.
  bool Next(size_t max, std::string* out) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(remaining, max));
    out->resize(n);
    size_t got = 0;
    while (got < n) {
      ssize_t r = read(fd, out->data() + got, n - got);
      if (r <= 0) return false;
      got += static_cast<size_t>(r);
    }
    remaining -= n;
    return true;
  }
};

// Bytes of a body file sent per write.
constexpr size_t kFileChunkBytes = 256 * 1024;

// Opens the answer's body file, if it has one. A file that cannot be opened turns the answer
// into a 500 (and is removed as asked when the answer drops it).
std::shared_ptr<OpenFile> OpenBodyFile(HttpResponse* answer);

// The wire form of an answer. The server owns framing: Content-Length and Connection are set
// here and the handler's copies of them are ignored, as are fields holding line breaks. The
// answer to a HEAD request keeps its Content-Length but sends no body. An HTTP/1.0 client
// that asked to keep the connection is told it stays open ("Connection: keep-alive").
http::response<http::string_body> BuildResponse(HttpResponse&& answer, bool keep_alive,
                                                bool head_request, bool http10,
                                                const OpenFile* file = nullptr) {
  int status = answer.status;
  if (status < 100 || status > 599) status = 500;
  http::response<http::string_body> response;
  response.version(11);
  response.result(static_cast<unsigned>(status));
  response.set(http::field::server, "projd");
  if (!answer.content_type.empty() && !HasLineBreak(answer.content_type)) {
    response.set(http::field::content_type, answer.content_type);
  }
  for (auto& [name, value] : answer.headers) {
    if (name.empty() || IsFramingHeader(name) || HasLineBreak(name) || HasLineBreak(value) ||
        EqualsIgnoreCase(name, "content-type")) {
      continue;
    }
    response.insert(name, value);
  }
  bool no_body = status < 200 || status == 204 || status == 304;
  if (no_body) {
    answer.body.clear();
  } else {
    response.content_length(file ? file->size : answer.body.size());
    if (head_request || file) answer.body.clear();
  }
  response.body() = std::move(answer.body);
  response.keep_alive(keep_alive);
  if (keep_alive && http10) response.set(http::field::connection, "keep-alive");
  return response;
}

// The bytes of a response as they go on the wire.
std::string Serialize(http::response<http::string_body>&& response) {
  // What Beast's serializer writes for a string body, done in one pass: the status line, the
  // fields in their order, a blank line, the body.
  beast::string_view reason = response.reason();
  if (reason.empty()) reason = http::obsolete_reason(response.result());
  const std::string& body = response.body();
  std::string out;
  out.reserve(body.size() + 256);
  out += response.version() == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  out += std::to_string(response.result_int());
  out += ' ';
  out.append(reason.data(), reason.size());
  out += "\r\n";
  for (const auto& field : response.base()) {
    out.append(field.name_string().data(), field.name_string().size());
    out += ": ";
    out.append(field.value().data(), field.value().size());
    out += "\r\n";
  }
  out += "\r\n";
  out += body;
  return out;
}

std::shared_ptr<OpenFile> OpenBodyFile(HttpResponse* answer) {
  if (!answer->body_file) return nullptr;
  auto file = std::make_shared<OpenFile>();
  file->body = std::move(answer->body_file);
  file->fd = open(file->body->path.c_str(), O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (file->fd < 0 || fstat(file->fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    *answer = ErrorResponse(500, "internal error", "cannot open the answer's body file");
    return nullptr;
  }
  file->size = file->remaining = static_cast<uint64_t>(st.st_size);
  return file;
}

// Whether a built response sends a body (not for HEAD requests or bodiless statuses).
bool SendsBody(const http::response<http::string_body>& response, bool head_request) {
  unsigned status = response.result_int();
  return !head_request && status >= 200 && status != 204 && status != 304;
}

// ---- Streamed answers (HttpResponse::stream) ----------------------------------------------

// What the server holds of a handler's HttpStream: it calls the stream's Closed exactly once,
// whatever becomes of the answer. An answer dropped anywhere (a second answer, a connection
// already closed, a server stopping, a post that never runs) releases its ClosingStream, whose
// destructor then calls Closed. Exceptions of the handler's stream do not leave it: a stream
// that throws is broken() and its connection is closed without the end of the body.
class ClosingStream final : public HttpStream {
 public:
  explicit ClosingStream(std::shared_ptr<HttpStream> inner) : inner_(std::move(inner)) {}
  ~ClosingStream() override { Closed(); }
  ClosingStream(const ClosingStream&) = delete;
  ClosingStream& operator=(const ClosingStream&) = delete;

  void Open(std::function<void()> wake) override {
    if (!inner_ || broken_) return;
    try {
      inner_->Open(std::move(wake));
    } catch (...) {
      broken_ = true;
    }
  }
  bool Take(std::string* out) override {
    if (!inner_ || broken_) return false;
    try {
      return inner_->Take(out);
    } catch (...) {
      broken_ = true;
      return false;
    }
  }
  void Closed() override {
    if (closed_.exchange(true)) return;
    std::shared_ptr<HttpStream> inner = std::move(inner_);
    try {
      inner->Closed();
    } catch (...) {
    }
  }
  bool broken() const { return broken_; }

 private:
  std::shared_ptr<HttpStream> inner_;
  std::atomic<bool> closed_{false};
  bool broken_ = false;
};

// Puts the answer's stream, if it has one, under a ClosingStream (once).
void GuardStream(HttpResponse* answer) {
  if (answer->stream && !dynamic_cast<ClosingStream*>(answer->stream.get())) {
    answer->stream = std::make_shared<ClosingStream>(std::move(answer->stream));
  }
}

// The answer's stream taken out of it, once GuardStream made it a ClosingStream.
std::shared_ptr<ClosingStream> TakeStream(HttpResponse* answer) {
  auto stream = std::static_pointer_cast<ClosingStream>(answer->stream);
  answer->stream.reset();
  return stream;
}

// Whether an answer's stream is sent: only as the body of a 2xx answer (not 204). An answer of
// another status drops its stream (closed unopened) and is sent as any other.
bool StreamsBody(const HttpResponse& answer) {
  return answer.stream && answer.status >= 200 && answer.status <= 299 && answer.status != 204;
}

void DropStream(HttpResponse* answer) {
  if (!answer->stream) return;
  answer->stream->Closed();
  answer->stream.reset();
}

// The head of a streamed answer (its stream taken out before): no Content-Length; to an
// HTTP/1.1 client "Transfer-Encoding: chunked", to an HTTP/1.0 client no framing (the body
// ends when the connection closes). Caches and proxies (nginx) are asked not to hold it back
// unless the handler said otherwise. A HEAD request gets this head without a body, and may
// keep its connection; a streamed body is the last answer on its connection.
std::string StreamHead(HttpResponse&& answer, bool keep_alive, bool http10) {
  answer.body.clear();
  answer.body_file.reset();
  auto response = BuildResponse(std::move(answer), keep_alive, true, http10);
  response.erase(http::field::content_length);
  if (!http10) response.set(http::field::transfer_encoding, "chunked");
  if (response.find(http::field::cache_control) == response.end()) {
    response.set(http::field::cache_control, "no-cache");
  }
  if (response.find("X-Accel-Buffering") == response.end()) {
    response.insert("X-Accel-Buffering", "no");
  }
  return Serialize(std::move(response));
}

// Appends a piece of a streamed body as it goes on the wire: one chunk to an HTTP/1.1 client
// (never an empty one, which would end the body), the bytes themselves to an HTTP/1.0 client.
void AppendStreamPiece(std::string_view piece, bool http10, std::string* out) {
  if (piece.empty()) return;
  if (http10) {
    out->append(piece);
    return;
  }
  char size[24];
  int n = snprintf(size, sizeof(size), "%zx\r\n", piece.size());
  out->append(size, static_cast<size_t>(n));
  out->append(piece);
  out->append("\r\n");
}

const char kLastChunk[] = "0\r\n\r\n";

// ---- Request reading, shared by Session and HandleConnectionBytes ------------------------

const char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";

void LimitParser(http::request_parser<http::string_body>* parser,
                 const HttpServerOptions& options) {
  parser->header_limit(static_cast<uint32_t>(
      std::min<size_t>(options.max_header_bytes, std::numeric_limits<uint32_t>::max())));
  parser->body_limit(static_cast<uint64_t>(options.max_body_bytes));
}

// The request head asks for a go-ahead before its body ("Expect: 100-continue").
bool ExpectsContinue(const http::request<http::string_body>& head) {
  auto expect = head.find(http::field::expect);
  return expect != head.end() && EqualsIgnoreCase(View(expect->value()), "100-continue");
}

// The answer to a request that could not be parsed (the connection closes after it), or
// nullopt when there is nothing to answer (the client went away, a timeout).
std::optional<HttpResponse> ReadErrorAnswer(beast::error_code ec) {
  if (ec == http::error::header_limit) {
    return ErrorResponse(431, "request header fields too large", ec.message());
  }
  if (ec == http::error::body_limit) {
    return ErrorResponse(413, "payload too large", ec.message());
  }
  if (ec.category() == beast::error_code(http::error::bad_method).category()) {
    return ErrorResponse(400, "bad request", ec.message());
  }
  return std::nullopt;
}

// The answer to a request in an HTTP version projd does not speak (the connection closes
// after it), or nullopt.
std::optional<HttpResponse> CheckVersion(const http::request<http::string_body>& message) {
  if (message.version() < 10 || message.version() > 19) {
    return ErrorResponse(400, "bad request", "unsupported HTTP version");
  }
  return std::nullopt;
}

std::string_view TrimWhitespace(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// One request being read: Beast's parser with projd's limits, and the checks of the framing
// that Beast does not make (RFC 9112 §6 and the bounds of chunked framing). Shared by Session
// and HandleConnectionBytes, so that both read requests alike.
class RequestReader {
 public:
  explicit RequestReader(const HttpServerOptions& options)
      : trailer_limit_(std::min(kMaxTrailerBytes, options.max_header_bytes)) {
    LimitParser(&parser_, options);
    parser_.on_chunk_header(chunk_header_check_);
  }
  RequestReader(const RequestReader&) = delete;
  RequestReader& operator=(const RequestReader&) = delete;

  http::request_parser<http::string_body>& parser() { return parser_; }

  // The request head is parsed and its method is HEAD (its answers have no body).
  bool head() const {
    return parser_.is_header_done() && parser_.get().method() == http::verb::head;
  }

  // parser().put over `bytes`: returns how many bytes were consumed; ec as put sets it
  // (need_more included).
  size_t Put(std::string_view bytes, beast::error_code& ec) {
    feed_ = bytes;
    size_t used = parser_.put(net::buffer(bytes.data(), bytes.size()), ec);
    feed_ = {};
    return used;
  }

  // Once the head is parsed: the 400 answer (the connection closes after it) when the body's
  // length cannot be known for sure. Beast takes a Transfer-Encoding whose last coding is not
  // chunked as "no body" and reads the body as the next request (request smuggling), and
  // takes Content-Length when another coding comes with it; RFC 9112 §6.3 asks for 400 and
  // close. Only "chunked", alone, is accepted, and never together with Content-Length or in an
  // HTTP/1.0 request (§6.1).
  std::optional<HttpResponse> CheckHead() {
    const http::request<http::string_body>& head = parser_.get();
    header_fields_ = 0;
    size_t codings = 0;
    bool chunked = false;
    bool content_length = false;
    for (const auto& field : head) {
      ++header_fields_;
      if (field.name() == http::field::content_length) content_length = true;
      if (field.name() != http::field::transfer_encoding) continue;
      ++codings;
      chunked = EqualsIgnoreCase(TrimWhitespace(View(field.value())), "chunked");
    }
    if (codings == 0) return std::nullopt;
    if (codings > 1 || !chunked) {
      return ErrorResponse(400, "bad request",
                           "Transfer-Encoding must be chunked alone (RFC 9112 section 6.3)");
    }
    if (content_length) {
      return ErrorResponse(400, "bad request",
                           "both Transfer-Encoding and Content-Length (RFC 9112 section 6.3)");
    }
    if (head.version() < 11) {
      return ErrorResponse(400, "bad request",
                           "Transfer-Encoding in an HTTP/1.0 request (RFC 9112 section 6.1)");
    }
    return std::nullopt;
  }

  // When put asked for more of a chunked body: `pending`, what it left unconsumed, is the
  // beginning of a chunk-size line (after the CRLF that ends the previous chunk's data), or a
  // whole last-chunk line and the beginning of the trailer section. The 400 answer when that
  // is already longer than its bound, so that the server does not buffer it without end.
  std::optional<HttpResponse> CheckPending(std::string_view pending) const {
    if (!parser_.is_header_done() || !parser_.chunked() || parser_.is_done()) {
      return std::nullopt;
    }
    size_t start = pending.compare(0, 2, "\r\n") == 0 ? 2 : 0;
    size_t eol = pending.find("\r\n", start);
    if (eol == std::string_view::npos) {
      // No line end yet; a last '\r' may be the first half of one.
      size_t line = pending.size() - start;
      if (line > 0 && pending.back() == '\r') --line;
      if (line > kMaxChunkLineBytes) return ChunkLineTooLong();
      return std::nullopt;
    }
    if (eol - start > kMaxChunkLineBytes) return ChunkLineTooLong();
    if (pending.size() - (eol + 2) > trailer_limit_) return TrailersTooLarge();
    return std::nullopt;
  }

  // The parsed request, and the 400 answer when its trailer section was too large. Beast adds
  // trailer fields to the header fields; they are dropped here (RFC 9112 §7.1.2 lets a
  // recipient discard them), so that a trailer never adds to or overrides what the head said
  // (Authorization, Connection, ...).
  std::optional<HttpResponse> Release(http::request<http::string_body>* message) {
    *message = parser_.release();
    size_t index = 0;
    size_t trailer_bytes = 0;
    for (auto it = message->begin(); it != message->end();) {
      if (index++ < header_fields_) {
        ++it;
        continue;
      }
      trailer_bytes += it->name_string().size() + 2 + it->value().size() + 2;
      it = message->erase(it);
    }
    if (trailer_bytes > 0 && trailer_bytes + 2 > trailer_limit_) return TrailersTooLarge();
    return std::nullopt;
  }

  // The answer to a request that could not be read (the connection closes after it), or
  // nullopt when there is nothing to answer.
  std::optional<HttpResponse> ErrorAnswer(beast::error_code ec) const {
    if (!error_detail_.empty()) return ErrorResponse(400, "bad request", error_detail_);
    return ReadErrorAnswer(ec);
  }

 private:
  // Called by the parser for each chunk-size line, once it is whole (a chunk-size line that
  // never ends is CheckPending's).
  struct ChunkHeaderCheck {
    RequestReader* reader;
    void operator()(std::uint64_t, beast::string_view extensions, beast::error_code& ec) {
      reader->OnChunkHeader(extensions, ec);
    }
  };

  void OnChunkHeader(beast::string_view extensions, beast::error_code& ec) {
    // The extensions come straight after the chunk size, in the bytes given to Put: count the
    // hex digits before them too (a size may have any number of leading zeros).
    size_t line = extensions.size();
    auto at = reinterpret_cast<std::uintptr_t>(extensions.data());
    auto begin = reinterpret_cast<std::uintptr_t>(feed_.data());
    if (at >= begin && at <= begin + feed_.size()) {
      size_t before = at - begin;
      while (before > 0 && HexValue(feed_[before - 1]) >= 0) {
        --before;
        ++line;
      }
    }
    if (line > kMaxChunkLineBytes) {
      error_detail_ = ChunkLineDetail();
      ec = http::error::bad_chunk_extension;
    }
  }

  static std::string ChunkLineDetail() {
    return "chunk-size line longer than " + std::to_string(kMaxChunkLineBytes) +
           " bytes (chunk extensions included)";
  }
  static std::optional<HttpResponse> ChunkLineTooLong() {
    return ErrorResponse(400, "bad request", ChunkLineDetail());
  }
  std::optional<HttpResponse> TrailersTooLarge() const {
    return ErrorResponse(
        400, "bad request",
        "chunked trailer section larger than " + std::to_string(trailer_limit_) + " bytes");
  }

  const size_t trailer_limit_;
  ChunkHeaderCheck chunk_header_check_{this};
  http::request_parser<http::string_body> parser_;
  // The bytes of the running Put.
  std::string_view feed_;
  // How many fields the head has (set by CheckHead); the fields after them are trailers.
  size_t header_fields_ = std::numeric_limits<size_t>::max();
  // Why a chunk-size line was refused.
  std::string error_detail_;
};

std::string_view BufferView(const beast::flat_buffer& buffer) {
  return std::string_view(static_cast<const char*>(buffer.data().data()), buffer.size());
}

// Fills *request from a parsed message; the 400 answer when its target is malformed.
std::optional<HttpResponse> ToRequest(http::request<http::string_body>&& message,
                                      const std::string& remote, HttpRequest* request) {
  request->method = std::string(message.method_string());
  request->target = std::string(message.target());
  std::string detail;
  if (!ParseTarget(request->target, request, &detail)) {
    return ErrorResponse(400, "bad request", detail);
  }
  for (const auto& field : message) {
    request->headers.emplace_back(ToLower(View(field.name_string())), std::string(field.value()));
  }
  request->body = std::move(message.body());
  request->remote = remote;
  return std::nullopt;
}

void CallHandler(const HttpHandler& handler, HttpRequest&& request, const Responder& respond) {
  try {
    handler(std::move(request), respond);
  } catch (const std::exception& e) {
    respond(ErrorResponse(500, "internal error", e.what()));
  } catch (...) {
    respond(ErrorResponse(500, "internal error", "unknown exception"));
  }
}

class Session;

// Everything the server shares with its sessions and Responders (see the file comment).
class Core : public std::enable_shared_from_this<Core> {
 public:
  Core(const HttpServerOptions& options, HttpHandler handler)
      : options_(options),
        handler_(std::move(handler)),
        ioc_(std::max(1, options.threads)),
        acceptor_(ioc_),
        accept_retry_(ioc_) {
    if (options_.max_pipelined == 0) options_.max_pipelined = 1;
  }

  bool Listen(std::string* error);
  void Run();
  void Stop();
  void PostAfter(std::chrono::milliseconds delay, std::function<void()> fn);

  uint16_t port() const { return port_; }
  const HttpServerOptions& options() const { return options_; }
  const HttpHandler& handler() const { return handler_; }
  net::io_context& ioc() { return ioc_; }
  bool stopped() const { return stopped_.load(); }

  void AddSession(Session* key, std::weak_ptr<Session> session) {
    std::lock_guard<std::mutex> lock(mu_);
    sessions_.emplace(key, std::move(session));
  }
  // Called from ~Session, also during ~io_context inside ~Core (the members below it are
  // still alive then: ioc_ is declared after them).
  void RemoveSession(Session* key) {
    std::lock_guard<std::mutex> lock(mu_);
    sessions_.erase(key);
    connections_.fetch_sub(1);
  }
  void CountConnection() { connections_.fetch_add(1); }

 private:
  void DoAccept();
  void OnAccept(beast::error_code ec, tcp::socket socket);
  void Reject(tcp::socket socket);

  HttpServerOptions options_;
  const HttpHandler handler_;
  uint16_t port_ = 0;
  std::atomic<bool> stopped_{false};
  std::atomic<size_t> connections_{0};

  std::mutex mu_;
  // Live sessions and pending PostAfter timers, for Stop. Guarded by mu_.
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions_;
  std::unordered_map<net::steady_timer*, std::weak_ptr<net::steady_timer>> timers_;

  // Declared after the members that sessions touch when the io_context destroys them.
  net::io_context ioc_;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work_;
  tcp::acceptor acceptor_;
  net::steady_timer accept_retry_;
  std::vector<std::thread> threads_;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Core* core, tcp::socket socket, std::string remote)
      : core_(core), stream_(std::move(socket)), remote_(std::move(remote)) {
    core_->CountConnection();
    beast::error_code ec;
    stream_.socket().set_option(tcp::no_delay(true), ec);
  }
  ~Session() { core_->RemoveSession(this); }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void Start() {
    core_->AddSession(this, weak_from_this());
    net::dispatch(stream_.get_executor(),
                  beast::bind_front_handler(&Session::ReadNext, shared_from_this()));
  }

  // Any thread: queues the answer to request `id` onto the strand, or takes it at once when
  // called on the strand itself (a handler that answers before it returns: most requests).
  void Deliver(uint64_t id, HttpResponse response) {
    using Strand = net::strand<net::io_context::executor_type>;
    const Strand* strand = stream_.get_executor().target<Strand>();
    if (strand && strand->running_in_this_thread()) return OnAnswer(id, std::move(response));
    net::post(stream_.get_executor(),
              [self = shared_from_this(), id, response = std::move(response)]() mutable {
                self->OnAnswer(id, std::move(response));
              });
  }

  // Only from Core::Stop, once no I/O thread runs.
  void CloseNow() { Close(); }

 private:
  struct Slot {
    bool ready = false;
    bool keep_alive = true;
    bool head = false;    // a HEAD request: the answer has no body
    bool http10 = false;  // an HTTP/1.0 request: keep-alive is announced
    std::string bytes;    // the serialized response: one plain write, no HTTP write machinery
    // A body file still to send after `bytes` (the head), a chunk per write.
    std::shared_ptr<OpenFile> file;
    // A stream to send after `bytes` (the head): the last answer on the connection.
    std::shared_ptr<ClosingStream> stream;
  };

  void ReadNext();
  void ReadFirstBytes();
  void OnFirstBytes(beast::error_code ec, size_t bytes);
  void ReadRequest();
  void OnHeader(beast::error_code ec, size_t bytes);
  void ReadBody();
  void OnBodyBytes(beast::error_code ec, size_t bytes);
  void OnRequest(beast::error_code ec, size_t bytes);
  void Dispatch(http::request<http::string_body>&& message);
  void OnReadError(beast::error_code ec);
  void OnEof();
  void ReplyAndClose(HttpResponse response, bool head = false);
  uint64_t Enqueue(bool keep_alive, bool head = false, bool http10 = false);
  void OnAnswer(uint64_t id, HttpResponse&& answer);
  void TryWrite();
  void OnWrite(beast::error_code ec, size_t bytes);
  void Linger();
  void OnLinger(beast::error_code ec, size_t bytes);
  void Close();
  void OnStreamAnswer(Slot* slot, HttpResponse&& answer);
  void StartStream();
  std::function<void()> StreamWake();
  void PumpStream();
  void OnStreamWrite(beast::error_code ec, size_t bytes);
  void StreamSent();
  void ReadWhileStreaming();
  void OnStreamRead(beast::error_code ec, size_t bytes);
  void CloseStreams();

  Core* const core_;
  beast::tcp_stream stream_;
  const std::string remote_;
  beast::flat_buffer buffer_;
  std::optional<RequestReader> reader_;
  std::chrono::steady_clock::time_point request_deadline_;

  std::deque<Slot> queue_;  // unanswered or unwritten requests, oldest first
  uint64_t first_id_ = 0;   // id of queue_.front()
  bool reading_ = false;
  bool writing_ = false;
  bool stop_reading_ = false;  // no further request will be read
  bool read_eof_ = false;      // the client closed its sending side
  bool untimed_wait_ = false;  // the pending first-byte read has no deadline
  bool rearm_idle_ = false;    // that read was cancelled to restart it with idle_timeout
  bool closed_ = false;
  // A streamed answer (Slot::stream), once its head is written: body_stream_ is sent until it
  // ends (then stream_ended_, and stream_sent_ once the end is written) or the connection closes.
  bool streaming_ = false;
  bool stream_http10_ = false;
  bool stream_ended_ = false;
  bool stream_sent_ = false;
  std::shared_ptr<ClosingStream> body_stream_;
  std::string stream_out_;                // the bytes of the write in flight
  std::atomic<bool> pump_posted_{false};  // a PumpStream is posted (merges wakes)
  // Set while answers are owed: Responders hold the session weakly, so this keeps an open
  // connection alive until its answers are written. Cleared when the queue empties or on Close.
  std::shared_ptr<Session> self_;
};

// What every copy of one Responder shares.
class PendingReply {
 public:
  PendingReply(std::shared_ptr<Core> core, std::weak_ptr<Session> session, uint64_t id)
      : core_(std::move(core)), session_(std::move(session)), id_(id) {}
  ~PendingReply() {
    if (answered_.load()) return;
    // A destructor must not throw: when even the 500 cannot be built or queued (out of
    // memory), the request stays unanswered.
    try {
      Send(ErrorResponse(500, "internal error", "the request was dropped without an answer"));
    } catch (...) {
    }
  }
  PendingReply(const PendingReply&) = delete;
  PendingReply& operator=(const PendingReply&) = delete;

  void Send(HttpResponse response) {
    GuardStream(&response);  // a stream dropped below is closed (ClosingStream)
    if (answered_.exchange(true)) return;
    if (core_->stopped()) return;
    if (std::shared_ptr<Session> session = session_.lock()) {
      session->Deliver(id_, std::move(response));
    }
  }

 private:
  const std::shared_ptr<Core> core_;  // keeps the io_context alive for Deliver
  const std::weak_ptr<Session> session_;
  const uint64_t id_;
  std::atomic<bool> answered_{false};
};

// ---- Session ----------------------------------------------------------------------------

void Session::ReadNext() {
  if (closed_ || reading_ || stop_reading_) return;
  if (queue_.size() >= core_->options().max_pipelined) return;  // resumed by OnWrite
  if (buffer_.size() == 0) {
    ReadFirstBytes();
  } else {
    ReadRequest();
  }
}

void Session::ReadFirstBytes() {
  untimed_wait_ = !queue_.empty();
  if (untimed_wait_) {
    stream_.expires_never();
  } else {
    stream_.expires_after(core_->options().idle_timeout);
  }
  reading_ = true;
  stream_.async_read_some(buffer_.prepare(kFirstReadBytes),
                          beast::bind_front_handler(&Session::OnFirstBytes, shared_from_this()));
}

void Session::OnFirstBytes(beast::error_code ec, size_t bytes) {
  reading_ = false;
  untimed_wait_ = false;
  bool rearm = rearm_idle_;
  rearm_idle_ = false;
  if (closed_) return;
  if (streaming_) return ReadWhileStreaming();  // StartStream cancelled this read
  if (ec == net::error::operation_aborted && rearm) return ReadNext();
  if (ec == net::error::eof) return OnEof();
  if (ec) return Close();
  buffer_.commit(bytes);
  ReadRequest();
}

void Session::ReadRequest() {
  const HttpServerOptions& options = core_->options();
  reader_.emplace(options);
  request_deadline_ = std::chrono::steady_clock::now() + options.read_timeout;
  // A whole header is usually in the buffer already (it came with the first bytes, or behind
  // a pipelined request): parse it here rather than through another asynchronous read. The
  // parser takes a header only whole, so on need_more nothing is consumed and the read below
  // picks up where this left off; its limits apply either way.
  if (buffer_.size() > 0) {
    beast::error_code ec;
    buffer_.consume(reader_->Put(BufferView(buffer_), ec));
    if (!ec && reader_->parser().is_header_done()) return OnHeader({}, 0);
    if (ec && ec != http::error::need_more) return OnReadError(ec);
  }
  stream_.expires_at(request_deadline_);
  reading_ = true;
  http::async_read_header(stream_, buffer_, reader_->parser(),
                          beast::bind_front_handler(&Session::OnHeader, shared_from_this()));
}

void Session::OnHeader(beast::error_code ec, size_t /*bytes*/) {
  reading_ = false;
  if (closed_) return;
  if (streaming_) return ReadWhileStreaming();  // StartStream cancelled this read
  if (ec) return OnReadError(ec);
  if (auto bad = reader_->CheckHead()) return ReplyAndClose(std::move(*bad), reader_->head());
  if (reader_->parser().is_done()) return OnRequest({}, 0);
  // A client announcing "Expect: 100-continue" waits for a go-ahead before its body. Give it
  // when no earlier answer is queued (it must not overtake one); otherwise the client sends the
  // body after its own short wait.
  if (ExpectsContinue(reader_->parser().get()) && queue_.empty() && !writing_) {
    writing_ = true;
    reading_ = true;  // the body read follows the go-ahead
    stream_.expires_at(request_deadline_);
    net::async_write(stream_, net::buffer(kContinue, sizeof(kContinue) - 1),
                     [self = shared_from_this()](beast::error_code write_ec, size_t) {
                       self->writing_ = false;
                       self->reading_ = false;
                       if (self->closed_) return;
                       if (write_ec) return self->Close();
                       self->ReadBody();
                     });
    return;
  }
  ReadBody();
}

// The body is read here rather than by http::async_read, which lets the buffer grow without
// bound while the parser waits for the end of a chunk-size line or of the trailer section:
// after each read, what the parser left unconsumed is checked against their bounds.
void Session::ReadBody() {
  http::request_parser<http::string_body>& parser = reader_->parser();
  parser.eager(true);
  while (buffer_.size() > 0 && !parser.is_done()) {
    beast::error_code ec;
    size_t used = reader_->Put(BufferView(buffer_), ec);
    buffer_.consume(used);
    if (ec == http::error::need_more || (!ec && used == 0)) break;
    if (ec) return OnReadError(ec);
  }
  if (parser.is_done()) return OnRequest({}, 0);
  if (auto bad = reader_->CheckPending(BufferView(buffer_))) {
    return ReplyAndClose(std::move(*bad), reader_->head());
  }
  stream_.expires_at(request_deadline_);
  reading_ = true;
  stream_.async_read_some(buffer_.prepare(kBodyReadBytes),
                          beast::bind_front_handler(&Session::OnBodyBytes, shared_from_this()));
}

void Session::OnBodyBytes(beast::error_code ec, size_t bytes) {
  reading_ = false;
  if (closed_) return;
  if (streaming_) return ReadWhileStreaming();  // StartStream cancelled this read
  if (ec == net::error::eof) return OnEof();    // the request stays incomplete
  if (ec) return Close();                       // timeout, reset, ...
  buffer_.commit(bytes);
  ReadBody();
}

void Session::OnRequest(beast::error_code ec, size_t /*bytes*/) {
  reading_ = false;
  if (closed_) return;
  if (ec) return OnReadError(ec);
  bool head = reader_->head();
  http::request<http::string_body> message;
  std::optional<HttpResponse> bad = reader_->Release(&message);
  reader_.reset();
  if (bad) return ReplyAndClose(std::move(*bad), head);
  Dispatch(std::move(message));
  ReadNext();
}

void Session::OnReadError(beast::error_code ec) {
  if (ec == http::error::end_of_stream || ec == http::error::partial_message) return OnEof();
  // A HEAD request whose body is malformed still gets an answer without a body.
  bool head = reader_ && reader_->head();
  std::optional<HttpResponse> answer = reader_ ? reader_->ErrorAnswer(ec) : ReadErrorAnswer(ec);
  if (answer) return ReplyAndClose(std::move(*answer), head);
  Close();  // timeout, reset, ...
}

void Session::Dispatch(http::request<http::string_body>&& message) {
  bool head = message.method() == http::verb::head;
  if (auto bad = CheckVersion(message)) return ReplyAndClose(std::move(*bad), head);
  bool keep_alive = message.keep_alive();
  if (!keep_alive) stop_reading_ = true;
  uint64_t id = Enqueue(keep_alive, head, message.version() == 10);

  HttpRequest request;
  if (auto bad = ToRequest(std::move(message), remote_, &request)) {
    return OnAnswer(id, std::move(*bad));
  }
  auto reply = std::make_shared<PendingReply>(core_->shared_from_this(), weak_from_this(), id);
  Responder respond = [reply](HttpResponse response) { reply->Send(std::move(response)); };
  CallHandler(core_->handler(), std::move(request), respond);
}

void Session::OnEof() {
  read_eof_ = true;
  stop_reading_ = true;
  if (queue_.empty() && !writing_) Close();
}

void Session::ReplyAndClose(HttpResponse response, bool head) {
  stop_reading_ = true;
  uint64_t id = Enqueue(false, head);
  OnAnswer(id, std::move(response));
}

uint64_t Session::Enqueue(bool keep_alive, bool head, bool http10) {
  if (!self_) self_ = shared_from_this();
  queue_.emplace_back();
  queue_.back().keep_alive = keep_alive;
  queue_.back().head = head;
  queue_.back().http10 = http10;
  return first_id_ + queue_.size() - 1;
}

void Session::OnAnswer(uint64_t id, HttpResponse&& answer) {
  GuardStream(&answer);  // a stream dropped below is closed (ClosingStream)
  if (closed_ || id < first_id_ || id - first_id_ >= queue_.size()) return;
  Slot& slot = queue_[id - first_id_];
  if (slot.ready) return;
  if (StreamsBody(answer)) return OnStreamAnswer(&slot, std::move(answer));
  DropStream(&answer);  // another status: its body is sent as it is
  std::shared_ptr<OpenFile> file = OpenBodyFile(&answer);
  // The head goes out with the file's first piece, as with a body held in memory.
  std::string first;
  if (file && !file->Next(kFileChunkBytes, &first)) {
    answer = ErrorResponse(500, "internal error", "cannot read the answer's body file");
    file.reset();
  }
  auto response =
      BuildResponse(std::move(answer), slot.keep_alive, slot.head, slot.http10, file.get());
  bool sends_file = file && SendsBody(response, slot.head);
  slot.bytes = Serialize(std::move(response));
  if (sends_file) {
    slot.bytes += first;
    slot.file = std::move(file);
  }
  slot.ready = true;
  TryWrite();
}

void Session::TryWrite() {
  if (closed_ || writing_ || streaming_ || queue_.empty() || !queue_.front().ready) return;
  writing_ = true;
  stream_.expires_after(core_->options().idle_timeout);
  net::async_write(stream_, net::buffer(queue_.front().bytes),
                   beast::bind_front_handler(&Session::OnWrite, shared_from_this()));
}

void Session::OnWrite(beast::error_code ec, size_t /*bytes*/) {
  writing_ = false;
  if (closed_) return;
  if (ec) return Close();
  if (const std::shared_ptr<OpenFile>& file = queue_.front().file; file && file->remaining > 0) {
    // The next piece of the body file; a file that ends early breaks the framing: close.
    if (!file->Next(kFileChunkBytes, &queue_.front().bytes)) return Close();
    writing_ = true;
    stream_.expires_after(core_->options().idle_timeout);
    net::async_write(stream_, net::buffer(queue_.front().bytes),
                     beast::bind_front_handler(&Session::OnWrite, shared_from_this()));
    return;
  }
  if (queue_.front().stream) return StartStream();  // the head is written
  bool keep_alive = queue_.front().keep_alive;
  queue_.pop_front();
  ++first_id_;
  std::shared_ptr<Session> hold = queue_.empty() ? std::move(self_) : nullptr;
  if (!keep_alive) return Linger();
  if (queue_.empty() && read_eof_) return Close();
  TryWrite();
  ReadNext();
  if (queue_.empty() && reading_ && untimed_wait_) {
    // The wait for the next request started while answers were owed, without a deadline; now
    // the connection is idle, so restart it with idle_timeout.
    rearm_idle_ = true;
    beast::error_code cancel_ec;
    stream_.socket().cancel(cancel_ec);
  }
}

void Session::Linger() {
  stop_reading_ = true;
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  if (ec) return Close();
  buffer_.consume(buffer_.size());
  stream_.expires_after(std::min(core_->options().read_timeout, kMaxLinger));
  reading_ = true;
  stream_.async_read_some(buffer_.prepare(kFirstReadBytes),
                          beast::bind_front_handler(&Session::OnLinger, shared_from_this()));
}

void Session::OnLinger(beast::error_code ec, size_t /*bytes*/) {
  reading_ = false;
  if (closed_) return;
  if (ec) return Close();
  reading_ = true;
  stream_.async_read_some(buffer_.prepare(kFirstReadBytes),
                          beast::bind_front_handler(&Session::OnLinger, shared_from_this()));
}

void Session::Close() {
  if (closed_) return;
  std::shared_ptr<Session> hold = std::move(self_);
  closed_ = true;
  stop_reading_ = true;
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
  stream_.close();
  CloseStreams();
}

// ---- Session: streamed answers --------------------------------------------------------------

// A 2xx answer with a stream: its head, then the stream's pieces as they come (StartStream);
// the connection closes after it, so nothing more is read. A HEAD request gets the same head
// without a body (its connection may go on) and its stream is closed unopened.
void Session::OnStreamAnswer(Slot* slot, HttpResponse&& answer) {
  std::shared_ptr<ClosingStream> stream = TakeStream(&answer);
  if (slot->head) {
    stream->Closed();
  } else {
    slot->keep_alive = false;
    slot->stream = std::move(stream);
    stop_reading_ = true;
  }
  slot->bytes = StreamHead(std::move(answer), slot->keep_alive, slot->http10);
  slot->ready = true;
  TryWrite();
}

// The head of the streamed answer at the front is written: open its stream and send what it
// gives. The answers queued behind it are never written. From now on the only read is
// ReadWhileStreaming's; a read for a next request still pending is cancelled first (its
// handler starts ReadWhileStreaming).
void Session::StartStream() {
  Slot& slot = queue_.front();
  body_stream_ = std::move(slot.stream);
  stream_http10_ = slot.http10;
  streaming_ = true;
  stop_reading_ = true;
  if (reading_) {
    beast::error_code ec;
    stream_.socket().cancel(ec);
  } else {
    ReadWhileStreaming();
  }
  if (closed_) return;
  std::shared_ptr<ClosingStream> stream = body_stream_;
  stream->Open(StreamWake());
  PumpStream();
}

// The stream's `wake`: posts a PumpStream to the strand, one at a time (wakes merge). It holds
// the session weakly, and the core (whose io_context takes the post) strongly, as a Responder.
std::function<void()> Session::StreamWake() {
  return [core = core_->shared_from_this(), weak = weak_from_this()] {
    if (core->stopped()) return;
    std::shared_ptr<Session> self = weak.lock();
    if (!self || self->pump_posted_.exchange(true)) return;
    net::post(self->stream_.get_executor(), [self] {
      self->pump_posted_.store(false);
      self->PumpStream();
    });
  };
}

// Unless a write is in flight (its end pumps again): writes what the stream has ready, with the
// last chunk when the stream has ended. Only the write has a deadline (idle_timeout); a quiet
// stream has none.
void Session::PumpStream() {
  if (closed_ || !streaming_ || writing_ || stream_ended_ || !body_stream_) return;
  std::shared_ptr<ClosingStream> stream = body_stream_;
  std::string piece;
  bool more = stream->Take(&piece);
  if (stream->broken()) return Close();  // without the last chunk: the body is cut short
  stream_out_.clear();
  AppendStreamPiece(piece, stream_http10_, &stream_out_);
  if (!more) {
    stream_ended_ = true;
    if (!stream_http10_) stream_out_ += kLastChunk;
    if (stream_out_.empty()) return StreamSent();
  }
  if (stream_out_.empty()) return;
  writing_ = true;
  // The read is pending, so this is the write's deadline alone.
  stream_.expires_after(core_->options().idle_timeout);
  net::async_write(stream_, net::buffer(stream_out_),
                   beast::bind_front_handler(&Session::OnStreamWrite, shared_from_this()));
}

void Session::OnStreamWrite(beast::error_code ec, size_t /*bytes*/) {
  writing_ = false;
  if (closed_) return;
  if (ec) return Close();  // failed, or timed out
  if (stream_ended_) return StreamSent();
  PumpStream();
}

// The stream has ended and is written whole: close it, and the connection as after a final
// answer (Linger), once the pending read is done with (OnStreamRead).
void Session::StreamSent() {
  stream_sent_ = true;
  CloseStreams();
  if (!reading_) return Linger();
  beast::error_code ec;
  stream_.socket().cancel(ec);
}

// While a stream is sent: a read without deadline whose bytes are dropped, only to notice at
// once that the client closed or reset the connection.
void Session::ReadWhileStreaming() {
  reader_.reset();
  buffer_.consume(buffer_.size());
  if (stream_sent_) return Linger();
  if (read_eof_) return Close();
  stream_.expires_never();
  reading_ = true;
  stream_.async_read_some(buffer_.prepare(kFirstReadBytes),
                          beast::bind_front_handler(&Session::OnStreamRead, shared_from_this()));
}

void Session::OnStreamRead(beast::error_code ec, size_t /*bytes*/) {
  reading_ = false;
  if (closed_) return;
  if (stream_sent_) return Linger();
  if (ec) return Close();  // the client closed or reset the connection
  ReadWhileStreaming();
}

// Closes the streams the session holds: the one being sent and those of answers queued behind
// it, which are never written (ClosingStream makes each Closed the only one).
void Session::CloseStreams() {
  std::vector<std::shared_ptr<ClosingStream>> streams;
  if (body_stream_) streams.push_back(std::move(body_stream_));
  for (Slot& slot : queue_) {
    if (slot.stream) streams.push_back(std::move(slot.stream));
  }
  for (const std::shared_ptr<ClosingStream>& stream : streams) stream->Closed();
}

// ---- Core -------------------------------------------------------------------------------

bool Core::Listen(std::string* error) {
  std::string where = options_.address + ":" + std::to_string(options_.port);
  beast::error_code ec;
  net::ip::address address = net::ip::make_address(options_.address, ec);
  if (ec) {
    *error = "cannot listen on " + where + ": not an IP address";
    return false;
  }
  tcp::endpoint endpoint(address, options_.port);
  where = FormatEndpoint(endpoint);
  auto fail = [&](const char* step) {
    *error = "cannot listen on " + where + ": " + ec.message() + " (" + step + ")";
    return false;
  };
  acceptor_.open(endpoint.protocol(), ec);
  if (ec) return fail("open");
  acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (ec) return fail("reuse_address");
  acceptor_.bind(endpoint, ec);
  if (ec) return fail("bind");
  acceptor_.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return fail("listen");
  tcp::endpoint local = acceptor_.local_endpoint(ec);
  if (ec) return fail("local_endpoint");
  port_ = local.port();
  return true;
}

void Core::Run() {
  work_.emplace(ioc_.get_executor());
  DoAccept();
  int threads = std::max(1, options_.threads);
  for (int i = 0; i < threads; ++i) {
    threads_.emplace_back([this] {
      for (;;) {
        try {
          ioc_.run();
          return;
        } catch (...) {
          // A handler threw; keep serving.
        }
      }
    });
  }
}

void Core::DoAccept() {
  acceptor_.async_accept(net::make_strand(ioc_), [this](beast::error_code ec, tcp::socket socket) {
    OnAccept(ec, std::move(socket));
  });
}

void Core::OnAccept(beast::error_code ec, tcp::socket socket) {
  if (stopped_.load()) {
    beast::error_code ignored;
    socket.close(ignored);
    return;
  }
  if (ec) {
    if (ec == net::error::operation_aborted) return;
    if (ec == net::error::connection_aborted) return DoAccept();
    // Out of descriptors or memory: retry shortly instead of spinning.
    accept_retry_.expires_after(kAcceptRetryDelay);
    accept_retry_.async_wait([this](beast::error_code wait_ec) {
      if (!wait_ec && !stopped_.load()) DoAccept();
    });
    return;
  }
  beast::error_code peer_ec;
  tcp::endpoint peer = socket.remote_endpoint(peer_ec);
  if (peer_ec) {
    socket.close(peer_ec);
  } else if (connections_.load() >= options_.max_connections) {
    Reject(std::move(socket));
  } else {
    std::make_shared<Session>(this, std::move(socket), FormatEndpoint(peer))->Start();
  }
  DoAccept();
}

void Core::Reject(tcp::socket socket) {
  static const std::string kBusy = [] {
    std::string body = "{\"error\":\"too many connections\"}";
    return "HTTP/1.1 503 Service Unavailable\r\nServer: projd\r\n"
           "Content-Type: application/json\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
  }();
  auto owned = std::make_shared<tcp::socket>(std::move(socket));
  net::async_write(*owned, net::buffer(kBusy), [owned](beast::error_code, size_t) {
    beast::error_code ec;
    owned->shutdown(tcp::socket::shutdown_send, ec);
    owned->close(ec);
  });
}

void Core::PostAfter(std::chrono::milliseconds delay, std::function<void()> fn) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopped_.load()) return;
  auto timer = std::make_shared<net::steady_timer>(ioc_, delay);
  timers_.emplace(timer.get(), timer);
  timer->async_wait([this, timer, fn = std::move(fn)](beast::error_code ec) mutable {
    {
      std::lock_guard<std::mutex> inner(mu_);
      timers_.erase(timer.get());
    }
    if (ec || stopped_.load()) return;
    try {
      fn();
    } catch (...) {
      // Exceptions do not leave the I/O thread.
    }
  });
}

void Core::Stop() {
  if (stopped_.exchange(true)) return;
  // Stop the threads first; afterwards this thread is the only one touching the sessions.
  work_.reset();
  ioc_.stop();
  for (std::thread& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
  threads_.clear();

  beast::error_code ec;
  acceptor_.close(ec);
  accept_retry_.cancel();
  std::vector<std::weak_ptr<Session>> sessions;
  std::vector<std::weak_ptr<net::steady_timer>> timers;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& entry : sessions_) sessions.push_back(entry.second);
    for (auto& entry : timers_) timers.push_back(entry.second);
  }
  for (auto& weak : sessions) {
    if (std::shared_ptr<Session> session = weak.lock()) session->CloseNow();
  }
  for (auto& weak : timers) {
    if (std::shared_ptr<net::steady_timer> timer = weak.lock()) timer->cancel();
  }
  // Run the completions of the cancelled operations so that the sessions and the dropped
  // PostAfter functions (and the Responders they hold) are released now.
  ioc_.restart();
  for (;;) {
    try {
      ioc_.poll();
      break;
    } catch (...) {
    }
  }
}

class ServerImpl final : public HttpServer {
 public:
  explicit ServerImpl(std::shared_ptr<Core> core) : core_(std::move(core)) {}
  ~ServerImpl() override {
    // A destructor must not throw; a failure to stop (a thread that cannot be joined) is
    // reported, and the server is left as it is.
    try {
      Stop();
    } catch (const std::exception& e) {
      fprintf(stderr, "level=error component=http stopping the HTTP server failed: %s\n", e.what());
    }
  }

  void Stop() override { core_->Stop(); }
  uint16_t port() const override { return core_->port(); }
  void PostAfter(std::chrono::milliseconds delay, std::function<void()> fn) override {
    core_->PostAfter(delay, std::move(fn));
  }

 private:
  const std::shared_ptr<Core> core_;
};

}  // namespace

const std::string* HttpRequest::Query(std::string_view name) const {
  for (const auto& [key, value] : query) {
    if (key == name) return &value;
  }
  return nullptr;
}

const std::string* HttpRequest::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (EqualsIgnoreCase(key, name)) return &value;
  }
  return nullptr;
}

std::string PercentDecode(std::string_view s, bool plus_is_space) {
  // Lenient: a '%' without two hex digits after it is kept as it is.
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%' && i + 2 < s.size()) {
      int hi = HexValue(s[i + 1]);
      int lo = HexValue(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(c == '+' && plus_is_space ? ' ' : c);
  }
  return out;
}

std::string PercentEncode(std::string_view s) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 15]);
    }
  }
  return out;
}

namespace {

// One request of HandleConnectionBytes: its answer, given at most once, from any thread. If
// every copy of its Responder is dropped unanswered it gets a 500, as on a connection.
struct LocalReply {
  std::mutex mu;
  std::condition_variable answered_cv;
  std::optional<HttpResponse> answer;

  void Send(HttpResponse response) {
    GuardStream(&response);  // a stream dropped below is closed (ClosingStream)
    std::lock_guard<std::mutex> lock(mu);
    if (answer) return;
    answer = std::move(response);
    answered_cv.notify_all();
  }

  // Drops the answer, given or yet to come, unwritten (its stream is closed).
  void Drop() {
    std::shared_ptr<HttpStream> stream;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (answer) stream = std::move(answer->stream);
      answer = HttpResponse();
    }
    if (stream) stream->Closed();
  }
};

// HandleConnectionBytes' streamed body: what the stream gives until it ends or `wait` has
// passed (Take is polled; wake does nothing here), framed as on a connection.
void AppendLocalStream(ClosingStream* stream, bool http10, std::chrono::milliseconds wait,
                       std::string* out) {
  constexpr std::chrono::milliseconds kPoll{5};
  auto deadline = std::chrono::steady_clock::now() + wait;
  stream->Open([] {});
  std::string piece;
  for (;;) {
    piece.clear();
    bool more = stream->Take(&piece);
    AppendStreamPiece(piece, http10, out);
    if (!more) {
      if (!http10 && !stream->broken()) *out += kLastChunk;
      break;
    }
    if (std::chrono::steady_clock::now() >= deadline) break;
    if (piece.empty()) std::this_thread::sleep_for(kPoll);
  }
  stream->Closed();
}

// Appends an answer of HandleConnectionBytes as it goes on the wire; false when the connection
// ends after it.
bool AppendLocalAnswer(HttpResponse&& answer, bool keep_alive, bool head, bool http10,
                       std::chrono::milliseconds stream_wait, std::string* out) {
  GuardStream(&answer);
  if (StreamsBody(answer)) {  // as Session::OnStreamAnswer
    std::shared_ptr<ClosingStream> stream = TakeStream(&answer);
    keep_alive = keep_alive && head;
    *out += StreamHead(std::move(answer), keep_alive, http10);
    if (head) {
      stream->Closed();
    } else {
      AppendLocalStream(stream.get(), http10, stream_wait, out);
    }
    return keep_alive;
  }
  DropStream(&answer);
  std::shared_ptr<OpenFile> file = OpenBodyFile(&answer);
  auto response = BuildResponse(std::move(answer), keep_alive, head, http10, file.get());
  bool body = file && SendsBody(response, head);  // read before the move below
  *out += Serialize(std::move(response));
  std::string chunk;
  while (body && file->remaining > 0 && file->Next(kFileChunkBytes, &chunk)) *out += chunk;
  return keep_alive;
}

class LocalResponder {
 public:
  explicit LocalResponder(std::shared_ptr<LocalReply> reply) : reply_(std::move(reply)) {}
  ~LocalResponder() {
    reply_->Send(ErrorResponse(500, "internal error", "the request was dropped without an answer"));
  }
  LocalResponder(const LocalResponder&) = delete;
  LocalResponder& operator=(const LocalResponder&) = delete;
  void Send(HttpResponse response) { reply_->Send(std::move(response)); }

 private:
  const std::shared_ptr<LocalReply> reply_;
};

}  // namespace

std::string HandleConnectionBytes(std::string_view bytes, const HttpServerOptions& options,
                                  const HttpHandler& handler, std::chrono::milliseconds answer_wait,
                                  const std::string& remote) {
  // What the server sends, in order: a 100 Continue go-ahead (already bytes) or an answer.
  struct Piece {
    std::string bytes;
    std::shared_ptr<LocalReply> reply;
    bool keep_alive = true;
    bool head = false;
    bool http10 = false;
  };
  std::vector<Piece> pieces;
  auto all_answered = [&pieces] {
    for (const Piece& piece : pieces) {
      if (!piece.reply) continue;
      std::lock_guard<std::mutex> lock(piece.reply->mu);
      if (!piece.reply->answer) return false;
    }
    return true;
  };
  auto add_answer = [&pieces](HttpResponse response, bool keep_alive, bool head = false,
                              bool http10 = false) {
    auto reply = std::make_shared<LocalReply>();
    reply->Send(std::move(response));
    pieces.push_back({"", std::move(reply), keep_alive, head, http10});
  };

  size_t pos = 0;
  bool closing = false;
  while (!closing && pos < bytes.size()) {
    RequestReader reader(options);
    http::request_parser<http::string_body>& parser = reader.parser();
    beast::error_code ec;
    std::optional<HttpResponse> bad;  // as the Session's ReplyAndClose
    bool head_seen = false;
    while (!parser.is_done()) {
      size_t used = reader.Put(bytes.substr(pos), ec);
      pos += used;
      if (ec == http::error::need_more) ec = {};
      if (!ec && used == 0) {
        // What is left is not enough and the client sends no more: as at the end of a
        // connection (end_of_stream or partial_message), unless what is left is already
        // too long to wait for (as Session::ReadBody).
        if ((bad = reader.CheckPending(bytes.substr(pos)))) break;
        pos = bytes.size();
        parser.put_eof(ec);
        if (!ec && !parser.is_done()) ec = http::error::partial_message;
      }
      if (ec) break;
      if (!head_seen && parser.is_header_done()) {
        head_seen = true;
        if ((bad = reader.CheckHead())) break;
        if (!parser.is_done() && ExpectsContinue(parser.get()) && all_answered()) {
          pieces.push_back({kContinue, nullptr, true, false});
        }
      }
    }
    if (!bad && ec) {
      // As Session::OnReadError: the answer to a malformed request, or just the end.
      if (ec == http::error::end_of_stream || ec == http::error::partial_message) break;
      bad = reader.ErrorAnswer(ec);
      if (!bad) break;
    }
    bool head = reader.head();
    http::request<http::string_body> message;
    if (!bad) bad = reader.Release(&message);
    if (bad) {
      add_answer(std::move(*bad), false, head);
      break;
    }
    if (auto bad_version = CheckVersion(message)) {
      add_answer(std::move(*bad_version), false, head);
      break;
    }
    bool keep_alive = message.keep_alive();
    bool http10 = message.version() == 10;
    closing = !keep_alive;
    HttpRequest request;
    if (auto bad_target = ToRequest(std::move(message), remote, &request)) {
      add_answer(std::move(*bad_target), keep_alive, head, http10);
      continue;
    }
    auto reply = std::make_shared<LocalReply>();
    pieces.push_back({"", reply, keep_alive, head, http10});
    auto holder = std::make_shared<LocalResponder>(reply);
    Responder respond = [holder](HttpResponse response) { holder->Send(std::move(response)); };
    CallHandler(handler, std::move(request), respond);
  }

  std::string out;
  auto deadline = std::chrono::steady_clock::now() + answer_wait;
  for (Piece& piece : pieces) {
    if (!piece.reply) {
      out += piece.bytes;
      continue;
    }
    HttpResponse answer;
    {
      std::unique_lock<std::mutex> lock(piece.reply->mu);
      piece.reply->answered_cv.wait_until(lock, deadline,
                                          [&] { return piece.reply->answer.has_value(); });
      if (piece.reply->answer) {
        answer = std::move(*piece.reply->answer);
      } else {
        answer = ErrorResponse(504, "no answer in time", "the handler did not answer in time");
        piece.reply->answer = HttpResponse();  // a late answer is dropped
      }
    }
    if (!AppendLocalAnswer(std::move(answer), piece.keep_alive, piece.head, piece.http10,
                           answer_wait, &out)) {
      break;
    }
  }
  for (Piece& piece : pieces) {
    if (piece.reply) piece.reply->Drop();  // answers after the last one written
  }
  return out;
}

HttpFileBody::~HttpFileBody() {
  if (remove.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(remove, ec);
}

std::unique_ptr<HttpServer> HttpServer::Start(const HttpServerOptions& options, HttpHandler handler,
                                              std::string* error) {
  std::string ignored;
  if (error == nullptr) error = &ignored;
  if (!handler) {
    *error = "no HTTP handler";
    return nullptr;
  }
  try {
    auto core = std::make_shared<Core>(options, std::move(handler));
    if (!core->Listen(error)) return nullptr;
    auto server = std::make_unique<ServerImpl>(core);
    core->Run();
    return server;
  } catch (const std::exception& e) {
    *error = "cannot start the HTTP server: " + std::string(e.what());
    return nullptr;
  }
}

}  // namespace projd
