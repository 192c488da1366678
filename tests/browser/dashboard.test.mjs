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
// The chart's sample merging and the change feed's SSE parser have no dependencies on a page:
// checked here under node as well.
const {maxPerInterval} = await import(path.join(sourceDir, "api/dashboard/src/samples.js"));
const {SseParser} = await import(path.join(sourceDir, "api/dashboard/src/feed.js"));
const chromiumPath = env("CHROMIUM", "/usr/bin/chromium");
const shots = path.resolve(env("PROJD_SCREENSHOTS", "screenshots"));
// The repository's example projections, and one that keeps the history of its rows (for the
// as-of lookup and the history table).
const kViewNames = ["account_activity", "account_balance", "balance_history", "card_transactions",
  "customer_summary", "daily_volume", "large_movements"];
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
        resolve({proc, base: `http://${m[1]}`, log: () => text, projections});
      }
    };
    proc.stdout.on("data", onData);
    proc.stderr.on("data", onData);
    proc.on("exit", (code) => reject(new Error(`projd exited (${code}):\n${text}`)));
  });
}

async function getJson(p, headers = {}, from = base) {
  const r = await fetch(from + p, {headers});
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
    applied: tr.children[3].textContent,
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
    assert.equal(r.applied, v.events_applied.toLocaleString("en-US"));
  }
  // A view stopped by `errors stop` says where, and links to its page.
  const stopped = api.find((x) => x.name === kStoppedView).failed_at;
  assert.equal(await page.textContent(`#views tr[data-view="${kStoppedView}"] a.failed-at`),
    `${stopped.topic}:${stopped.partition}:${stopped.offset}`);
  // (How it follows changes: the tests with a live stream of events, below.)
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

// Every page of an API list (its items under `field`), following next_cursor.
async function allPages(p, field) {
  const out = [];
  let cursor = null;
  do {
    const r = await getJson(p + (cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""));
    assert.equal(r.status, 200, p);
    out.push(...r.body[field]);
    cursor = r.body.next_cursor;
  } while (cursor);
  return out;
}

// Makes the page ask for smaller pages than it does (limit=N in its requests of paths that
// match `pattern`), so that a few rows take several pages; undone by the returned function.
async function smallPages(p, pattern, limit) {
  const handler = (route) => route.continue({url: route.request().url().replace(/limit=\d+/, `limit=${limit}`)});
  await p.route(pattern, handler);
  return () => p.unroute(pattern, handler);
}

test("the key lookup with an as-of time, and the row's history, newest first", async () => {
  await page.goto(base + "/#/view/balance_history");
  await page.waitForSelector("#parts-table");
  // The history is read 7 versions a request: the page walks every page to the newest.
  const undo = await smallPages(page, /\/history\?/, 7);
  await page.fill("#key", "acc-00001");
  await page.fill("#asof", "2025-07-01T12:00:00");
  assert.equal(await page.textContent("#asof-utc"), "= 2025-07-01T12:00:00Z");
  await page.click("#lookup");
  await page.waitForSelector("#history-table tbody tr");
  await undo();
  const asOf = (await getJson("/v1/views/balance_history/rows/acc-00001?as_of=2025-07-01T12:00:00Z")).body;
  assert.equal(asOf.as_of, "2025-07-01T12:00:00Z");
  assert.deepEqual(JSON.parse(await page.textContent("#row")), asOf);
  const now = (await getJson("/v1/views/balance_history/rows/acc-00001")).body;
  assert.notDeepEqual(asOf.row, now.row, "the row changed after the as-of time");
  // The history table: one line per kept version, newest first (the API lists them oldest
  // first), 50 at a time.
  const versions = await allPages("/v1/views/balance_history/rows/acc-00001/history?limit=1000", "versions");
  assert.ok(versions.length > 50, `acc-00001 has ${versions.length} versions`);
  const expected = versions.slice().reverse().map((v) =>
    [String(v.version), `${v.updated_by.topic}:${v.updated_by.partition}:${v.updated_by.offset}`]);
  const shownRows = () => page.$$eval("#history-table tbody tr", (trs) =>
    trs.map((tr) => [tr.children[0].textContent, tr.children[1].textContent]));
  assert.deepEqual(await shownRows(), expected.slice(0, 50));
  assert.equal(expected[0][0], String(now.version), "the newest version comes first");
  assert.match(await page.textContent("#history-note"), new RegExp(`^${versions.length} versions, newest first: 1–50`));
  assert.ok(await page.isDisabled("#history-newer"));
  await shot("view-history");
  // Older: the next 50, then back.
  await page.click("#history-older");
  assert.deepEqual(await shownRows(), expected.slice(50, 100));
  await page.click("#history-newer");
  assert.deepEqual(await shownRows(), expected.slice(0, 50));
});

