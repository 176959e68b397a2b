//! Active-active replication: every region pushes its documents to every peer.
//!
//! Per peer, a task keeps the set of documents with changes the peer has not
//! confirmed ("dirty"), fed by every durable change (push on change) and by a
//! periodic scan of the store (anti-entropy, which also restores the set after a
//! restart). It syncs them in batches over `POST /v1/replicate` with one
//! `ClientSync` per document: the same stateless rounds clients use, so a round
//! both pushes our changes and pulls the peer's. While a peer is down the task
//! probes it with capped, jittered exponential back-off, and resumes the full
//! catch-up as soon as it answers, however long it was away.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use rand::Rng;
use sync_protocol::http::{CONTENT_TYPE_BATCH, PATH_HEALTHZ, PATH_REPLICATE};
use sync_protocol::{decode_message, ClientSync, DocId, DocMessage, SyncBatchRequest, SyncBatchResponse};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::auth::Authenticator;
use crate::config::PeerSpec;
use crate::docs::DocService;
use crate::metrics::{Metrics, PeerLabels, PeerResultLabels};

/// Documents per replication request.
const BATCH_DOCS: usize = 128;
/// `ClientSync` states kept per peer; a dropped one costs one extra round later.
const MAX_SYNC_STATES: usize = 50_000;
/// How long a document whose round failed waits before it is tried again.
const DOC_RETRY: Duration = Duration::from_secs(2);
const PROBE_TIMEOUT: Duration = Duration::from_millis(250);
const FIRST_BACKOFF: Duration = Duration::from_millis(25);
const TOKEN_REFRESH: Duration = Duration::from_secs(30 * 60);

#[derive(Debug, Clone, Copy)]
struct Dirty {
    /// Newest write of the document that the peer has not confirmed.
    seq: u64,
    /// When the oldest unconfirmed write was noticed.
    since: Instant,
    retry_at: Option<Instant>,
}

#[derive(Default)]
struct PeerState {
    dirty: HashMap<DocId, Dirty>,
    syncs: HashMap<DocId, ClientSync>,
    up: bool,
    last_success: Option<Instant>,
    last_error: Option<String>,
    failures: u32,
}

struct Peer {
    name: String,
    url: reqwest::Url,
    state: Mutex<PeerState>,
    wake: Notify,
}

impl Peer {
    fn lock(&self) -> std::sync::MutexGuard<'_, PeerState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn mark_dirty(&self, doc: &DocId, seq: u64, now: Instant) {
        let mut state = self.lock();
        state
            .dirty
            .entry(doc.clone())
            .and_modify(|d| d.seq = d.seq.max(seq))
            .or_insert(Dirty { seq, since: now, retry_at: None });
    }
}

pub struct ReplicationSettings {
    pub anti_entropy: Duration,
    pub max_backoff: Duration,
    pub request_timeout: Duration,
}

pub struct Replication {
    docs: Arc<DocService>,
    peers: Vec<Arc<Peer>>,
    metrics: Arc<Metrics>,
    settings: ReplicationSettings,
}

#[derive(Debug, serde::Serialize)]
pub struct PeerStatus {
    pub name: String,
    pub url: String,
    pub up: bool,
    pub docs_behind: usize,
    pub lag_seconds: f64,
    pub last_success_seconds_ago: Option<f64>,
    pub last_error: Option<String>,
}

impl Replication {
    pub fn new(
        docs: Arc<DocService>,
        peers: &[PeerSpec],
        metrics: Arc<Metrics>,
        settings: ReplicationSettings,
    ) -> Arc<Self> {
        let peers = peers
            .iter()
            .map(|p| {
                Arc::new(Peer {
                    name: p.name.clone(),
                    url: p.url.clone(),
                    state: Mutex::new(PeerState { up: true, ..PeerState::default() }),
                    wake: Notify::new(),
                })
            })
            .collect();
        let replication = Arc::new(Self { docs: docs.clone(), peers, metrics, settings });
        let weak: Weak<Self> = Arc::downgrade(&replication);
        docs.set_listener(Box::new(move |doc, seq| {
            if let Some(replication) = weak.upgrade() {
                replication.on_change(doc, seq);
            }
        }));
        replication
    }

