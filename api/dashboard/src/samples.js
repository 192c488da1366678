// Lag samples made fit for a chart of a given width: no dependencies, so that the browser test
// can run it under node as well.

// Samples (oldest first, as GET /v1/views/{view}/lag gives them) cut into at most maxPoints
// intervals of equal length; each interval becomes one point at its first sample's time with
// the MAXIMUM of each figure over the interval, so that a burst shorter than an interval still
// shows (the last sample of the interval could miss it). Returns {samples, seconds}: the points
// and the interval's length in seconds (1 when nothing was merged).
export function maxPerInterval(samples, maxPoints) {
  if (samples.length <= maxPoints || samples.length < 2) return {samples, seconds: 1};
  const t0 = Date.parse(samples[0].time);
  const span = Date.parse(samples[samples.length - 1].time) - t0;
  const seconds = Math.max(1, Math.ceil((span / 1000 + 1) / maxPoints));
  const out = [];
  let cur = null, curBucket = -1;
  for (const s of samples) {
    const b = Math.floor((Date.parse(s.time) - t0) / 1000 / seconds);
    if (b !== curBucket) {
      curBucket = b;
      cur = {time: s.time, lag_events: Number(s.lag_events), lag_seconds: Number(s.lag_seconds),
        events_per_second: Number(s.events_per_second)};
      out.push(cur);
    } else {
      cur.lag_events = Math.max(cur.lag_events, Number(s.lag_events));
      cur.lag_seconds = Math.max(cur.lag_seconds, Number(s.lag_seconds));
      cur.events_per_second = Math.max(cur.events_per_second, Number(s.events_per_second));
    }
  }
  return {samples: out, seconds};
}

// A number for an axis: short ("1.2k", "3.5M"), no more decimals than it needs.
export function compact(v) {
  if (v === null || v === undefined || !isFinite(v)) return "";
  const a = Math.abs(v);
  const round = (x) => String(Number(x.toFixed(x < 10 ? 2 : 1)));
  if (a >= 1e9) return round(v / 1e9) + "G";
  if (a >= 1e6) return round(v / 1e6) + "M";
  if (a >= 1e4) return round(v / 1e3) + "k";
  return String(Number(v.toFixed(3)));
}

// A unix time (seconds) as local HH:MM, or HH:MM:SS when the ticks are less than a minute apart.
export function clock(t, withSeconds) {
  const d = new Date(t * 1000);
  const p = (n) => String(n).padStart(2, "0");
  return `${p(d.getHours())}:${p(d.getMinutes())}` + (withSeconds ? `:${p(d.getSeconds())}` : "");
}
