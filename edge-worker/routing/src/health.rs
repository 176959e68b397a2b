//! Per-region health: passive outlier detection, active checks, ejection with
//! exponential back-off, and a half-open trial before readmission.
//!
//! ```text
//!   Healthy ──(N consecutive failures)──▶ Ejected{until}
//!      ▲                                     │ time passes
//!      └────────(trial succeeds)──── HalfOpen ◀┘
//!                                        │ trial fails: ejected again, twice as long
//! ```

use crate::config::HealthConfig;
use crate::time::Time;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

/// Why one attempt or probe against a region failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FailureKind {
    /// The connection could not be opened: the request provably never left the edge.
    Connect,
    /// The connection failed in a way that leaves open whether the origin saw the request.
    Network,
    /// No answer within the per-try timeout.
    Timeout,
    /// An answer with a status that counts as a region failure (5xx, or a failed check).
    Status { status: u16 },
}

impl FailureKind {
    /// True when the origin cannot have received the request, so even a
    /// non-idempotent request may be sent to another region.
    pub fn provably_not_sent(self) -> bool {
        matches!(self, FailureKind::Connect)
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailureKind::Connect => f.write_str("connect_error"),
            FailureKind::Network => f.write_str("network_error"),
            FailureKind::Timeout => f.write_str("timeout"),
            FailureKind::Status { status } => write!(f, "status_{status}"),
        }
    }
}

/// Where an observation came from: thresholds differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// A client request's attempt, started at this time.
    Traffic { started: Time },
    /// A background check (one at a time per region).
    Probe,
    /// The answer of a client request's try that had already timed out.
    LateAnswer,
}

/// Health as routing sees it at one instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum HealthState {
    Healthy,
    Ejected {
        until: Time,
    },
    /// Ejection over; the next check decides readmission.
    HalfOpen,
}

impl HealthState {
    pub fn is_usable(self) -> bool {
        !matches!(self, HealthState::Ejected { .. })
    }
}

/// A change of health worth a log line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Transition {
    Ejected {
        until: Time,
        ejections: u32,
        cause: FailureKind,
        source: &'static str,
    },
    Readmitted {
        after_ejections: u32,
    },
}

/// One recent error, for `/_edge/status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecentError {
    pub at: Time,
    #[serde(flatten)]
    pub kind: FailureKind,
    pub probe: bool,
}

const RECENT_ERRORS: usize = 8;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum Phase {
    Healthy,
    Ejected { until: Time },
}

/// Health bookkeeping of one region.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionHealth {
    phase: Phase,
    passive_failures: u32,
    active_failures: u32,
    /// When the last failure that counted towards an ejection was seen. Attempts
    /// that were already running then belong to the same incident: a stall that
    /// times out every request in flight at once is one failure, not many.
    last_counted_failure: Option<Time>,
    /// Ejections in a row without a long healthy spell: drives the back-off.
    streak: u32,
    total_ejections: u64,
    ejected_at: Option<Time>,
    readmitted_at: Option<Time>,
    last_success: Option<Time>,
    recent_errors: VecDeque<RecentError>,
}

impl Default for RegionHealth {
    fn default() -> Self {
        Self {
            phase: Phase::Healthy,
            passive_failures: 0,
            active_failures: 0,
            last_counted_failure: None,
            streak: 0,
            total_ejections: 0,
            ejected_at: None,
            readmitted_at: None,
            last_success: None,
            recent_errors: VecDeque::with_capacity(RECENT_ERRORS),
        }
    }
}

impl RegionHealth {
    pub fn state(&self, now: Time) -> HealthState {
        match self.phase {
            Phase::Healthy => HealthState::Healthy,
            Phase::Ejected { until } if now < until => HealthState::Ejected { until },
            Phase::Ejected { .. } => HealthState::HalfOpen,
        }
    }

