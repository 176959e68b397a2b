// Checks that the built package works where apps use it: bundled by Vite, and
// loaded unbundled by a plain <script type="module"> page. Both pages run in
// headless Chromium and must report "ok" in their title.
import http from "node:http";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "vite";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const pkg = path.resolve(here, "../pkg");
const app = path.join(here, "app");

// 1. Vite production build, resolving `edgesync` to the built package.
const viteOut = fs.mkdtempSync(path.join(os.tmpdir(), "edgesync-vite-"));
await build({
  root: app,
  base: "/vite/",
  logLevel: "warn",
  resolve: { alias: { edgesync: path.join(pkg, "index.js") } },
  build: { outDir: viteOut, emptyOutDir: true },
});
const emittedWasm = fs.readdirSync(path.join(viteOut, "assets")).filter((f) => f.endsWith(".wasm"));
if (emittedWasm.length !== 1) throw new Error(`vite emitted ${emittedWasm.length} wasm files`);

// 2. A plain page: the same app, with an import map instead of a bundler.
const plainHtml = `<!doctype html><meta charset="utf-8"><title>loading</title>
<script type="importmap">{"imports":{"edgesync":"/pkg/index.js"}}</script>
<script type="module" src="/app/main.js"></script>`;

const types = { ".js": "text/javascript", ".html": "text/html", ".wasm": "application/wasm", ".css": "text/css" };
function serve(res, base, rel) {
  const file = path.resolve(base, "." + rel);
  if (!file.startsWith(base)) return res.writeHead(403).end();
  fs.readFile(file, (err, body) => {
    if (err) return res.writeHead(404).end();
    res.writeHead(200, { "content-type": types[path.extname(file)] ?? "application/octet-stream" }).end(body);
  });
}
const server = http.createServer((req, res) => {
  const url = new URL(req.url, "http://x").pathname;
  if (url === "/plain/") return res.writeHead(200, { "content-type": "text/html" }).end(plainHtml);
  if (url.startsWith("/pkg/")) return serve(res, pkg, url.slice(4));
  if (url.startsWith("/app/")) return serve(res, app, url.slice(4));
  if (url.startsWith("/vite/")) return serve(res, viteOut, url === "/vite/" ? "/index.html" : url.slice(5));
  res.writeHead(404).end();
});
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const origin = `http://127.0.0.1:${server.address().port}`;

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
let passed = 0;
let failed = 0;
try {
  for (const [name, url] of [["vite build", "/vite/"], ["plain script module", "/plain/"]]) {
    const page = await browser.newPage();
    const problems = [];
    page.on("pageerror", (e) => problems.push(e.message));
    page.on("console", (m) => m.type() === "error" && problems.push(m.text()));
    page.on("requestfailed", (r) => problems.push(`request failed: ${r.url()}`));
    page.on("response", (r) => r.status() >= 400 && problems.push(`${r.status()} ${r.url()}`));
    await page.goto(origin + url);
    await page.waitForFunction(() => document.title !== "loading", null, { timeout: 20000 }).catch(() => {});
    const title = await page.title();
    if (title === "ok") passed++;
    else failed++;
    console.log(`${title === "ok" ? "ok  " : "FAIL"} package from ${name}: ${title}`);
    if (title !== "ok") for (const problem of problems) console.log(`     ${problem}`);
    await page.close();
  }
} finally {
  await browser.close();
  server.close();
  fs.rmSync(viteOut, { recursive: true, force: true });
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
