//! Documents in memory over durable storage.
//!
//! Hot documents stay loaded in a bounded cache. Every mutation goes through
//! [`DocService::update`]: the closure runs under the document's lock, new changes
//! are handed to the group-commit writer, and the caller gets its result only
//! once everything the document held at that moment is durable. So a reply can
//! never show heads that a crash could lose.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use automerge::{Automerge, ChangeHash, ReadDoc};
use sync_protocol::DocId;
use tokio::sync::watch;

use crate::metrics::Metrics;
use crate::store::{Store, StoreError, StoredDoc, WriteOp};
use crate::writer::{Submission, WriterHandle};

#[derive(Debug, thiserror::Error)]
pub enum DocError {
    #[error("storage is unavailable: {0}")]
    Storage(String),
    #[error("stored document {0} cannot be loaded: {1}")]
    Corrupt(DocId, String),
    #[error("the server is shutting down")]
    ShuttingDown,
    #[error("processing document {0} failed unexpectedly; it was reloaded from storage")]
    Panicked(DocId),
}

impl From<StoreError> for DocError {
    fn from(e: StoreError) -> Self {
        Self::Storage(e.to_string())
    }
}

/// Receives every durable change (replication, watches).
pub type ChangeListener = Box<dyn Fn(&DocId, u64) + Send + Sync>;

#[derive(Debug, Clone, Copy, Default)]
struct Durability {
    /// Every write of this document up to this sequence number is durable.
    seq: u64,
    /// A commit failed: memory may hold changes the store lacks, so the entry is dropped.
    poisoned: bool,
}

struct Loaded {
    doc: Automerge,
    /// Sequence number of the newest write handed to the writer.
    last_seq: u64,
}

struct DocEntry {
    id: DocId,
    loaded: tokio::sync::Mutex<Option<Loaded>>,
    durable: watch::Sender<Durability>,
    /// Highest sequence handed to the writer (readable without the lock).
    submitted: AtomicU64,
    last_used: AtomicU64,
    poisoned: AtomicBool,
}

/// The result of [`DocService::update`].
pub struct Updated<T> {
    pub value: T,
    /// The document's newest sequence number when the closure ran (all durable now).
    pub seq: u64,
    pub heads: Vec<ChangeHash>,
    pub changes_applied: usize,
}

pub struct DocService {
    store: Arc<dyn Store>,
    writer: WriterHandle,
    cache: Mutex<HashMap<DocId, Arc<DocEntry>>>,
    cache_capacity: usize,
    clock: AtomicU64,
    next_seq: AtomicU64,
    metrics: Arc<Metrics>,
    watchers: Mutex<HashMap<DocId, watch::Sender<u64>>>,
    listener: OnceLock<ChangeListener>,
}

impl DocService {
    pub fn new(
        store: Arc<dyn Store>,
        writer: WriterHandle,
        cache_capacity: usize,
        metrics: Arc<Metrics>,
    ) -> Result<Arc<Self>, StoreError> {
        let max_seq = store.max_seq()?;
        Ok(Arc::new(Self {
            store,
            writer,
            cache: Mutex::new(HashMap::new()),
            cache_capacity,
            clock: AtomicU64::new(0),
            next_seq: AtomicU64::new(max_seq + 1),
            metrics,
            watchers: Mutex::new(HashMap::new()),
            listener: OnceLock::new(),
        }))
    }

