// The page of one view: state, rebuild with a live progress bar, the lag chart, partitions,
// a key lookup (with an as-of time and the row's history), dead letters and the definition.
import {api, viewPath} from "./api.js";
import {count, errorText, esc, fmt, table} from "./format.js";
import {LagChart} from "./lag_chart.js";

const kStatusMs = 2000;
const kLagMs = 5000;
const kRebuildPollMs = 500;
const kWindows = ["15m", "30m", "1h"];

function chartWidth(main) {
  return Math.max(320, Math.min(1100, main.clientWidth - 40));
}

// A datetime-local value (local time) as RFC 3339 in UTC, or "" when empty or invalid.
export function asOfTime(local) {
  if (!local) return "";
  const t = new Date(local);
  return isNaN(t.getTime()) ? "" : t.toISOString().replace(/\.000Z$/, "Z");
}

// Shows the page of view NAME in main; returns the function that stops its timers.
export function viewPage(main, name, setStatus) {
  const timers = [];
  let stopped = false;
  let windowName = "15m";
  main.innerHTML = `<h1>${esc(name)} <span id="vstate"></span></h1>
    <p id="vreason" class="muted"></p>
    <section><h2>Rebuild</h2>
      <button id="rebuild">Rebuild from offset 0</button>
      <div class="bar" id="progress-bar" role="progressbar" aria-valuemin="0" aria-valuemax="100"
        aria-valuenow="0"><div id="progress"></div></div>
      <span id="rebuild-status" class="muted"></span>
      <p class="muted">The current view serves until the rebuilt one has caught up; then they swap.</p>
    </section>
    <section><h2>Lag</h2>
      <div class="windows">${kWindows.map((w) =>
        `<button class="window" data-window="${w}">${w}</button>`).join("")}</div>
      <div id="lag-chart" data-points="0"></div>
      <p id="lag-note" class="muted"></p>
    </section>
    <section><h2>Partitions</h2><div id="parts"></div></section>
    <section><h2>Row</h2>
      <form id="lookup-form" class="inline">
        <label>key <input id="key" size="30" required></label>
        <label>as of <input id="asof" type="datetime-local" step="1"></label>
        <span id="asof-utc" class="muted"></span>
        <button id="lookup">Look up</button>
      </form>
      <div id="row-error" class="error"></div><pre id="row" hidden></pre>
      <h3>History</h3><div id="history" class="muted">-</div>
    </section>
    <section><h2>Dead letters <span id="dead-total" class="muted"></span></h2>
      <div id="dead"></div><button id="dead-more" hidden>More</button></section>
    <section><h2>Definition <span id="def-file" class="muted"></span></h2><pre id="def"></pre></section>`;
  const $ = (s) => main.querySelector(s);

  // Rebuild progress: shown from the view's status; "done" once a rebuild seen (or started
  // here) is no longer running.
  let rebuildSeen = false;
  function setProgress(ratio, text) {
    const pct = Math.max(0, Math.min(100, 100 * ratio));
    $("#progress").style.width = pct.toFixed(1) + "%";
    $("#progress-bar").setAttribute("aria-valuenow", pct.toFixed(0));
    $("#rebuild-status").textContent = text;
  }
  function showRebuild(st) {
    if (st.rebuild) {
      rebuildSeen = true;
      const rb = st.rebuild;
      const eta = Number(rb.events_per_second) > 0
        ? `, about ${Math.ceil(Number(rb.remaining) / Number(rb.events_per_second))} s left` : "";
      setProgress(Number(rb.progress), `${(100 * Number(rb.progress)).toFixed(1)}%: ` +
        `${count(rb.applied)} events applied, ${count(rb.remaining)} to go${eta}`);
      $("#rebuild").disabled = true;
    } else if (rebuildSeen) {
      rebuildSeen = false;
      setProgress(1, "done: the rebuilt view serves now");
      $("#rebuild").disabled = false;
    }
  }

  async function refreshStatus() {
    const r = await api(viewPath(name));
    if (stopped) return null;
    if (r.status !== 200) {
      $("#vstate").innerHTML = "";
      $("#vreason").textContent = errorText(r);
      setStatus(errorText(r), true);
      return null;
    }
    const st = r.body;
    setStatus(`updated ${new Date().toLocaleTimeString()}`);
    $("#vstate").innerHTML = `<span class="state ${esc(st.state)}">${esc(st.state)}</span>`;
    $("#vreason").textContent = st.reason || `${count(st.rows)} rows, position ${st.position}`;
    $("#def").textContent = st.definition;
    $("#def-file").textContent = st.file || "";
    $("#parts").innerHTML = table("parts-table",
      ["topic", "partition", "position", "first offset", "high watermark", "lag (events)", "lag (s)"],
      st.partitions.map((p) => [esc(p.topic), esc(p.partition), count(p.position),
        count(p.low_watermark), count(p.high_watermark), count(p.lag_events), esc(fmt(p.lag_seconds))]),
      [1, 2, 3, 4, 5, 6]);
    showRebuild(st);
    return st;
  }

  $("#rebuild").addEventListener("click", async () => {
    $("#rebuild").disabled = true;
    setProgress(0, "starting");
    let r = await api(viewPath(name, "/rebuild"), {method: "POST"}, true);
    const gap = r.status === 409 && r.body && r.body.detail && r.body.detail.first_offsets;
    if (gap && confirm(`${r.body.error}.\nFirst offsets: ${JSON.stringify(gap)}\n` +
        "Rebuild from the first available offsets anyway?")) {
      r = await api(viewPath(name, "/rebuild?allow_gap=true"), {method: "POST"}, true);
    }
    if (r.status !== 202) {
      setProgress(0, errorText(r));
      $("#rebuild").disabled = false;
      return;
    }
    rebuildSeen = true;
    setProgress(0, "started");
    // Follow the rebuild closely until it is done.
    const poll = async () => {
      if (stopped) return;
      const st = await refreshStatus();
      if (st && st.rebuild) setTimeout(poll, kRebuildPollMs);
      else if (!st && !stopped) setTimeout(poll, kRebuildPollMs);
    };
    poll();
  });

  // The lag chart, over the chosen window.
  const chart = new LagChart($("#lag-chart"), chartWidth(main));
  async function refreshLag() {
    const r = await api(viewPath(name, `/lag?window=${windowName}`));
    if (stopped) return;
    if (r.status !== 200) {
      $("#lag-note").textContent = errorText(r);
      return;
    }
    chart.update(r.body.samples);
    const n = r.body.samples.length;
    $("#lag-note").textContent = n
      ? `${n} samples over the last ${windowName} (one a second); click a legend entry to show or hide it`
      : "no lag samples yet";
  }
  main.querySelectorAll("button.window").forEach((b) => {
    b.classList.toggle("on", b.dataset.window === windowName);
    b.addEventListener("click", () => {
      windowName = b.dataset.window;
      main.querySelectorAll("button.window").forEach((x) =>
        x.classList.toggle("on", x === b));
      refreshLag();
    });
  });
  const onResize = () => chart.resize(chartWidth(main));
  window.addEventListener("resize", onResize);

  // Key lookup, with an optional as-of time, and the row's history.
  $("#asof").addEventListener("input", () => {
    const t = asOfTime($("#asof").value);
    $("#asof-utc").textContent = t ? `= ${t}` : "";
  });
  $("#lookup-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const key = $("#key").value;
    const asof = asOfTime($("#asof").value);
    const k = encodeURIComponent(key);
    const r = await api(viewPath(name, `/rows/${k}`) +
      (asof ? `?as_of=${encodeURIComponent(asof)}` : ""));
    $("#row-error").textContent = r.status === 200 ? "" : errorText(r);
    $("#row").hidden = r.status !== 200;
    $("#row").textContent = r.status === 200 ? JSON.stringify(r.body, null, 2) : "";
    const h = await api(viewPath(name, `/rows/${k}/history?limit=100`));
    if (h.status !== 200) {
      $("#history").textContent = errorText(h);
      return;
    }
    $("#history").innerHTML = h.body.versions.length ? table("history-table",
      ["version", "event", "event time", "event id", "row after"],
      h.body.versions.map((x) => [esc(x.version),
        esc(`${x.updated_by.topic}:${x.updated_by.partition}:${x.updated_by.offset}`),
        esc(fmt(x.updated_by.event_time)), esc(fmt(x.updated_by.event_id)),
        x.deleted ? "(deleted)" : `<code>${esc(JSON.stringify(x.row))}</code>`]), [0])
      : "no kept versions of this key";
  });

  // Dead letters, a page at a time.
  let deadCursor = null;
  const deadRows = [];
  async function loadDead() {
    const r = await api(viewPath(name, "/dead-letters?limit=20") +
      (deadCursor ? `&cursor=${encodeURIComponent(deadCursor)}` : ""));
    if (stopped) return;
    if (r.status !== 200) {
      $("#dead").textContent = errorText(r);
      return;
    }
    for (const d of r.body.dead_letters) {
      deadRows.push([esc(`${d.topic}:${d.partition}:${d.offset}`), esc(fmt(d.timestamp)),
        esc(fmt(d.key)), esc(d.reason), `<code>${esc(JSON.stringify(d.event))}</code>`]);
    }
    $("#dead-total").textContent = `(${count(r.body.total)})`;
    $("#dead").innerHTML = deadRows.length
      ? table("dead-table", ["topic:partition:offset", "time", "key", "reason", "event"], deadRows)
      : "none";
    deadCursor = r.body.next_cursor;
    $("#dead-more").hidden = !deadCursor;
  }
  $("#dead-more").addEventListener("click", loadDead);

  refreshStatus();
  refreshLag();
  loadDead();
  timers.push(setInterval(refreshStatus, kStatusMs));
  timers.push(setInterval(refreshLag, kLagMs));
  return () => {
    stopped = true;
    timers.forEach(clearInterval);
    window.removeEventListener("resize", onResize);
    chart.destroy();
  };
}
