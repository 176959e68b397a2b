// EdgeSync: the package entry. Loads the wasm module once (on first
// Repo.open, or explicitly with initialize()) and re-exports the API.
import initWasm, * as wasm from "./wasm/edgesync.js";
export { Counter, ImmutableString, EdgeSyncError } from "./support.js";

let ready = null;

/**
 * Loads and instantiates the wasm module. Repo.open() calls it for you; call it
 * yourself to start loading early or to pass where the .wasm file lives
 * (a URL, a Response, or a compiled WebAssembly.Module).
 */
export function initialize(wasmSource) {
  if (!ready) {
    const source = wasmSource ?? new URL("./wasm/edgesync_bg.wasm", import.meta.url);
    ready = initWasm({ module_or_path: source }).catch((error) => {
      ready = null;
      throw error;
    });
  }
  return ready;
}

/** A set of local documents, persisted in IndexedDB and synced with an endpoint. */
export class Repo {
  constructor() {
    throw new TypeError("use `await Repo.open(options)`");
  }

  static async open(options = {}) {
    await initialize(options.wasm);
    return wasm.Repo.open(options);
  }

  static [Symbol.hasInstance](value) {
    return value instanceof wasm.Repo;
  }
}

/** A handle on one open document (returned by repo.create and repo.find). */
export class DocHandle {
  constructor() {
    throw new TypeError("use repo.create() or repo.find()");
  }

  static [Symbol.hasInstance](value) {
    return value instanceof wasm.DocHandle;
  }
}
