// One chaos client in a browser: the edgesync SDK (the npm package built into
// client-sdk/pkg) writing continuously to the chaos documents through the edge.
//
// Every write sets one new root key to a number (`b0-17` = 17) in its own task,
// so each is its own change. A write counts as acknowledged when, in a later
// task, the document's status reports no pending change: the SDK computes
// `pendingChanges` from the acknowledged frontier right after each write's task
// and after each sync answer, so 0 then covers every earlier write.

import { Repo } from "/__chaos/pkg/index.js";

const state = {
  name: "",
  writing: false,
  writesMade: 0,
  /** `{doc, key, value}` of writes not yet acknowledged, per document index. */
  unacked: [],
  acked: [],
  writeErrors: [],
  /** Non-2xx answers to the SDK's /v1 requests, by status. */
  httpErrors: {},
  /** /v1 requests that got no answer (aborts by the SDK itself excluded). */
  fetchFailures: 0,
  fetches: 0,
  /** Error codes the SDK reported in its status, counted on each change. */
  statusErrors: {},
};
let repo;
let docs = [];
let random;
let intervalMs = 100;

/** A small seeded generator (mulberry32): a seed replays the same choices. */
function seeded(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function countFetches() {
  const original = window.fetch.bind(window);
  window.fetch = async (input, init) => {
    const url = new URL(typeof input === "string" || input instanceof URL ? input : input.url, location.href);
    const ours = url.pathname.startsWith("/v1/");
    try {
      const response = await original(input, init);
      if (ours) {
        state.fetches++;
        if (!response.ok) state.httpErrors[response.status] = (state.httpErrors[response.status] ?? 0) + 1;
      }
      return response;
    } catch (error) {
      if (ours && error?.name !== "AbortError") state.fetchFailures++;
      throw error;
    }
  };
}

/** Opens the repo and every document; writing starts with `start()`. */
export async function open({ name, token, docIds, seed, writeIntervalMs }) {
  state.name = name;
  random = seeded(seed);
  intervalMs = writeIntervalMs;
  countFetches();
  repo = await Repo.open({
    name: `chaos-${name}`,
    endpoint: location.origin,
    token: () => token,
    // Faults last seconds: retry within a second or two rather than the default 30 s cap.
    minBackoffMs: 100,
    maxBackoffMs: 2000,
  });
  repo.onStatus((status) => {
    if (status.lastError) {
      const code = status.lastError.code;
      state.statusErrors[code] = (state.statusErrors[code] ?? 0) + 1;
    }
  });
  docs = await Promise.all(docIds.map((id) => repo.find(id)));
  state.unacked = docs.map(() => []);
  setInterval(noteAcknowledgements, 100);
}

export function start() {
  state.writing = true;
  setTimeout(tick, 0);
}

export function stop() {
  state.writing = false;
}

function tick() {
  noteAcknowledgements();
  if (!state.writing) return;
  const index = Math.floor(random() * docs.length);
  const value = state.writesMade + 1;
  const key = `${state.name}-${value}`;
  state.writesMade++;
  try {
    docs[index].set(key, value);
    state.unacked[index].push({ doc: docs[index].id, key, value });
  } catch (error) {
    state.writeErrors.push(`${docs[index].id}:${key}: ${error?.code ?? ""} ${error?.message ?? error}`);
  }
  setTimeout(tick, intervalMs * (0.5 + random()));
}

/** Called in a task after the writes it covers (see the top of this file). */
function noteAcknowledgements() {
  docs.forEach((doc, index) => {
    const waiting = state.unacked[index];
    if (waiting.length > 0 && doc.status.pendingChanges === 0) {
      state.acked.push(...waiting);
      state.unacked[index] = [];
    }
  });
}

function numbers(value) {
  const out = {};
  for (const [key, v] of Object.entries(value)) {
    if (typeof v === "number" || typeof v === "bigint") out[key] = Number(v);
  }
  return out;
}

/** Everything the checker needs from this client. */
export function snapshot() {
  noteAcknowledgements();
  return {
    name: state.name,
    writesMade: state.writesMade,
    acked: state.acked,
    unacked: state.unacked.reduce((n, w) => n + w.length, 0),
    writeErrors: state.writeErrors,
    httpErrors: state.httpErrors,
    fetchFailures: state.fetchFailures,
    fetches: state.fetches,
    statusErrors: state.statusErrors,
    docs: Object.fromEntries(
      docs.map((doc) => [
        doc.id,
        { heads: [...doc.heads()].sort(), pending: doc.status.pendingChanges, values: numbers(doc.value()) },
      ]),
    ),
  };
}
