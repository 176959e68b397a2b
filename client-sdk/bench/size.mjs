// What a page downloads for a package, each file gzipped (level 9) as a server
// sends it: its JavaScript bundled and minified by esbuild, as an app's production
// build ships it, plus its wasm. The SDK and the peers are measured the same way.
// CLI: node client-sdk/bench/size.mjs  (prints the built SDK package's figures)
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const here = path.dirname(fileURLToPath(import.meta.url));
export const sdkPkg = path.resolve(here, "../pkg");

export const gzipSize = (bytes) => zlib.gzipSync(bytes, { level: 9 }).length;

/** The module source `contents` bundled (imports resolved from this directory). */
export async function bundle(contents, minify) {
  const result = await esbuild.build({
    stdin: { contents, resolveDir: here, loader: "js" },
    bundle: true, format: "esm", platform: "browser", write: false, minify, logLevel: "error",
  });
  return result.outputFiles[0].contents;
}

/** Gzipped bytes of the module source `contents` (minified bundle) plus a wasm file, if any. */
export async function downloadSize(contents, wasmFile) {
  const jsGzip = gzipSize(await bundle(contents, true));
  const wasmGzip = wasmFile ? gzipSize(fs.readFileSync(wasmFile)) : 0;
  return { jsGzip, wasmGzip, totalGzip: jsGzip + wasmGzip };
}

/** The built SDK package: { wasmBytes, jsGzip, wasmGzip, totalGzip }. */
export async function sdkSize(pkg = sdkPkg) {
  const wasmFile = path.join(pkg, "wasm/edgesync_bg.wasm");
  return { wasmBytes: fs.statSync(wasmFile).size, ...(await downloadSize(`export * from ${JSON.stringify(path.join(pkg, "index.js"))};`, wasmFile)) };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const s = await sdkSize();
  console.log(`wasm ${s.wasmBytes} bytes; gzipped: wasm ${s.wasmGzip} + minified JS ${s.jsGzip} = ${s.totalGzip} bytes`);
}
