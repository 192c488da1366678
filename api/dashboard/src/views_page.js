// The views table: every view with its state, rows, lag, rate and last update, refreshed
// every two seconds.
import {api} from "./api.js";
import {ago, at, count, errorText, esc, fmt} from "./format.js";

const kRefreshMs = 2000;

function row(v) {
  const rebuild = v.rebuild
    ? ` <span class="muted">rebuild ${(100 * Number(v.rebuild.progress)).toFixed(0)}%</span>`
    : "";
  const href = `#/view/${encodeURIComponent(v.name)}`;
  return `<tr data-view="${esc(v.name)}">
    <td><a href="${href}">${esc(v.name)}</a></td>
    <td><span class="state ${esc(v.state)}">${esc(v.state)}</span>${rebuild}</td>
    <td class="num">${count(v.rows)}</td>
    <td class="num">${count(v.lag_events)}</td>
    <td class="num">${esc(fmt(v.lag_seconds))}</td>
    <td class="num">${esc(fmt(v.events_per_second))}</td>
    <td title="${esc(fmt(v.last_update))}">${esc(ago(v.last_update))}</td>
    <td class="num">${count(v.dead_letters)}</td>
    <td class="muted">${v.failed_at
      ? `stopped at <a href="${href}" class="failed-at">${esc(at(v.failed_at))}</a>: ` : ""}${esc(v.reason || "")}</td></tr>`;
}

// Shows the page in main; returns the function that stops its refreshing.
export function viewsPage(main, setStatus) {
  main.innerHTML = `<div class="scroll"><table id="views"><thead><tr><th>view</th><th>state</th>
    <th class="num">rows</th><th class="num">lag (events)</th><th class="num">lag (s)</th>
    <th class="num">events/s</th><th>last update</th><th class="num">dead letters</th>
    <th>reason</th></tr></thead><tbody></tbody></table></div>
    <p class="muted">Refreshes every ${kRefreshMs / 1000} s. A view's name opens its page.</p>`;
  let stopped = false;
  async function refresh() {
    const r = await api("/v1/views");
    if (stopped) return;
    if (r.status !== 200) {
      setStatus(`cannot list views: ${errorText(r)}`, true);
      return;
    }
    setStatus(`updated ${new Date().toLocaleTimeString()}`);
    const tbody = main.querySelector("#views tbody");
    tbody.innerHTML = r.body.views.length
      ? r.body.views.map(row).join("")
      : `<tr><td colspan="9" class="muted">no views are loaded</td></tr>`;
  }
  refresh();
  const timer = setInterval(refresh, kRefreshMs);
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
