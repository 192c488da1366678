// A view's change feed (GET /v1/views/{view}/changes) as Server-Sent Events, read with fetch()
// and a stream reader rather than EventSource: EventSource cannot send headers, and with --auth
// every request needs `Authorization: Bearer` (api.js keeps the token). Like EventSource, it
// reconnects by itself after a drop and resumes with Last-Event-ID (also as ?from=), which projd
// honours: every change exactly once across reconnects.

import {askToken, token, viewPath} from "./api.js";

// Parses a text/event-stream (https://html.spec.whatwg.org/#event-stream-interpretation) fed in
// pieces of any size; calls onEvent({type, data, id}) for each dispatched event and onComment()
// for each comment line (projd's heartbeats).
export class SseParser {
  constructor(onEvent, onComment = () => {}) {
    this.onEvent = onEvent;
    this.onComment = onComment;
    this.buf = "";
    this.skipLf = false;  // the last piece ended with \r: a \n that starts the next one is its end
    this.type = "";
    this.data = [];
    this.id = null;  // the last event id: it stays until another replaces it
  }
  push(text) {
    if (this.skipLf && text.startsWith("\n")) text = text.slice(1);
    this.skipLf = false;
    this.buf += text;
    let start = 0;
    for (;;) {
      const m = /\r\n|\r|\n/g;
      m.lastIndex = start;
      const hit = m.exec(this.buf);
      if (!hit) break;
      if (hit[0] === "\r" && hit.index === this.buf.length - 1) {
        this.skipLf = true;  // maybe \r\n split between pieces
      }
      this.line(this.buf.slice(start, hit.index));
      start = hit.index + hit[0].length;
    }
    this.buf = this.buf.slice(start);
  }
  line(l) {
    if (l === "") {
      if (this.data.length) {
        this.onEvent({type: this.type || "message", data: this.data.join("\n"), id: this.id});
      }
      this.type = "";
      this.data = [];
      return;
    }
    if (l.startsWith(":")) {
      this.onComment(l.slice(1));
      return;
    }
    const colon = l.indexOf(":");
    const field = colon < 0 ? l : l.slice(0, colon);
    let value = colon < 0 ? "" : l.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") this.type = value;
    else if (field === "data") this.data.push(value);
    else if (field === "id" && !value.includes("\0")) this.id = value;
  }
}

const kFirstRetryMs = 1000;
const kMaxRetryMs = 15000;
// projd sends a heartbeat every 15 s: a stream silent for longer than this is dead (a half-open
// connection, a sleeping laptop) and is replaced.
const kSilentMs = 40000;

const sleep = (ms, signal) => new Promise((resolve) => {
  const t = setTimeout(resolve, ms);
  signal.addEventListener("abort", () => { clearTimeout(t); resolve(); }, {once: true});
});

// Follows the changes of view NAME from `from` (now, earliest or a position) until close().
// Callbacks:
//   onChange(change)  each change ({key, position, row, updated_by, version}), in order
//   onRebuilt(data)   the view was rebuilt with a changed definition ({rebuilt, position}); the
//                     feed goes on from the rebuilt view's position
//   onGap(why)        changes were missed (the position to resume from is no longer kept): the
//                     feed goes on from now; what was shown from it may be out of date
//   onState(state, detail)  "connecting", "live", "reconnecting" (detail: why), "closed"
export class Feed {
  constructor(name, {from = "now", onChange = () => {}, onRebuilt = () => {}, onGap = () => {},
    onState = () => {}} = {}) {
    this.name = name;
    this.from = from;
    this.lastId = "";  // the position of the last change received: where a reconnect resumes
    this.cb = {onChange, onRebuilt, onGap, onState};
    this.state = "";
    this.detail = "";
    this.closed = new AbortController();
    this.run();
  }

  close() {
    if (this.closed.signal.aborted) return;
    this.closed.abort();
    this.setState("closed");
  }

  setState(state, detail = "") {
    if (this.state === state && this.detail === detail) return;
    this.state = state;
    this.detail = detail;
    this.cb.onState(state, detail);
  }

