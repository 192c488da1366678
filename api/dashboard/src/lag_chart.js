// The lag chart of one view, drawn by uPlot from GET /v1/views/{view}/lag: lag in events (left
// axis), lag in seconds (right axis), and events/s (hidden until its legend entry is clicked).
// More samples than the chart has room for are merged, keeping each interval's maximum.
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import {clock, compact, maxPerInterval} from "./samples.js";

export const kSeriesColors = {lag_events: "#3b7dd8", lag_seconds: "#d98a1c", rate: "#2e9d57"};
const kHeight = 240;
const kPxPerPoint = 3;  // merge samples so that points are at least this far apart

// Columns for uPlot: unix seconds, then one array per series.
export function toColumns(samples) {
  const t = [], ev = [], s = [], rate = [];
  for (const x of samples) {
    t.push(Date.parse(x.time) / 1000);
    ev.push(Number(x.lag_events));
    s.push(Number(x.lag_seconds));
    rate.push(Number(x.events_per_second));
  }
  return [t, ev, s, rate];
}

// Tick steps: whole seconds and minutes on the time axis, whole events on the events axis.
const kTimeIncrs = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600];
const kCountIncrs = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5,
  2e5, 5e5, 1e6, 2e6, 5e6, 1e7, 1e8, 1e9];
const kSecondIncrs = [0.1, 0.2, 0.5, ...kCountIncrs];

// Room for the widest of an axis' labels (uPlot calls this with the labels it will draw).
function axisSize(u, values) {
  const longest = (values || []).reduce((n, v) => Math.max(n, String(v).length), 1);
  return 28 + 7 * longest;
}

export class LagChart {
  // el: the element the chart fills; width in pixels.
  constructor(el, width) {
    this.el = el;
    this.width = width;
    this.plot = new uPlot({
      width,
      height: kHeight,
      cursor: {drag: {x: true, y: false}},
      scales: {x: {time: true}, ev: {range: (u, min, max) => [0, Math.max(1, max)]},
        s: {range: (u, min, max) => [0, Math.max(1, max)]}},
      axes: [
        {space: 70, incrs: kTimeIncrs,
          values: (u, splits, i, space, incr) => splits.map((t) => clock(t, incr < 60))},
        {scale: "ev", label: "lag (events)", space: 30, incrs: kCountIncrs, size: axisSize,
          values: (u, splits) => splits.map(compact)},
        {scale: "s", side: 1, label: "lag (s)", grid: {show: false}, space: 30,
          incrs: kSecondIncrs, size: axisSize, values: (u, splits) => splits.map(compact)},
      ],
      series: [
        {value: (u, t) => (t === null ? "-" : clock(t, true))},
        {label: "lag (events)", scale: "ev", stroke: kSeriesColors.lag_events, width: 2,
          fill: "rgba(59,125,216,0.08)"},
        {label: "lag (s)", scale: "s", stroke: kSeriesColors.lag_seconds, width: 1.5},
        {label: "events/s", scale: "ev", stroke: kSeriesColors.rate, width: 1, show: false},
      ],
    }, [[], [], [], []], el);
  }

  // Draws the samples. The element's data-samples says how many samples came, data-points how
  // many points were drawn, data-interval how many seconds each point covers, and data-max-lag
  // the largest lag in events drawn.
  update(samples) {
    const merged = maxPerInterval(samples, Math.max(30, Math.floor(this.width / kPxPerPoint)));
    this.plot.setData(toColumns(merged.samples));
    this.el.dataset.samples = String(samples.length);
    this.el.dataset.points = String(merged.samples.length);
    this.el.dataset.interval = String(merged.seconds);
    this.el.dataset.maxLag = String(merged.samples.reduce((m, s) => Math.max(m, s.lag_events), 0));
    return merged;
  }

  resize(width) {
    this.width = width;
    this.plot.setSize({width, height: kHeight});
  }

  destroy() {
    this.plot.destroy();
  }
}
