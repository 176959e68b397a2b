// Client of the local-world launcher's chaos control API. The page only talks
// to it when its URL carries `?control=<url>` (the launcher prints that URL),
// and only to a loopback address: a production page never has one.

import { realFetch } from "./offline.js";

export { controlUrlFrom } from "./control-url.js";

export class ControlError extends Error {
  constructor(message, code) {
    super(message);
    this.name = "ControlError";
    this.code = code;
  }
}

export class ControlClient {
  constructor(baseUrl) {
    this.baseUrl = baseUrl;
  }

  async #call(method, path, body) {
    let response;
    try {
      response = await realFetch(this.baseUrl + path, {
        method,
        headers: body === undefined ? {} : { "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",
      });
    } catch {
      throw new ControlError(`the local-world launcher at ${this.baseUrl} does not answer; is it still running?`, "unreachable");
    }
    const payload = await response.json().catch(() => null);
    if (!response.ok) {
      const error = payload && payload.error;
      throw new ControlError(error ? error.message : `control API answered ${response.status}`, error ? error.code : "failed");
    }
    return payload;
  }

  /** The whole world: regions (process, edge path latency and fault) and links. */
  state() {
    return this.#call("GET", "/control/state");
  }

  kill(region) {
    return this.#call("POST", `/control/regions/${encodeURIComponent(region)}/kill`);
  }

  /** Resolves once the region is ready again (it can take a few seconds). */
  restart(region) {
    return this.#call("POST", `/control/regions/${encodeURIComponent(region)}/restart`);
  }

  setLatency(region, oneWayMs) {
    return this.#call("POST", `/control/regions/${encodeURIComponent(region)}/edge`, { latency_ms: oneWayMs });
  }

  /** "pass", "black_hole" (connections hang) or "refuse" (connections reset). */
  setFault(region, fault) {
    return this.#call("POST", `/control/regions/${encodeURIComponent(region)}/edge`, { fault });
  }
}
