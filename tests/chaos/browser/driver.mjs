// The browser side of a chaos run, driven by the `chaos` binary over stdin and
// stdout (one JSON object per line): headless Chromium (playwright-core, the
// e2e suite's launcher) with one browser context per client, each a separate
// device with its own IndexedDB, running page/writer.mjs on the SDK package.
//
// The pages live on the edge's origin: requests under /__chaos/ are answered
// here from page/ and client-sdk/pkg/, everything else (the SDK's /v1 sync
// traffic) goes to the edge for real.
//
// Usage: node driver.mjs '{"edgeUrl","token","docIds","browsers","seed","writeIntervalMs"}'
// Commands: {"id","cmd": "start" | "stop" | "snapshot" | "close"}
// Answers:  {"id","ok":true,"result"} or {"id","ok":false,"error"}; first line {"ready":true}.

import fs from "node:fs";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";
import { launchBrowser } from "../../e2e/lib/browser.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, "../../..");
const mounts = [
  ["/__chaos/pkg/", path.join(repoRoot, "client-sdk", "pkg")],
  ["/__chaos/", path.join(here, "page")],
];
const contentTypes = { ".html": "text/html", ".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm", ".json": "application/json" };
const OPEN_TIMEOUT_MS = 60_000;

const config = JSON.parse(process.argv[2] ?? "{}");
const log = (...args) => console.error(new Date().toISOString(), ...args);
const send = (message) => process.stdout.write(`${JSON.stringify(message)}\n`);

/** Serves /__chaos/* from disk, never outside the mounted directories. */
async function serve(route) {
  const { pathname } = new URL(route.request().url());
  const mount = mounts.find(([prefix]) => pathname.startsWith(prefix));
  const file = mount && path.resolve(mount[1], `.${pathname.slice(mount[0].length - 1)}`);
  if (!file || !file.startsWith(mount[1] + path.sep) || !fs.existsSync(file)) {
    return route.fulfill({ status: 404, body: "not found" });
  }
  return route.fulfill({
    status: 200,
    headers: { "content-type": contentTypes[path.extname(file)] ?? "application/octet-stream", "cache-control": "no-store" },
    body: fs.readFileSync(file),
  });
}

async function openClient(browser, index) {
  const name = `b${index}`;
  const context = await browser.newContext();
  const problems = [];
  await context.route(`${config.edgeUrl}/__chaos/**`, serve);
  const page = await context.newPage();
  page.on("pageerror", (error) => problems.push(`uncaught: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error") log(`${name} console:`, message.text());
  });
  page.setDefaultTimeout(OPEN_TIMEOUT_MS);
  await page.goto(`${config.edgeUrl}/__chaos/index.html`);
  await page.waitForFunction(() => document.body.dataset.ready === "true");
  await page.evaluate((options) => window.chaos.open(options), {
    name,
    token: config.token,
    docIds: config.docIds,
    seed: (config.seed * 7919 + index) >>> 0,
    writeIntervalMs: config.writeIntervalMs,
  });
  log(`${name} opened ${config.docIds.length} documents`);
  return { name, context, page, problems };
}

async function main() {
  const browser = await launchBrowser();
  const clients = [];
  for (let i = 0; i < config.browsers; i++) clients.push(await openClient(browser, i));
  const everyPage = (fn) => Promise.all(clients.map((c) => c.page.evaluate(fn)));
  const handlers = {
    start: () => everyPage(() => window.chaos.start()),
    stop: () => everyPage(() => window.chaos.stop()),
    snapshot: async () => {
      const snapshots = await everyPage(() => window.chaos.snapshot());
      return snapshots.map((s, i) => ({ ...s, pageErrors: clients[i].problems }));
    },
    close: async () => {
      await browser.close();
      return null;
    },
  };
  send({ ready: true });

  const lines = readline.createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (!line.trim()) continue;
    let request;
    try {
      request = JSON.parse(line);
      const handler = handlers[request.cmd];
      if (!handler) throw new Error(`unknown command ${JSON.stringify(request.cmd)}`);
      send({ id: request.id, ok: true, result: (await handler()) ?? null });
      if (request.cmd === "close") break;
    } catch (error) {
      send({ id: request?.id ?? null, ok: false, error: String(error?.stack ?? error) });
    }
  }
  // stdin closed (the chaos binary exited) or close: nothing may linger.
  await browser.close().catch(() => {});
  process.exit(0);
}

main().catch((error) => {
  log("driver failed:", error?.stack ?? error);
  send({ ready: false, error: String(error?.message ?? error) });
  process.exit(1);
});
