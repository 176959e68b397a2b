//! The routing engine: the region table with what this isolate has learned
//! (latency, health), and the decisions made from it. Runtime-free and
//! deterministic: every method takes the current time, and randomness comes in
//! as an argument.

use crate::budget::RetryBudget;
use crate::classify::ProxyRequest;
use crate::config::Policy;
use crate::config::{EdgeConfig, RegionIdx};
use crate::health::{FailureKind, HealthState, RegionHealth, Source, Transition};
use crate::latency::LatencyEstimate;
use crate::names::RegionName;
use crate::policy::{self, Reason, RegionView, Route, RouteError, Table};
use crate::time::Time;
use serde::Serialize;
use std::time::Duration;

/// How one attempt or probe ended, as far as the region's record is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The region answered with this status.
    Answered {
        status: u16,
    },
    Failed(FailureKind),
}

/// A health change, with where and when, for structured logs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HealthEvent {
    pub at: Time,
    pub region: RegionName,
    #[serde(flatten)]
    pub transition: Transition,
}

/// A background check to run against a region (`ctx.wait_until`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Probe {
    pub region: RegionIdx,
    pub url: String,
    pub timeout: Duration,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct RegionState {
    pub latency: LatencyEstimate,
    pub health: RegionHealth,
    pub probe_started: Option<Time>,
    pub attempts: u64,
    pub failures: u64,
    pub probes: u64,
}

pub struct Engine {
    config: EdgeConfig,
    pub(crate) regions: Vec<RegionState>,
    pub(crate) budget: RetryBudget,
    events: Vec<HealthEvent>,
    pub(crate) started: Time,
    pub(crate) requests: u64,
    pub(crate) failovers: u64,
    /// The region the latency policy put first last time: the one traffic goes to.
    leader: Option<RegionIdx>,
}

impl Engine {
    pub fn new(config: EdgeConfig, now: Time) -> Self {
        Self {
            regions: vec![RegionState::default(); config.regions().len()],
            budget: RetryBudget::new(&config.retries),
            config,
            events: Vec::new(),
            started: now,
            requests: 0,
            failovers: 0,
            leader: None,
        }
    }

    pub fn config(&self) -> &EdgeConfig {
        &self.config
    }

    pub fn health(&self, region: RegionIdx, now: Time) -> HealthState {
        self.regions[region.index()].health.state(now)
    }

    pub fn latency(&self, region: RegionIdx) -> &LatencyEstimate {
        &self.regions[region.index()].latency
    }

    /// Orders the candidate regions for a client request and credits the retry budget.
    pub fn route(
        &mut self,
        req: &ProxyRequest,
        now: Time,
        random: f64,
    ) -> Result<Route, RouteError> {
        self.requests += 1;
        self.budget.deposit(now);
        let views: Vec<RegionView> = self
            .regions
            .iter()
            .map(|r| RegionView {
                health: r.health.state(now),
                srtt_ms: r.latency.srtt_ms(),
                rttvar_ms: r.latency.rtt().deviation_ms(),
            })
            .collect();
        let table = Table {
            config: &self.config,
            views: &views,
            incumbent: self.leader,
        };
        let route = policy::order(&table, req, random)?;
        // Only a choice among every region makes a leader: a request confined to
        // some regions (residency) says nothing about where the rest should go.
        let makes_leader =
            self.config.policy == Policy::Latency && req.required_tags.is_empty() && !route.panic;
        if makes_leader
            && let Some(first) = route
                .candidates
                .iter()
                .find(|c| matches!(c.reason, Reason::Latency { .. }))
        {
            self.leader = Some(first.region);
        }
        Ok(route)
    }

    /// The region the latency policy currently sends traffic to.
    pub fn leader(&self) -> Option<RegionIdx> {
        self.leader
    }

    /// Per-try timeout for a region, from its observed latency.
    pub fn try_timeout(&self, region: RegionIdx, now: Time) -> Duration {
        self.latency(region)
            .try_timeout(&self.config.timeouts, &self.config.latency, now)
    }

    pub fn hedge_delay(&self, region: RegionIdx, now: Time) -> Duration {
        self.latency(region)
            .hedge_delay(&self.config.hedging, &self.config.latency, now)
    }

    /// How long a try that outlived its timeout is still worth waiting for in
    /// the background: its answer tells a slow region from a dead one.
    pub fn late_answer_window(&self, region: RegionIdx, now: Time) -> Duration {
        (self.try_timeout(region, now) * 4)
            .max(self.config.health.timeout())
            .min(self.config.timeouts.try_max())
    }

    /// Asks the retry budget for one more attempt.
    pub fn withdraw_retry(&mut self, now: Time) -> bool {
        self.budget.try_withdraw(now)
    }

