// Copy the few files the website needs from web/node_modules into web/static, which
// _config.yml lists in html_static_path (Sphinx copies it into _build/html/_static).
// Only what a page actually loads is copied, so the site stays small:
//   mathjax/  MathJax 3: the TeX-to-CommonHTML component, its fonts, the TeX extensions
//             it may autoload (\boldsymbol, \cancel, ...) and the assistive-MathML module
//   widgets/  RequireJS and the ipywidgets HTML manager (embed-amd.js renders the stored
//             widget state: the progress bars) with the icon fonts its CSS refers to, and
//             widgets-config.js, which makes those fonts load from widgets/
// Run by `make book` after `npm ci` (see the Makefile); `npm run copy-assets` does the same.
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const modules = join(here, "node_modules");
const out = join(here, "static");

// [source relative to node_modules, destination relative to web/static]
const files = [
  ["mathjax/es5/tex-chtml.js", "mathjax/tex-chtml.js"],
  ["mathjax/es5/output/chtml/fonts/woff-v2", "mathjax/output/chtml/fonts/woff-v2"],
  ["mathjax/es5/input/tex/extensions", "mathjax/input/tex/extensions"],
  ["mathjax/es5/a11y/assistive-mml.js", "mathjax/a11y/assistive-mml.js"],
  ["mathjax/LICENSE", "mathjax/LICENSE"],
  ["requirejs/require.js", "widgets/require.js"],
  ["@jupyter-widgets/html-manager/dist/embed-amd.js", "widgets/embed-amd.js"],
];
// Ours, not from npm: RequireJS paths for the widgets (see the file) and the book's CSS.
const own = [
  ["widgets-config.js", "widgets/config.js"],
  ["book.css", "book.css"],
];

if (!existsSync(modules)) {
  console.error(`copy-assets: ${modules} is missing; run \`npm ci\` in web/ first (make book does).`);
  process.exit(1);
}
// The Font Awesome fonts that embed-amd.js's CSS refers to (it finds them next to itself once
// widgets/config.js has told RequireJS where it is); every current browser takes the woff2.
const widgetDist = join(modules, "@jupyter-widgets/html-manager/dist");
for (const name of existsSync(widgetDist) ? readdirSync(widgetDist) : []) {
  if (name.endsWith(".woff2")) files.push([`@jupyter-widgets/html-manager/dist/${name}`, `widgets/${name}`]);
}
rmSync(out, { recursive: true, force: true });
for (const [src, dst] of files) {
  const from = join(modules, src);
  if (!existsSync(from)) {
    console.error(`copy-assets: ${from} is missing (package versions in web/package.json changed?)`);
    process.exit(1);
  }
  mkdirSync(dirname(join(out, dst)), { recursive: true });
  cpSync(from, join(out, dst), { recursive: true });
}
for (const [src, dst] of own) cpSync(join(here, src), join(out, dst));
console.log(`copy-assets: ${files.length + own.length} entries copied into ${out}`);
