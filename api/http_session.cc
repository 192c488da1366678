// One connection of projd's HTTP/1.1 server: reading requests ahead, handing them to the
// handler, writing the answers in request order, streamed answers, timeouts and lingering
// (see http_session.h).
#include "api/http_session.h"

#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/http_server.h"
#include "api/http_server_internal.h"

namespace projd {
namespace http_internal {
namespace {

constexpr size_t kFirstReadBytes = 4096;
constexpr int kMaxReadDepth = 8;  // see ReadNext
constexpr size_t kBodyReadBytes = 65536;
constexpr std::chrono::milliseconds kMaxLinger{2000};

std::string_view BufferView(const beast::flat_buffer& buffer) {
  return std::string_view(static_cast<const char*>(buffer.data().data()), buffer.size());
}

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

// The monotonic clock as the kernel last ticked it (a few ms behind at most, no counter read):
// enough for an idle deadline of seconds, set once per request. The steady clock is the same
// CLOCK_MONOTONIC, so the two compare.
std::chrono::steady_clock::time_point CoarseNow() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return std::chrono::steady_clock::time_point(
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(
          std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec)));
}

// A non-blocking send of what fits of `bytes` now, as the socket's write_some, made as the
// system call itself: glibc's send() is a thread cancellation point, whose bookkeeping around
// the call costs about as much as the rest of the wrapper (projd never cancels threads).
size_t SendNow(int fd, std::string_view bytes, beast::error_code& ec) {
  for (;;) {
    long n = ::syscall(SYS_sendto, fd, bytes.data(), bytes.size(), MSG_NOSIGNAL, nullptr, 0);
    if (n >= 0) {
      ec = {};
      return static_cast<size_t>(n);
    }
    if (errno == EINTR) continue;
    ec = beast::error_code(errno, boost::system::system_category());
    return 0;
  }
}

}  // namespace

// ---- Session ----------------------------------------------------------------------------

void Session::ReadNext() {
  if (closed_ || reading_ || stop_reading_) return;
  if (queue_.size() >= core_->options().max_pipelined) return;  // resumed by OnWrite
  if (buffer_.size() == 0) return ReadFirstBytes();
  // Requests pipelined in the buffer and answered at once (their answers written directly)
  // are read one inside the other: past a few, the next waits for its own turn.
  if (read_depth_ >= kMaxReadDepth) {
    net::post(stream_.get_executor(),
              beast::bind_front_handler(&Session::ReadNext, shared_from_this()));
    return;
  }
  ++read_depth_;
  ReadRequest();
  --read_depth_;
}

void Session::ReadFirstBytes() {
  untimed_wait_ = !queue_.empty();
  // No Beast timer on this read: a timer per request costs a wait, its cancel and a handler.
  // The idle deadline is kept by idle_timer_ instead (WaitIdle).
  stream_.expires_never();
  if (!untimed_wait_) WaitIdle();
  reading_ = true;
  // The socket's own read, not tcp_stream's (no timer, no operation wrapper). After a read
  // that emptied the socket, asio waits for readability before reading again (no read that
  // finds nothing), and the descriptor stays registered as it is: no epoll_ctl per request,
  // which a wait for readability (async_wait) costs every time.
  stream_.socket().async_read_some(
      buffer_.prepare(kFirstReadBytes),
      beast::bind_front_handler(&Session::OnFirstBytes, shared_from_this()));
}

// The connection waits idle for a request from now: closed at now + idle_timeout unless one
// starts arriving. One timer per connection, armed when none is pending and moved on lazily:
// when it fires before the deadline (the connection was busy meanwhile) it is armed again.
void Session::WaitIdle() {
  idle_wait_ = true;
  idle_deadline_ = CoarseNow() + core_->options().idle_timeout;
  if (!idle_timer_armed_) ArmIdleTimer();
}

void Session::ArmIdleTimer() {
  idle_timer_armed_ = true;
  idle_timer_.expires_at(idle_deadline_);
  idle_timer_.async_wait([weak = weak_from_this()](beast::error_code ec) {
    if (std::shared_ptr<Session> self = weak.lock()) self->OnIdleTimer(ec);
  });
}

void Session::OnIdleTimer(beast::error_code ec) {
  idle_timer_armed_ = false;
  if (ec || closed_) return;
  // Not waiting idle now (a request is being read or answered, or a stream is sent): the
  // next wait arms the timer again.
  if (!idle_wait_ || untimed_wait_ || !reading_ || streaming_) return;
  if (std::chrono::steady_clock::now() < idle_deadline_) return ArmIdleTimer();
  Close();
}

