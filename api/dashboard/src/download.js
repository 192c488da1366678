// Saves data the page holds (text or a Blob) as a file the browser downloads: through an object
// URL, since a plain link to the API would not carry the Authorization header of api.js.
export function saveFile(filename, data, type = "application/octet-stream") {
  const blob = data instanceof Blob ? data : new Blob([data], {type});
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// The file name of a Content-Disposition header (filename="..."), or fallback.
export function attachmentName(disposition, fallback) {
  const m = /filename="([^"]*)"/.exec(disposition || "") || /filename=([^;\s]+)/.exec(disposition || "");
  return m && m[1] ? m[1] : fallback;
}
