// HandleConnectionBytes (see http_server.h): what a client sent on one connection, run through
// the server's request reading and a handler without sockets, for tests and fuzzing. Requests
// are read by the same RequestReader as a Session's, and answers written as a Session writes
// them.
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "api/http_server.h"
#include "api/http_server_internal.h"

namespace projd {
namespace http_internal {
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
  bool body = false;
  *out += SerializeAnswer(std::move(answer), keep_alive, head, http10, file.get(), &body);
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

// What the server sends, in order: a 100 Continue go-ahead (already bytes) or an answer.
struct Piece {
  std::string bytes;
  std::shared_ptr<LocalReply> reply;
  bool keep_alive = true;
  bool head = false;
  bool http10 = false;
};

// The bytes of the pieces in order, each answer waited for until `answer_wait` has passed
// (504 past it); answers after the last one written are dropped.
std::string WriteLocalAnswers(std::vector<Piece>* pieces, std::chrono::milliseconds answer_wait) {
  std::string out;
  auto deadline = std::chrono::steady_clock::now() + answer_wait;
  for (Piece& piece : *pieces) {
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
  for (Piece& piece : *pieces) {
    if (piece.reply) piece.reply->Drop();  // answers after the last one written
  }
  return out;
}

}  // namespace
}  // namespace http_internal

std::string HandleConnectionBytes(std::string_view bytes, const HttpServerOptions& options,
                                  const HttpHandler& handler, std::chrono::milliseconds answer_wait,
                                  const std::string& remote) {
  using namespace http_internal;  // the server's request reading and answers
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
    int empty_lines = 0;
    bool wait = false;  // only empty lines are left: as at a connection's end
    pos += SkipEmptyLines(bytes.substr(pos), &empty_lines, &wait);
    if (wait) break;
    if (std::string quick; size_t length = AnswerQuickGet(bytes.substr(pos), options, &quick)) {
      pieces.push_back({std::move(quick), nullptr, true});
      pos += length;
      continue;
    }
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
        // Not enough left and no more coming: as at a connection's end (end_of_stream or
        // partial_message), unless it is already too long to wait for (Session::ReadBody).
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

  return WriteLocalAnswers(&pieces, answer_wait);
}

}  // namespace projd
