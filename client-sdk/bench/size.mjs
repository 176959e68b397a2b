// What a page downloads for a package, each file compressed as a server sends it:
// its JavaScript bundled and minified by esbuild, as an app's production build
// ships it, plus its wasm. Gzip level 9 is the figure the size target uses; Brotli
// (quality 11) is what CDNs such as Cloudflare serve to current browsers.
// The SDK and the peers are measured the same way.
// CLI: node client-sdk/bench/size.mjs  (prints the built SDK package's figures)
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const here = path.dirname(fileURLToPath(import.meta.url));
export const sdkPkg = path.resolve(here, "../pkg");

export const gzipSize = (bytes) => zlib.gzipSync(bytes, { level: 9 }).length;
export const brotliSize = (bytes) =>
  zlib.brotliCompressSync(bytes, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: bytes.length } }).length;

/** The module source `contents` bundled (imports resolved from this directory). */
export async function bundle(contents, minify) {
  const result = await esbuild.build({
    stdin: { contents, resolveDir: here, loader: "js" },
    bundle: true, format: "esm", platform: "browser", write: false, minify, logLevel: "error",
  });
  return result.outputFiles[0].contents;
}

/** Compressed bytes of the module source `contents` (minified bundle) plus a wasm file, if any:
 * { jsGzip, wasmGzip, totalGzip, totalBrotli }. */
export async function downloadSize(contents, wasmFile) {
  const js = await bundle(contents, true);
  const wasm = wasmFile ? fs.readFileSync(wasmFile) : null;
  const jsGzip = gzipSize(js);
  const wasmGzip = wasm ? gzipSize(wasm) : 0;
  const totalBrotli = brotliSize(js) + (wasm ? brotliSize(wasm) : 0);
  return { jsGzip, wasmGzip, totalGzip: jsGzip + wasmGzip, totalBrotli };
}

/** The built SDK package: `downloadSize` figures and wasmBytes. */
export async function sdkSize(pkg = sdkPkg) {
  const wasmFile = path.join(pkg, "wasm/edgesync_bg.wasm");
  return { wasmBytes: fs.statSync(wasmFile).size, ...(await downloadSize(`export * from ${JSON.stringify(path.join(pkg, "index.js"))};`, wasmFile)) };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const s = await sdkSize();
  console.log(`wasm ${s.wasmBytes} bytes; gzipped: wasm ${s.wasmGzip} + minified JS ${s.jsGzip} = ${s.totalGzip} bytes (Brotli: ${s.totalBrotli})`);
}
