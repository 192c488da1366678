// The lag chart of one view, drawn by uPlot from GET /v1/views/{view}/lag: lag in events (left
// axis), lag in seconds (right axis), and events/s (hidden until its legend entry is clicked).
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export const kSeriesColors = {lag_events: "#3b7dd8", lag_seconds: "#d98a1c", rate: "#2e9d57"};

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

export class LagChart {
  // el: the element the chart fills; width in pixels.
  constructor(el, width) {
    this.el = el;
    this.plot = new uPlot({
      width,
      height: 240,
      cursor: {drag: {x: true, y: false}},
      scales: {x: {time: true}, ev: {range: (u, min, max) => [0, Math.max(1, max)]},
        s: {range: (u, min, max) => [0, Math.max(1, max)]}},
      axes: [
        {},
        {scale: "ev", label: "lag (events)"},
        {scale: "s", side: 1, label: "lag (s)", grid: {show: false}},
      ],
      series: [
        {},
        {label: "lag (events)", scale: "ev", stroke: kSeriesColors.lag_events, width: 2,
          fill: "rgba(59,125,216,0.08)"},
        {label: "lag (s)", scale: "s", stroke: kSeriesColors.lag_seconds, width: 1.5},
        {label: "events/s", scale: "ev", stroke: kSeriesColors.rate, width: 1, show: false},
      ],
    }, [[], [], [], []], el);
  }

  // Draws the samples; the element's data-points says how many were drawn.
  update(samples) {
    this.plot.setData(toColumns(samples));
    this.el.dataset.points = String(samples.length);
  }

  resize(width) {
    this.plot.setSize({width, height: 240});
  }

  destroy() {
    this.plot.destroy();
  }
}
