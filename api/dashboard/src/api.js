// Calls to projd's HTTP API. When projd runs with --auth, the first answer 401 (or 403 for an
// action the token may not do) opens a dialog that asks for a token; it is kept in this
// browser's localStorage and sent as Authorization: Bearer.

const kTokenKey = "projd-token";

export function token() {
  return localStorage.getItem(kTokenKey) || "";
}

let asking = null;  // one dialog at a time; concurrent callers share its answer

// Asks for a token; resolves to the token, or null when the operator cancels.
export function askToken(reason) {
  if (asking) return asking;
  const dialog = document.getElementById("token-dialog");
  const input = document.getElementById("token-input");
  document.getElementById("token-reason").textContent = reason;
  input.value = "";
  asking = new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      asking = null;
      const t = dialog.returnValue === "ok" ? input.value.trim() : "";
      if (t) localStorage.setItem(kTokenKey, t);
      resolve(t || null);
    }, {once: true});
  });
  dialog.showModal();
  input.focus();
  return asking;
}

// Calls PATH; answers {status, body, headers, text}: the answer's text, and body parsed from it
// as JSON (null if it is not JSON: a CSV file, say).
// ask403: also ask for another token when the answer is 403 (actions that need admin).
export async function api(path, opts = {}, ask403 = false) {
  for (let attempt = 0; ; ++attempt) {
    const headers = Object.assign({}, opts.headers || {});
    const t = token();
    if (t) headers["Authorization"] = "Bearer " + t;
    const r = await fetch(path, Object.assign({}, opts, {headers}));
    const text = await r.text().catch(() => "");
    let body = null;
    try {
      body = JSON.parse(text);
    } catch (e) {
      body = null;
    }
    const denied = r.status === 401 || (ask403 && r.status === 403);
    if (denied && attempt < 3) {
      const why = r.status === 401
        ? "projd runs with --auth: enter a token (Authorization: Bearer)."
        : "This token may not do that: enter a token with the admin role.";
      if (await askToken(why)) continue;
    }
    return {status: r.status, body, headers: r.headers, text};
  }
}

export function viewPath(name, rest = "") {
  return `/v1/views/${encodeURIComponent(name)}${rest}`;
}
