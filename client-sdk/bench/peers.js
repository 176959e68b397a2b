// The peers the benchmark compares against, bundled by run.mjs with esbuild.
export * as Automerge from "@automerge/automerge/slim";
export * as Y from "yjs";
export { IndexeddbPersistence } from "y-indexeddb";
