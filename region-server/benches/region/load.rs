//! The shared work: small edits to many documents by concurrent workers, each
//! edit synced until the server acknowledges it; latency per acknowledged edit.

use std::time::{Duration, Instant};

use automerge::transaction::Transactable;
use automerge::{ActorId, Automerge, ROOT};
use sync_protocol::ClientSync;

/// One document as a client holds it.
pub struct ClientDoc {
    pub doc: Automerge,
    pub sync: ClientSync,
    pub edits: u64,
}

impl ClientDoc {
    pub fn new(actor: u64) -> Self {
        let mut actor_bytes = actor.to_be_bytes().to_vec();
        actor_bytes.extend_from_slice(&rand::random::<[u8; 8]>());
        Self { doc: Automerge::new().with_actor(ActorId::from(actor_bytes)), sync: ClientSync::new(), edits: 0 }
    }

    /// A small edit: one key of eight set to a counter.
    pub fn edit(&mut self) {
        self.edits += 1;
        let mut tx = self.doc.transaction();
        let _ = tx.put(ROOT, format!("k{}", self.edits % 8), self.edits as i64);
        tx.commit();
    }

    pub fn acknowledged(&mut self) -> bool {
        self.sync.unacknowledged_changes(&mut self.doc).is_empty()
    }
}

/// What one run measured.
#[derive(Debug, Default)]
pub struct Measured {
    pub latencies: Vec<Duration>,
    pub errors: u64,
    pub elapsed: Duration,
}

impl Measured {
    pub fn merge(parts: Vec<Measured>, elapsed: Duration) -> Self {
        let mut all = Measured { elapsed, ..Default::default() };
        for part in parts {
            all.latencies.extend(part.latencies);
            all.errors += part.errors;
        }
        all.latencies.sort_unstable();
        all
    }

    pub fn rounds_per_second(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let index = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies[index.min(self.latencies.len() - 1)]
    }
}

/// Bounds every load loop by count and time.
#[derive(Clone, Copy)]
pub struct Budget {
    pub deadline: Instant,
    pub max_edits_per_worker: u64,
}

impl Budget {
    pub fn allows(&self, done: u64) -> bool {
        done < self.max_edits_per_worker && Instant::now() < self.deadline
    }
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
