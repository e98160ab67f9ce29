// Builds the demo's script into the folder the server embeds (crates/throng-server/web/):
// app.js, the page's TypeScript and the SDK, bundled. The server embeds index.html and
// app.css straight from src/.
//
//   node build.mjs            writes the files
//   node build.mjs --check    builds into memory and exits 1 if the committed files differ
//
// The output is committed so that building the server never needs npm; the browser
// tests run the check so the committed files cannot fall behind their sources.
import * as esbuild from "esbuild";
import { readFile, writeFile, mkdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
export const OUTPUT_DIR = path.resolve(here, "../crates/throng-server/web");

/** The built files, by name: what the server embeds. */
export async function buildDemo() {
  const result = await esbuild.build({
    entryPoints: [path.join(here, "src/main.ts")],
    bundle: true,
    format: "esm",
    target: "es2022",
    minify: true,
    legalComments: "none",
    charset: "utf8",
    write: false,
    logLevel: "warning",
    alias: { "@throng/client": path.resolve(here, "../clients/typescript/src/index.ts") },
    // The SDK's own dependencies come from this package's node_modules, so the SDK needs
    // no install of its own for the demo to build.
    nodePaths: [path.join(here, "node_modules")],
  });
  const [bundle] = result.outputFiles;
  return { "app.js": bundle.contents };
}

/** Names of committed files that differ from a fresh build. */
export async function staleFiles() {
  const built = await buildDemo();
  const stale = [];
  for (const [name, contents] of Object.entries(built)) {
    const committed = await readFile(path.join(OUTPUT_DIR, name)).catch(() => null);
    if (!committed || !Buffer.from(contents).equals(committed)) stale.push(name);
  }
  return stale;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.argv.includes("--check")) {
    const stale = await staleFiles();
    if (stale.length > 0) {
      console.error(`stale in ${OUTPUT_DIR}: ${stale.join(", ")}; run npm run build in web/`);
      process.exit(1);
    }
    console.log("the committed demo files equal a fresh build");
  } else {
    await mkdir(OUTPUT_DIR, { recursive: true });
    for (const [name, contents] of Object.entries(await buildDemo())) {
      await writeFile(path.join(OUTPUT_DIR, name), contents);
    }
    console.log(`built the demo into ${OUTPUT_DIR}`);
  }
}
