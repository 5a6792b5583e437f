// Bundles the page at set-up (scripts/setup.sh): src/main.js with uPlot into one ES module,
// src/style.css with uPlot's stylesheet into one CSS file, and copies src/index.html, all into
// ../static (git-ignored), which the explorer's server serves. No network access is needed.
import { build } from "esbuild";
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "static");
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [join(here, "src", "main.js"), join(here, "src", "style.css")],
  bundle: true,
  format: "esm",
  target: "es2020",
  outdir: out,
  logLevel: "warning",
});
copyFileSync(join(here, "src", "index.html"), join(out, "index.html"));
console.log(`explorer page built in ${out}`);
