//! `GET /_edge/status`: the region table as this isolate sees it.

use crate::config::ConfigError;
use crate::engine::Engine;
use crate::health::{FailureKind, HealthState};
use crate::names::{RegionName, Tag};
use crate::time::{Time, duration_ms};
use serde::Serialize;
use std::collections::BTreeSet;

#[derive(Debug, Serialize)]
pub struct StatusReport {
    pub ok: bool,
    pub policy: &'static str,
    pub uptime_ms: u64,
    pub requests: u64,
    pub failovers: u64,
    /// Every region is unhealthy: requests go to all of them in best-known order.
    pub panic: bool,
    pub retry_budget: BudgetStatus,
    pub regions: Vec<RegionStatus>,
}

#[derive(Debug, Serialize)]
pub struct BudgetStatus {
    pub tokens: f64,
    pub spent: u64,
    pub refused: u64,
}

#[derive(Debug, Serialize)]
pub struct RegionStatus {
    pub id: RegionName,
    pub health: HealthState,
    /// Milliseconds until an ejection ends.
    pub ejected_for_ms: Option<u64>,
    /// Smoothed RTT of the probes (what regions are ranked by) and its mean deviation.
    pub srtt_ms: Option<f64>,
    pub rttvar_ms: Option<f64>,
    /// Probe samples, and the age of the last one.
    pub samples: u64,
    pub last_sample_age_ms: Option<u64>,
    /// Smoothed duration of real requests (what timeouts come from) and its deviation.
    pub service_ms: Option<f64>,
    pub service_var_ms: Option<f64>,
    pub service_samples: u64,
    pub try_timeout_ms: u64,
    /// Traffic goes here (latency policy) until another region is clearly faster.
    pub leader: bool,
    pub consecutive_failures: u32,
    pub ejections: u64,
    pub attempts: u64,
    pub failures: u64,
    pub probes: u64,
    pub recent_errors: Vec<ErrorStatus>,
    pub priority: u32,
    pub weight: u32,
    pub tags: BTreeSet<Tag>,
}

#[derive(Debug, Serialize)]
pub struct ErrorStatus {
    pub age_ms: u64,
    #[serde(flatten)]
    pub kind: FailureKind,
    pub probe: bool,
}

/// The status document when `EDGE_CONFIG` is invalid: the edge still answers, and says why.
#[derive(Debug, Serialize)]
pub struct ConfigErrorReport {
    pub ok: bool,
    pub error: ErrorBody,
}

#[derive(Debug, Serialize)]
pub struct ErrorBody {
    pub code: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ConfigErrorReport {
    pub fn new(err: &ConfigError) -> Self {
        Self {
            ok: false,
            error: ErrorBody {
                code: "invalid_config",
                message: err.to_string(),
                field: Some(err.field().to_owned()),
            },
        }
    }
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

impl Engine {
    pub fn status(&self, now: Time) -> StatusReport {
        let regions: Vec<RegionStatus> = self
            .config()
            .region_indices()
            .map(|idx| {
                let cfg = self.config().region(idx);
                let st = &self.regions[idx.index()];
                let health = st.health.state(now);
                RegionStatus {
                    id: cfg.id.clone(),
                    health,
                    ejected_for_ms: match health {
                        HealthState::Ejected { until } => Some(duration_ms(until.since(now))),
                        _ => None,
                    },
                    srtt_ms: st.latency.srtt_ms().map(round1),
                    rttvar_ms: st.latency.rtt().deviation_ms().map(round1),
                    samples: st.latency.rtt().samples(),
                    last_sample_age_ms: st
                        .latency
                        .rtt()
                        .last_sample()
                        .map(|t| duration_ms(now.since(t))),
                    service_ms: st.latency.service().mean_ms().map(round1),
                    service_var_ms: st.latency.service().deviation_ms().map(round1),
                    service_samples: st.latency.service().samples(),
                    try_timeout_ms: duration_ms(self.try_timeout(idx, now)),
                    leader: self.leader() == Some(idx),
                    consecutive_failures: st.health.consecutive_failures(),
                    ejections: st.health.total_ejections(),
                    attempts: st.attempts,
                    failures: st.failures,
                    probes: st.probes,
                    recent_errors: st
                        .health
                        .recent_errors()
                        .map(|e| ErrorStatus {
                            age_ms: duration_ms(now.since(e.at)),
                            kind: e.kind,
                            probe: e.probe,
                        })
                        .collect(),
                    priority: cfg.priority,
                    weight: cfg.weight,
                    tags: cfg.tags.clone(),
                }
            })
            .collect();
        StatusReport {
            ok: true,
            policy: self.config().policy.name(),
            uptime_ms: duration_ms(now.since(self.started)),
            requests: self.requests,
            failovers: self.failovers,
            panic: regions.iter().all(|r| !r.health.is_usable()),
            retry_budget: BudgetStatus {
                tokens: round1(self.budget.tokens()),
                spent: self.budget.spent(),
                refused: self.budget.refused(),
            },
            regions,
        }
    }
}
