// Benchmark runner: serves the SDK package, the peers and the trace on
// loopback, drives headless Chromium through playwright-core, prints figures.
// Usage: node client-sdk/bench/run.mjs [variant ...]   (scripts/bench-sdk.sh builds first)
import http from "node:http";
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { bundle, downloadSize, sdkPkg as pkg, sdkSize } from "./size.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const tracePath = path.resolve(root, "../shared/bench-data/automerge-paper.json.gz");
const amWasm = path.join(root, "node_modules/@automerge/automerge/dist/automerge.wasm");
const variants = process.argv.slice(2).length ? process.argv.slice(2) : ["sdk", "sdk-per-frame", "sdk-change-per-write", "yjs+y-indexeddb", "automerge"];

if (!fs.existsSync(path.join(pkg, "index.js"))) throw new Error("client-sdk/pkg is missing: run scripts/build.d/20-sdk.sh");
if (!fs.existsSync(tracePath)) throw new Error(`trace not found: ${tracePath}`);


const peers = await bundle(fs.readFileSync(path.join(here, "peers.js"), "utf8"), false);
const trace = zlib.gunzipSync(fs.readFileSync(tracePath));

const types = { ".js": "text/javascript", ".html": "text/html", ".wasm": "application/wasm", ".json": "application/json" };
function serveFile(res, file) {
  fs.readFile(file, (err, body) => {
    if (err) { res.writeHead(404).end(); return; }
    res.writeHead(200, { "content-type": types[path.extname(file)] ?? "application/octet-stream" }).end(body);
  });
}
const server = http.createServer((req, res) => {
  // Cross-origin isolation: precise timers and performance.measureUserAgentSpecificMemory().
  res.setHeader("cross-origin-opener-policy", "same-origin");
  res.setHeader("cross-origin-embedder-policy", "require-corp");
  const url = new URL(req.url, "http://x").pathname;
  if (url === "/trace.json") return res.writeHead(200, { "content-type": "application/json" }).end(trace);
  if (url === "/automerge.wasm") return serveFile(res, amWasm);
  if (url === "/bench/peers.bundle.js") return res.writeHead(200, { "content-type": "text/javascript" }).end(peers);
  if (url.startsWith("/bench/")) return serveFile(res, path.join(here, path.basename(url)));
  if (url.startsWith("/pkg/")) {
    const file = path.resolve(pkg, "." + url.slice(4));
    if (!file.startsWith(pkg)) return res.writeHead(403).end();
    return serveFile(res, file);
  }
  res.writeHead(404).end();
});
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const origin = `http://127.0.0.1:${server.address().port}`;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--enable-blink-features=ForceEagerMeasureMemory"],
});

const fmt = (n, digits = 0) => (n === null || n === undefined ? "-" : n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits }));
const row = (name, r) => `${name.padEnd(22)} ${fmt(r.totalMs).padStart(9)} ${fmt(r.p50Us, 1).padStart(8)} ${fmt(r.p99Us, 1).padStart(8)} ${fmt(r.maxUs).padStart(8)} ${fmt(r.durableMs).padStart(11)} ${fmt(r.storedBytes).padStart(13)} ${fmt(r.memoryBytes).padStart(13)}  ${r.ok ? "matches endContent" : "WRONG"}${r.note ? ` (${r.note})` : ""}`;
const header = "variant                 total ms   p50 µs   p99 µs   max µs  durable ms  stored bytes  memory bytes  final text";

const results = {};
try {
  for (const variant of variants) {
    const context = await browser.newContext(); // fresh storage for each variant
    const page = await context.newPage();
    page.on("pageerror", (e) => console.error(`[${variant}] page error:`, e.message));
    await page.goto(`${origin}/bench/page.html`);
    await page.waitForFunction(() => window.benchReady === true, null, { timeout: 120000 });
    process.stderr.write(`running ${variant}...\n`);
    results[variant] = await page.evaluate((v) => window.runVariant(v), variant);
    process.stderr.write(`${row(variant, results[variant])}\n`);
    await context.close();
  }
} finally {
  await browser.close();
  server.close();
}

console.log(`\nautomerge-paper trace, ${fmt(results[variants[0]].writes)} keystrokes, one write each, headless Chromium (${browser.version()})\n`);
console.log(header);
for (const [name, r] of Object.entries(results)) console.log(row(name, r));
const ratio = (a, b) => (results[a] && results[b] ? `${(results[b].totalMs / results[a].totalMs).toFixed(1)}x` : "-");
console.log("");
console.log(`speed-up of sdk over @automerge/automerge (total time):      ${ratio("sdk", "automerge")}`);
console.log(`speed-up of sdk over yjs+y-indexeddb (total time):           ${ratio("sdk", "yjs+y-indexeddb")}`);
console.log(`speed-up of sdk-per-frame over @automerge/automerge:         ${ratio("sdk-per-frame", "automerge")}`);
console.log(`speed-up of sdk-per-frame over yjs+y-indexeddb:              ${ratio("sdk-per-frame", "yjs+y-indexeddb")}`);
console.log(`speed-up of sdk-change-per-write over @automerge/automerge:  ${ratio("sdk-change-per-write", "automerge")}`);
console.log(`speed-up of sdk-change-per-write over yjs+y-indexeddb:       ${ratio("sdk-change-per-write", "yjs+y-indexeddb")}`);
for (const sdkVariant of ["sdk", "sdk-per-frame"]) {
  if (results[sdkVariant] && results["yjs+y-indexeddb"]) {
    console.log(`durable: ${sdkVariant} ${fmt(results[sdkVariant].durableMs)} ms vs yjs+y-indexeddb ${fmt(results["yjs+y-indexeddb"].durableMs)} ms`);
  }
}

// Sizes: what a page downloads, compressed (see size.mjs).
const sdk = await sdkSize(pkg);
const am = await downloadSize('export * from "@automerge/automerge/slim";', amWasm);
const yjs = await downloadSize('export * from "yjs";');
const yIdb = await downloadSize('export * from "yjs"; export * from "y-indexeddb";');
console.log("\ndownload size (each file compressed; JS bundled and minified by esbuild)");
const sizeRow = (name, s) =>
  `  ${name.padEnd(34)} gzip ${fmt(s.totalGzip).padStart(9)} bytes${s.wasmGzip ? ` (wasm ${fmt(s.wasmGzip)} + JS ${fmt(s.jsGzip)})` : ""}, Brotli ${fmt(s.totalBrotli)} bytes`;
console.log(sizeRow("edgesync (this SDK)", sdk));
console.log(sizeRow("@automerge/automerge (slim + wasm)", am));
console.log(sizeRow("yjs", yjs));
console.log(sizeRow("yjs + y-indexeddb", yIdb));
if (!Object.values(results).every((r) => r.ok)) {
  console.error("a replay did not produce endContent");
  process.exit(1);
}
