// Browser test of the built website (`make browser-test`; CI runs it after `make book`).
//
// Serves _build/html with `python3 -m http.server` on a free localhost port, opens every page
// of the site in headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core)
// and fails if any page
//   - logs a JavaScript error (console.error or an uncaught exception),
//   - has a request that fails or answers with an HTTP error, or asks any host but localhost
//     (such requests are blocked, so the test also proves the site works offline),
//   - shows math that MathJax did not typeset (each .math element must hold an mjx-container,
//     MathJax must report no error, and no raw \( \[ $$ may be left in the text),
//   - is a chapter (a notebook, book/*.ipynb) whose figures do not load (every img must have
//     naturalWidth > 0), whose stored widgets (progress bars) did not render, or which lacks a
//     working .ipynb download link,
//   - has a code cell, a text output or a table wider than its box or than the text column at
//     1280 px (it would hide its end behind a horizontal scroll bar),
//   - links to a local page or anchor that does not exist,
//   - is the search page, and searching for a word of chapter 1 finds nothing.
// Every page is saved as a full-page screenshot in _build/browser-test/ (a CI artifact).
//
// Usage: node web/browser-test.mjs [--site _build/html] [--out _build/browser-test]
// Environment: CHROMIUM (browser binary, default /usr/bin/chromium), PYTHON (default python3).
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? resolve(args[i + 1]) : fallback;
};
const site = option("--site", join(root, "_build", "html"));
const outDir = option("--out", join(root, "_build", "browser-test"));
const PAGE_TIMEOUT_MS = 30_000;
const LOCAL_HOSTS = new Set(["127.0.0.1", "localhost", "[::1]"]);

function fail(message) {
  console.error(`browser-test: ${message}`);
  process.exit(1);
}

function findChromium() {
  const names = ["chromium", "chromium-browser", "google-chrome"];
  const dirs = (process.env.PATH || "").split(":").filter(Boolean);
  const candidates = process.env.CHROMIUM
    ? [process.env.CHROMIUM]
    : ["/usr/bin/chromium", ...names.flatMap((n) => dirs.map((d) => join(d, n)))];
  const found = candidates.find((p) => existsSync(p));
  if (!found) {
    fail(
      `no Chromium found (${process.env.CHROMIUM ? `CHROMIUM=${process.env.CHROMIUM}` : "looked for chromium, chromium-browser, google-chrome"}). Install it (Debian: apt-get install -y chromium) ` +
        "or set CHROMIUM=/path/to/chrome.",
    );
  }
  return found;
}

// All .html files of the built site, as paths relative to it ("book/intro.html").
function htmlFiles(dir, base = dir) {
  const skip = new Set(["_static", "_sources", "_images"]);
  let out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      if (!skip.has(name)) out = out.concat(htmlFiles(path, base));
    } else if (name.endsWith(".html")) {
      out.push(relative(base, path).split(sep).join("/"));
    }
  }
  return out.sort();
}

