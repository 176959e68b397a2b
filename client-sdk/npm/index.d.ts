// EdgeSync: local-first documents with instant writes, IndexedDB persistence and
// background sync through the EdgeSync edge.

/** One step of a path: a map key or a list index. */
export type PathSegment = string | number;
/** Where a value lives in a document, e.g. `["todos", 0, "title"]` (a lone string is a one-key path). */
export type Path = readonly PathSegment[] | string;

/** A value that can be stored. Strings become collaborative text (splice them); use ImmutableString for atomic strings. */
export type StorableValue =
  | string
  | number
  | boolean
  | null
  | bigint
  | Date
  | Uint8Array
  | Counter
  | ImmutableString
  | readonly StorableValue[]
  | { readonly [key: string]: StorableValue };

/** Stable error codes of {@link EdgeSyncError}. */
export type ErrorCode =
  | "invalid_path"
  | "invalid_value"
  | "invalid_argument"
  | "not_found"
  | "corrupt_storage"
  | "storage"
  | "closed"
  | "network"
  | "unauthenticated"
  | "forbidden"
  | "protocol"
  | "internal";

/** Thrown by the API (and reported in statuses): `code` is stable, `message` is for people. */
export class EdgeSyncError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string);
}

/** A counter: concurrent increments add up. Read back as a Counter (`valueOf()` gives the number). */
export class Counter {
  readonly value: number;
  constructor(value?: number);
  valueOf(): number;
  toJSON(): number;
}

/** A string stored atomically (last writer wins) rather than as collaborative text. */
export class ImmutableString {
  readonly value: string;
  constructor(value: string);
  toJSON(): string;
}

/** Sync status of a document or (folded over its documents) of a repo. */
export interface SyncStatus {
  /** The browser reports a network connection (online/offline events). */
  readonly online: boolean;
  /** A sync round is in flight. */
  readonly syncing: boolean;
  /** Local changes not yet acknowledged (made durable) by any region. */
  readonly pendingChanges: number;
  /** `Date.now()` when the last sync round completed, or null. */
  readonly lastSyncAt: number | null;
  /** The region that served the last round (the edge's `x-edge-region`), or null. */
  readonly region: string | null;
  /** The last failure, until the next success. */
  readonly lastError: { readonly code: ErrorCode; readonly message: string } | null;
}

/** Where a change came from. */
export type ChangeOrigin = "local" | "tab" | "remote" | "storage";

export interface ChangeEvent<T> {
  /** The document after the change: a frozen plain value, materialised on first access. */
  readonly value: T;
  readonly origin: ChangeOrigin;
}

export interface RepoOptions {
  /** IndexedDB database and BroadcastChannel name (default "edgesync"). Tabs with the same name share documents. */
  name?: string;
  /** Base URL of the edge (or a region server); omit for a local-only repo. */
  endpoint?: string;
  /** Returns the bearer token (or a promise of it); called with `true` after a 401 to force a refresh. */
  token?: (forceRefresh: boolean) => string | Promise<string>;
  /** "task" (default): the writes of one task become one change; "write": one change per write. */
  changeGrouping?: "task" | "write";
  /** Long-poll the server for remote changes (default true). */
  watch?: boolean;
  /** First retry delay after a failed round (default 500 ms); doubles up to maxBackoffMs (default 30 s), with jitter. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** How long one watch waits on the server (default 25 000 ms, at most 30 000). */
  watchWaitMs?: number;
  /** Where the .wasm file is, if not next to index.js (see initialize). */
  wasm?: WasmSource;
}

export type WasmSource = string | URL | Request | Response | BufferSource | WebAssembly.Module;

/** Loads the wasm module (Repo.open does it for you). */
export function initialize(wasm?: WasmSource): Promise<unknown>;

export class Repo {
  private constructor();
  /** Opens the local database and, with an endpoint, starts background sync. */
  static open(options?: RepoOptions): Promise<Repo>;
  /** Creates a document, at once; it is persisted at the end of the task. */
  create<T extends object = Record<string, unknown>>(initial?: T, options?: { id?: string }): DocHandle<T>;
  /** Opens a stored document (or, with an endpoint, one that only the server has yet). */
  find<T extends object = Record<string, unknown>>(id: string): Promise<DocHandle<T>>;
  /** Ids of every document on this device. */
  list(): Promise<string[]>;
  /** Deletes a document from this device (and from other tabs' memory). */
  delete(id: string): Promise<void>;
  /** Resolves once every write made so far is durable in IndexedDB. */
  flush(): Promise<void>;
  /** Writes everything out, stops syncing, closes every document. */
  close(): Promise<void>;
  readonly status: SyncStatus;
  /** Calls `listener` on every status change; returns the unsubscribe function. */
  onStatus(listener: (status: SyncStatus) => void): () => void;
  /** Bytes this document occupies in IndexedDB. */
  storedBytes(id: string): Promise<number>;
}

export class DocHandle<T extends object = Record<string, unknown>> {
  private constructor();
  readonly id: string;
  readonly closed: boolean;
  /** The whole document as a frozen plain value (cached until the next change). */
  value(): T;
  /** The value at `path`, or undefined. */
  get(path: Path): unknown;
  /** Sets a map key or list element (index = length appends). */
  set(path: Path, value: StorableValue): void;
  /** Deletes a map key or list element. */
  delete(path: Path): void;
  /** Inserts into the list at `path` before `index`. */
  insert(path: Path, index: number, value: StorableValue): void;
  /** Appends to the list at `path`. */
  push(path: Path, value: StorableValue): void;
  /** Moves a list element (copy + delete: concurrent moves of one element keep both copies). */
  move(path: Path, from: number, to: number): void;
  /** Splices a text (`insert` is a string; indices are UTF-16 units like JS strings) or a list (`insert` is an array). */
  splice(path: Path, index: number, deleteCount: number, insert?: string | readonly StorableValue[]): void;
  /** Adds `by` (default 1) to the Counter at `path`. */
  increment(path: Path, by?: number): void;
  /** Calls `callback` after every change; returns the unsubscribe function. */
  subscribe(callback: (event: ChangeEvent<T>) => void): () => void;
  readonly status: SyncStatus;
  onStatus(listener: (status: SyncStatus) => void): () => void;
  /** Current heads (hex change hashes). */
  heads(): string[];
  /** Writes the document out and closes it for every handle. */
  close(): Promise<void>;
}
