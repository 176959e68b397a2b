//! Prometheus metrics (`GET /metrics`).

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub route: &'static str,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PeerLabels {
    pub peer: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PeerResultLabels {
    pub peer: String,
    pub result: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 100 µs .. ~26 s
    Histogram::new(exponential_buckets(0.0001, 2.0, 19))
}

pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub request_seconds: HistogramFamily<RouteLabels>,
    /// Sync rounds served or run, by kind (client, replication_in, replication_out).
    pub sync_rounds: Family<KindLabels, Counter>,
    /// Request and response body bytes of sync endpoints, by direction (in, out).
    pub sync_bytes: Family<KindLabels, Counter>,
    pub changes_applied: Counter,
    pub commit_batches: Counter,
    pub commit_ops: Counter,
    pub commit_failures: Counter,
    pub commit_seconds: Histogram,
    pub docs_cached: Gauge,
    pub watches_open: Gauge,
    pub compactions: Counter,
    pub replication_lag_seconds: Family<PeerLabels, Gauge<f64, AtomicU64>>,
    pub replication_docs_behind: Family<PeerLabels, Gauge>,
    pub replication_peer_up: Family<PeerLabels, Gauge>,
    pub replication_requests: Family<PeerResultLabels, Counter>,
}

impl Metrics {
    pub fn new(region: &str) -> Self {
        let mut registry = Registry::with_prefix_and_labels(
            "edgesync",
            [(std::borrow::Cow::Borrowed("region"), std::borrow::Cow::Owned(region.to_owned()))].into_iter(),
        );
        let requests = Family::default();
        registry.register("http_requests", "HTTP requests by route and status", requests.clone());
        let request_seconds: HistogramFamily<RouteLabels> = Family::new_with_constructor(latency_histogram);
        registry.register("http_request_duration_seconds", "HTTP request latency by route", request_seconds.clone());
        let sync_rounds = Family::default();
        registry.register("sync_rounds", "Sync rounds by kind", sync_rounds.clone());
        let sync_bytes = Family::default();
        registry.register("sync_bytes", "Sync body bytes by direction", sync_bytes.clone());
        let changes_applied = Counter::default();
        registry.register("changes_applied", "Automerge changes made durable", changes_applied.clone());
        let commit_batches = Counter::default();
        registry.register("storage_commits", "Group-commit transactions", commit_batches.clone());
        let commit_ops = Counter::default();
        registry.register("storage_commit_ops", "Writes committed in group commits", commit_ops.clone());
        let commit_failures = Counter::default();
        registry.register("storage_commit_failures", "Group commits that failed", commit_failures.clone());
        let commit_seconds = latency_histogram();
        registry.register("storage_commit_duration_seconds", "Time of one durable commit", commit_seconds.clone());
        let docs_cached = Gauge::default();
        registry.register("docs_cached", "Documents held in memory", docs_cached.clone());
        let watches_open = Gauge::default();
        registry.register("watches_open", "Long-poll watches waiting", watches_open.clone());
        let compactions = Counter::default();
        registry.register("compactions", "Documents compacted into snapshots", compactions.clone());
        let replication_lag_seconds = Family::default();
        registry.register(
            "replication_lag_seconds",
            "Age of the oldest change not yet confirmed at the peer",
            replication_lag_seconds.clone(),
        );
        let replication_docs_behind = Family::default();
        registry.register(
            "replication_docs_behind",
            "Documents with changes not yet confirmed at the peer",
            replication_docs_behind.clone(),
        );
        let replication_peer_up = Family::default();
        registry.register("replication_peer_up", "1 while the peer answers", replication_peer_up.clone());
        let replication_requests = Family::default();
        registry.register("replication_requests", "Replication requests by peer and result", replication_requests.clone());
        Self {
            registry,
            requests,
            request_seconds,
            sync_rounds,
            sync_bytes,
            changes_applied,
            commit_batches,
            commit_ops,
            commit_failures,
            commit_seconds,
            docs_cached,
            watches_open,
            compactions,
            replication_lag_seconds,
            replication_docs_behind,
            replication_peer_up,
            replication_requests,
        }
    }

    pub fn round(&self, kind: &'static str) {
        self.sync_rounds.get_or_create(&KindLabels { kind }).inc();
    }

    pub fn bytes(&self, direction: &'static str, n: usize) {
        self.sync_bytes.get_or_create(&KindLabels { kind: direction }).inc_by(n as u64);
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
