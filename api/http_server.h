// The HTTP/1.1 server of projd (Boost.Beast underneath; no Beast types in this header).
//
// The server knows nothing of views: it parses requests, enforces limits, and hands each
// request to an HttpHandler. The handler answers through the Responder it is given, now or
// later and from any thread (read-your-own-writes waits answer later). Every accepted request
// gets exactly one answer; a Responder called after the connection closed is a no-op.
//
// Thread-safety: Start/Stop from one thread; the handler runs on the server's I/O threads
// and must be thread-safe; PostAfter may be called from any thread.
#ifndef PROJD_ENGINE_HTTP_SERVER_H_
#define PROJD_ENGINE_HTTP_SERVER_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace projd {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // raw request target, e.g. "/v1/views/a/rows/k%2F1?limit=5"
  std::string path;    // percent-decoded path without the query: "/v1/views/a/rows/k/1"
  // Path segments, each percent-decoded separately (so "k%2F1" stays one segment "k/1").
  std::vector<std::string> segments;
  // Query parameters in order, names and values percent-decoded ('+' is a space).
  std::vector<std::pair<std::string, std::string>> query;
  // Header fields, names lower-cased.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string remote;  // peer address "127.0.0.1:53422"
  // No other connection sent a request within HttpServerOptions::alone_after before this one:
  // the server has no one else to serve now (a handler may then do more on the I/O thread).
  bool alone = false;

  // The first query parameter / header with this name (header names are matched
  // case-insensitively), or nullptr.
  const std::string* Query(std::string_view name) const;
  const std::string* Header(std::string_view name) const;
  // The weight ("q", 0..1) the request's Accept fields give exactly this media type (types
  // compare without regard to case; wildcards are not expanded): 1 when it is listed without
  // q=, 0 when it is not listed or its weight is malformed.
  double AcceptWeight(std::string_view media_type) const;
};

// A file sent as an answer's body (HttpResponse::body_file), streamed by the server in chunks
// rather than held in memory. When `remove` is set, that path (a file, or a folder with
// everything under it) is deleted once the answer is done with: sent, failed, or dropped.
struct HttpFileBody {
  HttpFileBody(std::string path, std::string remove)
      : path(std::move(path)), remove(std::move(remove)) {}
  ~HttpFileBody();
  HttpFileBody(const HttpFileBody&) = delete;
  HttpFileBody& operator=(const HttpFileBody&) = delete;
  const std::string path;
  const std::string remove;
};

// A streamed answer's body (HttpResponse::stream): pieces the handler's side produces as they
// come, until the stream ends or the client goes away. The server sends them as they are taken
// (chunked to an HTTP/1.1 client; to an HTTP/1.0 client, ended by closing the connection),
// with no Content-Length, and closes the connection after the stream: a streamed answer is the
// last on its connection. While it streams, the server reads from the client only to notice
// that it closed.
//
// Thread-safety: Open, Take and Closed are called on the connection's I/O thread, one at a
// time; `wake` may be called from any thread, any number of times.
class HttpStream {
 public:
  virtual ~HttpStream() = default;
  // Once, when the answer's head has been written. `wake` asks the server to call Take soon
  // (call it when something is ready or the stream has ended; calls while a Take is due are
  // merged). It does nothing once the connection is closed.
  virtual void Open(std::function<void()> wake) = 0;
  // When the server can write: appends what is ready to *out (possibly nothing). Returns false
  // once the stream has ended (what *out got in this call is still sent).
  virtual bool Take(std::string* out) = 0;
  // Once, last: the stream ended and was sent, the client closed, a write failed or timed out
  // (idle_timeout per write), or the server stops. Also called, without Open, when the answer
  // is dropped before its head was written.
  virtual void Closed() = 0;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;  // extra header fields
  std::string body;
  // When set, the body is this file's content instead of `body` (Content-Length is its size
  // when the server opens it; a file that cannot be opened gives a 500).
  std::shared_ptr<HttpFileBody> body_file;
  // When set, the body is streamed from it (see HttpStream); `body` and body_file are ignored.
  std::shared_ptr<HttpStream> stream;
};

