// Browser tests of the operator dashboard (GET /): playwright-core drives Debian's chromium
// headless against a projd --demo started here (embedded broker, example projections and
// events). Each page is written as a PNG to PROJD_SCREENSHOTS.
//
// Environment: PROJD_BIN (the projd binary), PROJD_SOURCE_DIR (the repository), PLAYWRIGHT_MODULES
// (a node_modules folder holding playwright-core), CHROMIUM (default /usr/bin/chromium),
// PROJD_SCREENSHOTS (default ./screenshots).
import assert from "node:assert/strict";
import {spawn} from "node:child_process";
import fs from "node:fs";
import {createRequire} from "node:module";
import os from "node:os";
import path from "node:path";
import {after, before, test} from "node:test";

const env = (name, fallback) => {
  const v = process.env[name] || fallback;
  if (!v) throw new Error(`set ${name}`);
  return v;
};
const projdBin = env("PROJD_BIN");
const sourceDir = env("PROJD_SOURCE_DIR");
const {chromium} = createRequire(path.join(env("PLAYWRIGHT_MODULES"), "noop.js"))("playwright-core");
const chromiumPath = env("CHROMIUM", "/usr/bin/chromium");
const shots = path.resolve(env("PROJD_SCREENSHOTS", "screenshots"));
// The repository's example projections, and one that keeps the history of its rows (for the
// as-of lookup and the history table).
const kViewNames = ["account_activity", "account_balance", "balance_history", "customer_summary",
  "daily_volume", "large_movements"];
// The demo's errors stop view, held by the example events' malformed ones until skipped.
const kStoppedView = "large_movements";
const kHistoryProjection = `# Balance per account, every version kept.
projection balance_history {
  from "account-events"
  key event.account_id
  time event.ts
  on AccountOpened { owner = event.owner  balance = 0 }
  on Deposited, InterestPaid { balance += event.amount }
  on Withdrawn { balance -= event.amount }
  history all
}
`;

let demo, base, browser, page;
const started = [];
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "projd-browser-"));
const log = () => demo.log();

// Starts projd --demo (with extra flags) on a free port; resolves with {proc, base, log()}.
function startProjd(extra = []) {
  const dir = fs.mkdtempSync(path.join(tmp, "projd-"));
  const projections = path.join(dir, "projections");
  fs.mkdirSync(projections);
  for (const f of fs.readdirSync(path.join(sourceDir, "projections"))) {
    if (f.endsWith(".proj")) fs.copyFileSync(path.join(sourceDir, "projections", f), path.join(projections, f));
  }
  fs.writeFileSync(path.join(projections, "balance_history.proj"), kHistoryProjection);
  const proc = spawn(projdBin, ["--demo", "--projections", projections,
    "--demo-events", path.join(sourceDir, "examples", "banking-events.jsonl"),
    // No live stream: the checks compare the page with the API, which must hold still.
    "--data", path.join(dir, "data"), "--listen", "127.0.0.1:0", "--demo-rate", "0", ...extra],
  {stdio: ["ignore", "pipe", "pipe"]});
  started.push(proc);
  let text = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`projd did not listen in 30 s:\n${text}`)), 30000);
    let found = false;
    const onData = (d) => {
      text += d.toString();
      const m = text.match(/HTTP API listening on ([0-9.]+:[0-9]+)/);
      if (m && !found) {
        found = true;
        clearTimeout(timer);
        resolve({proc, base: `http://${m[1]}`, log: () => text});
      }
    };
    proc.stdout.on("data", onData);
    proc.stderr.on("data", onData);
    proc.on("exit", (code) => reject(new Error(`projd exited (${code}):\n${text}`)));
  });
}

async function getJson(p, headers = {}) {
  const r = await fetch(base + p, {headers});
  return {status: r.status, body: await r.json()};
}

