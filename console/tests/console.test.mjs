// The console's browser tests: `daira serve --demo` on a fresh data directory, Debian's
// chromium (headless) driven by playwright-core, axe-core injected into every page. Nothing is
// downloaded at run time: chromium comes from apt and the two npm packages from `npm ci`.
//
//   node console/tests/console.test.mjs            (after cargo build; .ci/run does both)
//
// Environment: DAIRA_BIN (default target/debug/daira), CHROMIUM (default /usr/bin/chromium),
// DAIRA_CONSOLE_ARTIFACTS (screenshots and timings; default target/console-artifacts).

import { chromium } from "playwright-core";
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "../..");
const BIN = resolve(root, process.env.DAIRA_BIN ?? "target/debug/daira");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const ARTIFACTS = resolve(root, process.env.DAIRA_CONSOLE_ARTIFACTS ?? "target/console-artifacts");
// Timings are measured and written down on every run; they are asserted (against the issue's
// targets, as medians of several loads) only as a benchmark, DAIRA_CONSOLE_BENCH=1, on a quiet
// machine (benches/console/run.sh): a timed assertion in CI would measure CI's load.
const BENCH = process.env.DAIRA_CONSOLE_BENCH === "1";
const RUNS = BENCH ? 7 : 1;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const AXE = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
mkdirSync(ARTIFACTS, { recursive: true });

// ---- the server ---------------------------------------------------------------------------
const dataDir = mkdtempSync(join(tmpdir(), "daira-console-"));
const port = 18400 + Math.floor(Math.random() * 500);
const BASE = `http://127.0.0.1:${port}`;
// The server as a user runs it: its default rate limits on, so the console is shown to work
// within them.
const server = spawn(BIN, ["--data", join(dataDir, "data"), "serve", "--demo", "--listen", `127.0.0.1:${port}`], {
  stdio: ["ignore", "pipe", "pipe"],
});
let serverErr = "";
server.stderr.on("data", (d) => (serverErr += d));
server.stdout.on("data", () => {});
const stopServer = () => {
  server.kill("SIGTERM");
  rmSync(dataDir, { recursive: true, force: true });
};
process.on("exit", stopServer);

async function waitForServer() {
  for (let i = 0; i < 600; i++) {
    if (server.exitCode !== null) throw new Error(`daira serve exited ${server.exitCode}:\n${serverErr}`);
    try {
      if ((await fetch(`${BASE}/healthz`)).ok) return;
    } catch {
      // not yet listening
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error("daira serve did not start within 150 s");
}

async function gql(query, variables = {}, token) {
  const headers = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const body = await (await fetch(`${BASE}/graphql`, { method: "POST", headers, body: JSON.stringify({ query, variables }) })).json();
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

// ---- a small harness ----------------------------------------------------------------------
const results = [];
const timings = {};
async function test(name, fn) {
  const started = Date.now();
  try {
    await fn();
    results.push({ name, ok: true });
    console.log(`ok     ${name} (${Date.now() - started} ms)`);
  } catch (error) {
    results.push({ name, ok: false, error });
    console.log(`FAILED ${name}\n${String(error.stack ?? error).replace(/^/gm, "       ")}`);
  }
}

// ---- the browser --------------------------------------------------------------------------
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: ["--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist"],
});

/** A page that records console errors, failed requests and uncaught exceptions. */
async function open(context, url) {
  const page = await context.newPage();
  page.errors = [];
  page.on("console", (m) => m.type() === "error" && page.errors.push(`console: ${m.text()}`));
  page.on("pageerror", (e) => page.errors.push(`exception: ${e.message}`));
  page.on("requestfailed", (r) => page.errors.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
  page.on("response", (r) => r.status() >= 400 && page.errors.push(`HTTP ${r.status()}: ${r.url()}`));
  if (url) await page.goto(`${BASE}${url}`, { waitUntil: "networkidle" });
  return page;
}

/** axe-core on the page: the serious and critical violations. */
async function axe(page) {
  await page.addScriptTag({ content: AXE });
  const found = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ["violations"] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" ")) }));
  });
  return found.filter((v) => v.impact === "serious" || v.impact === "critical");
}

