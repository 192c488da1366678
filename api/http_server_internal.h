// The pieces of projd's HTTP/1.1 server shared by its files (internal to api/; see
// http_server.h for the contract):
//   http_request.cc           reading requests: Beast's parser with projd's limits, the framing
//                             checks Beast does not make (RFC 9112 §6, chunked bounds), targets
//   http_response.cc          answers on the wire: status line and fields, body files, and
//                             streamed answers (HttpResponse::stream)
//   http_session.h/.cc        one connection (Session) and what it shares with the server (Core)
//   http_server.cc            the acceptor, the I/O threads, PostAfter and HttpServer::Start
//   http_connection_bytes.cc  HandleConnectionBytes: a connection's bytes without sockets
#ifndef PROJD_API_HTTP_SERVER_INTERNAL_H_
#define PROJD_API_HTTP_SERVER_INTERNAL_H_

#include <atomic>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "api/http_server.h"

namespace projd {
namespace http_internal {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;

// ---- Requests (http_request.cc) -----------------------------------------------------------

int HexValue(char c);
std::string ToLower(std::string_view s);
bool EqualsIgnoreCase(std::string_view a, std::string_view b);
// Without the spaces and tabs at either end.
std::string_view TrimWhitespace(std::string_view s);

const char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";

// RFC 9112 section 2.2: a server SHOULD ignore at least one empty line (CRLF) received before
// a request-line. Up to this many are ignored before each request; one more is a 400.
constexpr int kMaxEmptyLinesBeforeRequest = 4;

// The empty lines at the start of `bytes`, ignored before a request whose *count empty lines
// before were already ignored (*count is added to): how many bytes to drop. *wait when what is
// left of `bytes` is nothing or a lone CR and more empty lines may be ignored: the request, or
// another empty line, has yet to arrive.
size_t SkipEmptyLines(std::string_view bytes, int* count, bool* wait);

// The request head asks for a go-ahead before its body ("Expect: 100-continue").
bool ExpectsContinue(const http::request<http::string_body>& head);

// The answer to a request that could not be parsed (the connection closes after it), or
// nullopt when there is nothing to answer (the client went away, a timeout).
std::optional<HttpResponse> ReadErrorAnswer(beast::error_code ec);

// The answer to a request in an HTTP version projd does not speak (the connection closes
// after it), or nullopt.
std::optional<HttpResponse> CheckVersion(const http::request<http::string_body>& message);

// One request being read: Beast's parser with projd's limits, and the checks of the framing
// that Beast does not make (RFC 9112 §6 and the bounds of chunked framing). Shared by Session
// and HandleConnectionBytes, so that both read requests alike.
class RequestReader {
 public:
  explicit RequestReader(const HttpServerOptions& options);
  RequestReader(const RequestReader&) = delete;
  RequestReader& operator=(const RequestReader&) = delete;

  http::request_parser<http::string_body>& parser() { return parser_; }

  // The request head is parsed and its method is HEAD (its answers have no body).
  bool head() const {
    return parser_.is_header_done() && parser_.get().method() == http::verb::head;
  }

  // parser().put over `bytes`: returns how many bytes were consumed; ec as put sets it
  // (need_more included).
  size_t Put(std::string_view bytes, beast::error_code& ec);

  // Once the head is parsed: the 400 answer (the connection closes after it) when the body's
  // length cannot be known for sure. Beast takes a Transfer-Encoding whose last coding is not
  // chunked as "no body" and reads the body as the next request (request smuggling), and
  // takes Content-Length when another coding comes with it; RFC 9112 §6.3 asks for 400 and
  // close. Only "chunked", alone, is accepted, and never together with Content-Length or in an
  // HTTP/1.0 request (§6.1).
  std::optional<HttpResponse> CheckHead();

  // When put asked for more: `pending`, what it left unconsumed, is what is left of the head, or
  // of a chunked body the beginning of a chunk-size line (after the CRLF that ends the previous
  // chunk's data), or a whole last-chunk line and the beginning of the trailer section. The 400
  // answer when that holds a bare LF, which Beast does not refuse there but waits behind, or a
  // chunk-size line or trailer section is already longer than its bound, so that the server does
  // not buffer it without end.
  std::optional<HttpResponse> CheckPending(std::string_view pending) const;

  // The parsed request, and the 400 answer when its trailer section was too large. Beast adds
  // trailer fields to the header fields; they are dropped here (RFC 9112 §7.1.2 lets a
  // recipient discard them), so that a trailer never adds to or overrides what the head said
  // (Authorization, Connection, ...).
  std::optional<HttpResponse> Release(http::request<http::string_body>* message);

  // The answer to a request that could not be read (the connection closes after it), or
  // nullopt when there is nothing to answer.
  std::optional<HttpResponse> ErrorAnswer(beast::error_code ec) const;

 private:
  // Called by the parser for each chunk-size line, once it is whole (a chunk-size line that
  // never ends is CheckPending's).
  struct ChunkHeaderCheck {
    RequestReader* reader;
    void operator()(std::uint64_t, beast::string_view extensions, beast::error_code& ec) {
      reader->OnChunkHeader(extensions, ec);
    }
  };

  void OnChunkHeader(beast::string_view extensions, beast::error_code& ec);

  static std::string ChunkLineDetail();
  static std::optional<HttpResponse> ChunkLineTooLong();
  std::optional<HttpResponse> TrailersTooLarge() const;