    pub fn record_success(&mut self, source: Source, now: Time) -> Option<Transition> {
        self.last_success = Some(now);
        match self.state(now) {
            // A late answer to a request sent before the ejection proves little.
            HealthState::Ejected { .. } => None,
            HealthState::HalfOpen => {
                let after = self.streak;
                self.phase = Phase::Healthy;
                self.passive_failures = 0;
                self.active_failures = 0;
                self.readmitted_at = Some(now);
                Some(Transition::Readmitted {
                    after_ejections: after,
                })
            }
            HealthState::Healthy => {
                match source {
                    Source::Traffic { started } if self.is_fresh(started) => {
                        self.passive_failures = 0
                    }
                    Source::Traffic { .. } => {}
                    // Its timeout was counted as a failure: the region is alive after all.
                    Source::LateAnswer => self.passive_failures = 0,
                    Source::Probe => self.active_failures = 0,
                }
                None
            }
        }
    }

    pub fn record_failure(
        &mut self,
        kind: FailureKind,
        source: Source,
        now: Time,
        cfg: &HealthConfig,
    ) -> Option<Transition> {
        if self.recent_errors.len() == RECENT_ERRORS {
            self.recent_errors.pop_front();
        }
        self.recent_errors.push_back(RecentError {
            at: now,
            kind,
            probe: source == Source::Probe,
        });
        match self.state(now) {
            HealthState::Ejected { .. } => None,
            HealthState::HalfOpen => Some(self.eject(kind, source, now, cfg)),
            HealthState::Healthy => {
                let tripped = match source {
                    Source::Traffic { started } if !self.is_fresh(started) => false,
                    Source::Traffic { .. } | Source::LateAnswer => {
                        self.last_counted_failure = Some(now);
                        self.passive_failures += 1;
                        self.passive_failures >= cfg.consecutive_failures
                    }
                    Source::Probe => {
                        self.active_failures += 1;
                        self.active_failures >= cfg.unhealthy_threshold
                    }
                };
                tripped.then(|| self.eject(kind, source, now, cfg))
            }
        }
    }

    fn eject(
        &mut self,
        cause: FailureKind,
        source: Source,
        now: Time,
        cfg: &HealthConfig,
    ) -> Transition {
        let healthy_long_enough = self
            .readmitted_at
            .is_some_and(|at| now.since(at) >= cfg.ejection_memory());
        if healthy_long_enough {
            self.streak = 0;
        }
        self.streak = self.streak.saturating_add(1);
        let until = now.plus(ejection_duration(self.streak, cfg));
        self.phase = Phase::Ejected { until };
        self.passive_failures = 0;
        self.active_failures = 0;
        self.total_ejections += 1;
        self.ejected_at = Some(now);
        Transition::Ejected {
            until,
            ejections: self.streak,
            cause,
            source: match source {
                Source::Traffic { .. } | Source::LateAnswer => "traffic",
                Source::Probe => "probe",
            },
        }
    }

    /// True when an attempt started after the last counted failure, so its
    /// outcome is new evidence rather than part of that incident.
    fn is_fresh(&self, started: Time) -> bool {
        self.last_counted_failure.is_none_or(|at| started >= at)
    }

    pub fn total_ejections(&self) -> u64 {
        self.total_ejections
    }

    pub fn consecutive_failures(&self) -> u32 {
        self.passive_failures.max(self.active_failures)
    }

    pub fn recent_errors(&self) -> impl Iterator<Item = &RecentError> {
        self.recent_errors.iter().rev()
    }

    pub fn last_success(&self) -> Option<Time> {
        self.last_success
    }

    pub fn ejected_at(&self) -> Option<Time> {
        self.ejected_at
    }

    /// Adopts an ejection another isolate decided, unless this isolate has seen
    /// the region succeed since (its own evidence is fresher).
    pub fn merge_ejection(&mut self, other: &RegionHealth, now: Time) {
        let Phase::Ejected { until } = other.phase else {
            return;
        };
        let other_ejected_at = other.ejected_at.unwrap_or(now);
        let seen_success_since = self.last_success.is_some_and(|s| s > other_ejected_at);
        let already_later = matches!(self.phase, Phase::Ejected { until: mine } if mine >= until);
        if until > now && !seen_success_since && !already_later {
            self.phase = Phase::Ejected { until };
            self.streak = self.streak.max(other.streak);
            self.ejected_at = Some(other_ejected_at);
            self.passive_failures = 0;
            self.active_failures = 0;
        }
    }
}

