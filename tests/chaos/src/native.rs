//! Native chaos clients: Rust writers speaking the SDK's protocol (`ClientSync`
//! over `POST /v1/sync` through the edge), for volume next to the browsers.
//!
//! Each write sets one new root key of one document and is recorded with its
//! change hash; it counts as acknowledged once `ClientSync`'s acknowledged
//! frontier covers that hash (a region answered after making it durable).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use automerge::transaction::Transactable;
use automerge::{ActorId, ChangeHash, ROOT};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sync_protocol::DocId;

use crate::sync_client::{Endpoint, LocalDoc, RoundError, batch_round, doc_states, sync_until_quiet};
use crate::verify::{AckedWrite, Replica};

/// Rounds one sync may take before the writer moves on (the next write resumes it).
const MAX_ROUNDS_PER_SYNC: usize = 6;
/// Back-off after a failed round: doubles from the first to the last.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(2));
/// Every this many writes, a round that pulls other clients' changes.
const PULL_EVERY: u64 = 8;

/// What a client saw at the HTTP level, for the report.
#[derive(Clone, Debug, Default)]
pub struct HttpTally {
    pub rounds_ok: u64,
    /// Non-2xx answers by status.
    pub error_statuses: BTreeMap<u16, u64>,
    /// Requests with no answer (connection failed, timed out).
    pub transport_failures: u64,
    /// Per-document errors inside 2xx batch answers, by code.
    pub entry_errors: BTreeMap<String, u64>,
    /// Rounds answered per region.
    pub regions: BTreeMap<String, u64>,
    /// The last few failures, verbatim.
    pub samples: Vec<String>,
    /// Time of every answered round (request to decoded answer).
    pub latencies: Vec<Duration>,
}

impl HttpTally {
    pub fn error_responses(&self) -> u64 {
        self.error_statuses.values().sum::<u64>() + self.entry_errors.values().sum::<u64>()
    }

    /// Round latency percentile (`q` in 0..=1), zero when no round was answered.
    pub fn latency_percentile(&self, q: f64) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        let rank = (q.clamp(0.0, 1.0) * sorted.len().saturating_sub(1) as f64).round() as usize;
        sorted.get(rank).copied().unwrap_or_default()
    }

    pub fn merge(&mut self, other: &HttpTally) {
        self.rounds_ok += other.rounds_ok;
        self.latencies.extend_from_slice(&other.latencies);
        self.transport_failures += other.transport_failures;
        for (k, v) in &other.error_statuses {
            *self.error_statuses.entry(*k).or_insert(0) += v;
        }
        for (k, v) in &other.entry_errors {
            *self.entry_errors.entry(k.clone()).or_insert(0) += v;
        }
        for (k, v) in &other.regions {
            *self.regions.entry(k.clone()).or_insert(0) += v;
        }
        for s in &other.samples {
            if self.samples.len() < 10 {
                self.samples.push(s.clone());
            }
        }
    }

    fn record(&mut self, result: &Result<crate::sync_client::RoundOutcome, RoundError>, took: Duration) {
        match result {
            Ok(outcome) => {
                if outcome.sent > 0 {
                    self.rounds_ok += 1;
                    self.latencies.push(took);
                }
                if let Some(region) = &outcome.region {
                    *self.regions.entry(region.clone()).or_insert(0) += 1;
                }
                for (doc, code) in &outcome.entry_errors {
                    *self.entry_errors.entry(code.clone()).or_insert(0) += 1;
                    self.sample(format!("{doc}: {code}"));
                }
            }
            Err(error) => {
                match error {
                    RoundError::Status { status, .. } => *self.error_statuses.entry(*status).or_insert(0) += 1,
                    RoundError::Transport(_) | RoundError::BadAnswer(_) => self.transport_failures += 1,
                }
                self.sample(error.to_string());
            }
        }
    }

    fn sample(&mut self, text: String) {
        if self.samples.len() < 10 {
            self.samples.push(text);
        }
    }
}

struct PendingWrite {
    doc: usize,
    key: String,
    value: i64,
    hash: ChangeHash,
}

/// How a writer paces itself.
#[derive(Clone, Copy, Debug)]
pub struct Pace {
    /// Mean pause between writes (drawn from half to one and a half times it).
    pub interval: Duration,
    pub max_writes: u64,
}

/// One native client holding every chaos document.
pub struct NativeWriter {
    pub name: String,
    endpoint: Endpoint,
    docs: Vec<LocalDoc>,
    rng: ChaCha8Rng,
    next_value: i64,
    requests: u64,
    unacked: Vec<PendingWrite>,
    pub acked: Vec<AckedWrite>,
    pub writes_made: u64,
    /// Writes the local document refused (must stay 0).
    pub write_errors: Vec<String>,
    pub http: HttpTally,
}

