// A row's history, newest first. The API lists versions oldest first, a page at a time: this
// reads every page (1000 versions each) up to the newest, keeping the newest kKeep versions, and
// shows them kShow at a time with Newer and Older.
import {api, viewPath} from "./api.js";
import {at, count, errorText, esc, fmt, table} from "./format.js";

const kApiPage = 1000;
const kKeep = 10000;
const kShow = 50;

export class History {
  // el: the element the history fills.
  constructor(el, name, isStopped) {
    this.el = el;
    this.name = name;
    this.isStopped = isStopped;
    this.generation = 0;  // a newer show() abandons an older one still reading
  }

  async show(key) {
    const gen = ++this.generation;
    const stale = () => this.isStopped() || gen !== this.generation;
    this.el.innerHTML = `<span class="muted">reading the history of ${esc(key)}</span>`;
    let kept = [];
    let total = 0;
    let cursor = null;
    do {
      const r = await api(viewPath(this.name, `/rows/${encodeURIComponent(key)}/history?limit=${kApiPage}`) +
        (cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""));
      if (stale()) return;
      if (r.status !== 200) {
        this.el.innerHTML = `<span class="muted">${esc(errorText(r))}</span>`;
        return;
      }
      kept = kept.concat(r.body.versions);
      total += r.body.versions.length;
      if (kept.length > kKeep) kept = kept.slice(kept.length - kKeep);
      cursor = r.body.next_cursor;
      if (cursor) {
        this.el.innerHTML = `<span class="muted">reading the history of ${esc(key)}: ` +
          `${count(total)} versions so far</span>`;
      }
    } while (cursor);
    this.versions = kept.reverse();  // newest first
    this.total = total;
    this.key = key;
    this.page = 0;
    this.render();
  }

  render() {
    const v = this.versions;
    if (!v.length) {
      this.el.innerHTML = `<span class="muted">no kept versions of this key</span>`;
      return;
    }
    const from = this.page * kShow;
    const shown = v.slice(from, from + kShow);
    const older = this.total - v.length;  // read but not kept (beyond kKeep)
    const note = `${count(this.total)} versions, newest first: ${count(from + 1)}–` +
      `${count(from + shown.length)}` +
      (older ? ` (the newest ${count(v.length)} are kept here; ${count(older)} older not shown)` : "");
    this.el.innerHTML = `<div class="controls">
        <button id="history-newer"${this.page ? "" : " disabled"}>Newer</button>
        <button id="history-older"${from + kShow < v.length ? "" : " disabled"}>Older</button>
        <span id="history-note" class="muted">${esc(note)}</span></div>` +
      table("history-table", ["version", "event", "event time", "event id", "row after"],
        shown.map((x) => [esc(x.version), `<span class="nowrap">${esc(at(x.updated_by))}</span>`,
          `<span class="nowrap">${esc(fmt(x.updated_by.event_time))}</span>`,
          esc(fmt(x.updated_by.event_id)),
          x.deleted ? "(deleted)" : `<code>${esc(JSON.stringify(x.row))}</code>`]), [0]);
    this.el.querySelector("#history-newer").addEventListener("click", () => {
      --this.page;
      this.render();
    });
    this.el.querySelector("#history-older").addEventListener("click", () => {
      ++this.page;
      this.render();
    });
  }
}
