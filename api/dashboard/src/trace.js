// A command's trace (GET /v1/correlations/{id}): every change the events of one command made,
// across every view, in the order they were applied; a page at a time, with More for the next.
import {api} from "./api.js";
import {at, count, errorText, esc, fmt, table} from "./format.js";

const kPageSize = 100;

export class Trace {
  // el: the element the trace fills (hidden until a trace is shown).
  constructor(el, isStopped) {
    this.el = el;
    this.isStopped = isStopped;
    this.generation = 0;  // a newer show() abandons an older one still reading
  }

  async show(id) {
    const gen = ++this.generation;
    this.id = id;
    this.changes = [];
    this.next = null;
    this.el.hidden = false;
    this.el.innerHTML = `<h3>Command ${esc(id)}</h3>
      <span class="muted">reading the changes of ${esc(id)}</span>`;
    await this.more(gen);
  }

  async more(gen = this.generation) {
    const cursor = this.next;
    const r = await api(`/v1/correlations/${encodeURIComponent(this.id)}?limit=${kPageSize}` +
      (cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""));
    if (this.isStopped() || gen !== this.generation) return;
    if (r.status !== 200) {
      this.render(errorText(r));
      return;
    }
    this.changes = this.changes.concat(r.body.changes);
    this.next = r.body.next_cursor;
    this.render();
  }

  render(error = "") {
    const c = this.changes;
    const views = new Set(c.map((x) => x.view));
    const note = c.length
      ? `${count(c.length)} change${c.length === 1 ? "" : "s"} in ${count(views.size)} ` +
        `view${views.size === 1 ? "" : "s"}, in the order they were applied` +
        (this.next ? " (more to read)" : "")
      : "no changes of this command (in the views this token may read)";
    this.el.innerHTML = `<h3>Command <code id="trace-id">${esc(this.id)}</code></h3>
      <div class="controls">
        <span id="trace-note" class="muted">${esc(note)}</span>
        <button id="trace-more"${this.next ? "" : " hidden"}>More</button>
        <button id="trace-close">Close</button>
      </div>` +
      (error ? `<div class="error">${esc(error)}</div>` : "") +
      (c.length ? table("trace-table", ["view", "key", "version", "event time",
        "topic:partition:offset", "user"], c.map((x) => {
        const by = x.updated_by || {};
        const audit = by.audit || {};
        return [`<a href="#/view/${encodeURIComponent(x.view)}">${esc(x.view)}</a>`,
          `<span class="nowrap">${esc(x.key)}</span>` +
            (x.deleted ? ` <span class="deleted">deleted</span>` : ""),
          esc(x.version),
          `<span class="nowrap">${esc(fmt(by.event_time))}</span>`,
          `<span class="nowrap">${by.topic === undefined ? "-" : esc(at(by))}</span>`,
          by.audit ? `<span title="${esc(fmt(by.audit))}">${esc(fmt(audit.user))}</span>` : "-"];
      }), [2]) : "");
    this.el.querySelector("#trace-more").addEventListener("click", (e) => {
      e.target.disabled = true;
      this.more();
    });
    this.el.querySelector("#trace-close").addEventListener("click", () => {
      ++this.generation;
      this.el.hidden = true;
      this.el.innerHTML = "";
    });
  }
}