impl NativeWriter {
    /// Client `index` of the run seeded `seed`: its actor id and its choices
    /// of documents derive from both, so a replay makes the same writes.
    pub fn new(index: usize, seed: u64, endpoint: Endpoint, doc_ids: &[DocId]) -> Self {
        let name = format!("n{index}");
        let mut actor = b"chaos-".to_vec();
        actor.extend_from_slice(&seed.to_be_bytes());
        actor.extend_from_slice(&(index as u32).to_be_bytes());
        let docs = doc_ids.iter().map(|id| LocalDoc::new(id.clone(), ActorId::from(actor.clone()))).collect();
        NativeWriter {
            name,
            endpoint,
            docs,
            rng: ChaCha8Rng::seed_from_u64(seed ^ (0x9e37_79b9_7f4a_7c15u64.wrapping_mul(index as u64 + 1))),
            next_value: 1,
            requests: 0,
            unacked: Vec::new(),
            acked: Vec::new(),
            writes_made: 0,
            write_errors: Vec::new(),
            http: HttpTally::default(),
        }
    }

    /// Writes and syncs until `stop` is set, the deadline passes or the pace's
    /// write budget is spent.
    pub async fn run(&mut self, pace: Pace, deadline: Instant, stop: Arc<AtomicBool>) {
        let mut backoff = BACKOFF.0;
        // Nothing here sleeps past the deadline, and no new round starts after
        // it: the chaos phase ends on time (an in-flight round is never cut,
        // which would leave its documents' sync state half-updated).
        let pause = |length: Duration| tokio::time::sleep_until((Instant::now() + length).min(deadline).into());
        while !stop.load(Ordering::Relaxed) && Instant::now() < deadline && self.writes_made < pace.max_writes {
            self.write();
            let pull = self.writes_made % PULL_EVERY == 0;
            match self.sync(pull, deadline).await {
                Ok(()) => backoff = BACKOFF.0,
                Err(_) => {
                    pause(backoff).await;
                    backoff = (backoff * 2).min(BACKOFF.1);
                }
            }
            let jitter = self.rng.random_range(0.5..1.5);
            pause(pace.interval.mul_f64(jitter)).await;
        }
    }

    fn write(&mut self) {
        let doc = self.rng.random_range(0..self.docs.len());
        let key = format!("{}-{}", self.name, self.next_value);
        let value = self.next_value;
        self.next_value += 1;
        self.writes_made += 1;
        let local = &mut self.docs[doc];
        let mut tx = local.doc.transaction();
        if let Err(error) = tx.put(ROOT, key.as_str(), value) {
            self.write_errors.push(format!("{}:{key}: {error}", local.id));
            return;
        }
        match tx.commit().0 {
            Some(hash) => self.unacked.push(PendingWrite { doc, key, value, hash }),
            None => self.write_errors.push(format!("{}:{key}: the commit made no change", local.id)),
        }
    }

    /// Rounds until nothing is left to send (bounded, none begun after
    /// `deadline`); `pull` first asks every document for a round so that other
    /// clients' changes come in.
    async fn sync(&mut self, pull: bool, deadline: Instant) -> Result<(), RoundError> {
        if pull {
            for local in &mut self.docs {
                local.sync.request_round();
            }
        }
        for _ in 0..MAX_ROUNDS_PER_SYNC {
            self.requests += 1;
            let key = format!("{}-{}", self.name, self.requests);
            let sent_at = Instant::now();
            let result = batch_round(&self.endpoint, &mut self.docs, &key).await;
            self.http.record(&result, sent_at.elapsed());
            let outcome = result?;
            self.note_acknowledgements();
            if outcome.sent == 0 || !outcome.needs_more || Instant::now() >= deadline {
                break;
            }
        }
        Ok(())
    }

    /// Moves writes the acknowledged frontier now covers into `acked`.
    fn note_acknowledgements(&mut self) {
        if self.unacked.is_empty() {
            return;
        }
        let involved: BTreeSet<usize> = self.unacked.iter().map(|w| w.doc).collect();
        let unacknowledged: BTreeMap<usize, _> =
            involved.into_iter().map(|doc| (doc, self.docs[doc].unacknowledged())).collect();
        let (still, done): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.unacked).into_iter().partition(|w| unacknowledged[&w.doc].contains(&w.hash));
        self.unacked = still;
        for w in done {
            self.acked.push(AckedWrite {
                client: self.name.clone(),
                doc: self.docs[w.doc].id.to_string(),
                key: w.key,
                value: w.value,
            });
        }
    }

    /// After healing: pushes what is left and pulls everything (bounded rounds).
    pub async fn settle(&mut self) -> Result<(), RoundError> {
        self.requests += 1;
        let prefix = format!("{}-settle-{}", self.name, self.requests);
        let result = sync_until_quiet(&self.endpoint, &mut self.docs, true, 16, &prefix).await;
        self.note_acknowledgements();
        result.map(drop)
    }

    pub fn unacked_writes(&self) -> usize {
        self.unacked.len()
    }

    /// This client's copy, for the checker.
    pub fn replica(&mut self) -> Replica {
        let pending = self.docs.iter_mut().map(|d| d.unacknowledged().len() as u64).sum();
        Replica {
            name: self.name.clone(),
            docs: doc_states(&self.docs),
            pending,
        }
    }
}