test("the history's audit trail: who, the command's trace across views, and a CSV download", async () => {
  await page.goto(base + "/#/view/account_activity");
  await page.waitForSelector("#parts-table");
  await page.fill("#key", "acc-00001");
  await page.click("#lookup");
  await page.waitForSelector("#history-table tbody tr");
  // A column per audit name (the versions' union), and the command's correlation id.
  const head = await page.$$eval("#history-table thead th", (ths) => ths.map((th) => th.textContent));
  assert.deepEqual(head, ["version", "event", "event time", "event id", "event_type", "user",
    "correlation", "row after"]);
  const versions = await allPages("/v1/views/account_activity/rows/acc-00001/history?limit=1000", "versions");
  const newest = versions[versions.length - 1].updated_by;
  const first = await page.$eval("#history-table tbody tr", (tr) => ({
    user: tr.querySelector('.audit[data-audit="user"]').textContent,
    type: tr.querySelector('.audit[data-audit="event_type"]').textContent,
    correlation: tr.querySelector("a.correlation").textContent,
  }));
  assert.deepEqual(first, {user: newest.audit.user, type: newest.audit.event_type,
    correlation: newest.correlation});
  assert.match(first.user, /^(teller-|web:|app:)/);
  assert.match(first.correlation, /^cmd-\d+$/);
  // A command that changed the key: its trace lists its changes in every view, as the API does.
  const id = first.correlation;
  const changes = await allPages(`/v1/correlations/${id}?limit=1000`, "changes");
  await page.click(`#history-table a.correlation >> nth=0`);
  await page.waitForSelector("#trace-table tbody tr");
  assert.equal(await page.textContent("#trace-id"), id);
  const traced = await page.$$eval("#trace-table tbody tr", (trs) =>
    trs.map((tr) => [...tr.children].map((td) => td.textContent)));
  assert.deepEqual(traced, changes.map((c) => [c.view, c.key + (c.deleted ? " deleted" : ""),
    String(c.version), c.updated_by.event_time,
    `${c.updated_by.topic}:${c.updated_by.partition}:${c.updated_by.offset}`,
    c.updated_by.audit ? c.updated_by.audit.user : "-"]));
  const views = new Set(traced.map((r) => r[0]));
  assert.ok(views.has("account_activity") && views.has("account_balance"), [...views].join());
  assert.ok(traced.some((r) => r[0] === "account_activity" && r[1] === "acc-00001"));
  await page.locator("#row-section").scrollIntoViewIfNeeded();
  await shot("view-history-audit");
  // Download CSV: the API's file, fetched with the page's auth and saved from a Blob.
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#history-csv")]);
  assert.equal(download.suggestedFilename(), "account_activity-acc-00001-history.csv");
  const file = path.join(tmp, "history.csv");
  await download.saveAs(file);
  const csv = fs.readFileSync(file, "utf8");
  assert.ok(csv.startsWith("version,event_time,topic,partition,offset,event_id"), csv.slice(0, 200));
  assert.equal(csv, await (await fetch(base + "/v1/views/account_activity/rows/acc-00001/history?format=csv")).text());
  await until("the download's note", async () =>
    (await page.textContent("#history-csv-status")) === "saved as account_activity-acc-00001-history.csv");
});

