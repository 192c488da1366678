// Answers of projd's HTTP/1.1 server as they go on the wire: the status line and fields (the
// server owns framing), bodies held in memory or sent from a file, and streamed answers
// (HttpResponse::stream) with the ClosingStream that closes each stream exactly once. See
// http_server_internal.h.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstring>
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

// Two memchr scans: find_first_of tests every byte against the set one at a time.
bool HasLineBreak(std::string_view s) {
  return s.find('\r') != std::string_view::npos || s.find('\n') != std::string_view::npos;
}

}  // namespace

HttpResponse ErrorResponse(int status, std::string_view error, std::string_view detail) {
  HttpResponse response;
  response.status = status;
  // Members in name order, as every object projd writes.
  response.body = "{";
  if (!detail.empty()) {
    response.body += "\"detail\":";
    AppendJsonString(detail, &response.body);
    response.body += ",";
  }
  response.body += "\"error\":";
  AppendJsonString(error, &response.body);
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

namespace {

// A handler's field that goes on the wire.
bool SentField(std::string_view name, std::string_view value) {
  return !name.empty() && !IsFramingHeader(name) && !HasLineBreak(name) && !HasLineBreak(value) &&
         !EqualsIgnoreCase(name, "content-type");
}

bool HasSentField(const HttpResponse& answer, std::string_view name) {
  for (const auto& [n, v] : answer.headers) {
    if (EqualsIgnoreCase(n, name) && SentField(n, v)) return true;
  }
  return false;
}

// A field as Beast's fields hold it: the value without spaces or tabs at either end.
// One resize and two copies: every answer writes several.
void AppendField(std::string_view name, std::string_view value, std::string* out) {
  value = TrimWhitespace(value);
  size_t at = out->size();
  out->resize(at + name.size() + value.size() + 4);
  char* p = out->data() + at;
  std::memcpy(p, name.data(), name.size());
  p += name.size();
  *p++ = ':';
  *p++ = ' ';
  std::memcpy(p, value.data(), value.size());
  p += value.size();
  *p++ = '\r';
  *p = '\n';
}

// The status line, Server, and Content-Type unless it is empty or holds a line break.
void AppendHeadStart(int status, std::string_view content_type, std::string* out) {
  if (status == 200) {
    out->append("HTTP/1.1 200 OK\r\nServer: projd\r\n");  // most answers
  } else {
    out->append("HTTP/1.1 ");
    out->append(std::to_string(status));
    out->push_back(' ');
    beast::string_view reason =
        http::obsolete_reason(http::int_to_status(static_cast<unsigned>(status)));
    out->append(reason.data(), reason.size());
    out->append("\r\n");
    AppendField("Server", "projd", out);
  }
  if (!content_type.empty() && !HasLineBreak(content_type)) {
    AppendField("Content-Type", content_type, out);
  }
}

void AppendContentLength(uint64_t length, std::string* out) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, length);
  AppendField("Content-Length", std::string_view(digits, static_cast<size_t>(end - digits)), out);
}

// The status line and fields of an answer, without the blank line that ends them: Server,
// Content-Type, the handler's fields (a field's later copies right after its first, as
// Beast's fields keep them), Content-Length when `length` is set, Connection.
void AppendHead(const HttpResponse& answer, int status, const uint64_t* length, bool keep_alive,
                bool http10, std::string* out) {
  AppendHeadStart(status, answer.content_type, out);
  const auto& fields = answer.headers;
  for (size_t i = 0; i < fields.size(); ++i) {
    if (!SentField(fields[i].first, fields[i].second)) continue;
    bool seen = false;  // sent already, with an earlier field of its name
    for (size_t j = 0; j < i && !seen; ++j) {
      seen = EqualsIgnoreCase(fields[j].first, fields[i].first) &&
             SentField(fields[j].first, fields[j].second);
    }
    if (seen) continue;
    for (size_t j = i; j < fields.size(); ++j) {
      if (j == i || (EqualsIgnoreCase(fields[j].first, fields[i].first) &&
                     SentField(fields[j].first, fields[j].second))) {
        AppendField(fields[j].first, fields[j].second, out);
      }
    }
  }
  if (length) AppendContentLength(*length, out);
  if (!keep_alive) {
    AppendField("Connection", "close", out);
  } else if (http10) {
    AppendField("Connection", "keep-alive", out);
  }
}

int WireStatus(int status) { return status < 100 || status > 599 ? 500 : status; }

}  // namespace

std::string SerializeAnswer(HttpResponse&& answer, bool keep_alive, bool head_request, bool http10,
                            const OpenFile* file, bool* sends_file) {
  int status = WireStatus(answer.status);
  bool no_body = status < 200 || status == 204 || status == 304;
  uint64_t length = file ? file->size : answer.body.size();
  std::string out;
  out.reserve(256 + (no_body || head_request || file ? 0 : answer.body.size()));
  AppendHead(answer, status, no_body ? nullptr : &length, keep_alive, http10, &out);
  out.append("\r\n");
  if (!no_body && !head_request && !file) out.append(answer.body);
  *sends_file = file && !no_body && !head_request;
  return out;
}

void AppendQuickAnswer(const QuickAnswer& answer, std::string* out) {
  // AppendHead's steps for a 200 with at most one field of the handler's, kept alive.
  out->reserve(out->size() + 160 + answer.field_value.size() + answer.body.size());
  AppendHeadStart(200, answer.content_type, out);
  if (SentField(answer.field_name, answer.field_value)) {
    AppendField(answer.field_name, answer.field_value, out);
  }
  AppendContentLength(answer.body.size(), out);
  out->append("\r\n");
  out->append(answer.body);
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
  std::string out;
  AppendHead(answer, WireStatus(answer.status), nullptr, keep_alive, http10, &out);
  if (!http10) AppendField("Transfer-Encoding", "chunked", &out);
  if (!HasSentField(answer, "cache-control")) AppendField("Cache-Control", "no-cache", &out);
  if (!HasSentField(answer, "x-accel-buffering")) AppendField("X-Accel-Buffering", "no", &out);
  out.append("\r\n");
  return out;
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
