// Reading requests for projd's HTTP/1.1 server: Beast's parser with projd's limits, the checks
// of the framing that Beast does not make (RFC 9112 §6 and the bounds of chunked framing), the
// request target (path, segments, query) and percent-decoding. See http_server_internal.h.
#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "api/http_server.h"
#include "api/http_server_internal.h"
#include "dsl/value_internal.h"

namespace projd {
namespace http_internal {
namespace {

// A Host field's value (RFC 9110 section 7.2: uri-host [ ":" port ]): a reg-name, an IPv4
// address or a bracketed IP literal, and digits after a colon. An empty value (which RFC 9112
// section 3.2 leaves to a target without authority) is refused: every target projd serves
// has one, this server's.
bool ValidHostField(std::string_view value) {
  if (value.empty() || value.front() == ':') return false;  // no host (":80" neither)
  size_t end = value.size();
  if (!value.empty() && value.front() == '[') {
    end = value.find(']');
    if (end == std::string_view::npos || end == 1) return false;  // "[]" names no host
    for (char c : value.substr(1, end - 1)) {
      if (!std::isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.') return false;
    }
    ++end;
  } else {
    end = value.find(':');
    if (end == std::string_view::npos) end = value.size();
    for (char c : value.substr(0, end)) {
      bool ok = std::isalnum(static_cast<unsigned char>(c)) ||
                std::string_view("-._~!$&'()*+,;=%").find(c) != std::string_view::npos;
      if (!ok) return false;
    }
  }
  if (end == value.size()) return true;
  if (value[end] != ':') return false;
  for (char c : value.substr(end + 1)) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// Bounds of the chunked framing, which Beast's parser leaves open: it waits for a chunk-size
// line, and for the last chunk with its trailer section, to arrive whole before it parses them.
constexpr size_t kMaxChunkLineBytes = 4096;  // chunk size and extensions, without the CRLF
constexpr size_t kMaxTrailerBytes = 8192;    // and at most max_header_bytes

std::string_view View(beast::string_view s) { return std::string_view(s.data(), s.size()); }

// Well-formed UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing past U+10FFFF.
bool ValidUtf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  for (size_t i = 0, len; i < s.size(); i += len) {
    len = value_internal::Utf8SequenceLength(p, s.size(), i);
    if (len == 0) return false;
  }
  return true;
}

// A piece of the request target as sent, for an error's detail: bytes other than printable
// ASCII percent-encoded (the detail stays valid UTF-8), cut after 64 bytes.
std::string ShowTargetPart(std::string_view raw) {
  constexpr size_t kMaxShown = 64;
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (size_t i = 0; i < raw.size() && i < kMaxShown; ++i) {
    auto u = static_cast<unsigned char>(raw[i]);
    if (u > 0x20 && u < 0x7f) {
      out.push_back(raw[i]);
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 15]);
    }
  }
  if (raw.size() > kMaxShown) out += "...";
  return out;
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

// Fills path, segments and query from the raw target. False (with *detail) when the target is
// not origin-form (or absolute-form with a host), holds a malformed percent escape, or a path
// segment or query parameter that is not UTF-8 once decoded: every string projd stores is UTF-8
// (keys come from JSON), and a byte that is not would only be replaced (U+FFFD) further on.
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
    // RFC 9110 section 4.2.1: an http URI with an empty host is invalid (userinfo neither,
    // section 4.2.4); the authority is what a Host field may hold.
    std::string_view authority =
        path.substr(scheme_end + 3, slash == std::string_view::npos ? std::string_view::npos
                                                                    : slash - (scheme_end + 3));
    if (!ValidHostField(authority)) {
      *detail = authority.empty()
                    ? "an absolute-form target without a host (RFC 9110 section 4.2.1)"
                    : "an absolute-form target whose authority is not a host with an "
                      "optional port (RFC 9110 section 4.2)";
      return false;
    }
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
      std::string_view raw = path.substr(start, end - start);
      DecodeStrict(raw, false, &segment);
      if (!ValidUtf8(segment)) {
        *detail = "path segment " + std::to_string(request->segments.size() + 1) + " (" +
                  ShowTargetPart(raw) + ") is not UTF-8 once percent-decoded";
        return false;
      }
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
    if (!ValidUtf8(decoded_name)) {
      *detail =
          "a query parameter name (" + ShowTargetPart(name) + ") is not UTF-8 once percent-decoded";
      return false;
    }
    if (!ValidUtf8(decoded_value)) {
      *detail = "the value of query parameter " + ShowTargetPart(name) +
                " is not UTF-8 once percent-decoded";
      return false;
    }
    request->query.emplace_back(std::move(decoded_name), std::move(decoded_value));
  }
  return true;
}

void LimitParser(http::request_parser<http::string_body>* parser,
                 const HttpServerOptions& options) {
  parser->header_limit(static_cast<uint32_t>(
      std::min<size_t>(options.max_header_bytes, std::numeric_limits<uint32_t>::max())));
  parser->body_limit(static_cast<uint64_t>(options.max_body_bytes));
}

}  // namespace