test("the row browser: a prefix search, its pages, and a row's lookup", async () => {
  await page.goto(base + "/#/view/account_activity");
  await page.waitForSelector("#rows-table tbody tr");
  const keys = () => page.$$eval("#rows-table a.rowkey", (as) => as.map((a) => a.textContent));
  // Every key first, 50 a page.
  const first = (await getJson("/v1/views/account_activity/rows?prefix=&limit=50")).body;
  assert.deepEqual(await keys(), first.rows.map((r) => r.key));
  // Keys that start with a prefix, 25 a page.
  const prefix = "acc-0001";
  const expected = await allPages(`/v1/views/account_activity/rows?prefix=${prefix}&limit=1000`, "rows");
  assert.ok(expected.length > 1);
  await page.fill("#prefix", prefix);
  await page.selectOption("#rows-limit", "25");
  await page.click("#rows-search");
  await until("the prefix's keys", async () =>
    (await keys()).join() === expected.slice(0, 25).map((r) => r.key).join());
  assert.ok((await keys()).every((k) => k.startsWith(prefix)));
  // Paging through every key (3 a page) the same as the API does.
  const undo = await smallPages(page, /\/rows\?/, 3);
  await page.click("#rows-search");
  const seen = [];
  let pages = 0;
  for (;;) {
    // (3 keys: not the page of 25 shown before, which starts with the same key)
    await until("a page of keys", async () => {
      const k = await keys();
      return k.length === Math.min(3, expected.length - seen.length) && k[0] === expected[seen.length].key;
    });
    const k = await keys();
    assert.match(await page.textContent("#rows-page"),
      new RegExp(`^rows ${seen.length + 1}–${seen.length + k.length}`));
    seen.push(...k);
    ++pages;
    if (await page.isDisabled("#rows-next")) break;
    await page.click("#rows-next");
  }
  await undo();
  assert.ok(pages > 1, `${pages} pages`);
  assert.deepEqual(seen, expected.map((r) => r.key));
  assert.match(await page.textContent("#rows-page"), /\(the last\)/);
  // Previous: the page before the last again (asked for with its cursor).
  await page.click("#rows-prev");
  await until("the page before", async () => (await keys())[0] === expected[(pages - 2) * 3].key);
  // A key opens its lookup: the row and its history (account_activity keeps every version).
  await page.fill("#prefix", prefix);
  await page.click("#rows-search");
  await page.waitForSelector("#rows-table a.rowkey");
  const key = (await keys())[1];
  await page.click(`#rows-table a.rowkey[data-key="${key}"]`);
  await until("the row's lookup", async () => {
    const text = await page.textContent("#row");
    return text && JSON.parse(text).key === key;
  });
  assert.equal(await page.inputValue("#key"), key);
  assert.deepEqual(JSON.parse(await page.textContent("#row")),
    (await getJson(`/v1/views/account_activity/rows/${key}`)).body);
  await page.waitForSelector("#history-table tbody tr");
  const newest = (await allPages(`/v1/views/account_activity/rows/${key}/history?limit=1000`, "versions")).pop();
  assert.equal(await page.textContent("#history-table tbody tr td"), String(newest.version));
  await shot("view-rows");
});

test("dead letters: pages of events with reason, position and key, and a download of all", async () => {
  const all = await allPages("/v1/views/account_balance/dead-letters?limit=1000", "dead_letters");
  assert.ok(all.length > 4, `${all.length} dead letters`);
  // 4 a page (the dashboard asks for 20), so that they take pages.
  const undo = await smallPages(page, /\/dead-letters\?/, 4);
  await page.goto(base + "/#/view/account_balance");
  const shown = [];
  for (;;) {
    await until("a page of dead letters", async () => {
      const pos = await page.$$eval("#dead-table tbody tr", (trs) => trs.map((tr) => tr.children[2].textContent));
      const d = all[shown.length];
      return pos.length && pos[0] === `${d.topic}:${d.partition}:${d.offset}`;
    });
    shown.push(...await page.$$eval("#dead-table tbody tr", (trs) => trs.map((tr) =>
      [...tr.children].map((td) => td.textContent))));
    if (await page.isDisabled("#dead-next")) break;
    await page.click("#dead-next");
  }
  assert.equal(shown.length, all.length);
  all.forEach((d, i) => {
    const [event, reason, pos, key, time] = shown[i];
    // The event as pretty JSON (indented), or its text when it is not JSON.
    if (typeof d.event === "string") assert.equal(event, d.event);
    else assert.equal(event, JSON.stringify(d.event, null, 2));
    assert.equal(reason, d.reason);
    assert.equal(pos, `${d.topic}:${d.partition}:${d.offset}`);
    assert.equal(key, d.key === null ? "-" : d.key);
    assert.equal(time, d.timestamp);
  });
  assert.equal(await page.textContent("#dead-total"), `(${all.length})`);
  await page.click("#dead-prev");
  await until("the page before", async () => !(await page.isDisabled("#dead-next")));
  // The download: every dead letter (from every page), one JSON object a line, as the API has it.
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#dead-download")]);
  assert.equal(download.suggestedFilename(), "account_balance-dead-letters.jsonl");
  const file = path.join(tmp, "dead-letters.jsonl");
  await download.saveAs(file);
  const lines = fs.readFileSync(file, "utf8").split("\n");
  assert.equal(lines.pop(), "", "the file ends with a newline");
  assert.deepEqual(lines.map((l) => JSON.parse(l)), all);
  await until("the download's note", async () =>
    /^\d+ dead letters in account_balance-dead-letters.jsonl$/.test(await page.textContent("#dead-download-status")));
  await undo();
  await page.goto(base + "/#/view/account_balance");
  await page.waitForSelector("#dead-table tbody tr");
  await page.locator("#dead-section").scrollIntoViewIfNeeded();
  await shot("view-dead-letters");
});

