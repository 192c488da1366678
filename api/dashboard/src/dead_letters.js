// A view's dead letters (GET /v1/views/{view}/dead-letters): a page at a time (oldest first, as
// the API lists them), each with its event as pretty JSON (or its text when it is not JSON), the
// reason, its position and key; and a download of ALL of them as a JSON lines file, built here
// by walking every page.
import {api, viewPath} from "./api.js";
import {saveFile} from "./download.js";
import {at, count, errorText, esc, fmt, pretty, table} from "./format.js";

const kPageSize = 20;
const kDownloadPageSize = 1000;

export const kDeadLettersHtml = `<section id="dead-section"><h2>Dead letters
    <span id="dead-total" class="muted"></span></h2>
  <div class="controls">
    <button id="dead-prev" disabled>Previous</button><button id="dead-next" disabled>Next</button>
    <span id="dead-page" class="muted"></span>
    <button id="dead-download" title="every dead letter of the view, one JSON object a line">
      Download all (JSON lines)</button>
    <span id="dead-download-status" class="muted"></span>
  </div>
  <div id="dead"></div></section>`;

// Every dead letter of the view, one JSON object a line (as the API gives each one).
export async function allDeadLetters(name, progress = () => {}) {
  const all = [];
  let cursor = null;
  do {
    const r = await api(viewPath(name, `/dead-letters?limit=${kDownloadPageSize}`) +
      (cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""));
    if (r.status !== 200) throw new Error(errorText(r));
    all.push(...r.body.dead_letters);
    progress(all.length, r.body.total);
    cursor = r.body.next_cursor;
  } while (cursor);
  return all;
}

// Wires the section (from kDeadLettersHtml, inside main); returns {reload()}.
export function deadLetters(main, name, isStopped) {
  const $ = (s) => main.querySelector(s);
  const cursors = [null];  // cursors[i]: the cursor of page i (null for the first)
  const starts = [0];  // starts[i]: how many dead letters come before page i
  let page = 0;
  let next = null;

  async function load() {
    const cursor = cursors[page];
    const r = await api(viewPath(name, `/dead-letters?limit=${kPageSize}`) +
      (cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""));
    if (isStopped()) return;
    if (r.status !== 200) {
      $("#dead").textContent = errorText(r);
      return;
    }
    const list = r.body.dead_letters;
    $("#dead-total").textContent = `(${count(r.body.total)})`;
    $("#dead").innerHTML = list.length
      ? table("dead-table", ["event", "reason", "topic:partition:offset", "key", "time"],
        list.map((d) => [`<pre class="event">${esc(pretty(d.event))}</pre>`, esc(d.reason),
          `<span class="nowrap">${esc(at(d))}</span>`, esc(fmt(d.key)),
          `<span class="nowrap">${esc(fmt(d.timestamp))}</span>`]))
      : `<p class="muted">${page ? "no more dead letters" : "none: the view rejected no event"}</p>`;
    next = r.body.next_cursor;
    const first = starts[page];
    starts[page + 1] = first + list.length;
    $("#dead-page").textContent = list.length
      ? `${count(first + 1)}–${count(first + list.length)} of ${count(r.body.total)}` : "";
    $("#dead-prev").disabled = page === 0;
    $("#dead-next").disabled = !next;
  }

  $("#dead-next").addEventListener("click", () => {
    if (!next) return;
    cursors[page + 1] = next;
    ++page;
    load();
  });
  $("#dead-prev").addEventListener("click", () => {
    if (page === 0) return;
    --page;
    load();
  });
  $("#dead-download").addEventListener("click", async () => {
    const status = $("#dead-download-status");
    $("#dead-download").disabled = true;
    try {
      const all = await allDeadLetters(name, (n, total) => {
        status.textContent = `reading ${count(n)} of ${count(total)}`;
      });
      const text = all.map((d) => JSON.stringify(d) + "\n").join("");
      const file = `${name}-dead-letters.jsonl`;
      saveFile(file, text, "application/x-ndjson");
      status.textContent = `${count(all.length)} dead letters in ${file}`;
    } catch (e) {
      status.textContent = `download failed: ${e.message}`;
    } finally {
      $("#dead-download").disabled = false;
    }
  });

  return {
    // Shows the first page again (after a skip, the skipped event is the newest dead letter).
    reload() {
      page = 0;
      cursors.length = 1;
      return load();
    },
  };
}
