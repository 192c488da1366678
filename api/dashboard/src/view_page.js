// The page of one view: state, rows, events applied and position (moved by each change of its
// change feed); for a view stopped by `errors stop`, where and why it stopped and a Skip button;
// its live changes; the lag chart, partitions, dead letters, a row browser, a key lookup (with
// an as-of time and the row's history, newest first, with who changed it and the trace of the
// command that did), rebuild with a live progress bar, and the definition.
import {api, viewPath} from "./api.js";
import {kDeadLettersHtml, deadLetters} from "./dead_letters.js";
import {Feed, feedStateText, positionBehind} from "./feed.js";
import {at, count, errorText, esc, fmt, pretty, table} from "./format.js";
import {History} from "./history.js";
import {LagChart} from "./lag_chart.js";
import {kRowsHtml, rowsBrowser} from "./rows_browser.js";
import {Trace} from "./trace.js";

// The change feed moves the numbers and the live changes; the status poll is a slow fallback
// for the rest (state, partitions, lag).
const kStatusMs = 10000;
const kLagMs = 5000;
const kRebuildPollMs = 500;
const kWindows = ["15m", "30m", "1h"];
const kLiveChanges = 50;

const kLiveHtml = `<section id="live-section"><h2>Live changes
    <span id="feed-state" class="feed-badge feed-connecting" data-state="connecting">connecting</span></h2>
  <div class="controls">
    <button id="live-pause">Pause</button>
    <span id="live-note" class="muted">the last ${kLiveChanges} changes, newest first</span>
  </div>
  <p id="live-notice" class="notice" hidden></p>
  <div class="scroll"><table id="changes-table"><thead><tr><th>time</th><th>key</th>
    <th class="num">version</th><th>change</th><th>event</th><th>row</th></tr></thead>
    <tbody><tr class="waiting"><td colspan="6" class="muted">waiting for changes</td></tr></tbody>
  </table></div></section>`;

// A change of the feed as a row of the live changes table.
function changeRow(c) {
  const tr = document.createElement("tr");
  tr.className = "change";
  tr.dataset.position = c.position;
  const by = c.updated_by || {};
  const what = c.row === null ? `<span class="deleted">deleted</span>`
    : c.version === 1 ? "created" : "updated";
  const time = by.event_time || new Date().toISOString();
  tr.innerHTML = `<td class="nowrap" title="received ${esc(new Date().toLocaleTimeString())}">${esc(time)}</td>
    <td><a href="#" class="rowkey">${esc(c.key)}</a></td>
    <td class="num">${count(c.version)}</td><td>${what}</td>
    <td class="nowrap">${by.topic === undefined ? "-" : esc(at(by))}</td>
    <td>${c.row === null ? `<span class="muted">-</span>`
      : `<details><summary>row</summary><pre class="event">${esc(pretty(c.row))}</pre></details>`}</td>`;
  return tr;
}

function chartWidth(main) {
  return Math.max(240, Math.min(1100, main.clientWidth - 40));
}

