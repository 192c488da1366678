// The views table: every view with its state, rows, events applied, lag, rate and last update.
//
// It follows change feeds rather than polling fast. A feed is a streamed answer that holds its
// HTTP connection for as long as it is open, and a browser opens at most 6 HTTP/1.1 connections
// to one host (for all its tabs): one feed per view would starve every other request of the
// dashboard once there are a few views. So:
//   - the views on screen (an IntersectionObserver watches the rows) get a feed each, the first
//     kMaxFeeds of them in table order: at most kMaxFeeds connections, which leaves two for the
//     page's requests;
//   - when a view's feed delivers a change (or its view was rebuilt), that view's row is
//     refreshed from GET /v1/views/{view}, at most once per kRowRefreshMs, however many changes
//     arrive: a busy view costs one short request a second, not one per change;
//   - every view (those beyond the cap, those scrolled away, views loaded or removed since) is
//     refreshed by a slow poll of GET /v1/views every kPollMs.
// Scrolling moves the feeds to the rows that come into view; leaving the page closes them.
import {api, viewPath} from "./api.js";
import {Feed, feedStateText} from "./feed.js";
import {ago, at, count, errorText, esc, fmt} from "./format.js";

const kPollMs = 10000;
const kMaxFeeds = 4;
const kRowRefreshMs = 1000;

const kFeedTitles = {
  live: "live: follows its change feed",
  connecting: "connecting to its change feed",
  reconnecting: "reconnecting to its change feed",
  polled: `refreshed every ${kPollMs / 1000} s (only ${kMaxFeeds} views on screen follow feeds)`,
};

// The cells of a view's row; feed: the state of its feed ("polled" without one).
function cells(v, feed, detail) {
  const rebuild = v.rebuild
    ? ` <span class="muted">rebuild ${(100 * Number(v.rebuild.progress)).toFixed(0)}%</span>`
    : "";
  const href = `#/view/${encodeURIComponent(v.name)}`;
  const title = feed === "reconnecting" ? feedStateText(feed, detail) : kFeedTitles[feed] || feed;
  return `<td class="nowrap"><a href="${href}">${esc(v.name)}</a><span class="feed feed-${esc(feed)}"
      title="${esc(title)}"></span></td>
    <td><span class="state ${esc(v.state)}">${esc(v.state)}</span>${rebuild}</td>
    <td class="num">${count(v.rows)}</td>
    <td class="num applied">${count(v.events_applied)}</td>
    <td class="num">${count(v.lag_events)}</td>
    <td class="num">${esc(fmt(v.lag_seconds))}</td>
    <td class="num">${esc(fmt(v.events_per_second))}</td>
    <td title="${esc(fmt(v.last_update))}">${esc(ago(v.last_update))}</td>
    <td class="num">${count(v.dead_letters)}</td>
    <td class="muted">${v.failed_at
      ? `stopped at <a href="${href}" class="failed-at">${esc(at(v.failed_at))}</a>: ` : ""}${esc(v.reason || "")}</td>`;
}