    /// A durable change: every peer must get it.
    fn on_change(&self, doc: &DocId, seq: u64) {
        let now = Instant::now();
        for peer in &self.peers {
            peer.mark_dirty(doc, seq, now);
            peer.wake.notify_one();
        }
    }

    /// `peer` holds everything we held of `doc` at `seq` (it said so in a round).
    pub fn peer_holds(&self, peer_name: &str, doc: &DocId, seq: u64) {
        let Some(peer) = self.peers.iter().find(|p| p.name == peer_name) else {
            return;
        };
        let mut state = peer.lock();
        if state.dirty.get(doc).is_some_and(|d| d.seq <= seq) {
            state.dirty.remove(doc);
        }
        drop(state);
        self.docs.record_peer_synced(peer_name, doc, seq);
    }

    /// Starts one task per peer; they stop when `shutdown` is cancelled.
    pub fn start(self: &Arc<Self>, auth: Arc<Authenticator>, shutdown: CancellationToken) -> Vec<tokio::task::JoinHandle<()>> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(1))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_default();
        self.peers
            .iter()
            .map(|peer| {
                let worker = PeerWorker {
                    replication: self.clone(),
                    peer: peer.clone(),
                    client: client.clone(),
                    auth: auth.clone(),
                    token: None,
                    shutdown: shutdown.clone(),
                };
                tokio::spawn(worker.run())
            })
            .collect()
    }

    pub fn update_metrics(&self) {
        for status in self.status() {
            let labels = PeerLabels { peer: status.name.clone() };
            self.metrics.replication_lag_seconds.get_or_create(&labels).set(status.lag_seconds);
            self.metrics.replication_docs_behind.get_or_create(&labels).set(status.docs_behind as i64);
            self.metrics.replication_peer_up.get_or_create(&labels).set(i64::from(status.up));
        }
    }

    pub fn status(&self) -> Vec<PeerStatus> {
        let now = Instant::now();
        self.peers
            .iter()
            .map(|peer| {
                let state = peer.lock();
                let oldest = state.dirty.values().map(|d| d.since).min();
                PeerStatus {
                    name: peer.name.clone(),
                    url: peer.url.to_string(),
                    up: state.up,
                    docs_behind: state.dirty.len(),
                    lag_seconds: oldest.map_or(0.0, |t| now.duration_since(t).as_secs_f64()),
                    last_success_seconds_ago: state.last_success.map(|t| now.duration_since(t).as_secs_f64()),
                    last_error: state.last_error.clone(),
                }
            })
            .collect()
    }
}

struct PeerWorker {
    replication: Arc<Replication>,
    peer: Arc<Peer>,
    client: reqwest::Client,
    auth: Arc<Authenticator>,
    token: Option<(String, Instant)>,
    shutdown: CancellationToken,
}