  async run() {
    const closed = this.closed.signal;
    let retryMs = kFirstRetryMs;
    let first = true;
    while (!closed.aborted) {
      this.setState(first ? "connecting" : "reconnecting", this.detail);
      first = false;
      const resume = this.lastId || this.from;
      const headers = {"Accept": "text/event-stream"};
      const t = token();
      if (t) headers["Authorization"] = "Bearer " + t;
      if (this.lastId) headers["Last-Event-ID"] = this.lastId;
      const conn = new AbortController();
      const abort = () => conn.abort();
      closed.addEventListener("abort", abort);
      let why = "";
      let wait = retryMs;
      try {
        const r = await fetch(viewPath(this.name, `/changes?from=${encodeURIComponent(resume)}`),
          {headers, signal: conn.signal, cache: "no-store"});
        if (r.status === 200) {
          // Where the stream starts: a drop before its first change resumes from there.
          if (!this.lastId) this.lastId = r.headers.get("X-Projd-Feed-Position") || "";
          this.setState("live");
          retryMs = kFirstRetryMs;
          why = await this.read(r.body, conn);
          wait = why === "rebuilt" ? 0 : kFirstRetryMs;
        } else {
          let body = null;
          try {
            body = await r.json();
          } catch (e) {
            body = null;
          }
          why = `HTTP ${r.status}${body && body.error ? ": " + body.error : ""}`;
          if (r.status === 410) {
            // The position is no longer kept: go on from now, and say that changes were missed.
            this.lastId = "";
            this.from = "now";
            this.cb.onGap(why);
            wait = 0;
          } else if (r.status === 503) {
            wait = 1000 * Math.max(1, Number(r.headers.get("Retry-After")) || 1);
          } else if (r.status === 401 || r.status === 403) {
            // The dialog is shared with the other calls of the page (api.js).
            if (r.status === 401 && await askToken(
              "projd runs with --auth: enter a token (Authorization: Bearer).")) wait = 0;
            else wait = kMaxRetryMs;
          } else if (r.status === 400 && this.lastId) {
            this.lastId = "";  // a position this view does not know: start afresh
            this.from = "now";
            this.cb.onGap(why);
          }
        }
      } catch (e) {
        why = closed.aborted ? "" : (e && e.name === "AbortError" ? "no heartbeat" : "connection lost");
      } finally {
        closed.removeEventListener("abort", abort);
        conn.abort();  // a stream that ended on its own: the connection is not reused for it
      }
      if (closed.aborted) break;
      this.setState("reconnecting", why);
      if (wait > 0) await sleep(wait, closed);
      if (wait >= retryMs) retryMs = Math.min(kMaxRetryMs, retryMs * 2);
    }
  }

  // Reads one stream until it ends; answers why it ended ("rebuilt", "slow consumer", "ended").
  async read(body, conn) {
    let heard = Date.now();
    const watchdog = setInterval(() => {
      if (Date.now() - heard > kSilentMs) conn.abort();
    }, 5000);
    let ended = "";
    const parser = new SseParser((ev) => {
      try {
        ended = this.dispatch(ev) || ended;
      } catch (e) {
        console.error(`change feed of ${this.name}:`, e);
      }
    });
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    try {
      while (!ended) {
        const {value, done} = await reader.read();
        if (done) break;
        heard = Date.now();
        parser.push(value);
      }
    } finally {
      clearInterval(watchdog);
    }
    return ended || "ended";
  }

  // One event of the stream; answers why the stream ends when it is its last event.
  dispatch(ev) {
    if (ev.type === "message") {
      const change = JSON.parse(ev.data);
      if (ev.id) this.lastId = ev.id;
      this.cb.onChange(change);
    } else if (ev.type === "rebuilt") {
      const data = JSON.parse(ev.data);
      // The rebuilt view's changes go on from where it was swapped in.
      this.lastId = data.position || "";
      if (!this.lastId) this.from = "now";
      this.cb.onRebuilt(data);
      return "rebuilt";
    } else if (ev.type === "error") {
      const data = JSON.parse(ev.data);
      // Cut off for reading too slowly: resume from the last change taken.
      if (data.position) this.lastId = data.position;
      return data.error || "error";
    }
    return "";
  }
}

// A short text for a feed's state, for the "live" / "reconnecting" indicators.
export function feedStateText(state, detail) {
  if (state === "reconnecting") return detail ? `reconnecting (${detail})` : "reconnecting";
  return state;
}

// Whether position A (as a change or a view's status has it: TOPIC:PARTITION:OFFSET,...) is
// behind position B: some partition of B is further on than in A.
export function positionBehind(a, b) {
  const offsets = (p) => {
    const m = new Map();
    for (const part of (p || "").split(",")) {
      const i = part.lastIndexOf(":");
      if (i > 0) m.set(part.slice(0, i), Number(part.slice(i + 1)));
    }
    return m;
  };
  const pa = offsets(a);
  for (const [tp, off] of offsets(b)) {
    if ((pa.has(tp) ? pa.get(tp) : -1) < off) return true;
  }
  return false;
}