const mark = (page, name) => page.evaluate((n) => performance.getEntriesByName(n).at(-1)?.startTime ?? null, name);

try {
  await waitForServer();
  // What the demo holds, through the public API (as any client would find it).
  const demo = await gql(`{
    worlds(first: 20) { nodes { id name threads(first: 1) { nodes { id } } } }
    clusterMap(first: 1) { clusters { id size graph(first: 5) { members { mask { handle } trust } } } }
  }`);
  // A world with conversations (the demo's liveliest worlds have them).
  const world = demo.worlds.nodes.find((w) => w.threads.nodes.length) ?? demo.worlds.nodes[0];
  const thread = world.threads.nodes[0];
  assert.ok(thread, "the demo has threads");
  const cluster = demo.clusterMap.clusters[0];
  const handle = cluster.graph.members[0].mask.handle;
  const pages = [
    ["home", "/console"],
    ["search", `/console/search?q=${encodeURIComponent(world.name.split(" ")[0])}`],
    ["clusters", "/console/clusters"],
    ["cluster", `/console/clusters/${encodeURIComponent(cluster.id)}`],
    ["world", `/console/world/${encodeURIComponent(world.id)}`],
    ["thread", `/console/thread/${encodeURIComponent(thread.id)}`],
    ["mask", `/console/mask/${handle}`],
    ["epochs", "/console/epochs"],
    ["proposals", "/console/proposals"],
    ["cases", "/console/cases"],
    ["audit", "/console/audit"],
    ["signin", "/console/signin"],
  ];

  for (const lang of ["ar", "en"]) {
    // bypassCSP: only so that axe-core can be injected; the console itself runs under the CSP.
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: lang === "ar" ? "ar-EG" : "en-GB", bypassCSP: true });
    for (const [name, path] of pages) {
      await test(`${name} page (${lang}) loads with no console error and no serious axe violation`, async () => {
        const sep = path.includes("?") ? "&" : "?";
        const page = await open(context, `${path}${sep}lang=${lang}`);
        await page.waitForSelector("main h1");
        await page.waitForFunction(() => !document.querySelector("[aria-busy=true]"), null, { timeout: 15000 });
        if (name === "clusters" || name === "cluster") await page.waitForFunction(() => window.daira?.renderer);
        await page.screenshot({ path: join(ARTIFACTS, `${name}.${lang}.png`), fullPage: true });
        assert.deepEqual(page.errors, [], `errors on ${path}`);
        assert.equal(await page.getAttribute("html", "lang"), lang);
        assert.equal(await page.getAttribute("html", "dir"), lang === "ar" ? "rtl" : "ltr");
        assert.equal(await page.locator(".error").count(), 0, `an error shown: ${await page.locator(".error").allTextContents()}`);
        const violations = await axe(page);
        assert.deepEqual(violations, [], `axe on ${path}: ${JSON.stringify(violations, null, 1)}`);
        await page.close();
      });
    }
    await context.close();
  }

  await test("?lang=ar gives dir=rtl and Arabic labels; ?lang=en and Accept-Language give English", async () => {
    const context = await browser.newContext();
    const ar = await open(context, "/console/search?lang=ar");
    assert.equal(await ar.getAttribute("html", "dir"), "rtl");
    assert.match(await ar.locator("nav").innerText(), /البحث/);
    assert.match(await ar.locator("label[for=q]").innerText(), /ابحث/);
    // The cookie remembers the choice for the next page without ?lang.
    const next = await open(context, "/console/epochs");
    assert.equal(await next.getAttribute("html", "lang"), "ar");
    await context.close();
    const english = await browser.newContext({ locale: "en-US", extraHTTPHeaders: { "accept-language": "en-US,en;q=0.9" } });
    const en = await open(english, "/console/search");
    assert.equal(await en.getAttribute("html", "dir"), "ltr");
    assert.match(await en.locator("nav").innerText(), /Search/);
    await english.close();
    const arabic = await browser.newContext({ extraHTTPHeaders: { "accept-language": "ar-EG,ar;q=0.9,en;q=0.5" } });
    const viaHeader = await open(arabic, "/console/audit");
    assert.equal(await viaHeader.getAttribute("html", "dir"), "rtl");
    await arabic.close();
  });

  await test("numbers and dates go through Intl: Arabic-Indic digits in Arabic", async () => {
    const context = await browser.newContext();
    const page = await open(context, "/console/epochs?lang=ar");
    await page.waitForSelector("table tbody tr");
    assert.match(await page.locator("table tbody").first().innerText(), /[٠-٩]/);
    await context.close();
  });

  timings.search = {};
  await test("a search in Arabic script, in Arabizi and in English finds the demo's worlds; results timed after Enter", async () => {
    const context = await browser.newContext();
    const page = await open(context, "/console/search?lang=en");
    // A user already on the page: its modules and the worlds list loaded.
    await page.waitForSelector("input[type=search]");
    for (const [script, query] of [["arabic", "جرافيتي"], ["arabizi", "mahrganat"], ["english", "graffiti"]]) {
      const took = [];
      for (let run = 0; run < RUNS; run++) {
        await page.fill("input[type=search]", query);
        await page.evaluate(() => performance.clearMarks());
        await page.press("input[type=search]", "Enter");
        await page.waitForFunction(() => performance.getEntriesByName("search-results").length > 0);
        const hits = await page.locator("ol.hits li").allInnerTexts();
        const worlds = await page.locator("ol.hits li a[href^='/console/world/']").count();
        assert.ok(worlds > 0, `${script} "${query}" found no world: ${hits.slice(0, 5).join(" | ")}`);
        took.push((await mark(page, "search-results")) - (await mark(page, "search-submit")));
      }
      timings.search[script] = Math.round(median(took) * 10) / 10;
      if (BENCH) assert.ok(median(took) <= 200, `${script}: results ${median(took)} ms after Enter (median of ${RUNS})`);
    }
    assert.deepEqual(page.errors, []);
    await context.close();
  });

  timings.clusters = {};
  await test("the cluster graph renders (a painted canvas), timed to interactive, and a click opens a member", async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await open(context, "/console/clusters?lang=en");
    await page.waitForFunction(() => performance.getEntriesByName("clusters-interactive").length > 0);
    timings.clusters.map = Math.round(await mark(page, "clusters-interactive"));
    assert.ok((await page.evaluate(() => window.daira.paintedPixels())) > 100, "the communities' canvas is blank");
    // Click the largest community's node where sigma drew it.
    const clickNode = async (key) => {
      const at = await page.evaluate((k) => {
        const r = window.daira.renderer;
        const p = r.graphToViewport(r.getGraph().getNodeAttributes(k));
        const box = r.getContainer().getBoundingClientRect();
        return { x: box.left + p.x, y: box.top + p.y };
      }, key);
      await page.mouse.click(at.x, at.y);
    };
    // The largest community (the first node) where sigma drew it.
    const largest = await page.evaluate(() => window.daira.renderer.getGraph().nodes()[0]);
    await clickNode(largest);
    await page.waitForURL(/\/console\/clusters\/.+/);
    assert.equal(new URL(page.url()).pathname, `/console/clusters/${encodeURIComponent(largest)}`);
    await page.waitForFunction(() => performance.getEntriesByName("cluster-interactive").length > 0);
    // Interactive from the click that navigated (client-side), and in a fresh load.
    // A fresh load of the largest community's page, from navigation start to drawn and
    // answering clicks (the second and later loads revalidate the files: 304s, as a user's).
    const loads = [];
    const maps = [timings.clusters.map];
    for (let run = 0; run < RUNS; run++) {
      const fresh = await open(context, `/console/clusters/${encodeURIComponent(largest)}?lang=en`);
      await fresh.waitForFunction(() => performance.getEntriesByName("cluster-interactive").length > 0);
      loads.push(await mark(fresh, "cluster-interactive"));
      timings.clusters.largestDrawn = await fresh.evaluate(() => window.daira.renderer.getGraph().order);
      assert.ok((await fresh.evaluate(() => window.daira.paintedPixels())) > 100, "the members' canvas is blank");
      assert.deepEqual(fresh.errors, []);
      await fresh.close();
      if (BENCH) {
        const map = await open(context, "/console/clusters?lang=en");
        await map.waitForFunction(() => performance.getEntriesByName("clusters-interactive").length > 0);
        maps.push(await mark(map, "clusters-interactive"));
        await map.close();
      }
    }
    timings.clusters.largest = Math.round(median(loads));
    timings.clusters.largestRuns = loads.map(Math.round);
    timings.clusters.map = Math.round(median(maps));
    if (BENCH) {
      assert.ok(timings.clusters.largest <= 1000, `the largest cluster interactive after ${timings.clusters.largest} ms (median)`);
      assert.ok(timings.clusters.map <= 1000, `the cluster map interactive after ${timings.clusters.map} ms (median)`);
    }
    const member = await page.evaluate(() => window.daira.renderer.getGraph().nodes()[0]);
    await clickNode(member);
    await page.waitForSelector("#member h2");
    const text = await page.locator("#member").innerText();
    assert.match(text, /@\w+/);
    assert.match(text, /ties behind/i);
    await page.locator("#member a.button").click();
    await page.waitForURL(/\/console\/mask\/.+/);
    await page.waitForSelector("main h1 bdi");
    assert.deepEqual(page.errors, []);
    await context.close();
  });

  await test("a mask page shows its trust explanation", async () => {
    const context = await browser.newContext();
    const page = await open(context, `/console/mask/${handle}?lang=en`);
    await page.waitForSelector("main h1");
    const body = await page.locator("main").innerText();
    assert.match(body, /Who trusts this mask/);
    assert.ok((await page.locator("section:has(h2:text('Who trusts this mask')) tbody tr").count()) > 0, "no trusting mask listed");
    assert.match(body, /From pre-trust/);
    assert.match(body, /Contribution/);
    await page.waitForSelector(".line-chart");
    await context.close();
  });

  await test("signing in and following a mask shows up on the other mask's page live, and joining a world on the world's page", async () => {
    const stamp = Date.now().toString(36);
    // B: an account and a mask, made through the console's own sign-in page.
    const signUp = async (context, who) => {
      const page = await open(context, "/console/signin?lang=en");
      await page.fill("#login", `${who}_${stamp}`);
      await page.fill("#password", "correct horse battery staple");
      await page.click("button[value=register]");
      await page.waitForSelector("#create-mask");
      await page.fill("#handle", `${who}_${stamp}`);
      await page.fill("#name", who === "b" ? "بنت البلد" : "Ahmed");
      await page.click("#create-mask button[type=submit]");
      await page.waitForURL(/\/console\/mask\//);
      await page.waitForSelector("main h1 bdi");
      assert.deepEqual(page.errors, []);
      return page;
    };
    const contextB = await browser.newContext();
    const pageB = await signUp(contextB, "b");
    // B's page is open (signed in: live) before A acts.
    await pageB.waitForFunction(() => document.querySelector("#follower-count")?.textContent?.trim().length > 0);
    const before = await pageB.locator("#follower-count").innerText();
    const contextA = await browser.newContext();
    const pageA = await signUp(contextA, "a");
    await pageA.goto(`${BASE}/console/mask/b_${stamp}?lang=en`);
    await pageA.getByRole("button", { name: "Follow", exact: true }).click();
    await pageA.waitForSelector("text=Following.");
    // No reload on B's page: the subscription brings A.
    await pageB.waitForSelector(`#followers a[href="/console/mask/a_${stamp}"]`, { timeout: 15000 });
    const after = await pageB.locator("#follower-count").innerText();
    assert.notEqual(after, before, "the follower count did not change");
    assert.match(await pageB.locator("ol.activity").innerText(), new RegExp(`a_${stamp}`));
    // The same for a world: B watches it, A joins it from the console.
    await pageB.goto(`${BASE}/console/world/${encodeURIComponent(world.id)}?lang=en`);
    await pageB.waitForSelector("#member-count");
    const membersBefore = await pageB.locator("#member-count").innerText();
    await pageA.goto(`${BASE}/console/world/${encodeURIComponent(world.id)}?lang=en`);
    await pageA.getByRole("button", { name: "Join this world" }).click();
    await pageA.waitForSelector("text=Joined.");
    await pageB.waitForFunction((before) => document.querySelector("#member-count").textContent !== before, membersBefore, { timeout: 15000 });
    assert.match(await pageB.locator("ol.activity").innerText(), new RegExp(`joined.*a_${stamp}`, "s"));
    // One of the world's threads: B reads it; A, a member now, replies from the console; B's
    // page shows the reply with no reload.
    await pageB.goto(`${BASE}/console/thread/${encodeURIComponent(thread.id)}?lang=en`);
    await pageB.waitForSelector("ol.posts li");
    const postsBefore = await pageB.locator("ol.posts > li").count();
    await pageA.goto(`${BASE}/console/thread/${encodeURIComponent(thread.id)}?lang=en`);
    await pageA.fill("#reply-body", `رد من الكونسول — a reply ${stamp}`);
    await pageA.getByRole("button", { name: "Reply", exact: true }).click();
    await pageA.waitForSelector("text=Posted.");
    await pageB.waitForFunction((n) => document.querySelectorAll("ol.posts > li").length > n, postsBefore, { timeout: 15000 });
    assert.match(await pageB.locator("ol.posts").innerText(), new RegExp(`a reply ${stamp}`));
    assert.deepEqual(pageA.errors, []);
    assert.deepEqual(pageB.errors, []);
    await contextA.close();
    await contextB.close();
  });

  await test("every /console/… URL loads the console (client-side routes are real URLs); assets are compressed", async () => {
    const page = await fetch(`${BASE}/console/no/such/page`);
    assert.equal(page.status, 200);
    const context = await browser.newContext();
    const p = await open(context, "/console/no/such/page?lang=en");
    await p.waitForSelector("main h1");
    assert.match(await p.locator("main h1").innerText(), /No such page/);
    await context.close();
    let total = 0;
    for (const file of ["js/app.js", "style.css", "vendor/sigma.min.js", "vendor/graphology.umd.min.js"]) {
      const r = await fetch(`${BASE}/console/assets/${file}`, { headers: { "accept-encoding": "gzip" } });
      assert.equal(r.status, 200, file);
      assert.equal(r.headers.get("content-encoding"), "gzip", file);
      total += Number(r.headers.get("content-length"));
      const again = await fetch(`${BASE}/console/assets/${file}`, { headers: { "if-none-match": r.headers.get("etag") } });
      assert.equal(again.status, 304, `${file} revalidated`);
    }
    timings.vendorAndAppGzipBytes = total;
  });
} catch (error) {
  results.push({ name: "setup", ok: false, error });
  console.log(`FAILED setup\n${error.stack ?? error}`);
} finally {
  await browser.close();
  writeFileSync(join(ARTIFACTS, "timings.json"), JSON.stringify(timings, null, 2) + "\n");
  const failed = results.filter((r) => !r.ok).length;
  console.log(`\nconsole browser tests: ${results.length - failed} passed, ${failed} failed; screenshots and timings in ${ARTIFACTS}`);
  console.log(`timings: ${JSON.stringify(timings)}`);
  stopServer();
  process.exit(failed ? 1 : 0);
}