/// One document's part of a replication request.
struct Outgoing {
    doc: DocId,
    sync: ClientSync,
    sync_message: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
enum PeerError {
    #[error("{0}")]
    Http(#[from] reqwest::Error),
    #[error("peer answered {0}: {1}")]
    Status(u16, String),
    #[error("peer sent an invalid batch: {0}")]
    Batch(#[from] sync_protocol::BatchDecodeError),
    #[error("cannot mint a replication token: {0}")]
    Token(String),
    #[error("the peer answered {0} entries for {1} documents")]
    Mismatch(usize, usize),
}

impl PeerWorker {
    async fn run(mut self) {
        self.load_backlog().await;
        let mut next_scan = tokio::time::Instant::now() + self.replication.settings.anti_entropy;
        while !self.shutdown.is_cancelled() {
            if !self.peer.lock().up {
                self.probe_after_backoff().await;
                continue;
            }
            let batch = self.take_batch().await;
            if batch.is_empty() {
                tokio::select! {
                    _ = self.peer.wake.notified() => {}
                    _ = tokio::time::sleep_until(next_scan) => {}
                    _ = self.shutdown.cancelled() => {}
                }
                if tokio::time::Instant::now() >= next_scan {
                    self.load_backlog().await;
                    next_scan = tokio::time::Instant::now() + self.replication.settings.anti_entropy;
                }
                continue;
            }
            match self.exchange(&batch).await {
                Ok(response) => self.apply(batch, response).await,
                Err(e) => self.fail(batch, e),
            }
        }
    }

    /// Anti-entropy: everything the store says the peer has not confirmed.
    async fn load_backlog(&self) {
        let store = self.replication.docs.store().clone();
        let name = self.peer.name.clone();
        match tokio::task::spawn_blocking(move || store.docs_behind(&name)).await {
            Ok(Ok(docs)) => {
                let now = Instant::now();
                for (doc, seq) in docs {
                    self.peer.mark_dirty(&doc, seq, now);
                }
            }
            Ok(Err(e)) => tracing::warn!(peer = %self.peer.name, error = %e, "anti-entropy scan failed"),
            Err(e) => tracing::warn!(peer = %self.peer.name, error = %e, "anti-entropy scan task failed"),
        }
    }

    /// Sleeps the back-off (exponential, capped, jittered), then checks the peer's health.
    async fn probe_after_backoff(&mut self) {
        let failures = self.peer.lock().failures;
        let cap = self.replication.settings.max_backoff;
        let exp = FIRST_BACKOFF.saturating_mul(1u32 << failures.min(16)).min(cap);
        // Jitter in [exp/2, exp]: peers that lost each other do not probe in lockstep.
        let delay = exp / 2 + exp.mul_f64(rand::rng().random::<f64>() / 2.0);
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = self.shutdown.cancelled() => return,
        }
        let url = self.peer.url.join(PATH_HEALTHZ).unwrap_or_else(|_| self.peer.url.clone());
        let healthy = matches!(
            self.client.get(url).timeout(PROBE_TIMEOUT).send().await,
            Ok(response) if response.status().is_success()
        );
        let mut state = self.peer.lock();
        if healthy {
            tracing::info!(peer = %self.peer.name, after_failures = state.failures, "peer is back; catching up");
            state.up = true;
            state.failures = 0;
        } else {
            state.failures = state.failures.saturating_add(1);
        }
    }

    /// The oldest dirty documents that are not waiting to retry, with their sync state.
    async fn take_batch(&self) -> Vec<Outgoing> {
        let now = Instant::now();
        let candidates: Vec<(DocId, ClientSync)> = {
            let mut state = self.peer.lock();
            let mut ready: Vec<(Instant, DocId)> = state
                .dirty
                .iter()
                .filter(|(_, d)| d.retry_at.is_none_or(|t| t <= now))
                .map(|(doc, d)| (d.since, doc.clone()))
                .collect();
            ready.sort_unstable();
            ready.truncate(BATCH_DOCS);
            ready
                .into_iter()
                .map(|(_, doc)| {
                    let sync = state.syncs.remove(&doc).unwrap_or_default();
                    (doc, sync)
                })
                .collect()
        };
        let mut batch = Vec::with_capacity(candidates.len());
        for (doc, mut sync) in candidates {
            let generated = self.replication.docs.update(&doc, |d| sync.next_request(d)).await;
            match generated {
                Ok(updated) => match updated.value {
                    Some(message) => batch.push(Outgoing { doc, sync, sync_message: message.encode() }),
                    // Nothing to exchange: the peer already has this state.
                    None => self.settle(&doc, sync, updated.seq),
                },
                Err(e) => {
                    tracing::warn!(peer = %self.peer.name, %doc, error = %e, "cannot read document for replication");
                    self.retry_later(doc, sync);
                }
            }
        }
        batch
    }

    fn settle(&self, doc: &DocId, sync: ClientSync, seq: u64) {
        self.keep_sync(doc.clone(), sync);
        self.replication.peer_holds(&self.peer.name, doc, seq);
    }

    fn keep_sync(&self, doc: DocId, sync: ClientSync) {
        let mut state = self.peer.lock();
        if state.syncs.len() >= MAX_SYNC_STATES
            && let Some(victim) = state.syncs.keys().next().cloned()
        {
            state.syncs.remove(&victim);
        }
        state.syncs.insert(doc, sync);
    }

    fn retry_later(&self, doc: DocId, mut sync: ClientSync) {
        sync.request_failed();
        let mut state = self.peer.lock();
        if let Some(dirty) = state.dirty.get_mut(&doc) {
            dirty.retry_at = Some(Instant::now() + DOC_RETRY);
        }
        state.syncs.insert(doc, sync);
    }

    async fn token(&mut self) -> Result<String, PeerError> {
        if let Some((token, minted)) = &self.token
            && minted.elapsed() < TOKEN_REFRESH
        {
            return Ok(token.clone());
        }
        let token = self.auth.replication_token().map_err(|e| PeerError::Token(e.to_string()))?;
        self.token = Some((token.clone(), Instant::now()));
        Ok(token)
    }

    async fn exchange(&mut self, batch: &[Outgoing]) -> Result<SyncBatchResponse, PeerError> {
        let request = SyncBatchRequest {
            entries: batch
                .iter()
                .map(|o| DocMessage { doc: o.doc.clone(), message: o.sync_message.clone() })
                .collect(),
        };
        let body = request.encode();
        let token = self.token().await?;
        let url = self.peer.url.join(PATH_REPLICATE).unwrap_or_else(|_| self.peer.url.clone());
        self.replication.metrics.bytes("replication_out", body.len());
        let response = self
            .client
            .post(url)
            .bearer_auth(token)
            .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE_BATCH)
            .timeout(self.replication.settings.request_timeout)
            .body(body)
            .send()
            .await?;
        let status = response.status();
        let bytes = response.bytes().await?;
        if !status.is_success() {
            return Err(PeerError::Status(status.as_u16(), String::from_utf8_lossy(&bytes).chars().take(300).collect()));
        }
        let decoded = SyncBatchResponse::decode(&bytes)?;
        if decoded.entries.len() != batch.len() {
            return Err(PeerError::Mismatch(decoded.entries.len(), batch.len()));
        }
        Ok(decoded)
    }