  const size_t trailer_limit_;
  const size_t body_limit_;
  // The bytes of a chunked body read so far, its framing included (Put).
  size_t body_wire_bytes_ = 0;
  ChunkHeaderCheck chunk_header_check_{this};
  http::request_parser<http::string_body> parser_;
  // The bytes of the running Put.
  std::string_view feed_;
  // How many fields the head has (set by CheckHead); the fields after them are trailers.
  size_t header_fields_ = std::numeric_limits<size_t>::max();
  // Why a chunk-size line was refused.
  std::string error_detail_;
};

// Fills *request from a parsed message; the 400 answer when its target is malformed.
std::optional<HttpResponse> ToRequest(http::request<http::string_body>&& message,
                                      const std::string& remote, HttpRequest* request);

void CallHandler(const HttpHandler& handler, HttpRequest&& request, const Responder& respond);

// A request at the start of `bytes` that HttpServerOptions::quick_get may answer (see there):
// true with what quick_get is given (views into `bytes`) and its length in bytes. False when
// it is any other request, or not whole yet: the general reading takes it from there.
bool ParseQuickGet(std::string_view bytes, size_t max_header_bytes, QuickGetRequest* request,
                   size_t* length);
// A request at the start of `bytes` answered by options.quick_get: its length in bytes, with
// the answer's wire form appended to *wire (as SerializeAnswer writes the same answer, kept
// alive); 0 when quick_get is not set, the request is not one it may take, or it refused (an
// exception counts as a refusal: the general path then answers the request).
// `received`: when the request was taken (the handler's timing starts there).
size_t AnswerQuickGet(
    std::string_view bytes, const HttpServerOptions& options, std::string* wire,
    std::chrono::steady_clock::time_point received = std::chrono::steady_clock::now());

// ---- Answers (http_response.cc) -----------------------------------------------------------

HttpResponse ErrorResponse(int status, std::string_view error, std::string_view detail);

// An answer's body file, open while it is sent (HttpResponse::body_file).
struct OpenFile {
  int fd = -1;
  uint64_t size = 0;
  uint64_t remaining = 0;  // bytes not yet sent
  std::shared_ptr<HttpFileBody> body;
  OpenFile() = default;
  OpenFile(const OpenFile&) = delete;
  OpenFile& operator=(const OpenFile&) = delete;
  ~OpenFile();
  // Reads the next piece of at most `max` bytes into *out; false when the file ends early.
  bool Next(size_t max, std::string* out);
};

// Bytes of a body file sent per write.
constexpr size_t kFileChunkBytes = 256 * 1024;

// Opens the answer's body file, if it has one. A file that cannot be opened turns the answer
// into a 500 (and is removed as asked when the answer drops it).
std::shared_ptr<OpenFile> OpenBodyFile(HttpResponse* answer);

// The wire form of an answer, its body included unless it comes from `file`; *sends_file is
// whether the file's content follows it. The server owns framing: Content-Length and
// Connection are set here and the handler's copies of them are ignored, as are fields holding
// line breaks. The answer to a HEAD request keeps its Content-Length but sends no body. An
// HTTP/1.0 client that asked to keep the connection is told it stays open ("Connection:
// keep-alive"). Fields go out in the order Beast's serializer gives them: Server,
// Content-Type, the handler's fields (those of one name together), Content-Length, Connection.
std::string SerializeAnswer(HttpResponse&& answer, bool keep_alive, bool head_request, bool http10,
                            const OpenFile* file, bool* sends_file);
// Appends the wire form of a quick_get answer to a kept-alive HTTP/1.1 GET: what
// SerializeAnswer writes for the same answer as an HttpResponse.
void AppendQuickAnswer(const QuickAnswer& answer, std::string* out);

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

  void Open(std::function<void()> wake) override;
  bool Take(std::string* out) override;
  void Closed() override;
  bool broken() const { return broken_; }

 private:
  std::shared_ptr<HttpStream> inner_;
  std::atomic<bool> closed_{false};
  bool broken_ = false;
};

// Puts the answer's stream, if it has one, under a ClosingStream (once).
void GuardStream(HttpResponse* answer);

// The answer's stream taken out of it, once GuardStream made it a ClosingStream.
std::shared_ptr<ClosingStream> TakeStream(HttpResponse* answer);

// Whether an answer's stream is sent: only as the body of a 2xx answer (not 204). An answer of
// another status drops its stream (closed unopened) and is sent as any other.
bool StreamsBody(const HttpResponse& answer);

void DropStream(HttpResponse* answer);

// The head of a streamed answer (its stream taken out before): no Content-Length; to an
// HTTP/1.1 client "Transfer-Encoding: chunked", to an HTTP/1.0 client no framing (the body
// ends when the connection closes). Caches and proxies (nginx) are asked not to hold it back
// unless the handler said otherwise. A HEAD request gets this head without a body, and may
// keep its connection; a streamed body is the last answer on its connection.
std::string StreamHead(HttpResponse&& answer, bool keep_alive, bool http10);

// Appends a piece of a streamed body as it goes on the wire: one chunk to an HTTP/1.1 client
// (never an empty one, which would end the body), the bytes themselves to an HTTP/1.0 client.
void AppendStreamPiece(std::string_view piece, bool http10, std::string* out);

const char kLastChunk[] = "0\r\n\r\n";

}  // namespace http_internal
}  // namespace projd

#endif  // PROJD_API_HTTP_SERVER_INTERNAL_H_