// The event a stopped view is held at is not one of its dead letters (yet), and the API does
// not serve it; another view that reads the same topic may have rejected the same event, though:
// look for it among their dead letters. Resolves to {view, dead} or null.
async function findHeldEvent(name, fa) {
  const r = await api("/v1/views");
  if (r.status !== 200) return null;
  for (const v of r.body.views) {
    if (v.name === name || !v.dead_letters) continue;
    let cursor = null;
    for (let pages = 0; pages < 5; ++pages) {
      const d = await api(viewPath(v.name, "/dead-letters?limit=1000") +
        (cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""));
      if (d.status !== 200) break;
      const hit = d.body.dead_letters.find((x) => x.topic === fa.topic &&
        x.partition === fa.partition && x.offset === fa.offset);
      if (hit) return {view: v.name, dead: hit};
      cursor = d.body.next_cursor;
      if (!cursor) break;
    }
  }
  return null;
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
    <p id="vfacts" class="muted"><span id="vrows">-</span> rows · <span id="vapplied">-</span>
      events applied · position <span id="vposition" class="position">-</span></p>
    <p id="vreason" class="muted"></p>
    <section id="failed" class="incident" hidden>
      <h2>Stopped: it cannot apply the event at <span id="failed-at"></span></h2>
      <dl class="facts">
        <dt>topic</dt><dd id="failed-topic"></dd>
        <dt>partition</dt><dd id="failed-partition"></dd>
        <dt>offset</dt><dd id="failed-offset"></dd>
        <dt>reason</dt><dd id="failed-reason" class="reason"></dd>
      </dl>
      <h3>The event</h3>
      <div id="failed-event"></div>
      <div class="controls">
        <button id="skip" class="danger">Skip this event</button>
        <span class="muted">It becomes a dead letter and the view goes on after it.</span>
      </div>
      <p id="skip-status" class="muted"></p>
    </section>
    <p id="skip-done" class="notice" hidden></p>
    ${kLiveHtml}
    <section><h2>Lag</h2>
      <div class="windows">${kWindows.map((w) =>
        `<button class="window" data-window="${w}">${w}</button>`).join("")}</div>
      <div id="lag-chart" data-points="0"></div>
      <p id="lag-note" class="muted"></p>
    </section>
    <section><h2>Partitions</h2><div id="parts"></div></section>
    ${kDeadLettersHtml}
    ${kRowsHtml}
    <section id="row-section"><h2>Row</h2>
      <form id="lookup-form" class="inline">
        <label>key <input id="key" size="30" required></label>
        <label>as of <input id="asof" type="datetime-local" step="1"></label>
        <span id="asof-utc" class="muted"></span>
        <button id="lookup">Look up</button>
      </form>
      <div id="row-error" class="error"></div><pre id="row" hidden></pre>
      <h3>History</h3><div id="history" class="muted">-</div>
      <div id="trace" hidden></div>
    </section>
    <section><h2>Rebuild</h2>
      <div class="controls">
        <button id="rebuild">Rebuild from offset 0</button>
        <div class="bar" id="progress-bar" role="progressbar" aria-valuemin="0" aria-valuemax="100"
          aria-valuenow="0"><div id="progress"></div></div>
        <span id="rebuild-status" class="muted"></span>
      </div>
      <p class="muted">The current view serves until the rebuilt one has caught up; then they swap.</p>
    </section>
    <section><h2>Definition <span id="def-file" class="muted"></span></h2><pre id="def"></pre></section>`;
  const $ = (s) => main.querySelector(s);
  const dead = deadLetters(main, name, () => stopped);

  // Rows, events applied and position: those of the last status, moved on by each change of
  // the feed that status does not include yet (the feed and the status are read apart: a change
  // may come before or after the status that counts it).
  let base = null;  // the last status
  let recent = [];  // changes, oldest first: {position, rows: -1|0|1, applied: 0|1}
  let lastEvent = "";
  function showNums() {
    let rows = base ? base.rows : null;
    let applied = base ? base.events_applied : null;
    let position = base ? base.position : "";
    for (const c of recent) {
      if (base && !positionBehind(base.position, c.position)) continue;  // counted already
      if (rows !== null) rows += c.rows;
      if (applied !== null) applied += c.applied;
      position = c.position;
    }
    $("#vrows").textContent = count(rows);
    $("#vapplied").textContent = count(applied);
    $("#vposition").textContent = position || "-";
  }

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
    $("#vreason").textContent = st.reason || "";
    base = st;
    recent = recent.filter((c) => positionBehind(st.position, c.position));
    showNums();
    $("#def").textContent = st.definition;
    $("#def-file").textContent = st.file || "";
    $("#parts").innerHTML = table("parts-table",
      ["topic", "partition", "position", "first offset", "high watermark", "lag (events)", "lag (s)"],
      st.partitions.map((p) => [`<span class="nowrap">${esc(p.topic)}</span>`, esc(p.partition), count(p.position),
        count(p.low_watermark), count(p.high_watermark), count(p.lag_events), esc(fmt(p.lag_seconds))]),
      [1, 2, 3, 4, 5, 6]);
    showRebuild(st);
    showFailed(st);
    return st;
  }

  // A view stopped by `errors stop`: where and why, the event if another view has it, Skip.
  let failedKey = "";
  let failedAt = null;
  function showFailed(st) {
    const fa = st.failed_at || null;
    failedAt = fa;
    $("#failed").hidden = !fa;
    if (!fa) {
      failedKey = "";
      return;
    }
    const key = at(fa);
    if (key === failedKey) return;
    failedKey = key;
    $("#failed-at").textContent = key;
    $("#failed-topic").textContent = fa.topic;
    $("#failed-partition").textContent = String(fa.partition);
    $("#failed-offset").textContent = String(fa.offset);
    $("#failed-reason").textContent = fa.reason;
    $("#skip").disabled = false;
    const ev = $("#failed-event");
    if (fa.event !== undefined) {
      ev.innerHTML = `<p class="muted">the event it is held at:</p>
        <pre id="failed-event-text" class="event">${esc(pretty(fa.event))}</pre>`;
      return;
    }
    ev.innerHTML = `<p class="muted">looking for it among other views' dead letters</p>`;
    findHeldEvent(name, fa).then((found) => {
      if (stopped || failedKey !== key) return;
      ev.innerHTML = found
        ? `<p class="muted">projd does not serve the event a view is held at; view
            <a href="#/view/${encodeURIComponent(found.view)}">${esc(found.view)}</a> rejected the
            same event${found.dead.key === null ? "" : ` (key ${esc(found.dead.key)})`} as a dead
            letter (“${esc(found.dead.reason)}”):</p>
            <pre id="failed-event-text" class="event">${esc(pretty(found.dead.event))}</pre>`
        : `<p class="muted">projd does not serve the event a view is held at (no other view has it
            as a dead letter). Read it from Kafka at the position above; once skipped, it is
            among this view's dead letters.</p>`;
    });
  }

  $("#skip").addEventListener("click", async () => {
    const fa = failedAt;
    if (!fa) return;
    const where = at(fa);
    if (!confirm(`Skip the event at ${where} in ${name}?\n\n${fa.reason}\n\n` +
        "It becomes a dead letter and the view goes on after it.")) return;
    $("#skip").disabled = true;
    $("#skip-status").textContent = "skipping";
    const before = await refreshStatus();
    const deadBefore = before ? before.dead_letters : 0;
    const r = await api(viewPath(name, "/skip"), {method: "POST"}, true);
    if (stopped) return;
    if (r.status !== 202) {
      $("#skip-status").textContent = `cannot skip: ${errorText(r)}`;
      $("#skip").disabled = false;
      return;
    }
    // Follow the view until it is past the skipped event (live, or stopped at the next one)
    // and the dead letter it became is written (the count moves once the commit is durable).
    let st = null;
    for (let i = 0; i < 240 && !stopped; ++i) {
      st = await refreshStatus();
      const moved = st && (!st.failed_at || at(st.failed_at) !== where);
      if (moved && st.dead_letters > deadBefore) break;
      await new Promise((res) => setTimeout(res, 250));
    }
    if (stopped) return;
    const now = !st ? "" : st.failed_at
      ? ` It stopped again, at ${at(st.failed_at)}: see above.`
      : ` The view is ${st.state} now.`;
    $("#skip-status").textContent = "";
    const done = $("#skip-done");
    done.hidden = false;
    done.textContent = `Skipped the event at ${where}: it is a dead letter now.${now}`;
    dead.reload();
  });

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
    const drawn = chart.update(r.body.samples);
    const n = r.body.samples.length;
    const merged = drawn.seconds > 1
      ? `, drawn as ${count(drawn.samples.length)} points: each the maximum over ${drawn.seconds} s`
      : "";
    $("#lag-note").textContent = n
      ? `${count(n)} samples over the last ${windowName} (one a second)${merged}; ` +
        "click a legend entry to show or hide it"
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
    history.show(key);
  });
  // A version's correlation id opens its command's trace: every change it made, in every view.
  const trace = new Trace($("#trace"), () => stopped);
  const history = new History($("#history"), name, () => stopped, (id) => {
    trace.show(id);
    $("#trace").scrollIntoView({block: "nearest"});
  });

  // The row browser and the live changes: a key opens its lookup (now, not as of a time).
  function lookUp(key) {
    $("#key").value = key;
    $("#asof").value = "";
    $("#asof-utc").textContent = "";
    $("#lookup-form").requestSubmit();
    $("#row-section").scrollIntoView({block: "start"});
  }
  rowsBrowser(main, name, () => stopped, lookUp);

  // The change feed: each change moves the numbers at the top and is listed (newest first) in
  // the live changes, unless paused.
  function addRow(tr) {
    const tbody = $("#changes-table tbody");
    const waiting = tbody.querySelector("tr.waiting");
    if (waiting) waiting.remove();
    tbody.insertBefore(tr, tbody.firstChild);
    while (tbody.children.length > kLiveChanges) tbody.lastChild.remove();
  }
  // Something the operator should know about the feed: a row in the list (where it happened),
  // and a notice above it (the row soon scrolls out of the last 50).
  function note(text) {
    const notice = $("#live-notice");
    notice.hidden = false;
    notice.textContent = `${new Date().toLocaleTimeString()}: ${text}`;
    const tr = document.createElement("tr");
    tr.className = "feed-note";
    tr.innerHTML = `<td colspan="6">${esc(new Date().toLocaleTimeString())}: ${esc(text)}</td>`;
    return tr;
  }
  let paused = false;
  const held = [];  // rows that came while paused, oldest first
  function show(tr) {
    if (!paused) return addRow(tr);
    held.push(tr);
    if (held.length > kLiveChanges) held.shift();
    $("#live-note").textContent = `paused: ${held.length === kLiveChanges ? "at least " : ""}` +
      `${held.length} new change${held.length === 1 ? "" : "s"}`;
  }
  $("#live-pause").addEventListener("click", () => {
    paused = !paused;
    $("#live-pause").textContent = paused ? "Resume" : "Pause";
    $("#live-note").textContent = paused ? "paused"
      : `the last ${kLiveChanges} changes, newest first`;
    if (!paused) held.splice(0).forEach(addRow);
  });
  $("#changes-table").addEventListener("click", (e) => {
    const a = e.target.closest("a.rowkey");
    if (!a) return;
    e.preventDefault();
    lookUp(a.textContent);
  });
  const feed = new Feed(name, {
    onChange(c) {
      if (stopped) return;
      // One event changes one row: a new event is one more applied.
      const by = c.updated_by || {};
      const event = `${by.topic}:${by.partition}:${by.offset}`;
      recent.push({position: c.position, rows: c.row === null ? -1 : c.version === 1 ? 1 : 0,
        applied: event === lastEvent ? 0 : 1});
      if (recent.length > 10000) recent.shift();
      lastEvent = event;
      showNums();
      show(changeRow(c));
    },
    onRebuilt(d) {
      if (stopped) return;
      show(note(`rebuilt with a changed definition (${d.rebuilt}): the view's information ` +
        "is reloaded; its changes go on"));
      recent = [];  // the rebuilt view's status counts its own
      reloadAll();
    },
    onGap(why) {
      if (stopped) return;
      show(note(`changes were missed (${why}): the view's information is reloaded`));
      recent = [];
      reloadAll();
    },
    onState(state, detail) {
      if (stopped) return;
      const badge = $("#feed-state");
      badge.textContent = feedStateText(state, detail);
      badge.className = `feed-badge feed-${state}`;
      badge.dataset.state = state;
    },
  });
  function reloadAll() {
    refreshStatus();
    refreshLag();
    dead.reload();
    $("#rows-form").requestSubmit();
  }

  refreshStatus();
  refreshLag();
  dead.reload();
  timers.push(setInterval(refreshStatus, kStatusMs));
  timers.push(setInterval(refreshLag, kLagMs));
  return () => {
    stopped = true;
    feed.close();
    timers.forEach(clearInterval);
    window.removeEventListener("resize", onResize);
    chart.destroy();
  };
}