    async fn apply(&self, batch: Vec<Outgoing>, response: SyncBatchResponse) {
        self.replication
            .metrics
            .replication_requests
            .get_or_create(&PeerResultLabels { peer: self.peer.name.clone(), result: "ok" })
            .inc();
        {
            let mut state = self.peer.lock();
            state.last_success = Some(Instant::now());
            state.last_error = None;
        }
        for (out, reply) in batch.into_iter().zip(response.entries) {
            let Outgoing { doc, mut sync, .. } = out;
            let message = match reply.outcome.and_then(|bytes| decode_message(&bytes)) {
                Ok(message) => message,
                Err(e) => {
                    tracing::warn!(peer = %self.peer.name, %doc, error = %e, "peer refused a document");
                    self.retry_later(doc, sync);
                    continue;
                }
            };
            self.replication.metrics.round("replication_out");
            match self.replication.docs.update(&doc, |d| sync.receive_reply(d, message)).await {
                Ok(updated) => match updated.value {
                    Ok(outcome) if !outcome.needs_another_round => self.settle(&doc, sync, updated.seq),
                    // Another round follows at once: the document stays dirty.
                    Ok(_) => self.keep_sync(doc, sync),
                    Err(e) => {
                        tracing::warn!(peer = %self.peer.name, %doc, error = %e, "peer reply could not be applied");
                        self.retry_later(doc, sync);
                    }
                },
                Err(e) => {
                    tracing::warn!(peer = %self.peer.name, %doc, error = %e, "cannot store replicated changes");
                    self.retry_later(doc, sync);
                }
            }
        }
    }

    fn fail(&self, batch: Vec<Outgoing>, error: PeerError) {
        self.replication
            .metrics
            .replication_requests
            .get_or_create(&PeerResultLabels { peer: self.peer.name.clone(), result: "error" })
            .inc();
        let mut state = self.peer.lock();
        if state.up {
            tracing::warn!(peer = %self.peer.name, %error, "peer unreachable; backing off");
        }
        state.up = false;
        state.failures = state.failures.saturating_add(1);
        state.last_error = Some(error.to_string());
        for out in batch {
            let mut sync = out.sync;
            sync.request_failed();
            state.syncs.insert(out.doc, sync);
        }
    }
}
