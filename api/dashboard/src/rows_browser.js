// The row browser: keys that start with a prefix (GET /v1/views/{view}/rows?prefix=), a page at
// a time in key order; a row's key opens its lookup.
import {api, viewPath} from "./api.js";
import {at, count, errorText, esc, fmt, table} from "./format.js";

const kPageSizes = [25, 50, 100];

export const kRowsHtml = `<section id="rows-section"><h2>Rows</h2>
  <form id="rows-form" class="inline">
    <label>key prefix <input id="prefix" size="24" placeholder="(every key)"></label>
    <label>per page <select id="rows-limit">${kPageSizes.map((n) =>
      `<option${n === 50 ? " selected" : ""}>${n}</option>`).join("")}</select></label>
    <button id="rows-search">Search</button>
  </form>
  <div class="controls">
    <button id="rows-prev" disabled>Previous</button><button id="rows-next" disabled>Next</button>
    <span id="rows-page" class="muted"></span>
  </div>
  <div id="rows"></div></section>`;

// Wires the section (from kRowsHtml, inside main). onPick(key) opens a row's lookup.
export function rowsBrowser(main, name, isStopped, onPick) {
  const $ = (s) => main.querySelector(s);
  let prefix = "";
  let limit = 50;
  const cursors = [null];  // cursors[i]: the cursor of page i (null for the first)
  const starts = [0];  // starts[i]: how many rows come before page i
  let page = 0;
  let next = null;

  async function load() {
    const cursor = cursors[page];
    const r = await api(viewPath(name, `/rows?prefix=${encodeURIComponent(prefix)}&limit=${limit}`) +
      (cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""));
    if (isStopped()) return;
    if (r.status !== 200) {
      $("#rows").textContent = errorText(r);
      $("#rows-next").disabled = true;
      return;
    }
    const rows = r.body.rows;
    $("#rows").innerHTML = rows.length ? table("rows-table",
      ["key", "version", "last event", "event time", "row"],
      rows.map((x) => [
        `<a href="#" class="rowkey" data-key="${esc(x.key)}" title="look it up">${esc(x.key)}</a>`,
        count(x.version), `<span class="nowrap">${esc(at(x.updated_by))}</span>`,
        `<span class="nowrap">${esc(fmt(x.updated_by.event_time))}</span>`,
        `<code>${esc(JSON.stringify(x.row))}</code>`]), [1])
      : `<p class="muted">no keys ${prefix ? `start with “${esc(prefix)}”` : "in this view"}</p>`;
    next = r.body.next_cursor;
    const first = starts[page];
    starts[page + 1] = first + rows.length;
    $("#rows-page").textContent = rows.length
      ? `rows ${count(first + 1)}–${count(first + rows.length)}${next ? "" : " (the last)"}` +
        (prefix ? ` whose key starts with “${prefix}”` : "")
      : "";
    $("#rows-prev").disabled = page === 0;
    $("#rows-next").disabled = !next;
  }

  $("#rows-form").addEventListener("submit", (e) => {
    e.preventDefault();
    prefix = $("#prefix").value;
    limit = Number($("#rows-limit").value);
    page = 0;
    cursors.length = 1;
    load();
  });
  $("#rows-next").addEventListener("click", () => {
    if (!next) return;
    cursors[page + 1] = next;
    ++page;
    load();
  });
  $("#rows-prev").addEventListener("click", () => {
    if (page === 0) return;
    --page;
    load();
  });
  $("#rows").addEventListener("click", (e) => {
    const a = e.target.closest("a.rowkey");
    if (!a) return;
    e.preventDefault();
    onPick(a.dataset.key);
  });
  load();
}
