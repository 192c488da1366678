// The query console: runs a query (POST /v1/query), shows the rows as a table, and a bad query's
// error at its line and column, with the query text marked there.
import {api} from "./api.js";
import {count, errorText, esc, fmt, table} from "./format.js";

const kExample = "from account_balance where balance > 100 order by balance desc limit 10";

// Query answers hold {key, row} per row, or plain objects for select and aggregates: one flat
// object per row for the table.
export function flatten(rows) {
  return rows.map((x) => x && typeof x.row === "object" && x.row !== null && "key" in x &&
    Object.keys(x).length === 2 ? Object.assign({key: x.key}, x.row) : x);
}

// The character offset in text of a 1-based line and column.
export function offsetOf(text, line, column) {
  const lines = text.split("\n");
  let at = 0;
  for (let i = 0; i < line - 1 && i < lines.length; ++i) at += lines[i].length + 1;
  return Math.min(text.length, at + Math.max(0, column - 1));
}

export function queryPage(main, setStatus) {
  main.innerHTML = `<section><h2>Query</h2>
    <textarea id="q" rows="5" cols="100" spellcheck="false"></textarea>
    <div><button id="run">Run</button> <span class="muted">Ctrl+Enter runs the query.
      <a href="#" id="example">Example</a></span></div>
    <div id="qerr" class="error" hidden><div id="qerr-pos"></div><pre id="qerr-text"></pre></div>
    <p id="qmeta" class="muted"></p><div id="qrows"></div>
    <button id="qmore" hidden>More rows</button></section>`;
  const $ = (s) => main.querySelector(s);
  const q = $("#q");
  q.value = sessionStorage.getItem("projd-query") || kExample;
  let shown = [];
  let cursor = null;
  let text = "";

  function showError(r) {
    const d = r.body && r.body.detail;
    $("#qerr").hidden = false;
    if (d && typeof d === "object" && d.line) {
      $("#qerr-pos").textContent = `line ${d.line}, column ${d.column}: ${d.message}`;
      // The query line with a caret under the column.
      const line = text.split("\n")[d.line - 1] || "";
      $("#qerr-text").textContent = `${line}\n${" ".repeat(Math.max(0, d.column - 1))}^`;
      const at = offsetOf(text, d.line, d.column);
      q.focus();
      q.setSelectionRange(at, Math.min(text.length, at + 1));
    } else {
      $("#qerr-pos").textContent = errorText(r);
      $("#qerr-text").textContent = "";
    }
  }

  async function run(more) {
    if (!more) {
      text = q.value;
      sessionStorage.setItem("projd-query", text);
      shown = [];
      cursor = null;
    }
    $("#qerr").hidden = true;
    const path = "/v1/query" + (more && cursor ? `?cursor=${encodeURIComponent(cursor)}` : "");
    const t0 = performance.now();
    const r = await api(path, {method: "POST", body: text, headers: {"Content-Type": "text/plain"}});
    const ms = performance.now() - t0;
    if (r.status !== 200) {
      $("#qrows").innerHTML = "";
      $("#qmeta").textContent = "";
      $("#qmore").hidden = true;
      showError(r);
      return;
    }
    shown = shown.concat(flatten(r.body.rows));
    cursor = r.body.next_cursor;
    // With select, the answer's columns give the order (its row objects list members by name:
    // a score or an aggregate would land among them); without, the rows' members.
    const cols = Array.isArray(r.body.columns) ? r.body.columns :
      [...new Set(shown.flatMap((x) => Object.keys(x)))];
    $("#qrows").innerHTML = table("qtable", cols,
      shown.map((x) => cols.map((c) => esc(fmt(x[c])))));
    $("#qmeta").textContent = `${count(shown.length)} rows, scanned ${count(r.body.scanned)}, ` +
      `plan ${r.body.plan}, position ${r.body.position}, ${ms.toFixed(0)} ms`;
    $("#qmore").hidden = !cursor;
    setStatus(`query answered ${new Date().toLocaleTimeString()}`);
  }

  $("#run").addEventListener("click", () => run(false));
  $("#qmore").addEventListener("click", () => run(true));
  $("#example").addEventListener("click", (e) => {
    e.preventDefault();
    q.value = kExample;
  });
  q.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      run(false);
    }
  });
  return () => {};
}
