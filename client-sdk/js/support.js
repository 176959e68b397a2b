// Small JavaScript helpers the wasm module imports, and the value classes the
// package exports. wasm-bindgen copies this file into the generated package; the
// package entry re-exports that copy, so there is exactly one of each class.

const BRAND = Symbol.for("edgesync.kind");

/** Errors thrown (or reported in statuses) by EdgeSync; `code` is stable. */
export class EdgeSyncError extends Error {
  constructor(code, message) {
    super(message);
    this.name = "EdgeSyncError";
    this.code = code;
  }
}

/** A counter: concurrent increments add up instead of overwriting each other. */
export class Counter {
  constructor(value = 0) {
    if (!Number.isSafeInteger(value)) throw new EdgeSyncError("invalid_value", `a Counter needs a safe integer, got ${value}`);
    this.value = value;
    Object.freeze(this);
  }
  get [BRAND]() { return "counter"; }
  valueOf() { return this.value; }
  toJSON() { return this.value; }
  toString() { return String(this.value); }
}

/** A string stored as one atomic value (last writer wins) instead of collaborative text. */
export class ImmutableString {
  constructor(value) {
    if (typeof value !== "string") throw new EdgeSyncError("invalid_value", "an ImmutableString needs a string");
    this.value = value;
    Object.freeze(this);
  }
  get [BRAND]() { return "immutable-string"; }
  toString() { return this.value; }
  toJSON() { return this.value; }
}

export function post(url, headers, body, signal) {
  return fetch(url, { method: "POST", headers, body, signal });
}

export function makeError(code, message) {
  return new EdgeSyncError(code, message);
}

export function makeCounter(value) {
  return new Counter(value);
}

export function brandOf(value) {
  const brand = value[BRAND];
  return typeof brand === "string" ? brand : undefined;
}

export function isPlainObject(value) {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * Calls every subscriber with one event whose `value` is materialised on first
 * access only. A throwing subscriber is reported and does not stop the others.
 */
export function notify(subscribers, materialise, origin) {
  let value;
  let done = false;
  const event = {
    origin,
    get value() {
      if (!done) {
        value = materialise();
        done = true;
      }
      return value;
    },
  };
  for (const subscriber of subscribers) {
    try {
      subscriber(event);
    } catch (error) {
      report(error);
    }
  }
}

/** Calls status listeners, reporting (not propagating) their exceptions. */
export function callListeners(listeners, status) {
  for (const listener of listeners) {
    try {
      listener(status);
    } catch (error) {
      report(error);
    }
  }
}

function report(error) {
  if (typeof globalThis.reportError === "function") globalThis.reportError(error);
  else setTimeout(() => { throw error; });
}

/** Resolves after `ms` milliseconds (works in windows and workers). */
export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Runs `callback` once at the end of the current task. */
export function atEndOfTask(callback) {
  queueMicrotask(callback);
}

/** Runs `callback` after `ms` milliseconds. */
export function later(callback, ms) {
  setTimeout(callback, ms);
}

/**
 * Holds the Web Lock `name` until `released` resolves; resolves the returned
 * promise with true once held. Without the Web Locks API every holder wins.
 */
export function holdLock(name, released) {
  const locks = globalThis.navigator && globalThis.navigator.locks;
  if (!locks) return Promise.resolve(true);
  return new Promise((resolve, reject) => {
    locks.request(name, () => {
      resolve(true);
      return released;
    }).catch(reject);
  });
}

/**
 * Subscribes to the global online/offline events:
 * `[onlineNow, unsubscribe]`.
 */
export function watchConnectivity(onChange) {
  const online = () => onChange(true);
  const offline = () => onChange(false);
  const target = typeof globalThis.addEventListener === "function" ? globalThis : null;
  if (target) {
    target.addEventListener("online", online);
    target.addEventListener("offline", offline);
  }
  const unsubscribe = () => {
    if (target) {
      target.removeEventListener("online", online);
      target.removeEventListener("offline", offline);
    }
  };
  return [globalThis.navigator ? globalThis.navigator.onLine !== false : true, unsubscribe];
}

/**
 * A wait that ends after `ms` milliseconds (never if `ms` < 0) or when `wake()`
 * is called, whichever comes first: `[promise, wake]`.
 */
export function waiter(ms) {
  let wake;
  const promise = new Promise((resolve) => {
    wake = resolve;
    if (ms >= 0) setTimeout(resolve, ms);
  });
  return [promise, wake];
}