void Session::OnFirstBytes(beast::error_code ec, size_t bytes) {
  reading_ = false;
  untimed_wait_ = false;
  idle_wait_ = false;
  if (closed_) return;
  if (streaming_) return ReadWhileStreaming();  // StartStream cancelled this read
  if (ec == net::error::eof) return OnEof();
  if (ec) return Close();
  buffer_.commit(bytes);
  ReadRequest();
}

void Session::ReadRequest() {
  // Empty lines before the request line are dropped (a few: SkipEmptyLines). When they are all
  // there is yet, the rest is read as a request's first bytes are.
  bool wait = false;
  buffer_.consume(SkipEmptyLines(BufferView(buffer_), &empty_lines_, &wait));
  if (wait) return ReadFirstBytes();
  empty_lines_ = 0;  // this request begins: the next one may have its own
  if (TryQuickGet()) return ReadNext();
  const HttpServerOptions& options = core_->options();
  reader_.emplace(options);
  request_deadline_ = std::chrono::steady_clock::now() + options.read_timeout;
  // A whole header is usually in the buffer already (it came with the first bytes, or behind
  // a pipelined request): parse it here rather than through another asynchronous read.
  ReadHead();
}

// The head is read here rather than by http::async_read_header, for the same reason as the
// body (ReadBody): what the parser leaves unconsumed is checked after each read, so that a
// bare LF, behind which Beast would wait for a CRLF until the head limit or the read timeout,
// gets its 400 at once. The parser's head limit bounds the buffer.
void Session::ReadHead() {
  beast::error_code ec;
  buffer_.consume(reader_->Put(BufferView(buffer_), ec));
  if (!ec && reader_->parser().is_header_done()) return OnHeader({}, 0);
  if (ec && ec != http::error::need_more) return OnReadError(ec);
  if (auto bad = reader_->CheckPending(BufferView(buffer_))) return ReplyAndClose(std::move(*bad));
  stream_.expires_at(request_deadline_);
  reading_ = true;
  stream_.async_read_some(
      buffer_.prepare(kFirstReadBytes),
      beast::bind_front_handler(&Session::OnRequestBytes, shared_from_this(), true));
}

// More bytes of the request's head (`head`) or body: parsed on by ReadHead or ReadBody.
void Session::OnRequestBytes(bool head, beast::error_code ec, size_t bytes) {
  reading_ = false;
  if (closed_) return;
  if (streaming_) return ReadWhileStreaming();  // StartStream cancelled this read
  if (ec == net::error::eof) return OnEof();    // the request stays incomplete
  if (ec) return Close();                       // timeout, reset, ...
  buffer_.commit(bytes);
  if (head) return ReadHead();
  ReadBody();
}

// A plain GET whole in the buffer, answered by quick_get without the general parsing (see
// HttpServerOptions::quick_get): queued as any answer.
bool Session::TryQuickGet() {
  // Into the bytes of an answer written earlier, whose room is kept (AnswerWritten).
  std::string wire = std::move(spare_bytes_);
  wire.clear();
  // One clock read serves the request's note and its timing (projd_query_seconds).
  const auto received = std::chrono::steady_clock::now();
  size_t length = AnswerQuickGet(BufferView(buffer_), core_->options(), &wire, received);
  if (length == 0) {
    spare_bytes_ = std::move(wire);
    return false;
  }
  core_->NoteRequest(this, received);
  buffer_.consume(length);
  uint64_t id = Enqueue(true);
  Slot& slot = queue_[id - first_id_];
  slot.bytes = std::move(wire);
  slot.ready = true;
  reads_follow_ = true;  // ReadRequest reads on when this returns
  TryWrite();
  reads_follow_ = false;
  return true;
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
  stream_.async_read_some(
      buffer_.prepare(kBodyReadBytes),
      beast::bind_front_handler(&Session::OnRequestBytes, shared_from_this(), false));
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
  reads_follow_ = true;  // an answer given at once is written before the ReadNext below
  Dispatch(std::move(message));
  reads_follow_ = false;
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
  request.alone = core_->NoteRequest(this);
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
  bool sends_file = false;
  slot.bytes = SerializeAnswer(std::move(answer), slot.keep_alive, slot.head, slot.http10,
                               file.get(), &sends_file);
  if (sends_file) {
    slot.bytes += first;
    slot.file = std::move(file);
  }
  slot.ready = true;
  TryWrite();
}