// Shows the page in main; returns the function that stops its refreshing and closes its feeds.
export function viewsPage(main, setStatus) {
  main.innerHTML = `<div class="scroll"><table id="views"><thead><tr><th>view</th><th>state</th>
    <th class="num">rows</th><th class="num">events applied</th><th class="num">lag (events)</th>
    <th class="num">lag (s)</th><th class="num">events/s</th><th>last update</th>
    <th class="num">dead letters</th><th>reason</th></tr></thead><tbody></tbody></table></div>
    <p class="muted">Views marked <span class="feed feed-live"></span> follow their change feeds
    and update as they change (${kMaxFeeds} of those on screen at a time); the others refresh
    every ${kPollMs / 1000} s. A view's name opens its page.</p>`;
  const tbody = main.querySelector("#views tbody");
  let stopped = false;
  const views = new Map();    // name -> its last status
  const trs = new Map();      // name -> its <tr>
  const feeds = new Map();    // name -> Feed
  const visible = new Set();  // names of the rows on screen
  const rowTimers = new Map();  // name -> the timer of its next row refresh
  const lastRowFetch = new Map();  // name -> when its row was last fetched (ms)

  function draw(name) {
    const tr = trs.get(name);
    const v = views.get(name);
    if (!tr || !v) return;
    const f = feeds.get(name);
    const state = f ? f.state || "connecting" : "polled";
    tr.dataset.feed = state;
    tr.innerHTML = cells(v, state, f ? f.detail : "");
  }

  // A view's row, fetched now.
  async function refreshRow(name) {
    lastRowFetch.set(name, Date.now());
    const r = await api(viewPath(name));
    if (stopped || r.status !== 200 || !trs.has(name)) return;
    views.set(name, r.body);
    draw(name);
  }
  // A view changed: its row is refreshed, at most once per kRowRefreshMs.
  function changed(name) {
    if (rowTimers.has(name)) return;
    const wait = Math.max(0, (lastRowFetch.get(name) || 0) + kRowRefreshMs - Date.now());
    rowTimers.set(name, setTimeout(() => {
      rowTimers.delete(name);
      if (!stopped) refreshRow(name);
    }, wait));
  }

  // Feeds for the first kMaxFeeds views on screen, in table order; none for the others.
  let pickTimer = null;
  function pickFeeds() {
    pickTimer = null;
    if (stopped) return;
    const want = new Set([...trs.keys()].filter((n) => visible.has(n)).slice(0, kMaxFeeds));
    for (const [name, f] of feeds) {
      if (want.has(name)) continue;
      f.close();
      feeds.delete(name);
      draw(name);
    }
    for (const name of want) {
      if (feeds.has(name)) continue;
      feeds.set(name, new Feed(name, {
        onChange: () => changed(name),
        onRebuilt: () => changed(name),
        onGap: () => changed(name),
        onState: (state) => {
          if (stopped) return;
          draw(name);
          // Changes made while it was away are not missed (it resumes), but the row may be old.
          if (state === "live") changed(name);
        },
      }));
      draw(name);
    }
  }
  // Scrolling fires many of these: the feeds move once it settles.
  const schedulePick = () => {
    if (pickTimer === null) pickTimer = setTimeout(pickFeeds, 250);
  };
  const observer = new IntersectionObserver((entries) => {
    for (const e of entries) {
      const name = e.target.dataset.view;
      if (e.isIntersecting) visible.add(name);
      else visible.delete(name);
    }
    schedulePick();
  });

  // Every view, from GET /v1/views: rows are kept (their feeds and observers with them),
  // updated, added and removed as the list says.
  async function poll() {
    const r = await api("/v1/views");
    if (stopped) return;
    if (r.status !== 200) {
      setStatus(`cannot list views: ${errorText(r)}`, true);
      return;
    }
    setStatus(`updated ${new Date().toLocaleTimeString()}`);
    const names = new Set(r.body.views.map((v) => v.name));
    for (const [name, tr] of trs) {
      if (names.has(name)) continue;
      observer.unobserve(tr);
      tr.remove();
      trs.delete(name);
      views.delete(name);
      visible.delete(name);
    }
    if (!r.body.views.length) {
      tbody.innerHTML = `<tr><td colspan="10" class="muted">no views are loaded</td></tr>`;
    } else if (!trs.size) {
      tbody.innerHTML = "";
    }
    for (const v of r.body.views) {
      let tr = trs.get(v.name);
      if (!tr) {
        tr = document.createElement("tr");
        tr.dataset.view = v.name;
        trs.set(v.name, tr);
        observer.observe(tr);
      }
      tbody.appendChild(tr);  // in the list's order
      views.set(v.name, v);
      draw(v.name);
    }
    schedulePick();
  }
  poll();
  const timer = setInterval(poll, kPollMs);
  return () => {
    stopped = true;
    clearInterval(timer);
    clearTimeout(pickTimer);
    rowTimers.forEach(clearTimeout);
    observer.disconnect();
    feeds.forEach((f) => f.close());
    feeds.clear();
  };
}
