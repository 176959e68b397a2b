//! EdgeSync browser SDK (issue 4): local-first automerge documents whose writes
//! apply instantly, persist in IndexedDB and sync in the background through the
//! edge. The runtime-free core (documents, paths, values, splice coalescing)
//! compiles natively for fast tests; everything touching the browser is wasm32-only.

pub mod document;
pub mod error;
mod gap_buffer;
pub mod path;
pub mod pending_splice;
pub mod value;