// Polls fn until it returns a truthy value, or fails after ms.
async function until(what, fn, ms = 30000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function shot(name, p = page) {
  fs.mkdirSync(shots, {recursive: true});
  await p.screenshot({path: path.join(shots, `${name}.png`), fullPage: true});
}

before(async () => {
  demo = await startProjd();
  base = demo.base;
  // Every demo view loaded and past its catch-up of the example events.
  await until("the demo views to be live", async () => {
    const r = await getJson("/v1/views");
    return r.body.views.length === kViewNames.length &&
      r.body.views.every((v) => v.name === kStoppedView ? v.state === "failed" :
        v.state === "live" && v.rows > 0);
  });
  browser = await chromium.launch({executablePath: chromiumPath, headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"]});
  // Times typed into the as-of picker are local times: make local UTC.
  page = await browser.newPage({viewport: {width: 1280, height: 900}, timezoneId: "UTC"});
  page.on("pageerror", (e) => { throw e; });
});

after(async () => {
  if (browser) await browser.close();
  // Each projd stops cleanly on SIGTERM (under the sanitizers, also without a report).
  const codes = [];
  for (const proc of started) {
    if (proc.exitCode === null) {
      const exited = new Promise((r) => proc.once("exit", r));
      proc.kill("SIGTERM");
      await exited;
    }
    codes.push(proc.exitCode);
  }
  fs.rmSync(tmp, {recursive: true, force: true});
  assert.deepEqual(codes, started.map(() => 0), "projd exit codes");
});

test("the views table shows every view with its state", async () => {
  await page.goto(base + "/");
  await page.waitForSelector("#views tbody tr[data-view]");
  const api = (await getJson("/v1/views")).body.views;
  const rows = await page.$$eval("#views tbody tr[data-view]", (trs) => trs.map((tr) => ({
    name: tr.dataset.view,
    state: tr.querySelector(".state").textContent,
    stateClass: tr.querySelector(".state").className,
    color: getComputedStyle(tr.querySelector(".state")).backgroundColor,
    rows: tr.children[2].textContent,
  })));
  assert.deepEqual(rows.map((r) => r.name).sort(), kViewNames);
  for (const r of rows) {
    const v = api.find((x) => x.name === r.name);
    assert.equal(r.state, v.state, r.name);
    assert.equal(r.stateClass, `state ${v.state}`);
    if (v.state === "live") {
      assert.equal(r.color, "rgb(46, 157, 87)", "live is green");  // .live in style.css
    } else {
      assert.equal(r.color, "rgb(198, 47, 58)", "failed is red");  // .failed in style.css
    }
    assert.equal(r.rows, v.rows.toLocaleString("en-US"));
  }
  // It refreshes by itself.
  const first = await page.textContent("#status");
  await until("the table to refresh", async () => (await page.textContent("#status")) !== first, 6000);
  await shot("views");
});

test("a view's page: the lag chart renders its samples, partitions, lookup, dead letters", async () => {
  // Samples are taken once a second; wait until there are a few.
  await until("5 lag samples", async () =>
    (await getJson("/v1/views/account_balance/lag?window=15m")).body.samples.length >= 5);
  await page.goto(base + "/#/view/account_balance");
  const points = await until("the chart to draw 5 samples", async () => {
    const n = Number(await page.getAttribute("#lag-chart", "data-points"));
    return n >= 5 ? n : 0;
  }, 15000);
  assert.ok(points >= 5);
  // The lag line is on the canvas: count pixels in the lag series' colour.
  const coloured = await page.$eval("#lag-chart canvas", (c) => {
    const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) {
      if (Math.abs(d[i] - 0x3b) < 16 && Math.abs(d[i + 1] - 0x7d) < 16 &&
          Math.abs(d[i + 2] - 0xd8) < 16 && d[i + 3] > 200) ++n;
    }
    return n;
  });
  assert.ok(coloured > 100, `lag line pixels: ${coloured}`);
  // Partitions with positions and lags, as the API says.
  const parts = (await getJson("/v1/views/account_balance")).body.partitions;
  await page.waitForSelector("#parts-table tbody tr");
  const cells = await page.$$eval("#parts-table tbody tr", (trs) =>
    trs.map((tr) => [...tr.children].map((td) => td.textContent)));
  assert.equal(cells.length, parts.length);
  for (const p of parts) {
    const row = cells.find((c) => c[1] === String(p.partition));
    assert.equal(row[2], p.position.toLocaleString("en-US"));
    assert.equal(row[5], p.lag_events.toLocaleString("en-US"));
  }
  assert.match(await page.textContent("#def"), /projection account_balance \{/);
  // Dead letters: the demo's malformed events.
  const dead = (await getJson("/v1/views/account_balance/dead-letters")).body;
  await until("the dead letters", async () =>
    (await page.$$("#dead-table tbody tr")).length === dead.dead_letters.length);
  // Key lookup: the row, and a view without history says so for its history.
  await page.fill("#key", "acc-00001");
  await page.click("#lookup");
  await page.waitForSelector("#row:not([hidden])");
  const row = JSON.parse(await page.textContent("#row"));
  assert.deepEqual(row, (await getJson("/v1/views/account_balance/rows/acc-00001")).body);
  await until("the history answer", async () => /no history/.test(await page.textContent("#history")));
  // With an as-of time: the API's answer (this view keeps no history) is shown.
  await page.fill("#asof", "2025-07-15T00:00:00");
  await page.click("#lookup");
  await until("the as-of answer", async () => /as_of needs history/.test(await page.textContent("#row-error")));
  await page.fill("#asof", "");
  await page.click("#lookup");
  await page.waitForSelector("#row:not([hidden])");
  await shot("view");
});

test("the key lookup with an as-of time, and the row's history", async () => {
  await page.goto(base + "/#/view/balance_history");
  await page.waitForSelector("#parts-table");
  await page.fill("#key", "acc-00001");
  await page.fill("#asof", "2025-07-01T12:00:00");
  assert.equal(await page.textContent("#asof-utc"), "= 2025-07-01T12:00:00Z");
  await page.click("#lookup");
  await page.waitForSelector("#history-table tbody tr");
  const asOf = (await getJson("/v1/views/balance_history/rows/acc-00001?as_of=2025-07-01T12:00:00Z")).body;
  assert.equal(asOf.as_of, "2025-07-01T12:00:00Z");
  assert.deepEqual(JSON.parse(await page.textContent("#row")), asOf);
  const now = (await getJson("/v1/views/balance_history/rows/acc-00001")).body;
  assert.notDeepEqual(asOf.row, now.row, "the row changed after the as-of time");
  // The history table: one line per kept version, oldest first, as the API lists them.
  const versions = (await getJson("/v1/views/balance_history/rows/acc-00001/history?limit=100")).body.versions;
  const shown = await page.$$eval("#history-table tbody tr", (trs) =>
    trs.map((tr) => [tr.children[0].textContent, tr.children[1].textContent]));
  assert.ok(versions.length > 2);
  assert.deepEqual(shown, versions.map((v) =>
    [String(v.version), `${v.updated_by.topic}:${v.updated_by.partition}:${v.updated_by.offset}`]));
  await shot("view-history");
});

test("the rebuild button starts a rebuild and the progress bar reaches done", async () => {
  await page.goto(base + "/#/view/customer_summary");
  await page.waitForSelector("#parts-table");
  const before = log().length;
  await page.click("#rebuild");
  await until("the rebuild to be done", async () =>
    /^done/.test(await page.textContent("#rebuild-status")), 60000);
  assert.equal(await page.getAttribute("#progress-bar", "aria-valuenow"), "100");
  assert.equal(await page.$eval("#progress", (e) => e.style.width), "100%");
  // projd did rebuild it, and serves the rebuilt view.
  assert.match(log().slice(before), /customer_summary.*rebuild from offset 0 started/);
  await until("the rebuilt view to serve, live", async () => {
    const st = (await getJson("/v1/views/customer_summary")).body;
    return st.rebuild === null && st.state === "live";
  });
  await shot("rebuild");
});

test("the query console shows results, and a broken query's error at its position", async () => {
  await page.goto(base + "/#/query");
  const q = "from account_balance where balance > 100 order by balance desc limit 5";
  await page.fill("#q", q);
  await page.click("#run");
  await page.waitForSelector("#qtable tbody tr");
  const expected = await (await fetch(base + "/v1/query", {method: "POST", body: q})).json();
  const shown = await page.$$eval("#qtable tbody tr", (trs) =>
    trs.map((tr) => tr.children[0].textContent));
  assert.deepEqual(shown, expected.rows.map((r) => r.key));
  const head = await page.$$eval("#qtable thead th", (ths) => ths.map((th) => th.textContent));
  assert.ok(head.includes("key") && head.includes("balance"), head.join(","));
  await shot("query");

  const bad = "from account_balance\nwhere balance >> 3";
  const err = await (await fetch(base + "/v1/query", {method: "POST", body: bad})).json();
  assert.equal(err.detail.line, 2);
  await page.fill("#q", bad);
  await page.click("#run");
  await page.waitForSelector("#qerr:not([hidden])");
  assert.equal(await page.textContent("#qerr-pos"),
    `line 2, column ${err.detail.column}: ${err.detail.message}`);
  // The caret sits under the column, and the text cursor is put there.
  const [line, caret] = (await page.textContent("#qerr-text")).split("\n");
  assert.equal(line, "where balance >> 3");
  assert.equal(caret.indexOf("^"), err.detail.column - 1);
  const sel = await page.$eval("#q", (t) => t.selectionStart);
  assert.equal(sel, "from account_balance\n".length + err.detail.column - 1);
  assert.equal(await page.$$eval("#qtable", (t) => t.length), 0);
  await shot("query-error");
});

test("with --auth it asks for a token; a reader sees its views; a rebuild asks for an admin", async () => {
  const auth = path.join(tmp, "auth.toml");
  fs.writeFileSync(auth, `[[token]]\ntoken = "admin-secret"\nrole = "admin"\n` +
    `[[token]]\ntoken = "reader-secret"\nrole = "reader"\nviews = ["daily_volume"]\n`, {mode: 0o600});
  const secured = await startProjd(["--auth", auth]);
  const ctx = await browser.newContext({viewport: {width: 1280, height: 900}});
  const p = await ctx.newPage();
  p.on("pageerror", (e) => { throw e; });
  await p.goto(secured.base + "/");
  await p.waitForSelector("#token-dialog[open]");
  assert.match(await p.textContent("#token-reason"), /--auth/);
  await shot("auth-token", p);
  await p.fill("#token-input", "reader-secret");
  await p.click("#token-ok");
  // The reader's one view, once it is live.
  await until("the reader's view", async () => {
    const names = await p.$$eval("#views tbody tr[data-view]", (trs) => trs.map((t) => t.dataset.view));
    const state = await p.$$eval("#views tbody .state", (s) => s.map((x) => x.textContent));
    return names.join() === "daily_volume" && state[0] === "live";
  });
  // A reader may not rebuild: the dashboard asks for another token, and the admin's works.
  await p.goto(secured.base + "/#/view/daily_volume");
  await p.waitForSelector("#parts-table");
  await p.click("#rebuild");
  await p.waitForSelector("#token-dialog[open]");
  assert.match(await p.textContent("#token-reason"), /admin/);
  await p.fill("#token-input", "admin-secret");
  await p.click("#token-ok");
  await until("the rebuild to be done", async () =>
    /^done/.test(await p.textContent("#rebuild-status")), 60000);
  assert.match(secured.log(), /daily_volume.*rebuild from offset 0 started/);
  await ctx.close();
});