test("a failed view shows where and why it stopped, and Skip moves it past the event", async () => {
  const before = (await getJson(`/v1/views/${kStoppedView}`)).body;
  assert.equal(before.state, "failed");
  const fa = before.failed_at;
  const where = `${fa.topic}:${fa.partition}:${fa.offset}`;
  await page.goto(base + `/#/view/${kStoppedView}`);
  await page.waitForSelector("#failed:not([hidden])");
  assert.equal(await page.textContent("#failed-at"), where);
  assert.equal(await page.textContent("#failed-topic"), fa.topic);
  assert.equal(await page.textContent("#failed-partition"), String(fa.partition));
  assert.equal(await page.textContent("#failed-offset"), String(fa.offset));
  assert.equal(await page.textContent("#failed-reason"), fa.reason);
  // The held event is no dead letter of its view; the demo's other views rejected it too, and
  // the page shows it from one of them.
  let held = null;
  for (const v of kViewNames.filter((n) => n !== kStoppedView)) {
    const d = (await allPages(`/v1/views/${v}/dead-letters?limit=1000`, "dead_letters")).find((x) =>
      x.topic === fa.topic && x.partition === fa.partition && x.offset === fa.offset);
    if (d) held = held || d;
  }
  assert.ok(held, "another demo view has the held event as a dead letter");
  await page.waitForSelector("#failed-event-text");
  // (as JSON, or its text when it is not JSON)
  const heldText = await page.textContent("#failed-event-text");
  if (typeof held.event === "string") assert.equal(heldText, held.event);
  else assert.deepEqual(JSON.parse(heldText), held.event);
  await shot("view-failed");
  // Skip asks first: declined, nothing happens.
  let asked = "";
  page.once("dialog", (d) => { asked = d.message(); d.dismiss(); });
  await page.click("#skip");
  assert.match(asked, new RegExp(`Skip the event at ${where} in ${kStoppedView}`));
  await new Promise((r) => setTimeout(r, 500));
  assert.deepEqual((await getJson(`/v1/views/${kStoppedView}`)).body.failed_at, fa);
  // Accepted: the event becomes a dead letter and the page shows the view's next state.
  page.once("dialog", (d) => d.accept());
  await page.click("#skip");
  await page.waitForSelector("#skip-done:not([hidden])");
  const after = (await getJson(`/v1/views/${kStoppedView}`)).body;
  assert.notDeepEqual(after.failed_at, fa);
  const done = await page.textContent("#skip-done");
  assert.match(done, new RegExp(`^Skipped the event at ${where}: it is a dead letter now\\.`));
  if (after.failed_at) {
    // The demo's example events hold more malformed ones: it stopped at the next.
    const next = `${after.failed_at.topic}:${after.failed_at.partition}:${after.failed_at.offset}`;
    assert.match(done, new RegExp(`stopped again, at ${next}`));
    await until("the next failed_at", async () => (await page.textContent("#failed-at")) === next);
    assert.equal(await page.textContent("#failed-reason"), after.failed_at.reason);
  } else {
    assert.ok(await page.isHidden("#failed"));
  }
  // The skipped event is among the view's dead letters now.
  await until("the skipped event among the dead letters", async () =>
    (await page.$$eval("#dead-table tbody tr", (trs) => trs.map((tr) => tr.children[2].textContent))).includes(where));
  const dead = await allPages(`/v1/views/${kStoppedView}/dead-letters?limit=1000`, "dead_letters");
  const skipped = dead.find((x) => x.topic === fa.topic && x.partition === fa.partition && x.offset === fa.offset);
  assert.deepEqual(skipped.event, held.event);
  await shot("view-failed-skipped");
});

