// Replays the automerge-paper editing trace, one keystroke per write, through
// the EdgeSync SDK and through its peers, in this page. run.mjs calls
// `window.runVariant(name)` once per fresh browser context.
import { Repo } from "/pkg/index.js";
import { Automerge, Y, IndexeddbPersistence } from "/bench/peers.bundle.js";

const TEXT = ["text"];
/** Longest wait for a peer's writes to become durable before reporting "not within". */
const DURABLE_LIMIT_MS = 60_000;

async function loadTrace() {
  const trace = await (await fetch("/trace.json")).json();
  const ops = [];
  for (const txn of trace.txns) for (const patch of txn.patches) ops.push(patch);
  return { ops, endContent: trace.endContent };
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

function summarize(times, total, durable, storedBytes, ok) {
  const sorted = Float64Array.from(times).sort();
  return { writes: times.length, totalMs: total, p50Us: percentile(sorted, 0.5) * 1000, p99Us: percentile(sorted, 0.99) * 1000, maxUs: sorted[sorted.length - 1] * 1000, durableMs: durable, storedBytes, ok };
}

/**
 * Calls `write(pos, del, ins)` once per keystroke, timing each call; returns
 * the per-write times, the loop's start and its total duration. Every variant
 * pays the same closure call and timer reads.
 */
function replay(ops, write) {
  const times = new Float64Array(ops.length);
  const start = performance.now();
  for (let i = 0; i < ops.length; i++) {
    const [pos, del, ins] = ops[i];
    const t = performance.now();
    write(pos, del, ins);
    times[i] = performance.now() - t;
  }
  return { times, start, total: performance.now() - start };
}

/** A macrotask boundary (not a microtask): what the browser gives an app between frames. */
const channel = new MessageChannel();
function nextTask() {
  return new Promise((resolve) => {
    channel.port1.onmessage = resolve;
    channel.port2.postMessage(null);
  });
}

/**
 * Like `replay`, but ends the task after about one frame of work (FRAME_MS), as
 * an app's event handlers do: the SDK's default grouping then makes one
 * automerge change per frame instead of one for the whole loop. The total is
 * wall time, so it includes the end-of-task commits and whatever the SDK runs
 * between frames (persistence, tab broadcast).
 */
const FRAME_MS = 16;
async function replayPerFrame(ops, write) {
  const times = new Float64Array(ops.length);
  const start = performance.now();
  let frameStart = start;
  let frames = 1;
  for (let i = 0; i < ops.length; i++) {
    const [pos, del, ins] = ops[i];
    const t = performance.now();
    write(pos, del, ins);
    const end = performance.now();
    times[i] = end - t;
    if (end - frameStart >= FRAME_MS) {
      await nextTask();
      frameStart = performance.now();
      frames++;
    }
  }
  return { times, start, total: performance.now() - start, frames };
}

async function sdk(trace, grouping, { perFrame = false } = {}) {
  const name = `bench-sdk-${grouping}${perFrame ? "-per-frame" : ""}`;
  const repo = await Repo.open({ name, changeGrouping: grouping });
  const doc = repo.create({ text: "" });
  let events = 0;
  doc.subscribe(() => events++);
  await repo.flush();
  const { ops } = trace;
  const splice = (pos, del, ins) => doc.splice(TEXT, pos, del, ins);
  const { times, start, total, frames } = perFrame ? await replayPerFrame(ops, splice) : replay(ops, splice);
  await repo.flush();
  const durable = performance.now() - start;
  const ok = doc.get(TEXT) === trace.endContent && events === ops.length;
  window.keepAlive = { repo, doc };
  const stored = await repo.storedBytes(doc.id);
  const result = summarize(times, total, durable, stored, ok);
  if (frames) result.note = `${frames.toLocaleString("en-US")} tasks of ~${FRAME_MS} ms, so as many changes`;
  return result;
}

async function automerge(trace) {
  await Automerge.initializeWasm(await fetch("/automerge.wasm"));
  let doc = Automerge.from({ text: "" });
  const { times, total } = replay(trace.ops, (pos, del, ins) => {
    doc = Automerge.change(doc, (d) => Automerge.splice(d, TEXT, pos, del, ins));
  });
  window.keepAlive = doc;
  // No persistence of its own: report the size of a full save.
  const saved = Automerge.save(doc);
  return summarize(times, total, null, saved.byteLength, doc.text === trace.endContent);
}

function idbDone(db, store) {
  // Transactions on one store run in order: when this one completes, all earlier writes have.
  return new Promise((resolve, reject) => {
    const tx = db.transaction([store], "readwrite");
    tx.oncomplete = resolve;
    tx.onerror = () => reject(tx.error);
  });
}

function idbBytes(db, store) {
  return new Promise((resolve, reject) => {
    const req = db.transaction([store]).objectStore(store).getAll();
    req.onsuccess = () => resolve(req.result.reduce((n, v) => n + (v.byteLength ?? 0), 0));
    req.onerror = () => reject(req.error);
  });
}

async function yjs(trace) {
  const ydoc = new Y.Doc();
  const persistence = new IndexeddbPersistence("bench-yjs", ydoc);
  await persistence.whenSynced;
  const text = ydoc.getText("text");
  let events = 0;
  text.observe(() => events++);
  const { ops } = trace;
  const { times, start, total } = replay(ops, (pos, del, ins) => {
    ydoc.transact(() => {
      if (del) text.delete(pos, del);
      if (ins) text.insert(pos, ins);
    });
  });
  // y-indexeddb writes every update in its own IndexedDB transaction; give up
  // waiting (and report that) rather than run for many minutes.
  const gaveUp = Symbol("timeout");
  const bounded = (promise) => Promise.race([promise, new Promise((r) => setTimeout(() => r(gaveUp), DURABLE_LIMIT_MS))]);
  const done = await bounded(idbDone(persistence.db, "updates"));
  const durable = done === gaveUp ? null : performance.now() - start;
  const stored = done === gaveUp ? null : await bounded(idbBytes(persistence.db, "updates"));
  window.keepAlive = { ydoc, persistence };
  const result = summarize(times, total, durable, stored === gaveUp ? null : stored, text.toString() === trace.endContent && events === ops.length);
  if (durable === null) result.note = `not durable within ${DURABLE_LIMIT_MS / 1000} s`;
  return result;
}

async function memoryBytes() {
  if (!self.crossOriginIsolated || !performance.measureUserAgentSpecificMemory) return null;
  return (await performance.measureUserAgentSpecificMemory()).bytes;
}

const variants = {
  "sdk": (trace) => sdk(trace, "task"),
  "sdk-per-frame": (trace) => sdk(trace, "task", { perFrame: true }),
  "sdk-change-per-write": (trace) => sdk(trace, "write"),
  "automerge": automerge,
  "yjs+y-indexeddb": yjs,
};

window.runVariant = async (name) => {
  const trace = await loadTrace();
  const before = await memoryBytes();
  const result = await variants[name](trace);
  const after = await memoryBytes();
  result.memoryBytes = before === null ? null : after - before;
  return result;
};
window.benchReady = true;
