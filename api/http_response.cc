// Answers of projd's HTTP/1.1 server as they go on the wire: the status line and fields (the
// server owns framing), bodies held in memory or sent from a file, and streamed answers
// (HttpResponse::stream) with the ClosingStream that closes each stream exactly once. See
// http_server_internal.h.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "api/http_server.h"
#include "api/http_server_internal.h"

namespace projd {
namespace http_internal {
namespace {

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

bool IsFramingHeader(std::string_view name) {
  return EqualsIgnoreCase(name, "content-length") || EqualsIgnoreCase(name, "connection") ||
         EqualsIgnoreCase(name, "transfer-encoding") || EqualsIgnoreCase(name, "server");
}

bool HasLineBreak(std::string_view s) { return s.find_first_of("\r\n") != std::string_view::npos; }

}  // namespace

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

OpenFile::~OpenFile() {
  if (fd >= 0) close(fd);
}

bool OpenFile::Next(size_t max, std::string* out) {
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

http::response<http::string_body> BuildResponse(HttpResponse&& answer, bool keep_alive,
                                                bool head_request, bool http10,
                                                const OpenFile* file) {
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

void ClosingStream::Open(std::function<void()> wake) {
  if (!inner_ || broken_) return;
  try {
    inner_->Open(std::move(wake));
  } catch (...) {
    broken_ = true;
  }
}

bool ClosingStream::Take(std::string* out) {
  if (!inner_ || broken_) return false;
  try {
    return inner_->Take(out);
  } catch (...) {
    broken_ = true;
    return false;
  }
}

void ClosingStream::Closed() {
  if (closed_.exchange(true)) return;
  std::shared_ptr<HttpStream> inner = std::move(inner_);
  try {
    inner->Closed();
  } catch (...) {
  }
}

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

}  // namespace http_internal

HttpFileBody::~HttpFileBody() {
  if (remove.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(remove, ec);
}

}  // namespace projd
