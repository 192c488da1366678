// Small helpers to put API values on the page safely.

const kEntities = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"};

// Text made safe to put inside HTML (element content or a quoted attribute).
export function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => kEntities[c]);
}

// A JSON value as short text: "-" for null, JSON for objects and arrays.
export function fmt(v) {
  if (v === null || v === undefined) return "-";
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

// A count with thousands separators; other values as fmt() gives them.
export function count(v) {
  return typeof v === "number" ? v.toLocaleString("en-US") : fmt(v);
}

// How long ago an RFC 3339 time was, in words ("4 s ago"), or "-" without one.
export function ago(time, now = Date.now()) {
  if (!time) return "-";
  const s = Math.max(0, Math.round((now - Date.parse(time)) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

// The error text of an API answer that is not a success.
export function errorText(r) {
  if (r.body && r.body.error) {
    const d = r.body.detail;
    return d === null || d === undefined ? r.body.error : `${r.body.error}: ${fmt(d)}`;
  }
  return `HTTP ${r.status}`;
}

// An event as text: pretty JSON, or its text as it is when it is not JSON (a string).
export function pretty(v) {
  if (typeof v === "string") return v;
  return JSON.stringify(v, null, 2);
}

// A position in a topic: "topic:partition:offset".
export function at(x) {
  return `${x.topic}:${x.partition}:${x.offset}`;
}

// A <table> from a header row and rows of cells (cells are HTML already escaped), in a box
// that scrolls sideways when the window is narrower than the table.
export function table(id, head, rows, numeric = []) {
  const th = head.map((h, i) => `<th${numeric.includes(i) ? ' class="num"' : ""}>${esc(h)}</th>`);
  const trs = rows.map((cells) => "<tr>" + cells.map((c, i) =>
    `<td${numeric.includes(i) ? ' class="num"' : ""}>${c}</td>`).join("") + "</tr>");
  return `<div class="scroll"><table id="${id}"><thead><tr>${th.join("")}</tr></thead><tbody>${trs.join("")}</tbody></table></div>`;
}
