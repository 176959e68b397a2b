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

#[cfg(target_arch = "wasm32")]
mod api;
#[cfg(target_arch = "wasm32")]
mod entry;
#[cfg(target_arch = "wasm32")]
mod idb;
#[cfg(target_arch = "wasm32")]
mod js_value;
#[cfg(target_arch = "wasm32")]
mod listeners;
#[cfg(target_arch = "wasm32")]
mod options;
#[cfg(target_arch = "wasm32")]
mod repo;
#[cfg(target_arch = "wasm32")]
mod status;
#[cfg(target_arch = "wasm32")]
mod storage;
#[cfg(target_arch = "wasm32")]
mod sync;
#[cfg(target_arch = "wasm32")]
mod tabs;
#[cfg(target_arch = "wasm32")]
mod tasks;
#[cfg(target_arch = "wasm32")]
mod transport;

#[cfg(target_arch = "wasm32")]
pub use api::{DocHandle, Repo};

#[cfg(all(test, target_arch = "wasm32"))]
mod browser_tests;
#[cfg(all(test, target_arch = "wasm32"))]
mod browser_sync_tests;
#[cfg(all(test, target_arch = "wasm32"))]
mod test_support;
