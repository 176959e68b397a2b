//! The EdgeSync sync protocol (see PROTOCOL.md). Runtime-free: compiles natively and to wasm32.
//!
//! - [`DocId`]: validated document ids.
//! - [`SyncBatchRequest`] / [`SyncBatchResponse`]: the binary batch envelope.
//! - [`WatchRequest`] / [`WatchResponse`]: long-poll change notification.
//! - [`Claims`]: what a verified token grants.
//! - [`serve_round`]: the stateless server side of a round.
//! - [`ClientSync`]: the client side, used by the SDK and by region-to-region replication.

pub mod auth;
pub mod batch;
pub mod client;
pub mod doc_id;
pub mod document;
pub mod error;
pub mod http;
mod leb128;
pub mod server;
pub mod watch;

pub use auth::{Access, Claims, DocPattern, InvalidPattern};
pub use automerge;
pub use batch::{
    BatchDecodeError, DocMessage, DocReply, SyncBatchRequest, SyncBatchResponse, BATCH_MAGIC, MAX_BATCH_DOCS,
    PROTOCOL_VERSION,
};
pub use client::{ClientSync, ClientSyncError, ReplyOutcome};
pub use doc_id::{DocId, InvalidDocId, MAX_DOC_ID_LEN};
pub use document::SyncDocument;
pub use error::{ApiError, ErrorBody, ErrorCode};
pub use server::{decode_message, serve_round, RoundAccess, RoundError, RoundResult};
pub use watch::{WatchRequest, WatchResponse, DEFAULT_WATCH_WAIT_MS, MAX_WATCH_WAIT_MS};

/// Default limit on a request body (PROTOCOL.md, "Limits"); servers make it configurable.
pub const DEFAULT_MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