std::string_view TrimWhitespace(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
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

size_t SkipEmptyLines(std::string_view bytes, int* count, bool* wait) {
  size_t skipped = 0;
  while (*count < kMaxEmptyLinesBeforeRequest && bytes.substr(skipped, 2) == "\r\n") {
    skipped += 2;
    ++*count;
  }
  std::string_view rest = bytes.substr(skipped);
  *wait = *count < kMaxEmptyLinesBeforeRequest && (rest.empty() || rest == "\r");
  return skipped;
}

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

RequestReader::RequestReader(const HttpServerOptions& options)
    : trailer_limit_(std::min(kMaxTrailerBytes, options.max_header_bytes)),
      body_limit_(options.max_body_bytes) {
  LimitParser(&parser_, options);
  parser_.on_chunk_header(chunk_header_check_);
}

size_t RequestReader::Put(std::string_view bytes, beast::error_code& ec) {
  // A chunked body counts as it comes on the wire, chunk-size lines, extensions, line ends
  // and trailers included (Beast's body limit counts the data alone: a body of one-byte
  // chunks with long extensions would be read without end).
  const bool chunked_body = parser_.is_header_done() && parser_.chunked();
  feed_ = bytes;
  size_t used = parser_.put(net::buffer(bytes.data(), bytes.size()), ec);
  feed_ = {};
  if (chunked_body) {
    body_wire_bytes_ += used;
    if (body_wire_bytes_ > body_limit_ && (!ec || ec == http::error::need_more)) {
      ec = http::error::body_limit;
    }
  }
  return used;
}

std::optional<HttpResponse> RequestReader::CheckHead() {
  const http::request<http::string_body>& head = parser_.get();
  header_fields_ = 0;
  size_t codings = 0, hosts = 0;
  bool chunked = false;
  bool content_length = false;
  bool host_ok = true;
  for (const auto& field : head) {
    ++header_fields_;
    if (field.name() == http::field::content_length) content_length = true;
    if (field.name() == http::field::host) {
      ++hosts;
      host_ok = host_ok && ValidHostField(TrimWhitespace(View(field.value())));
    }
    if (field.name() != http::field::transfer_encoding) continue;
    ++codings;
    chunked = EqualsIgnoreCase(TrimWhitespace(View(field.value())), "chunked");
  }
  // RFC 9112 section 3.2: an HTTP/1.1 request has exactly one Host field, any request at most
  // one, and its value is a host and an optional port.
  if (hosts > 1 || (hosts == 0 && head.version() >= 11) || !host_ok) {
    return ErrorResponse(400, "bad request",
                         hosts > 1    ? "more than one Host field (RFC 9112 section 3.2)"
                         : hosts == 0 ? "an HTTP/1.1 request without Host (RFC 9112 section 3.2)"
                                      : "a Host field that is not a host (RFC 9112 section 3.2)");
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

std::optional<HttpResponse> RequestReader::CheckPending(std::string_view pending) const {
  if (parser_.is_done()) return std::nullopt;
  const bool in_head = !parser_.is_header_done();
  if (!in_head && !parser_.chunked()) return std::nullopt;  // body bytes, whatever they are
  // What is pending is framing alone (the rest of the head, a chunk-size line, or the last
  // chunk's line and the trailer section), whose lines end in CRLF (RFC 9112 sections 2.2 and
  // 7.1). Beast looks for a CRLF and, behind a bare LF, would wait for one until the limit of
  // the head or line or read_timeout: a bare LF is refused at once, as a bare CR is.
  for (size_t lf = pending.find('\n'); lf != std::string_view::npos;
       lf = pending.find('\n', lf + 1)) {
    if (lf == 0 || pending[lf - 1] != '\r') {
      return ErrorResponse(400, "bad request",
                           in_head ? "bad line ending: a bare LF in the request head, where "
                                     "lines end in CRLF (RFC 9112 section 2.2)"
                                   : "bad line ending: a bare LF in the chunked framing, where "
                                     "lines end in CRLF (RFC 9112 section 7.1)");
    }
  }
  if (in_head) return std::nullopt;
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

std::optional<HttpResponse> RequestReader::Release(http::request<http::string_body>* message) {
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

std::optional<HttpResponse> RequestReader::ErrorAnswer(beast::error_code ec) const {
  if (!error_detail_.empty()) return ErrorResponse(400, "bad request", error_detail_);
  if (ec == http::error::body_limit && body_wire_bytes_ > body_limit_) {
    return ErrorResponse(413, "payload too large",
                         "chunked body larger than " + std::to_string(body_limit_) +
                             " bytes (chunk-size lines, extensions and trailers included)");
  }
  return ReadErrorAnswer(ec);
}

void RequestReader::OnChunkHeader(beast::string_view extensions, beast::error_code& ec) {
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

std::string RequestReader::ChunkLineDetail() {
  return "chunk-size line longer than " + std::to_string(kMaxChunkLineBytes) +
         " bytes (chunk extensions included)";
}

std::optional<HttpResponse> RequestReader::ChunkLineTooLong() {
  return ErrorResponse(400, "bad request", ChunkLineDetail());
}

std::optional<HttpResponse> RequestReader::TrailersTooLarge() const {
  return ErrorResponse(
      400, "bad request",
      "chunked trailer section larger than " + std::to_string(trailer_limit_) + " bytes");
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

namespace {

// RFC 9110 section 5.6.2: the characters of a token (a field name).
bool IsTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// A header field of a request quick_get may take: a name it knows and a plain value. An
// Authorization field goes into *request (a request with two is not taken).
bool QuickField(std::string_view line, QuickGetRequest* request, size_t* hosts) {
  size_t colon = 0;
  while (colon < line.size() && IsTokenChar(line[colon])) ++colon;
  if (colon == 0 || colon >= line.size() || line[colon] != ':') return false;
  std::string_view name = line.substr(0, colon);
  std::string_view value = line.substr(colon + 1);
  for (char c : value) {
    if ((c < 0x20 || c > 0x7e) && c != '\t') return false;
  }
  value = TrimWhitespace(value);
  if (EqualsIgnoreCase(name, "host")) {  // the field every request has, once
    ++*hosts;
    return ValidHostField(value);
  }
  if (EqualsIgnoreCase(name, "connection")) return EqualsIgnoreCase(value, "keep-alive");
  if (EqualsIgnoreCase(name, "authorization")) {
    if (request->has_authorization) return false;  // which one counts is the handler's call
    request->has_authorization = true;
    request->authorization = value;
    return true;
  }
  return EqualsIgnoreCase(name, "user-agent") || EqualsIgnoreCase(name, "accept") ||
         EqualsIgnoreCase(name, "accept-encoding") || EqualsIgnoreCase(name, "accept-language");
}

}  // namespace

bool ParseQuickGet(std::string_view bytes, size_t max_header_bytes, QuickGetRequest* request,
                   size_t* length) {
  constexpr std::string_view kMethod = "GET /";
  constexpr std::string_view kVersion = " HTTP/1.1\r\n";
  *request = QuickGetRequest();
  if (bytes.substr(0, kMethod.size()) != kMethod) return false;
  size_t end = bytes.substr(0, max_header_bytes).find("\r\n\r\n");
  if (end == std::string_view::npos || end + 4 > max_header_bytes) return false;
  std::string_view head = bytes.substr(0, end + 2);  // each line with its CRLF
  size_t space = head.find(' ', 4);
  if (space == std::string_view::npos) return false;
  std::string_view path = head.substr(4, space - 4);
  for (char c : path) {
    if (c <= 0x20 || c >= 0x7f || c == '?' || c == '#' || c == '%') return false;
  }
  if (head.substr(space, kVersion.size()) != kVersion) return false;
  size_t pos = space + kVersion.size();
  size_t hosts = 0;
  while (pos < head.size()) {
    size_t eol = head.find("\r\n", pos);
    // A lone CR or LF in the line is refused by QuickField (neither a token character nor
    // allowed in a value).
    if (!QuickField(head.substr(pos, eol - pos), request, &hosts)) return false;
    pos = eol + 2;
  }
  if (hosts != 1) return false;  // the general way answers 400 (RFC 9112 section 3.2)
  request->target = path;
  *length = end + 4;
  return true;
}

size_t AnswerQuickGet(std::string_view bytes, const HttpServerOptions& options, std::string* wire,
                      std::chrono::steady_clock::time_point received) {
  QuickGetRequest request;
  size_t length = 0;
  if (!options.quick_get || !ParseQuickGet(bytes, options.max_header_bytes, &request, &length)) {
    return 0;
  }
  request.received = received;
  // One answer per thread, its strings' room kept from answer to answer (within reason).
  thread_local QuickAnswer answer;
  constexpr size_t kKeptBytes = 64 * 1024;
  answer.content_type = QuickAnswer().content_type;
  answer.field_name = {};
  answer.field_value.clear();
  answer.body.clear();
  if (answer.body.capacity() > kKeptBytes) answer.body.shrink_to_fit();
  if (answer.field_value.capacity() > kKeptBytes) answer.field_value.shrink_to_fit();
  bool answered = false;
  try {
    answered = options.quick_get(request, &answer);
  } catch (...) {
  }
  if (!answered) return 0;
  AppendQuickAnswer(answer, wire);
  return length;
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

}  // namespace http_internal

const std::string* HttpRequest::Query(std::string_view name) const {
  for (const auto& [key, value] : query) {
    if (key == name) return &value;
  }
  return nullptr;
}

const std::string* HttpRequest::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (http_internal::EqualsIgnoreCase(key, name)) return &value;
  }
  return nullptr;
}

namespace {

// The weight of one media range's parameters ("q=0.5; level=1"): 1 without q=, 0 for a
// malformed one (RFC 9110 §12.4.2: "0" ["." 0*3DIGIT] or "1" ["." 0*3"0"]).
double RangeWeight(std::string_view params) {
  double q = 1;
  while (!params.empty()) {
    size_t semi = params.find(';');
    std::string_view p = http_internal::TrimWhitespace(params.substr(0, semi));
    params = semi == std::string_view::npos ? std::string_view() : params.substr(semi + 1);
    size_t eq = p.find('=');
    if (eq == std::string_view::npos ||
        !http_internal::EqualsIgnoreCase(http_internal::TrimWhitespace(p.substr(0, eq)), "q")) {
      continue;
    }
    std::string_view value = http_internal::TrimWhitespace(p.substr(eq + 1));
    if (value.empty() || value.size() > 5 || (value[0] != '0' && value[0] != '1')) return 0;
    if (value.size() > 1 && value[1] != '.') return 0;
    q = value[0] - '0';
    double scale = 0.1;
    for (size_t i = 2; i < value.size(); ++i) {
      if (value[i] < '0' || value[i] > '9') return 0;
      q += (value[i] - '0') * scale;
      scale /= 10;
    }
    if (q > 1) return 0;
  }
  return q;
}

}  // namespace

double HttpRequest::AcceptWeight(std::string_view media_type) const {
  double weight = 0;
  for (const auto& [name, value] : headers) {
    if (name != "accept") continue;  // names are lower-cased
    std::string_view ranges = value;
    while (!ranges.empty()) {
      size_t comma = ranges.find(',');
      std::string_view range = ranges.substr(0, comma);
      ranges = comma == std::string_view::npos ? std::string_view() : ranges.substr(comma + 1);
      size_t semi = range.find(';');
      if (!http_internal::EqualsIgnoreCase(http_internal::TrimWhitespace(range.substr(0, semi)),
                                           media_type)) {
        continue;
      }
      weight = std::max(weight,
                        semi == std::string_view::npos ? 1.0 : RangeWeight(range.substr(semi + 1)));
    }
  }
  return weight;
}

std::string PercentDecode(std::string_view s, bool plus_is_space) {
  // Lenient: a '%' without two hex digits after it is kept as it is.
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%' && i + 2 < s.size()) {
      int hi = http_internal::HexValue(s[i + 1]);
      int lo = http_internal::HexValue(s[i + 2]);
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

}  // namespace projd