test("the lag chart keeps each interval's maximum when it merges samples", async () => {
  // Under node: one second of 5000 events in an hour of zeros survives the merge.
  const t0 = Date.parse("2025-07-14T09:00:00Z");
  const hour = [];
  for (let i = 0; i < 3600; ++i) {
    hour.push({time: new Date(t0 + i * 1000).toISOString(), lag_events: i === 1234 ? 5000 : i % 7,
      lag_seconds: i === 1234 ? 2.5 : 0, events_per_second: 10});
  }
  const merged = maxPerInterval(hour, 300);
  assert.ok(merged.samples.length <= 300, `${merged.samples.length} points`);
  assert.equal(merged.seconds, 12);
  assert.equal(Math.max(...merged.samples.map((s) => s.lag_events)), 5000);
  assert.equal(Math.max(...merged.samples.map((s) => s.lag_seconds)), 2.5);
  assert.equal(merged.samples.filter((s) => s.lag_events === 5000).length, 1);
  assert.equal(maxPerInterval(hour.slice(0, 100), 300).samples.length, 100, "few samples stay as they are");
  // In the page: an hour of samples with one burst, drawn with fewer points, shows the burst.
  const pattern = /\/lag\?window=1h/;
  const fake = (route) => route.fulfill({contentType: "application/json",
    body: JSON.stringify({view: "account_balance", window_seconds: 3600, samples: hour})});
  await page.route(pattern, fake);
  await page.goto(base + "/#/view/account_balance");
  await page.waitForSelector("#parts-table");
  await page.click('button.window[data-window="1h"]');
  await until("the hour drawn", async () => (await page.getAttribute("#lag-chart", "data-samples")) === "3600");
  const points = Number(await page.getAttribute("#lag-chart", "data-points"));
  assert.ok(points < 3600 && points >= 100, `${points} points`);
  assert.equal(await page.getAttribute("#lag-chart", "data-max-lag"), "5000");
  assert.match(await page.textContent("#lag-note"), /drawn as \d+ points: each the maximum over \d+ s/);
  await page.locator("#lag-chart").scrollIntoViewIfNeeded();
  await shot("lag-hour");
  await page.unroute(pattern, fake);
});

test("a narrow window: tables scroll sideways, controls wrap, nothing spills", async () => {
  const ctx = await browser.newContext({viewport: {width: 420, height: 900}, timezoneId: "UTC"});
  const p = await ctx.newPage();
  p.on("pageerror", (e) => { throw e; });
  await p.goto(base + "/");
  await p.waitForSelector("#views tbody tr[data-view]");
  const pageWidth = () => p.evaluate(() => document.documentElement.scrollWidth);
  assert.equal(await pageWidth(), 420, "the views page fits");
  await shot("narrow-views", p);
  await p.goto(base + `/#/view/account_activity`);
  await p.waitForSelector("#rows-table tbody tr");
  await p.waitForSelector("#dead-table tbody tr");
  await until("the chart", async () => Number(await p.getAttribute("#lag-chart", "data-points")) > 0);
  assert.equal(await pageWidth(), 420, "the view's page fits");
  // Wide tables scroll in their own box.
  const box = await p.$eval("#rows-table", (t) => ({box: t.parentElement.clientWidth, table: t.scrollWidth,
    overflow: getComputedStyle(t.parentElement).overflowX}));
  assert.equal(box.overflow, "auto");
  assert.ok(box.table > box.box, `the rows table (${box.table} px) is wider than its box (${box.box} px)`);
  // Every control is inside the window.
  const outside = await p.$$eval("button, input, select", (els) => els.filter((e) => {
    const r = e.getBoundingClientRect();
    return r.width > 0 && (r.left < 0 || r.right > window.innerWidth);
  }).map((e) => e.id || e.textContent));
  assert.deepEqual(outside, []);
  const chart = await p.$eval("#lag-chart canvas", (c) => c.getBoundingClientRect().right);
  assert.ok(chart <= 420, `the chart ends at ${chart} px`);
  await shot("narrow-view", p);
  await ctx.close();
});

test("the rebuild button starts a rebuild and the progress bar reaches done", async () => {
  // Lag samples from before the rebuild, which the chart must keep once the rebuilt view serves.
  const lag = async () => (await getJson("/v1/views/customer_summary/lag?window=1h")).body.samples;
  const old = await until("3 lag samples", async () => { const s = await lag(); return s.length >= 3 && s; });
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
  assert.match(log().slice(before), /customer_summary.*rebuild done/);
  const times = new Set((await lag()).map((s) => s.time));
  assert.deepEqual(old.filter((s) => !times.has(s.time)), [], "the samples from before the rebuild survive the swap");
  await shot("rebuild");
});

