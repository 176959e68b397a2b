// Starts the whole local world with the `local-world` binary (three region
// servers behind fault proxies, the edge in workerd, the control API) on free
// loopback ports, and drives its chaos controls.

import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { artifactsDir, repoRoot } from "./paths.mjs";

/** The first start of wrangler dev may build the worker. */
const START_TIMEOUT_MS = 300_000;
const STOP_GRACE_MS = 20_000;

async function freePort() {
  const server = net.createServer();
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function targetDir() {
  return process.env.CARGO_TARGET_DIR || path.join(repoRoot, "target");
}

/** The control API of a running world (see tools/local-world/src/control.rs). */
export class Control {
  constructor(baseUrl) {
    this.baseUrl = baseUrl;
  }

  async #call(method, route, body) {
    const response = await fetch(this.baseUrl + route, {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const payload = await response.json().catch(() => null);
    if (!response.ok) throw new Error(`control ${method} ${route}: ${response.status} ${JSON.stringify(payload)}`);
    return payload;
  }

  state() {
    return this.#call("GET", "/control/state");
  }

  kill(region) {
    return this.#call("POST", `/control/regions/${region}/kill`);
  }

  restart(region) {
    return this.#call("POST", `/control/regions/${region}/restart`);
  }

  setEdgeLatency(region, oneWayMs) {
    return this.#call("POST", `/control/regions/${region}/edge`, { latency_ms: oneWayMs });
  }

  setEdgeFault(region, fault) {
    return this.#call("POST", `/control/regions/${region}/edge`, { fault });
  }
}

/**
 * Starts a fresh world; resolves once the launcher prints the page URL.
 * Returns `{ pageUrl, edgeUrl, control, regions, stop() }` where `regions`
 * maps each region id to its process's own URL (no simulated network).
 */
export async function startWorld() {
  const [edgePort, controlPort] = [await freePort(), await freePort()];
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "edgesync-e2e-"));
  fs.mkdirSync(artifactsDir, { recursive: true });
  const logPath = path.join(artifactsDir, "e2e-world.log");
  const logFile = fs.createWriteStream(logPath);
  const binary = path.join(targetDir(), "debug", "local-world");
  if (!fs.existsSync(binary)) throw new Error(`${binary} is missing; run scripts/build.sh first`);

  const child = spawn(
    binary,
    ["--edge-port", String(edgePort), "--control-port", String(controlPort), "--data-dir", dataDir, "--fresh"],
    { cwd: repoRoot, env: { ...process.env, CI: "true", WRANGLER_SEND_METRICS: "false" }, stdio: ["ignore", "pipe", "pipe"] },
  );
  let exited = null;
  const exit = new Promise((resolve) => child.once("exit", (code, signal) => resolve((exited = { code, signal }))));
  // If this test process dies, the world goes with it.
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);

  let output = "";
  const opened = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the world did not start within ${START_TIMEOUT_MS / 1000} s; see ${logPath}`)), START_TIMEOUT_MS);
    const onData = (chunk) => {
      const text = chunk.toString();
      logFile.write(text);
      output += text;
      const match = output.match(/Open (http:\/\/127\.0\.0\.1:\d+)\/\?control=(http:\/\/127\.0\.0\.1:\d+)/);
      if (match) {
        clearTimeout(timer);
        resolve({ edgeUrl: match[1], controlUrl: match[2] });
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", (chunk) => logFile.write(chunk));
    exit.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`local-world exited (code ${code}, signal ${signal}) before it was ready; see ${logPath}:\n${output.slice(-2000)}`));
    });
  });

  let urls;
  try {
    urls = await opened;
  } catch (error) {
    child.kill("SIGKILL");
    throw error;
  }
  const control = new Control(urls.controlUrl);
  const state = await control.state();
  const regions = Object.fromEntries(state.regions.map((r) => [r.id, r.url]));
  const initialLatency = Object.fromEntries(state.regions.map((r) => [r.id, r.edge.latency_ms]));

  return {
    edgeUrl: urls.edgeUrl,
    pageUrl: `${urls.edgeUrl}/?control=${encodeURIComponent(urls.controlUrl)}`,
    control,
    regions,
    initialLatency,
    logPath,
    async stop() {
      process.removeListener("exit", killOnExit);
      if (!exited) {
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS);
        await exit;
        clearTimeout(timer);
      }
      logFile.end();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
