// "Take this page offline" for the chaos controls: the page then sees exactly
// what it sees when the network is gone, without touching the real network.
//
// - every fetch fails with the browser's own network error (TypeError), and
//   requests in flight (the SDK's long-poll) fail the same way;
// - navigator.onLine reads false and an `offline` event is dispatched, so the
//   SDK pauses sync as it does for a real outage; going back dispatches `online`;
// - the browser's real `online` events are held back meanwhile.
//
// It must be installed before the SDK is loaded (main.js imports it first) so
// the SDK's fetches and connectivity listeners go through it. The choice
// survives a reload (sessionStorage), as a real outage would.

const STORAGE_KEY = "edgesync-demo:simulated-offline";
const realFetch = globalThis.fetch.bind(globalThis);
const onLineGetter = Object.getOwnPropertyDescriptor(Navigator.prototype, "onLine")?.get;

let offline = readStored();
const inFlight = new Set();
const listeners = new Set();

function readStored() {
  try {
    return sessionStorage.getItem(STORAGE_KEY) === "1";
  } catch {
    return false;
  }
}

function store(value) {
  try {
    if (value) sessionStorage.setItem(STORAGE_KEY, "1");
    else sessionStorage.removeItem(STORAGE_KEY);
  } catch {
    // Private mode without storage: the choice just does not survive a reload.
  }
}

/** What Chromium's fetch rejects with when the network is gone. */
function networkError() {
  return new TypeError("Failed to fetch");
}

function signalOf(input, init) {
  if (init && init.signal) return init.signal;
  return input instanceof Request ? input.signal : undefined;
}

function offlineAwareFetch(input, init) {
  if (offline) return Promise.reject(networkError());
  const cut = new AbortController();
  const own = signalOf(input, init);
  const signal = own ? AbortSignal.any([own, cut.signal]) : cut.signal;
  inFlight.add(cut);
  return realFetch(input, { ...init, signal })
    .catch((error) => {
      // Cut by going offline (not by the caller): fail as the network would.
      if (cut.signal.aborted && !(own && own.aborted)) throw networkError();
      throw error;
    })
    .finally(() => inFlight.delete(cut));
}

globalThis.fetch = offlineAwareFetch;

if (onLineGetter) {
  Object.defineProperty(navigator, "onLine", {
    configurable: true,
    get: () => !offline && onLineGetter.call(navigator),
  });
}

// Registered before anyone else's listener, in the capture phase: while the
// page is offline on purpose, the browser's own "back online" must not reach
// the SDK.
globalThis.addEventListener(
  "online",
  (event) => {
    if (offline && event.isTrusted) event.stopImmediatePropagation();
  },
  { capture: true },
);

/** True while the page is offline on purpose. */
export function isSimulatedOffline() {
  return offline;
}

/** Takes the page offline (true) or brings it back (false). */
export function setSimulatedOffline(value) {
  const next = Boolean(value);
  if (next === offline) return;
  offline = next;
  store(next);
  if (next) {
    for (const cut of inFlight) cut.abort();
    globalThis.dispatchEvent(new Event("offline"));
  } else if (!onLineGetter || onLineGetter.call(navigator)) {
    globalThis.dispatchEvent(new Event("online"));
  }
  for (const listener of listeners) listener(next);
}

/** Calls `listener(offline)` when the simulated state changes; returns the unsubscribe function. */
export function onSimulatedOfflineChange(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** fetch that ignores the simulation: for the chaos controls themselves. */
export { realFetch };