function startServer() {
  const python = process.env.PYTHON || "python3";
  const server = spawn(python, ["-u", "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory", site], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  return new Promise((resolvePort, reject) => {
    let seen = "";
    const timer = setTimeout(() => reject(new Error(`http.server did not start: ${seen}`)), 15_000);
    server.on("error", reject);
    server.on("exit", (code) => reject(new Error(`http.server exited with ${code}: ${seen}`)));
    server.stdout.on("data", (chunk) => {
      seen += chunk;
      const match = /port (\d+)/.exec(seen);
      if (match) {
        clearTimeout(timer);
        resolvePort({ server, port: Number(match[1]) });
      }
    });
    server.stderr.on("data", () => {}); // one line per request: drain, do not print
  });
}

// Runs in the page: everything the checks need, gathered after MathJax and widgets finished.
function inspectPage() {
  const main = document.querySelector("main") || document.body;
  const math = [...main.querySelectorAll(".math")];
  const untypeset = math.filter((el) => !el.querySelector("mjx-container")).map((el) => el.textContent.slice(0, 80));
  const mathErrors = [...main.querySelectorAll("mjx-merror")].map((el) => el.getAttribute("data-mjx-error") || el.textContent);
  // Raw TeX left in the prose (code and outputs are <pre>, which may legitimately contain $...$).
  const rawTex = [];
  const walker = document.createTreeWalker(main, NodeFilter.SHOW_TEXT);
  // Search-result snippets quote the pages' source text (TeX included) by design.
  const skip = "pre, code, script, style, textarea, mjx-container, .highlight, #search-results";
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (node.parentElement && node.parentElement.closest(skip)) continue;
    const text = node.textContent;
    if (/\\\(|\\\[|\$\$|\\begin\{|\$[^$\n]*\\[A-Za-z]+[^$\n]*\$/.test(text)) rawTex.push(text.trim().slice(0, 80));
  }
  const images = [...main.querySelectorAll("img")].map((img) => ({
    src: img.getAttribute("src"),
    ok: img.complete && img.naturalWidth > 0,
  }));
  const widgetViews = main.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]').length;
  const widgetsRendered = main.querySelectorAll(".widget-subarea .jupyter-widgets").length;
  // Horizontal overflow at this width: a code cell, an output or a table that is wider than its
  // box (its end hidden behind a scroll bar) or reaches past the text column.
  const column = (main.querySelector(".bd-article") || main).getBoundingClientRect();
  const overflow = [];
  const boxes = "div.cell_input, div.cell_input pre, div.cell_output, div.cell_output pre, " +
    "div.cell_output .output, div.cell_output table, article table, div.highlight, div.highlight pre";
  for (const el of main.querySelectorAll(boxes)) {
    const wider = el.scrollWidth - el.clientWidth;
    const past = el.getBoundingClientRect().right - column.right;
    if (wider > 1 || past > 1) {
      const cell = el.closest("div.cell");
      const where = cell ? `cell ${[...main.querySelectorAll("div.cell")].indexOf(cell)}` : "prose";
      const text = (el.textContent || "").trim().replace(/\s+/g, " ").slice(0, 60);
      overflow.push(`${where}, ${el.tagName.toLowerCase()}.${[...el.classList].join(".")}: ` +
        `${Math.max(wider, Math.round(past))} px too wide (${JSON.stringify(text)})`);
    }
  }
  const download = document.querySelector("a.btn-download-source-button");
  const links = [...document.querySelectorAll("a[href]")].map((a) => a.href);
  const ids = [...document.querySelectorAll("[id]")].map((el) => el.id);
  return {
    title: document.title,
    math: math.length,
    untypeset,
    mathErrors,
    rawTex,
    images,
    widgetViews,
    widgetsRendered,
    overflow: [...new Set(overflow)],
    download: download ? download.href : null,
    links,
    ids,
  };
}

async function main() {
  if (!existsSync(join(site, "index.html"))) fail(`${site}/index.html is missing: build the book first (make book).`);
  const executablePath = findChromium();
  const pages = htmlFiles(site);
  const sourcesDir = join(site, "_sources");
  const isChapter = (page) => existsSync(join(sourcesDir, page.replace(/\.html$/, ".ipynb")));

  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });

  const started = Date.now();
  const { server, port } = await startServer();
  const origin = `http://127.0.0.1:${port}`;
  const stop = () => server.kill();
  process.on("exit", stop);

  const browser = await chromium.launch({
    executablePath,
    headless: true,
    args: [
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  const failures = [];
  const idsByPage = new Map();
  const linkChecks = [];
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, reducedMotion: "reduce" });
    // Block and record every request that would leave the machine.
    const external = [];
    await context.route("**/*", (route) => {
      const url = new URL(route.request().url());
      if ((url.protocol === "http:" || url.protocol === "https:") && !LOCAL_HOSTS.has(url.hostname)) {
        external.push(url.href);
        return route.abort("blockedbyclient");
      }
      return route.continue();
    });

    // The TOC: every page in the sidebar of the landing page must be part of the site and tested.
    const tocPage = await context.newPage();
    await tocPage.goto(`${origin}/index.html`, { waitUntil: "load", timeout: PAGE_TIMEOUT_MS });
    await tocPage.waitForURL(/book\/intro\.html/, { timeout: PAGE_TIMEOUT_MS });
    const toc = await tocPage.$$eval("nav.bd-docs-nav a.reference.internal, .navbar-brand", (as) =>
      as.map((a) => a.href),
    );
    await tocPage.close();
    for (const href of toc) {
      const page = new URL(href).pathname.replace(/^\//, "") || "index.html";
      if (!pages.includes(page)) failures.push(`TOC links to ${page}, which is not in the site`);
    }
    if (toc.length < 3) failures.push(`the sidebar lists only ${toc.length} pages`);

    for (const pagePath of pages) {
      const t0 = Date.now();
      const page = await context.newPage();
      const problems = [];
      const externalBefore = external.length;
      page.on("console", (msg) => {
        if (msg.type() === "error") problems.push(`console error: ${msg.text()}`);
      });
      page.on("pageerror", (err) => problems.push(`uncaught exception: ${err.message}`));
      page.on("requestfailed", (req) => {
        const url = new URL(req.url());
        if (LOCAL_HOSTS.has(url.hostname)) problems.push(`request failed: ${req.url()} (${req.failure()?.errorText})`);
      });
      page.on("response", (res) => {
        if (res.status() >= 400) problems.push(`HTTP ${res.status()}: ${res.url()}`);
      });

      await page.goto(`${origin}/${pagePath}`, { waitUntil: "load", timeout: PAGE_TIMEOUT_MS });
      // index.html is only a redirect (<meta http-equiv="Refresh">): test where it leads.
      const redirect = /http-equiv="Refresh" content="\d+; url=([^"]+)"/i.exec(readFileSync(join(site, pagePath), "utf8"));
      if (redirect) {
        const target = new URL(redirect[1], `${origin}/${pagePath}`).href;
        await page.waitForURL(target, { waitUntil: "load", timeout: PAGE_TIMEOUT_MS });
      }
      await page.waitForLoadState("networkidle", { timeout: PAGE_TIMEOUT_MS });
      const hasMath = (await page.locator("main .math").count()) > 0;
      if (hasMath) {
        try {
          await page.waitForFunction(() => window.MathJax && window.MathJax.startup && window.MathJax.startup.promise, null, {
            timeout: 10_000,
          });
          await page.evaluate(() => window.MathJax.startup.promise);
        } catch (err) {
          problems.push(`MathJax did not start: ${err.message.split("\n")[0]}`);
        }
      }
      if (isChapter(pagePath)) {
        // Widgets render asynchronously after load (embed-amd.js); give them a moment.
        await page
          .waitForFunction(
            () =>
              document.querySelectorAll(".widget-subarea .jupyter-widgets").length >=
              document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]').length,
            null,
            { timeout: 10_000 },
          )
          .catch(() => {});
        await page.waitForFunction(() => [...document.images].every((img) => img.complete), null, { timeout: 10_000 }).catch(() => {});
      }
      if (pagePath === "search.html") {
        // The search runs in the browser on searchindex.js: a word of chapter 1 must be found.
        await page.goto(`${origin}/search.html?q=symplectic`, { waitUntil: "load", timeout: PAGE_TIMEOUT_MS });
        await page
          .waitForFunction(() => document.querySelectorAll("#search-results ul.search li").length > 0, null, { timeout: 10_000 })
          .catch(() => problems.push('searching for "symplectic" found nothing'));
      }
      const info = await page.evaluate(inspectPage);
      idsByPage.set(pagePath, new Set(info.ids));

      if (info.math > 0) {
        if (info.untypeset.length) problems.push(`${info.untypeset.length} math elements not typeset, e.g. ${JSON.stringify(info.untypeset[0])}`);
        for (const e of info.mathErrors) problems.push(`MathJax error: ${e}`);
      }
      const rawTex = [...new Set(info.rawTex)];
      for (const text of rawTex.slice(0, 3)) problems.push(`raw TeX in the text: ${JSON.stringify(text)}`);
      if (rawTex.length > 3) problems.push(`... and ${rawTex.length - 3} more pieces of raw TeX`);
      for (const img of info.images) if (!img.ok) problems.push(`image did not load: ${img.src}`);
      for (const o of info.overflow.slice(0, 5)) problems.push(`overflows horizontally at 1280 px: ${o}`);
      if (info.overflow.length > 5) problems.push(`... and ${info.overflow.length - 5} more overflowing boxes`);
      if (isChapter(pagePath)) {
        if (info.images.length === 0) problems.push("chapter page shows no figure");
        if (info.widgetsRendered < info.widgetViews) {
          problems.push(`${info.widgetViews} stored widget views, only ${info.widgetsRendered} rendered`);
        }
        if (!info.download || !info.download.endsWith(".ipynb")) {
          problems.push("no .ipynb download link");
        } else {
          const file = join(site, decodeURIComponent(new URL(info.download).pathname));
          if (!existsSync(file)) problems.push(`download link points to a missing file: ${info.download}`);
          else JSON.parse(readFileSync(file, "utf8")); // a notebook is JSON
        }
      }
      for (const href of new Set(info.links)) linkChecks.push({ from: pagePath, href });
      if (external.length > externalBefore) {
        for (const url of external.slice(externalBefore)) problems.push(`request to a non-local host (blocked): ${url}`);
      }

      const shot = join(outDir, `${pagePath.replace(/\.html$/, "").replace(/\//g, "__")}.png`);
      await page.screenshot({ path: shot, fullPage: true });
      await page.close();
      const seconds = ((Date.now() - t0) / 1000).toFixed(1);
      const summary = `${info.math} math, ${info.images.length} img, ${info.widgetViews} widgets`;
      console.log(`${problems.length ? "FAIL" : "ok  "} ${pagePath.padEnd(36)} ${seconds.padStart(5)} s  ${summary}`);
      for (const p of problems) {
        console.log(`       ${p}`);
        failures.push(`${pagePath}: ${p}`);
      }
    }
    await context.close();
  } finally {
    await browser.close();
    stop();
  }

  // Local links: the file must exist and, for page#anchor, the anchor must exist on that page.
  let checked = 0;
  for (const { from, href } of linkChecks) {
    const url = new URL(href);
    if (url.origin !== origin) continue;
    checked += 1;
    const path = decodeURIComponent(url.pathname).replace(/^\//, "") || "index.html";
    const target = path.endsWith("/") ? `${path}index.html` : path;
    if (!existsSync(join(site, target))) {
      failures.push(`${from}: broken link to ${href}`);
    } else if (url.hash && idsByPage.has(target) && !idsByPage.get(target).has(decodeURIComponent(url.hash.slice(1)))) {
      failures.push(`${from}: link to a missing anchor ${href}`);
    }
  }

  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  console.log(
    `browser-test: ${pages.length} pages (${pages.filter(isChapter).length} chapters), ${checked} local links, ` +
      `${seconds} s; screenshots in ${relative(root, outDir) || outDir}/`,
  );
  if (failures.length) {
    console.error(`browser-test: FAILED, ${failures.length} problem(s):`);
    for (const f of failures) console.error(`  - ${f}`);
    process.exit(1);
  }
  console.log("browser-test: all pages passed");
}

main().catch((err) => fail(err.stack || String(err)));