using Responder = std::function<void(HttpResponse)>;
using HttpHandler = std::function<void(HttpRequest&& request, Responder respond)>;
// A plain GET as HttpServerOptions::quick_get sees it: its target and its Authorization field.
struct QuickGetRequest {
  std::chrono::steady_clock::time_point received;  // when the server took the request whole
  std::string_view target;
  bool has_authorization = false;
  std::string_view authorization;  // the field's value, without spaces or tabs around it
};
// The answer quick_get gives: status 200 with this content type, at most one field of the
// handler's own, and the body. The server hands the handler one per I/O thread, reused from
// answer to answer with its strings emptied: a handler that assigns and appends to them
// (rather than building new strings) answers without allocating.
struct QuickAnswer {
  std::string_view content_type = "application/json";  // text that outlives the answer
  std::string_view field_name;  // a field of the handler's when not empty (as field_value)
  std::string field_value;
  std::string body;
};
// Answers a plain GET at once (HttpServerOptions::quick_get): true when *answer is filled,
// false to leave the request to the HttpHandler.
using QuickGetHandler = std::function<bool(const QuickGetRequest& request, QuickAnswer* answer)>;

struct HttpServerOptions {
  std::string address = "127.0.0.1";              // listen address (IPv4 or IPv6 literal)
  uint16_t port = 8080;                           // 0: pick a free port (see HttpServer::port())
  int threads = 1;                                // I/O threads
  size_t max_header_bytes = 16 * 1024;            // larger request head: 431
  size_t max_body_bytes = 1024 * 1024;            // larger body: 413
  std::chrono::milliseconds read_timeout{10000};  // a request must arrive whole within this
  std::chrono::milliseconds idle_timeout{60000};  // keep-alive connection idle limit
  size_t max_connections = 1024;                  // further connections are closed at once
  size_t max_pipelined = 16;  // requests read ahead of unanswered ones per connection
  // HttpRequest::alone: no request from another connection for this long.
  std::chrono::microseconds alone_after{2000};
  // Optional. A request whose meaning is its target alone is first offered here, on the I/O
  // thread, before the general parsing: "GET", HTTP/1.1, a target of visible ASCII without
  // '?', '#' or '%', no body, and only the header fields Host, User-Agent, Accept,
  // Accept-Encoding, Accept-Language, "Connection: keep-alive" and at most one Authorization
  // (handed to quick_get), all well-formed and within
  // max_header_bytes. Anything else, or a false return, goes to the handler as usual. For the
  // answers that must cost the least (point reads); the handler must answer such a request
  // the same way.
  QuickGetHandler quick_get;
};

class HttpServer {
 public:
  // Binds, listens and starts the I/O threads. Returns nullptr and sets *error (e.g.
  // "cannot listen on 127.0.0.1:8080: Address already in use") on failure.
  static std::unique_ptr<HttpServer> Start(const HttpServerOptions& options, HttpHandler handler,
                                           std::string* error);
  virtual ~HttpServer() = default;

  // Stops accepting, closes connections and joins the I/O threads. Idempotent.
  virtual void Stop() = 0;
  // The bound port (useful with port 0).
  virtual uint16_t port() const = 0;
  // Runs fn on an I/O thread after delay (fn is dropped if the server stops first).
  virtual void PostAfter(std::chrono::milliseconds delay, std::function<void()> fn) = 0;
};

// Percent-decodes a URL component; '+' becomes a space when plus_is_space.
std::string PercentDecode(std::string_view s, bool plus_is_space);
std::string PercentEncode(std::string_view s);

// Runs what a client sent on one connection through the server's request reading (the same
// limits, error answers and Expect: 100-continue handling) and `handler`, without sockets, and
// returns the bytes the server would send back, answers in request order. Answers the handler
// gives later (from another thread) are waited for until `answer_wait` has passed; a request
// still unanswered then gets a 504. For tests and fuzzing.
std::string HandleConnectionBytes(std::string_view bytes, const HttpServerOptions& options,
                                  const HttpHandler& handler, std::chrono::milliseconds answer_wait,
                                  const std::string& remote = "127.0.0.1:1");

// A blocking HTTP/1.1 client for projctl and tests: one request per connection.
// Returns false and sets *error when the connection or the exchange fails.
struct HttpClientResult {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
};
bool HttpCall(const std::string& host, uint16_t port, const std::string& method,
              const std::string& target,
              const std::vector<std::pair<std::string, std::string>>& headers,
              const std::string& body, std::chrono::milliseconds timeout, HttpClientResult* out,
              std::string* error);

}  // namespace projd

#endif  // PROJD_ENGINE_HTTP_SERVER_H_
