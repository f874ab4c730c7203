// JupyterLab check (`make jupyterlab-test`): what a reader sees on opening a chapter, before running it.
//
// Starts `jupyter lab` (from the project's .venv) on a free localhost port with a random token, opens
// chapters in headless Chromium (playwright-core), waits until the stored outputs are rendered, and
// fails if
//   - a stored progress bar reads as unfinished: the output area shows "0%|" or a bar below 100%,
//     or shows no finished bar at all in a chapter that trains;
//   - a widget shows its bare repr ("VBox(children=...)", "IntSlider(...)") instead of its fallback;
//   - chapter 8's slider cell does not say "run this cell".
// No cell is run: a kernel may start (JupyterLab starts one on opening), but the page shows the stored
// outputs. Every cell is rendered (notebook windowing off, in a throwaway settings folder).
// Screenshots go to _build/jupyterlab-test/.
//
// Usage: node web/jupyterlab-test.mjs [chapter ...]   (default: 02_mass_spring 07_pixel_pendulum 08_useful_properties)
// Environment: CHROMIUM (default /usr/bin/chromium), JUPYTER (default .venv/bin/jupyter).
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const outDir = join(root, "_build", "jupyterlab-test");
const chapters = process.argv.slice(2).length ? process.argv.slice(2) : ["02_mass_spring", "07_pixel_pendulum", "08_useful_properties"];
const TRAINS = new Set(["02_mass_spring", "03_ideal_pendulum", "04_real_pendulum", "05_two_body", "06_three_body", "07_pixel_pendulum"]);

function fail(message) {
  console.error(`jupyterlab-test: ${message}`);
  process.exitCode = 1;
}

function startLab(token) {
  // Render every cell, not only those in view, so that every stored output is checked.
  const settings = join(outDir, "settings");
  mkdirSync(join(settings, "@jupyterlab", "notebook-extension"), { recursive: true });
  writeFileSync(join(settings, "@jupyterlab", "notebook-extension", "tracker.jupyterlab-settings"),
    JSON.stringify({ windowingMode: "none", autoStartDefaultKernel: false }));
  const jupyter = process.env.JUPYTER || join(root, ".venv", "bin", "jupyter");
  const lab = spawn(jupyter, ["lab", "--no-browser", "--allow-root", "--port=0", "--ip=127.0.0.1", `--IdentityProvider.token=${token}`,
    `--ServerApp.root_dir=${join(root, "book")}`, "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
    { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, JUPYTER_CONFIG_DIR: join(outDir, "config"), JUPYTERLAB_SETTINGS_DIR: settings } });
  return new Promise((resolveUrl, reject) => {
    let seen = "";
    const timer = setTimeout(() => reject(new Error(`jupyter lab did not start: ${seen.slice(-2000)}`)), 60_000);
    const look = (chunk) => {
      seen += chunk;
      const match = /http:\/\/127\.0\.0\.1:(\d+)\/lab/.exec(seen);
      if (match) {
        clearTimeout(timer);
        resolveUrl({ lab, base: `http://127.0.0.1:${match[1]}` });
      }
    };
    lab.stdout.on("data", look);
    lab.stderr.on("data", look);
    lab.on("exit", (code) => reject(new Error(`jupyter lab exited with ${code}: ${seen.slice(-2000)}`)));
  });
}

async function main() {
  mkdirSync(outDir, { recursive: true });
  const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
  if (!existsSync(executablePath)) return fail(`no Chromium at ${executablePath} (set CHROMIUM=...)`);
  const token = randomBytes(16).toString("hex");
  const { lab, base } = await startLab(token);
  const browser = await chromium.launch({ executablePath, args: ["--no-sandbox"] });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 2000 } });
    for (const chapter of chapters) {
      await page.goto(`${base}/lab/tree/${chapter}.ipynb?token=${token}&reset`, { waitUntil: "domcontentloaded" });
      await page.waitForSelector(".jp-OutputArea-output", { timeout: 120_000 });
      await page.waitForTimeout(5_000); // widgets and images finish rendering
      const kernelDialog = page.locator(".jp-Dialog button", { hasText: /No Kernel|Cancel/ });
      if (await kernelDialog.count()) await kernelDialog.first().click();
      const found = await page.evaluate(() => {
        const outputs = [...document.querySelectorAll(".jp-OutputArea-output")].map((el) => el.innerText);
        return {
          outputs: outputs.length,
          unfinished: outputs.filter((t) => /(^|\s)\d{1,2}%\|/.test(t) || /\b0%\|/.test(t)).map((t) => t.slice(0, 120)),
          finished: outputs.filter((t) => /100%\|/.test(t)).length,
          reprs: outputs.filter((t) => /\b(VBox|HBox|IntSlider|FloatSlider|FloatProgress)\(/.test(t)).map((t) => t.slice(0, 120)),
          runThisCell: outputs.some((t) => /run this cell/i.test(t)),
        };
      });
      await page.screenshot({ path: join(outDir, `${chapter}.png`) });
      const problems = [];
      if (found.unfinished.length) problems.push(`unfinished progress bars: ${JSON.stringify(found.unfinished)}`);
      if (TRAINS.has(chapter) && found.finished === 0) problems.push("no finished (100%) progress bar shown");
      if (found.reprs.length) problems.push(`widget reprs instead of fallbacks: ${JSON.stringify(found.reprs)}`);
      if (chapter === "08_useful_properties" && !found.runThisCell) problems.push('no "run this cell" line for the sliders');
      if (problems.length) fail(`${chapter}: ${problems.join("; ")}`);
      console.log(`${chapter}: ${found.outputs} outputs, ${found.finished} finished progress bars, ` +
        `${found.reprs.length} widget reprs${chapter === "08_useful_properties" ? `, "run this cell": ${found.runThisCell}` : ""}` +
        `${problems.length ? " -- FAILED" : " -- ok"}`);
    }
  } finally {
    await browser.close();
    lab.kill();
  }
}

main().catch((err) => fail(err.stack || String(err)));
