//! The load of `bench-load`: concurrent writers, each making one small edit at
//! a time to its own documents and syncing it (`POST /v1/sync`) until a region
//! acknowledges it. Latency is edit -> acknowledged. Bounded by time and count.

use std::time::{Duration, Instant};

use automerge::ActorId;
use automerge::transaction::Transactable;
use futures_util::future::join_all;
use sync_protocol::DocId;

use crate::sync_client::{Endpoint, LocalDoc, batch_round};

#[derive(Clone, Copy, Debug)]
pub struct LoadSpec {
    pub workers: usize,
    pub docs_per_worker: usize,
    pub duration: Duration,
    pub max_edits_per_worker: u64,
}

/// Everything one load measured.
#[derive(Clone, Debug, Default)]
pub struct LoadResult {
    /// Sorted.
    pub latencies: Vec<Duration>,
    pub errors: u64,
    pub error_samples: Vec<String>,
    pub elapsed: Duration,
}

impl LoadResult {
    pub fn per_second(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn percentile_ms(&self, q: f64) -> f64 {
        let rank = (q.clamp(0.0, 1.0) * self.latencies.len().saturating_sub(1) as f64).round() as usize;
        self.latencies.get(rank).map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
    }

    /// `label  N edits/s  p50  p99  (count, errors)`.
    pub fn line(&self, label: &str) -> String {
        format!(
            "{label:<40} {:8.0} edits/s   p50 {:7.2} ms   p99 {:7.2} ms   ({} acknowledged edits, {} errors, {:.1} s)",
            self.per_second(),
            self.percentile_ms(0.5),
            self.percentile_ms(0.99),
            self.latencies.len(),
            self.errors,
            self.elapsed.as_secs_f64()
        )
    }
}

/// Rounds one edit may take before it counts as an error.
const MAX_ROUNDS_PER_EDIT: usize = 6;

struct Worker {
    endpoint: Endpoint,
    docs: Vec<LocalDoc>,
    name: String,
    requests: u64,
}

impl Worker {
    /// Edits document `index` and syncs it until acknowledged.
    async fn edit(&mut self, index: usize, n: u64) -> Result<(), String> {
        let local = &mut self.docs[index];
        let mut tx = local.doc.transaction();
        // Eight keys per document: the content stays small, the history grows
        // by one change per edit as in a real app.
        tx.put(automerge::ROOT, format!("k{}", n % 8), n as i64).map_err(|e| e.to_string())?;
        tx.commit();
        for _ in 0..MAX_ROUNDS_PER_EDIT {
            self.requests += 1;
            let key = format!("{}-{}", self.name, self.requests);
            let outcome = batch_round(&self.endpoint, &mut self.docs[index..=index], &key)
                .await
                .map_err(|e| e.to_string())?;
            if let Some((doc, code)) = outcome.entry_errors.first() {
                return Err(format!("{doc}: {code}"));
            }
            if !outcome.needs_more {
                break;
            }
        }
        let local = &mut self.docs[index];
        if local.unacknowledged().is_empty() {
            Ok(())
        } else {
            Err(format!("{}: not acknowledged after {MAX_ROUNDS_PER_EDIT} rounds", local.id))
        }
    }
}

/// Runs `spec` against `endpoint`; documents are named `{prefix}-w{worker}-d{doc}`.
pub async fn run(endpoint: &Endpoint, spec: LoadSpec, prefix: &str) -> LoadResult {
    let started = Instant::now();
    let deadline = started + spec.duration;
    let runs = (0..spec.workers).map(|w| {
        let name = format!("{prefix}-w{w}");
        let docs = (0..spec.docs_per_worker)
            .filter_map(|d| DocId::parse(&format!("{name}-d{d}")).ok())
            .map(|id| LocalDoc::new(id, ActorId::random()))
            .collect();
        let mut worker = Worker { endpoint: endpoint.clone(), docs, name, requests: 0 };
        async move {
            let mut result = LoadResult::default();
            let mut n = 0u64;
            while n < spec.max_edits_per_worker && Instant::now() < deadline && !worker.docs.is_empty() {
                let at = Instant::now();
                match worker.edit((n as usize) % worker.docs.len(), n).await {
                    Ok(()) => result.latencies.push(at.elapsed()),
                    Err(e) => {
                        result.errors += 1;
                        if result.error_samples.len() < 3 {
                            result.error_samples.push(e);
                        }
                    }
                }
                n += 1;
            }
            result
        }
    });
    let parts = join_all(runs).await;
    let mut total = LoadResult { elapsed: started.elapsed(), ..LoadResult::default() };
    for part in parts {
        total.latencies.extend(part.latencies);
        total.errors += part.errors;
        total.error_samples.extend(part.error_samples.into_iter().take(3usize.saturating_sub(total.error_samples.len())));
    }
    total.latencies.sort_unstable();
    total
}

/// Resident memory of process `pid` in KiB (`VmRSS` of /proc), if readable.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_rates_of_a_result() {
        let result = LoadResult {
            latencies: (1..=100).map(Duration::from_millis).collect(),
            elapsed: Duration::from_secs(2),
            ..LoadResult::default()
        };
        assert_eq!(result.per_second(), 50.0);
        assert_eq!(result.percentile_ms(0.5), 51.0);
        assert_eq!(result.percentile_ms(0.99), 99.0);
        assert!(LoadResult::default().percentile_ms(0.5).is_nan());
        assert!(result.line("x").contains("50 edits/s"));
    }

    #[test]
    fn reads_this_process_rss() {
        let rss = rss_kib(std::process::id()).expect("VmRSS of this process");
        assert!(rss > 100, "{rss} KiB");
        assert_eq!(rss_kib(u32::MAX), None);
    }
}