test("the query console: rows in the answer's column order (a score, groups), a bad query's error at its position", async () => {
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

  // A full-text search: the score column shows, the columns in the answer's order (not the
  // row objects' member order, which is by name), and the rows most relevant first.
  const search = 'from card_transactions select memo, score() as relevance, key\n' +
    'where memo matches "coffee" order by relevance desc limit 5';
  const found = await (await fetch(base + "/v1/query", {method: "POST", body: search})).json();
  assert.deepEqual(found.columns, ["memo", "relevance", "key"]);
  assert.equal(found.plan, "text memo");
  assert.ok(found.rows.length > 0, "coffee is in the example memos");
  await page.fill("#q", search);
  await page.click("#run");
  await until("the search's rows", async () =>
    (await page.$$eval("#qtable thead th", (ths) => ths.map((th) => th.textContent))).includes("relevance"), 10000);
  assert.deepEqual(await page.$$eval("#qtable thead th", (ths) => ths.map((th) => th.textContent)),
    found.columns);
  const cells = await page.$$eval("#qtable tbody tr", (trs) =>
    trs.map((tr) => [...tr.children].map((td) => td.textContent)));
  assert.deepEqual(cells.map((c) => c[2]), found.rows.map((r) => r.key));
  for (const [i, c] of cells.entries()) {
    assert.match(c[0], /coffee/i);
    assert.equal(Number(c[1]), Number(found.rows[i].relevance));
    assert.ok(Number(c[1]) > 0, `score ${c[1]}`);
  }
  assert.match(await page.textContent("#qmeta"), /plan text memo/);
  await shot("query-search");

  // A grouped answer: the group and its aggregates, in the select's order.
  const grouped = "from card_transactions select type, count() as n, sum(amount) as total group by type";
  const groups = await (await fetch(base + "/v1/query", {method: "POST", body: grouped})).json();
  assert.deepEqual(groups.columns, ["type", "n", "total"]);
  await page.fill("#q", grouped);
  await page.click("#run");
  await until("the groups", async () =>
    (await page.$$eval("#qtable thead th", (ths) => ths.map((th) => th.textContent))).join() === "type,n,total", 10000);
  assert.deepEqual(await page.$$eval("#qtable tbody tr", (trs) => trs.map((tr) => tr.children[0].textContent)),
    groups.rows.map((g) => g.type));

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

test("the change feed's SSE parser: pieces of any size, CRLF and CR, comments, multi-line data", () => {
  const text = ": hello\r\nid: a:0:1\r\ndata: {\"x\":1}\r\n\r\nevent: rebuilt\ndata: 1\ndata:2\n\n:hb\n\n" +
    "id: b\rdata: z\r\r";
  for (const size of [1, 2, 3, 7, text.length]) {
    const got = [];
    let comments = 0;
    const parser = new SseParser((e) => got.push(e), () => ++comments);
    for (let i = 0; i < text.length; i += size) parser.push(text.slice(i, i + size));
    assert.deepEqual(got, [{type: "message", data: '{"x":1}', id: "a:0:1"},
      {type: "rebuilt", data: "1\n2", id: "a:0:1"}, {type: "message", data: "z", id: "b"}], `pieces of ${size}`);
    assert.equal(comments, 2);
  }
});

// A projd with a live stream of events (--demo-rate) for the tests of the change feeds, started
// by the first of them.
let liveDemo = null;
function liveProjd() {
  liveDemo = liveDemo || startProjd(["--demo-rate", "20"]).then(async (d) => {
    await until("the live demo's views", async () => {
      const r = await getJson("/v1/views", {}, d.base);
      return r.body.views.length === kViewNames.length && r.body.views.every((v) =>
        v.name === kStoppedView || (v.state === "live" && v.rows > 0));
    });
    return d;
  });
  return liveDemo;
}

// A position (TOPIC:PARTITION:OFFSET,...) as a map from TOPIC:PARTITION to its next offset.
function offsets(position) {
  return new Map(position.split(",").map((p) => {
    const i = p.lastIndexOf(":");
    return [p.slice(0, i), Number(p.slice(i + 1))];
  }));
}

// Holds the page's requests whose path is `pathname` until the returned function is called (it
// lets them go on): what the page shows meanwhile does not come from them.
async function holdRequests(p, pathname) {
  let release;
  const released = new Promise((r) => { release = r; });
  const match = (url) => url.pathname === pathname;
  const handler = async (route) => {
    await released;
    await route.continue().catch(() => {});  // (the page may be gone by then)
  };
  await p.route(match, handler);
  return async () => {
    release();
    await p.unroute(match, handler);
  };
}

// Open change feed streams (all views), as projd counts them.
async function subscribers(from) {
  const text = await (await fetch(from + "/metrics")).text();
  return [...text.matchAll(/^projd_subscribers\{[^}]*\} (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
}

test("a view's page follows its change feed: live changes, numbers that move with them, a rebuild", async () => {
  const live = await liveProjd();
  const ctx = await browser.newContext({viewport: {width: 1280, height: 900}, timezoneId: "UTC"});
  try {
    await viewPageFollowsFeed(live, await ctx.newPage());
  } finally {
    await ctx.close();
  }
});

async function viewPageFollowsFeed(live, p) {
  p.on("pageerror", (e) => { throw e; });
  const opened = offsets((await getJson("/v1/views/account_balance", {}, live.base)).body.position);
  await p.goto(live.base + "/#/view/account_balance");
  await p.waitForSelector('#feed-state[data-state="live"]');
  await p.waitForSelector("#changes-table tbody tr.change", {timeout: 10000});
  // The numbers at the top move with the changes, not with the status poll (every 10 s): it is
  // held meanwhile.
  await until("the view's numbers", async () => (await p.textContent("#vapplied")) !== "-", 5000);
  const letStatusGo = await holdRequests(p, "/v1/views/account_balance");
  const applied = await p.textContent("#vapplied");
  const rows = await p.textContent("#vrows");
  await until("events applied to move with the feed", async () =>
    (await p.textContent("#vapplied")) !== applied, 8000);
  assert.ok(Number((await p.textContent("#vapplied")).replace(/,/g, "")) > Number(applied.replace(/,/g, "")));
  assert.ok(Number((await p.textContent("#vrows")).replace(/,/g, "")) >= Number(rows.replace(/,/g, "")));
  await letStatusGo();
  // Paused, the list holds still (and counts what comes meanwhile).
  await p.click("#live-pause");
  const shown = await p.$$eval("#changes-table tbody tr.change", (trs) => trs.map((tr) =>
    [tr.dataset.position, ...[...tr.children].map((td) => td.textContent)]));
  await until("new changes while paused", async () =>
    /^paused: \d+ new changes?$/.test(await p.textContent("#live-note")), 8000);
  assert.deepEqual(await p.$$eval("#changes-table tbody tr.change", (trs) => trs.map((tr) => tr.dataset.position)),
    shown.map((r) => r[0]));
  // Every change listed came after the page opened, newest first.
  assert.ok(shown.length > 0 && shown.length <= 50, `${shown.length} changes`);
  const lastOffset = new Map();
  for (const [, time, key, version, what, event] of shown) {
    const i = event.lastIndexOf(":");
    const tp = event.slice(0, i);
    const offset = Number(event.slice(i + 1));
    // A partition the view's position did not list yet was at offset 0 (what positions mean).
    const from = opened.get(tp) ?? 0;
    assert.ok(offset >= from, `${event} came after ${tp}:${from}`);
    if (lastOffset.has(tp)) assert.ok(offset < lastOffset.get(tp), `${event} is older than the one above`);
    lastOffset.set(tp, offset);
    assert.match(time, /^\d{4}-\d\d-\d\dT/);
    assert.match(key, /^acc-/);
    assert.ok(Number(version) >= 1);
    assert.ok(["created", "updated"].includes(what), what);
  }
  // A change's row as JSON, and its key's lookup.
  const first = p.locator(`#changes-table tr.change[data-position="${shown[0][0]}"]`);
  await first.locator("summary").click();
  const row = JSON.parse(await first.locator("pre").textContent());
  assert.ok("balance" in row, JSON.stringify(row));
  await first.locator("a.rowkey").click();
  await p.waitForSelector("#row:not([hidden])");
  assert.equal(await p.inputValue("#key"), shown[0][2]);
  assert.equal(JSON.parse(await p.textContent("#row")).key, shown[0][2]);
  await p.click("#live-pause");
  await until("the list to go on", async () =>
    (await p.getAttribute("#changes-table tbody tr.change", "data-position")) !== shown[0][0], 8000);
  assert.ok((await p.$$("#changes-table tbody tr")).length <= 50);
  await p.locator("#live-section").scrollIntoViewIfNeeded();
  await shot("view-live", p);

  // A changed definition: the feed says `rebuilt`, the page reloads the view's information, and
  // the rebuilt view's changes follow.
  await p.goto(live.base + "/#/view/daily_volume");
  await p.waitForSelector('#feed-state[data-state="live"]');
  await p.waitForSelector("#changes-table tbody tr.change");
  const file = path.join(live.projections, "daily_volume.proj");
  fs.writeFileSync(file, fs.readFileSync(file, "utf8").replace(/\}\s*$/, "  on InterestPaid { interest += 1 }\n}\n"));
  const logged = live.log().length;
  await p.waitForSelector("#live-notice:not([hidden])", {timeout: 15000}).catch((e) => {
    throw new Error(`${e.message}\nprojd said:\n${live.log().slice(logged)}`);
  });
  assert.match(await p.textContent("#live-notice"), /rebuilt with a changed definition/);
  await until("the new definition", async () => /interest \+= 1/.test(await p.textContent("#def")), 5000);
  const newest = await p.getAttribute("#changes-table tbody tr.change", "data-position");
  await until("changes of the rebuilt view", async () =>
    (await p.getAttribute("#changes-table tbody tr.change", "data-position")) !== newest &&
    (await p.getAttribute("#feed-state", "data-state")) === "live", 5000);

  // Leaving the page closes its feed.
  await until("one stream (the rebuilt view's)", async () => (await subscribers(live.base)) === 1, 8000);
  await p.goto(live.base + "/#/query");
  await until("the feed to close", async () => (await subscribers(live.base)) === 0, 5000);
}

test("the views table follows the feeds of the views on screen (at most 4) and polls the others", async () => {
  const live = await liveProjd();
  const ctx = await browser.newContext({viewport: {width: 1280, height: 900}, timezoneId: "UTC"});
  await ctx.clock.install();  // time runs as usual; fastForward jumps to the slow poll
  try {
    await viewsTableFollowsFeeds(live, await ctx.newPage());
  } finally {
    await ctx.close();
  }
});

async function viewsTableFollowsFeeds(live, p) {
  p.on("pageerror", (e) => { throw e; });
  let lists = 0;
  const feeds = new Set();
  p.on("requestfinished", (r) => {
    const u = new URL(r.url());
    if (u.pathname === "/v1/views") ++lists;
  });
  p.on("request", (r) => {
    const u = new URL(r.url());
    const m = u.pathname.match(/^\/v1\/views\/([^/]+)\/changes$/);
    if (m) feeds.add(decodeURIComponent(m[1]));
  });
  await p.goto(live.base + "/");
  const feedStates = () => p.$$eval("#views tbody tr[data-view]", (trs) =>
    trs.map((tr) => [tr.dataset.view, tr.dataset.feed]));
  await until("4 live feeds", async () =>
    (await feedStates()).filter(([, f]) => f === "live").length === 4, 5000);
  const states = await feedStates();
  assert.deepEqual(states.map(([n]) => n), kViewNames);
  assert.deepEqual(states.map(([, f]) => f), ["live", "live", "live", "live", "polled", "polled", "polled"]);
  assert.deepEqual([...feeds].sort(), kViewNames.slice(0, 4));
  // A change of account_balance refreshes its row at once, long before the poll (10 s; held
  // meanwhile).
  const letListGo = await holdRequests(p, "/v1/views");
  const applied = (name) => p.textContent(`#views tr[data-view="${name}"] td.applied`);
  const before = await applied("account_balance");
  await until("account_balance's events applied to move", async () =>
    (await applied("account_balance")) !== before, 8000);
  await shot("views-live", p);
  await letListGo();
  // A view beyond the cap: the slow poll refreshes it.
  const polled = states[4][0];
  const old = await applied(polled);
  const listed = lists;
  await p.clock.fastForward(10000);
  await until(`the poll to refresh ${polled}`, async () =>
    lists > listed && (await applied(polled)) !== old, 8000);
  // The feeds follow the rows on screen: scrolled to the bottom of a short window, the last
  // rows have them and the first have none.
  await p.setViewportSize({width: 1280, height: 200});
  await p.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
  await until("the feeds to move to the rows on screen", async () => {
    const s = new Map(await feedStates());
    return s.get(kViewNames[kViewNames.length - 1]) === "live" && s.get(kViewNames[0]) === "polled";
  }, 8000);
  await until("at most 4 streams", async () => (await subscribers(live.base)) <= 4, 8000);
  // Leaving the page closes them.
  await p.goto(live.base + "/#/query");
  await until("the feeds to close", async () => (await subscribers(live.base)) === 0, 5000);
}
