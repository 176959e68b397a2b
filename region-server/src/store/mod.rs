//! Durable document storage behind a trait, so a shared database can later serve
//! several stateless instances of one region. SQLite is the embedded default.
//!
//! A document is a snapshot (a compacted `Automerge::save`) plus incremental change
//! rows. Every row carries a region-wide sequence number that orders writes and
//! lets replication remember how far each peer is known to be in sync.

mod sqlite;

pub use sqlite::SqliteStore;

use sync_protocol::DocId;

/// A document as stored.
#[derive(Debug, Default, Clone)]
pub struct StoredDoc {
    pub snapshot: Option<Vec<u8>>,
    /// Incremental change chunks newer than the snapshot, in write order.
    pub changes: Vec<Vec<u8>>,
    /// Sequence number of the newest write to this document.
    pub last_seq: u64,
}

/// One write; a batch of them commits atomically.
#[derive(Debug, Clone)]
pub enum WriteOp {
    /// New changes (concatenated raw automerge changes) for a document.
    AppendChanges { doc: DocId, seq: u64, data: Vec<u8> },
    /// Replace the snapshot and drop change rows up to `through_seq`, which it covers.
    Compact { doc: DocId, snapshot: Vec<u8>, through_seq: u64 },
    /// `peer` holds everything this region held of `doc` at `seq`.
    PeerSynced { peer: String, doc: DocId, seq: u64 },
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] rusqlite::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("storage I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// Counts for `/v1/status` and `/metrics`.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct StoreStats {
    pub documents: u64,
    pub change_rows: u64,
}

/// Durable storage. Methods block; callers run them off the async executor.
pub trait Store: Send + Sync + 'static {
    fn load(&self, doc: &DocId) -> Result<Option<StoredDoc>, StoreError>;
    /// Applies every op in one durable transaction: when this returns `Ok`, the
    /// writes survive a crash or power loss.
    fn commit(&self, ops: &[WriteOp]) -> Result<(), StoreError>;
    /// The highest sequence number ever written.
    fn max_seq(&self) -> Result<u64, StoreError>;
    /// Documents whose newest write is newer than what `peer` is known to hold,
    /// with that newest sequence number.
    fn docs_behind(&self, peer: &str) -> Result<Vec<(DocId, u64)>, StoreError>;
    /// Documents with more than `min_rows` change rows (compaction candidates).
    fn docs_to_compact(&self, min_rows: u64, limit: usize) -> Result<Vec<DocId>, StoreError>;
    /// Proves the store can take a write right now (for `/readyz`).
    fn check_writable(&self) -> Result<(), StoreError>;
    fn stats(&self) -> Result<StoreStats, StoreError>;
}