void Session::TryWrite() {
  std::shared_ptr<Session> hold;  // AnswerWritten may release self_
  while (!closed_ && !writing_ && !streaming_ && !queue_.empty() && queue_.front().ready) {
    Slot& front = queue_.front();
    // First straight to the socket (non-blocking): an answer that fits its send buffer, nearly
    // every one, is written without an asynchronous write, its timer and its completion.
    // Answers with a body file or a stream, and whatever does not fit, go the asynchronous way.
    if (!front.file && !front.stream && !front.bytes.empty()) {
      beast::error_code ec;
      size_t written = SendNow(stream_.socket().native_handle(), front.bytes, ec);
      if (ec && ec != net::error::would_block && ec != net::error::try_again) return Close();
      if (!ec && written == front.bytes.size()) {
        if (!hold) hold = shared_from_this();
        if (!AnswerWritten()) return;
        // The next request is read by the code that read this one when it returns
        // (reads_follow_); otherwise the read is posted when none is pending, so that a
        // handler's Responder never runs the next request's handler inside it.
        if (!reads_follow_ && !reading_ && !stop_reading_) {
          net::post(stream_.get_executor(),
                    beast::bind_front_handler(&Session::ReadNext, shared_from_this()));
        }
        IdleIfDone();
        continue;
      }
      if (!ec) front.bytes.erase(0, written);
    }
    writing_ = true;
    stream_.expires_after(core_->options().idle_timeout);
    net::async_write(stream_, net::buffer(front.bytes),
                     beast::bind_front_handler(&Session::OnWrite, shared_from_this()));
    return;
  }
}

// The front answer is written whole (directly or by OnWrite): it leaves the queue. false when
// the connection ends with it (a final answer lingers; after the client's EOF it closes). The
// caller holds the session: self_ is released once no answer is owed.
bool Session::AnswerWritten() {
  Slot& front = queue_.front();
  bool keep_alive = front.keep_alive;
  // Its bytes' room serves the next quick answer (TryQuickGet), unless it is large.
  constexpr size_t kSpareBytes = 16 * 1024;
  if (front.bytes.capacity() <= kSpareBytes && front.bytes.capacity() > spare_bytes_.capacity()) {
    spare_bytes_ = std::move(front.bytes);
  }
  queue_.pop_front();
  ++first_id_;
  if (queue_.empty()) self_.reset();
  if (!keep_alive) {
    Linger();
    return false;
  }
  if (queue_.empty() && read_eof_) {
    Close();
    return false;
  }
  return true;
}

// Once no answer is owed, a wait for the next request that started while answers were owed
// (without a deadline) gets idle_timeout from here.
void Session::IdleIfDone() {
  if (queue_.empty() && reading_ && untimed_wait_) {
    untimed_wait_ = false;
    WaitIdle();
  }
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
  if (!AnswerWritten()) return;                     // the handler holds the session
  TryWrite();
  ReadNext();
  IdleIfDone();
}

void Session::Linger() {
  stop_reading_ = true;
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  if (ec) return Close();
  buffer_.consume(buffer_.size());
  linger_deadline_ =
      std::chrono::steady_clock::now() + std::min(core_->options().read_timeout, kMaxLinger);
  stream_.expires_at(linger_deadline_);
  reading_ = true;
  stream_.async_read_some(buffer_.prepare(kFirstReadBytes),
                          beast::bind_front_handler(&Session::OnLinger, shared_from_this()));
}

void Session::OnLinger(beast::error_code ec, size_t /*bytes*/) {
  reading_ = false;
  if (closed_) return;
  if (ec || std::chrono::steady_clock::now() >= linger_deadline_) return Close();
  reading_ = true;
  stream_.async_read_some(buffer_.prepare(kFirstReadBytes),
                          beast::bind_front_handler(&Session::OnLinger, shared_from_this()));
}

void Session::Close() {
  if (closed_) return;
  std::shared_ptr<Session> hold = std::move(self_);
  closed_ = true;
  stop_reading_ = true;
  idle_timer_.cancel();
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

// The stream's `wake`: posts a PumpStream to the connection's io_context, one at a time (wakes
// merge). It holds the session weakly, and the core (whose io_context takes the post) strongly, as
// a Responder.
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

}  // namespace http_internal
}  // namespace projd