/// `base · 2^(n-1)`, capped at the maximum.
fn ejection_duration(streak: u32, cfg: &HealthConfig) -> Duration {
    let doublings = streak.saturating_sub(1).min(20);
    cfg.ejection_base()
        .saturating_mul(1u32 << doublings)
        .min(cfg.ejection_max())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: u64) -> Time {
        Time::from_millis(ms)
    }

    /// An attempt that started just before `now` (sequential, not overlapping).
    fn traffic(now: Time) -> Source {
        Source::Traffic { started: now }
    }

    fn cfg() -> HealthConfig {
        HealthConfig {
            consecutive_failures: 3,
            unhealthy_threshold: 2,
            ejection_base_ms: 1_000,
            ejection_max_ms: 8_000,
            ejection_memory_ms: 30_000,
            ..HealthConfig::default()
        }
    }

    #[test]
    fn consecutive_traffic_failures_eject() {
        let mut h = RegionHealth::default();
        let c = cfg();
        assert_eq!(
            h.record_failure(FailureKind::Connect, traffic(t(0)), t(0), &c),
            None
        );
        assert_eq!(
            h.record_failure(FailureKind::Timeout, traffic(t(1)), t(1), &c),
            None
        );
        let tr = h.record_failure(FailureKind::Status { status: 503 }, traffic(t(2)), t(2), &c);
        assert!(
            matches!(tr, Some(Transition::Ejected { until, ejections: 1, .. }) if until == t(1_002))
        );
        assert_eq!(h.state(t(500)), HealthState::Ejected { until: t(1_002) });
        assert_eq!(h.state(t(1_002)), HealthState::HalfOpen);
    }

    #[test]
    fn overlapping_failures_are_one_incident() {
        let mut h = RegionHealth::default();
        let c = cfg();
        // Four requests in flight since t=0 all time out at t=60 (a stall): one failure.
        for _ in 0..4 {
            let started = Source::Traffic { started: t(0) };
            assert_eq!(
                h.record_failure(FailureKind::Timeout, started, t(60), &c),
                None
            );
        }
        assert_eq!(h.consecutive_failures(), 1);
        // A success of a request started after the stall clears it.
        h.record_success(traffic(t(70)), t(80));
        assert_eq!(h.consecutive_failures(), 0);
        // Requests started one after the other that each fail do add up.
        assert_eq!(
            h.record_failure(FailureKind::Timeout, traffic(t(100)), t(160), &c),
            None
        );
        assert_eq!(
            h.record_failure(FailureKind::Timeout, traffic(t(160)), t(220), &c),
            None
        );
        // A late success of a request older than the last failure proves nothing new.
        h.record_success(Source::Traffic { started: t(90) }, t(225));
        assert!(
            h.record_failure(FailureKind::Timeout, traffic(t(220)), t(280), &c)
                .is_some()
        );
    }

    #[test]
    fn a_late_answer_refutes_the_timeouts_counted_before_it() {
        let mut h = RegionHealth::default();
        let c = cfg();
        h.record_failure(FailureKind::Timeout, traffic(t(0)), t(50), &c);
        h.record_failure(FailureKind::Timeout, traffic(t(60)), t(110), &c);
        assert_eq!(h.consecutive_failures(), 2);
        // An on-time success of a try older than the last failure proves nothing new...
        h.record_success(Source::Traffic { started: t(40) }, t(115));
        assert_eq!(h.consecutive_failures(), 2);
        // ...but the late answer of a try that timed out shows the region is alive.
        h.record_success(Source::LateAnswer, t(120));
        assert_eq!(h.consecutive_failures(), 0);
        assert_eq!(
            h.record_failure(FailureKind::Timeout, traffic(t(120)), t(170), &c),
            None
        );
    }

    #[test]
    fn a_success_resets_the_count() {
        let mut h = RegionHealth::default();
        let c = cfg();
        for i in 0..10 {
            h.record_failure(FailureKind::Connect, traffic(t(i * 3)), t(i * 3), &c);
            h.record_failure(
                FailureKind::Connect,
                traffic(t(i * 3 + 1)),
                t(i * 3 + 1),
                &c,
            );
            h.record_success(traffic(t(i * 3 + 2)), t(i * 3 + 2));
        }
        assert_eq!(h.state(t(100)), HealthState::Healthy);
    }

    #[test]
    fn probes_have_their_own_threshold() {
        let mut h = RegionHealth::default();
        let c = cfg();
        h.record_failure(FailureKind::Timeout, traffic(t(0)), t(0), &c);
        h.record_failure(FailureKind::Timeout, traffic(t(1)), t(1), &c);
        assert_eq!(
            h.record_failure(FailureKind::Status { status: 503 }, Source::Probe, t(2), &c),
            None
        );
        // A probe success does not wipe out failures real traffic saw.
        h.record_success(Source::Probe, t(3));
        assert!(
            h.record_failure(FailureKind::Timeout, traffic(t(4)), t(4), &c)
                .is_some()
        );
    }

    #[test]
    fn back_off_doubles_until_the_cap_and_resets_after_a_healthy_spell() {
        let mut h = RegionHealth::default();
        let c = HealthConfig {
            consecutive_failures: 1,
            ..cfg()
        };
        let mut now = 0;
        let mut durations = vec![];
        for _ in 0..6 {
            match h.record_failure(FailureKind::Connect, traffic(t(now)), t(now), &c) {
                Some(Transition::Ejected { until, .. }) => {
                    durations.push(until.as_millis() - now);
                    now = until.as_millis();
                }
                other => panic!("expected an ejection, got {other:?}"),
            }
            assert_eq!(h.state(t(now)), HealthState::HalfOpen);
        }
        assert_eq!(durations, [1_000, 2_000, 4_000, 8_000, 8_000, 8_000]);
        assert!(matches!(
            h.record_success(Source::Probe, t(now)),
            Some(Transition::Readmitted { after_ejections: 6 })
        ));
        // Fails again soon: the back-off continues.
        now += 1_000;
        assert!(matches!(
            h.record_failure(FailureKind::Connect, traffic(t(now)), t(now), &c),
            Some(Transition::Ejected { ejections: 7, .. })
        ));
        now += 8_000;
        h.record_success(Source::Probe, t(now));
        // Healthy for longer than the memory: starts from the base again.
        now += 31_000;
        assert!(matches!(
            h.record_failure(FailureKind::Connect, traffic(t(now)), t(now), &c),
            Some(Transition::Ejected { ejections: 1, .. })
        ));
    }

    #[test]
    fn half_open_failure_re_ejects_and_late_successes_do_not_readmit() {
        let mut h = RegionHealth::default();
        let c = HealthConfig {
            consecutive_failures: 1,
            ..cfg()
        };
        h.record_failure(FailureKind::Connect, traffic(t(0)), t(0), &c);
        assert_eq!(h.record_success(traffic(t(10)), t(10)), None);
        assert_eq!(h.state(t(10)), HealthState::Ejected { until: t(1_000) });
        assert!(
            h.record_failure(FailureKind::Connect, Source::Probe, t(1_000), &c)
                .is_some()
        );
        assert_eq!(h.state(t(1_001)), HealthState::Ejected { until: t(3_000) });
    }

    #[test]
    fn merge_adopts_a_peer_ejection_unless_fresher_success_is_known() {
        let c = HealthConfig {
            consecutive_failures: 1,
            ..cfg()
        };
        let mut peer = RegionHealth::default();
        peer.record_failure(FailureKind::Connect, traffic(t(100)), t(100), &c);
        let mut mine = RegionHealth::default();
        mine.merge_ejection(&peer, t(200));
        assert_eq!(mine.state(t(200)), HealthState::Ejected { until: t(1_100) });
        let mut fresher = RegionHealth::default();
        fresher.record_success(traffic(t(150)), t(150));
        fresher.merge_ejection(&peer, t(200));
        assert_eq!(fresher.state(t(200)), HealthState::Healthy);
        let mut late = RegionHealth::default();
        late.merge_ejection(&peer, t(5_000));
        assert_eq!(late.state(t(5_000)), HealthState::Healthy);
    }
}
