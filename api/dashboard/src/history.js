// A row's history, newest first. The API lists versions oldest first, a page at a time: this
// reads every page (1000 versions each) up to the newest, keeping the newest kKeep versions, and
// shows them kShow at a time with Newer and Older. Who and why (the projection's `audit` values,
// a column each) and the command (its `correlation` id, which opens the command's trace) are
// shown with each version; Download CSV saves the whole history as the API writes it.
import {api, viewPath} from "./api.js";
import {attachmentName, saveFile} from "./download.js";
import {at, count, errorText, esc, fmt, table} from "./format.js";

const kApiPage = 1000;
const kKeep = 10000;
const kShow = 50;

export class History {
  // el: the element the history fills; onCorrelation(id): a version's correlation id clicked.
  constructor(el, name, isStopped, onCorrelation = () => {}) {
    this.el = el;
    this.name = name;
    this.isStopped = isStopped;
    this.onCorrelation = onCorrelation;
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
    // The audit names of the versions shown (sorted, as the CSV file has them), and the
    // correlation column when any of them has an id.
    const audits = [...new Set(shown.flatMap((x) => Object.keys(x.updated_by.audit || {})))].sort();
    const correlated = shown.some((x) => x.updated_by.correlation !== undefined);
    const head = ["version", "event", "event time", "event id", ...audits]
      .concat(correlated ? ["correlation"] : [], ["row after"]);
    this.el.innerHTML = `<div class="controls">
        <button id="history-newer"${this.page ? "" : " disabled"}>Newer</button>
        <button id="history-older"${from + kShow < v.length ? "" : " disabled"}>Older</button>
        <span id="history-note" class="muted">${esc(note)}</span>
        <button id="history-csv" title="every version of the row, one CSV line each">Download CSV</button>
        <span id="history-csv-status" class="muted"></span></div>` +
      table("history-table", head, shown.map((x) => {
        const by = x.updated_by;
        const audit = by.audit || {};
        return [esc(x.version), `<span class="nowrap">${esc(at(by))}</span>`,
          `<span class="nowrap">${esc(fmt(by.event_time))}</span>`,
          esc(fmt(by.event_id)),
          ...audits.map((a) => `<span class="audit" data-audit="${esc(a)}">${esc(fmt(audit[a]))}</span>`)]
          .concat(correlated ? [by.correlation === undefined || by.correlation === null ? "-"
            : `<a href="#" class="correlation" data-correlation="${esc(by.correlation)}">` +
              `${esc(by.correlation)}</a>`] : [],
          [x.deleted ? "(deleted)" : `<code>${esc(JSON.stringify(x.row))}</code>`]);
      }), [0]);
    this.el.querySelector("#history-table").addEventListener("click", (e) => {
      const a = e.target.closest("a.correlation");
      if (!a) return;
      e.preventDefault();
      this.onCorrelation(a.dataset.correlation);
    });
    this.el.querySelector("#history-csv").addEventListener("click", () => this.download());
    this.el.querySelector("#history-newer").addEventListener("click", () => {
      --this.page;
      this.render();
    });
    this.el.querySelector("#history-older").addEventListener("click", () => {
      ++this.page;
      this.render();
    });
  }

  // The whole history as the API's CSV file (read with the token of api.js, saved from here).
  async download() {
    const key = this.key;
    const button = this.el.querySelector("#history-csv");
    const status = this.el.querySelector("#history-csv-status");
    button.disabled = true;
    status.textContent = "reading the CSV file";
    const r = await api(viewPath(this.name, `/rows/${encodeURIComponent(key)}/history?format=csv`));
    if (this.isStopped() || key !== this.key) return;
    button.disabled = false;  // (a button and status that Newer or Older replaced meanwhile: unseen)
    if (r.status !== 200) {
      status.textContent = `download failed: ${errorText(r)}`;
      return;
    }
    const file = attachmentName(r.headers.get("Content-Disposition"),
      `${this.name}-${key}-history.csv`);
    saveFile(file, r.text, "text/csv");
    status.textContent = `saved as ${file}`;
  }
}