    pub(crate) fn note_failover(&mut self) {
        self.failovers += 1;
    }

    /// True when a status from real traffic counts as a region failure.
    pub fn is_failure_status(&self, status: u16) -> bool {
        self.config.retries.on_status.contains(&status)
    }

    /// Records how an attempt of real traffic (started at `started`) ended. Its
    /// duration feeds the latency estimate when `observe_latency` holds (not for
    /// long-polls) and the region answered well. Timeouts are no sample (Karn's
    /// rule): they bound the latency from below only, and feeding them in would
    /// inflate the very timeout that fired.
    pub fn record_attempt(
        &mut self,
        region: RegionIdx,
        outcome: Outcome,
        started: Time,
        observe_latency: bool,
        now: Time,
    ) {
        let failure = match outcome {
            Outcome::Answered { status } if self.is_failure_status(status) => {
                Some(FailureKind::Status { status })
            }
            Outcome::Answered { .. } => None,
            Outcome::Failed(kind) => Some(kind),
        };
        let state = &mut self.regions[region.index()];
        state.attempts += 1;
        if observe_latency && failure.is_none() {
            state
                .latency
                .observe_traffic(now.since(started), now, &self.config.latency);
        }
        let source = Source::Traffic { started };
        let transition = match failure {
            None => state.health.record_success(source, now),
            Some(kind) => {
                state.failures += 1;
                state
                    .health
                    .record_failure(kind, source, now, &self.config.health)
            }
        };
        self.push_event(region, transition, now);
    }

    /// Records the answer of a try that had already timed out (and was counted
    /// as a failure then). A good answer proves the region alive and merely
    /// slower than its estimate: it clears the failure count and is a real
    /// latency sample, so timeouts grow to fit. A bad one was counted already.
    pub fn record_late_answer(
        &mut self,
        region: RegionIdx,
        status: u16,
        started: Time,
        observe_latency: bool,
        now: Time,
    ) {
        if self.is_failure_status(status) {
            return;
        }
        let state = &mut self.regions[region.index()];
        if observe_latency {
            state
                .latency
                .observe_traffic(now.since(started), now, &self.config.latency);
        }
        let transition = state.health.record_success(Source::LateAnswer, now);
        self.push_event(region, transition, now);
    }

    /// Checks that are due: every region once per interval, a half-open region as
    /// soon as its ejection ends, an ejected one not at all.
    pub fn due_probes(&mut self, now: Time) -> Vec<Probe> {
        let health = &self.config.health;
        let mut due = Vec::new();
        for (i, state) in self.regions.iter_mut().enumerate() {
            let since_last = state.probe_started.map(|s| now.since(s));
            let wanted = match state.health.state(now) {
                HealthState::Ejected { .. } => false,
                HealthState::HalfOpen => since_last.is_none_or(|d| d >= health.timeout()),
                HealthState::Healthy => since_last.is_none_or(|d| d >= health.interval()),
            };
            if !wanted {
                continue;
            }
            let region = &self.config.regions()[i];
            // The path is validated at config time, so this only fails on a broken invariant.
            let Ok(url) = region.origin.url_for(&health.path) else {
                continue;
            };
            state.probe_started = Some(now);
            state.probes += 1;
            due.push(Probe {
                region: RegionIdx(i),
                url,
                timeout: health.timeout(),
            });
        }
        due
    }

    /// Records a probe result: an expected status is a success and a latency sample.
    pub fn record_probe(
        &mut self,
        region: RegionIdx,
        outcome: Outcome,
        elapsed: Duration,
        now: Time,
    ) {
        let health = &self.config.health;
        let state = &mut self.regions[region.index()];
        let transition = match outcome {
            Outcome::Answered { status } if health.expected_status.contains(&status) => {
                state
                    .latency
                    .observe_probe(elapsed, now, &self.config.latency);
                state.health.record_success(Source::Probe, now)
            }
            Outcome::Answered { status } => state.health.record_failure(
                FailureKind::Status { status },
                Source::Probe,
                now,
                health,
            ),
            Outcome::Failed(kind) => state
                .health
                .record_failure(kind, Source::Probe, now, health),
        };
        self.push_event(region, transition, now);
    }

    fn push_event(&mut self, region: RegionIdx, transition: Option<Transition>, now: Time) {
        const MAX_PENDING_EVENTS: usize = 256;
        if let Some(transition) = transition
            && self.events.len() < MAX_PENDING_EVENTS
        {
            self.events.push(HealthEvent {
                at: now,
                region: self.config.region(region).id.clone(),
                transition,
            });
        }
    }

    /// Health changes since the last call, oldest first, for logging.
    pub fn drain_events(&mut self) -> Vec<HealthEvent> {
        std::mem::take(&mut self.events)
    }
}