    /// Registers the single listener for durable changes (the replication manager).
    pub fn set_listener(&self, listener: ChangeListener) {
        let _ = self.listener.set(listener);
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn writer(&self) -> &WriterHandle {
        &self.writer
    }

    /// Runs `f` on the document under its lock, persists what it changed, and
    /// returns once the document's state as `f` left it is durable.
    pub async fn update<T>(
        self: &Arc<Self>,
        id: &DocId,
        f: impl FnOnce(&mut Automerge) -> T,
    ) -> Result<Updated<T>, DocError> {
        let entry = self.entry(id);
        let (value, target, heads, changes_applied) = {
            let mut guard = entry.loaded.lock().await;
            let loaded = self.ensure_loaded(&entry, &mut guard).await?;
            let before = loaded.doc.get_heads();
            // A panic inside automerge (on input it should have refused) must not leave
            // a half-updated document in memory: drop it and reload from storage.
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&mut loaded.doc)));
            let Ok(value) = outcome else {
                *guard = None;
                return Err(DocError::Panicked(id.clone()));
            };
            let Some(loaded) = guard.as_mut() else {
                return Err(DocError::ShuttingDown);
            };
            let heads = loaded.doc.get_heads();
            let mut applied = 0;
            if heads != before {
                let changes = loaded.doc.get_changes(&before);
                applied = changes.len();
                let data: Vec<u8> = changes.iter().flat_map(|c| c.raw_bytes().iter().copied()).collect();
                let seq = self.next_seq.fetch_add(1, Ordering::SeqCst);
                self.submit_changes(&entry, seq, data)?;
                loaded.last_seq = seq;
            }
            let target = loaded.last_seq;
            // Changes waiting for missing dependencies are not stored; a stateless
            // server does not keep them either (clients resend): reload from storage.
            if !loaded.doc.get_missing_deps(&[]).is_empty() {
                *guard = None;
            }
            (value, target, heads, applied)
        };
        self.wait_durable(&entry, target).await?;
        Ok(Updated { value, seq: target, heads, changes_applied })
    }

    /// Reads the document (loading it if needed); sees only durable state.
    pub async fn read<T>(self: &Arc<Self>, id: &DocId, f: impl FnOnce(&Automerge) -> T) -> Result<T, DocError> {
        let updated = self.update(id, |doc| f(doc)).await?;
        Ok(updated.value)
    }

    /// The current heads, waiting until they are durable.
    pub async fn heads(self: &Arc<Self>, id: &DocId) -> Result<Vec<ChangeHash>, DocError> {
        self.read(id, |doc| doc.get_heads()).await
    }

    /// A receiver that changes whenever `id` gets a durable change.
    pub fn subscribe(&self, id: &DocId) -> watch::Receiver<u64> {
        let mut watchers = self.watchers.lock().unwrap_or_else(|p| p.into_inner());
        watchers.retain(|_, tx| tx.receiver_count() > 0);
        watchers.entry(id.clone()).or_insert_with(|| watch::channel(0).0).subscribe()
    }

    fn notify_changed(&self, id: &DocId, seq: u64) {
        if let Some(tx) = self.watchers.lock().unwrap_or_else(|p| p.into_inner()).get(id) {
            tx.send_replace(seq);
        }
        if let Some(listener) = self.listener.get() {
            listener(id, seq);
        }
    }

    fn submit_changes(self: &Arc<Self>, entry: &Arc<DocEntry>, seq: u64, data: Vec<u8>) -> Result<(), DocError> {
        entry.submitted.store(seq, Ordering::SeqCst);
        let service = Arc::downgrade(self);
        let done_entry = entry.clone();
        let submission = Submission {
            ops: vec![WriteOp::AppendChanges { doc: entry.id.clone(), seq, data }],
            done: Box::new(move |result| match result {
                Ok(()) => {
                    if let Some(service) = service.upgrade() {
                        service.metrics.changes_applied.inc();
                        service.notify_changed(&done_entry.id, seq);
                    }
                    done_entry.durable.send_modify(|d| d.seq = d.seq.max(seq));
                }
                Err(_) => {
                    done_entry.poisoned.store(true, Ordering::SeqCst);
                    done_entry.durable.send_modify(|d| d.poisoned = true);
                }
            }),
        };
        self.writer.submit(submission).map_err(|_| DocError::ShuttingDown)
    }

    async fn wait_durable(&self, entry: &DocEntry, target: u64) -> Result<(), DocError> {
        let mut rx = entry.durable.subscribe();
        let state = rx
            .wait_for(|d| d.seq >= target || d.poisoned)
            .await
            .map_err(|_| DocError::ShuttingDown)?;
        if state.poisoned && state.seq < target {
            return Err(DocError::Storage(format!("writing document {} failed", entry.id)));
        }
        Ok(())
    }

    async fn ensure_loaded<'a>(
        &self,
        entry: &DocEntry,
        slot: &'a mut Option<Loaded>,
    ) -> Result<&'a mut Loaded, DocError> {
        if slot.is_none() {
            // Anything handed to the writer must be in the store before we read it back.
            let submitted = entry.submitted.load(Ordering::SeqCst);
            self.wait_durable(entry, submitted).await?;
            let store = self.store.clone();
            let id = entry.id.clone();
            let loaded = tokio::task::spawn_blocking(move || -> Result<Loaded, DocError> {
                let stored = store.load(&id)?.unwrap_or_default();
                let last_seq = stored.last_seq;
                let doc = build_doc(stored).map_err(|e| DocError::Corrupt(id.clone(), e))?;
                Ok(Loaded { doc, last_seq })
            })
            .await
            .map_err(|e| DocError::Storage(format!("loading task failed: {e}")))??;
            entry.durable.send_modify(|d| d.seq = d.seq.max(loaded.last_seq));
            *slot = Some(loaded);
        }
        slot.as_mut().ok_or(DocError::ShuttingDown)
    }

    fn entry(&self, id: &DocId) -> Arc<DocEntry> {
        let now = self.clock.fetch_add(1, Ordering::Relaxed);
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = cache.get(id)
            && !entry.poisoned.load(Ordering::SeqCst)
        {
            entry.last_used.store(now, Ordering::Relaxed);
            return entry.clone();
        }
        let entry = Arc::new(DocEntry {
            id: id.clone(),
            loaded: tokio::sync::Mutex::new(None),
            durable: watch::channel(Durability::default()).0,
            submitted: AtomicU64::new(0),
            last_used: AtomicU64::new(now),
            poisoned: AtomicBool::new(false),
        });
        cache.insert(id.clone(), entry.clone());
        if cache.len() > self.cache_capacity {
            evict(&mut cache, self.cache_capacity);
        }
        self.metrics.docs_cached.set(cache.len() as i64);
        entry
    }

    /// Compacts one document: its state becomes the snapshot and covered rows go.
    pub async fn compact(self: &Arc<Self>, id: &DocId) -> Result<bool, DocError> {
        let entry = self.entry(id);
        let (snapshot, through_seq) = {
            let mut guard = entry.loaded.lock().await;
            let loaded = self.ensure_loaded(&entry, &mut guard).await?;
            let through_seq = loaded.last_seq;
            if through_seq == 0 {
                return Ok(false);
            }
            // Saving a large document takes a while: keep other tasks running meanwhile.
            let snapshot = tokio::task::block_in_place(|| loaded.doc.save());
            (snapshot, through_seq)
        };
        // The snapshot covers `through_seq`, so only durable rows may be dropped.
        self.wait_durable(&entry, through_seq).await?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.writer
            .submit(Submission {
                ops: vec![WriteOp::Compact { doc: id.clone(), snapshot, through_seq }],
                done: Box::new(move |result| {
                    let _ = tx.send(result.clone());
                }),
            })
            .map_err(|_| DocError::ShuttingDown)?;
        rx.await.map_err(|_| DocError::ShuttingDown)?.map_err(DocError::Storage)?;
        self.metrics.compactions.inc();
        Ok(true)
    }

    /// Records that `peer` holds everything this region held of `doc` at `seq`.
    pub fn record_peer_synced(&self, peer: &str, doc: &DocId, seq: u64) {
        let submission = Submission {
            ops: vec![WriteOp::PeerSynced { peer: peer.to_owned(), doc: doc.clone(), seq }],
            done: Box::new(|_| {}),
        };
        // Losing this record only costs one extra replication round later.
        let _ = self.writer.submit(submission);
    }

    pub fn cached_docs(&self) -> usize {
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// Drops the least recently used documents nobody is using, down to 90% of capacity.
fn evict(cache: &mut HashMap<DocId, Arc<DocEntry>>, capacity: usize) {
    let target = capacity - capacity / 10;
    let mut idle: Vec<(u64, DocId)> = cache
        .iter()
        .filter(|(_, entry)| Arc::strong_count(entry) == 1)
        .map(|(id, entry)| (entry.last_used.load(Ordering::Relaxed), id.clone()))
        .collect();
    idle.sort_unstable();
    let excess = cache.len().saturating_sub(target);
    for (_, id) in idle.into_iter().take(excess) {
        cache.remove(&id);
    }
}

/// Rebuilds a document from its snapshot and incremental changes.
pub fn build_doc(stored: StoredDoc) -> Result<Automerge, String> {
    let mut doc = match &stored.snapshot {
        Some(snapshot) => Automerge::load(snapshot).map_err(|e| format!("snapshot: {e}"))?,
        None => Automerge::new(),
    };
    for chunk in &stored.changes {
        doc.load_incremental(chunk).map_err(|e| format!("change row: {e}"))?;
    }
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SqliteStore;
    use crate::writer::Writer;
    use automerge::transaction::Transactable;

    fn edit(doc: &mut Automerge, key: &str) {
        let mut tx = doc.transaction();
        tx.put(automerge::ROOT, key, 1).unwrap();
        tx.commit();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn updates_are_durable_and_survive_reopen_and_compaction() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite3");
        let id = DocId::parse("doc").unwrap();
        let heads = {
            let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
            let metrics = Arc::new(Metrics::new("t"));
            let (writer, handle) = Writer::start(store.clone(), metrics.clone());
            let docs = DocService::new(store.clone(), handle, 2, metrics).unwrap();
            let rx = docs.subscribe(&id);
            for i in 0..5 {
                let updated = docs.update(&id, |doc| edit(doc, &format!("k{i}"))).await.unwrap();
                assert_eq!(updated.changes_applied, 1);
                // Durable means readable through a fresh connection right now.
                assert_eq!(store.load(&id).unwrap().unwrap().last_seq, updated.seq);
            }
            assert!(rx.has_changed().unwrap());
            assert!(docs.compact(&id).await.unwrap());
            let stored = store.load(&id).unwrap().unwrap();
            assert!(stored.snapshot.is_some() && stored.changes.is_empty());
            docs.update(&id, |doc| edit(doc, "after-compaction")).await.unwrap();
            // Evict by touching other documents (capacity 2).
            for other in ["x", "y", "z"] {
                docs.heads(&DocId::parse(other).unwrap()).await.unwrap();
            }
            let heads = docs.heads(&id).await.unwrap();
            drop(docs);
            writer.join();
            heads
        };
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
        let doc = build_doc(store.load(&id).unwrap().unwrap()).unwrap();
        assert_eq!(doc.get_heads(), heads);
        assert_eq!(doc.keys(automerge::ROOT).count(), 6);
    }
}
