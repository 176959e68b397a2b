//! One client request's journey across regions, as a sans-IO state machine.
//!
//! The worker asks [`Exchange::poll`] what to do (start an attempt, deliver a
//! response, give up, or wait until a time), performs it, and reports back what
//! happened ([`Exchange::on_response`], [`Exchange::on_failure`]). All decisions —
//! per-try timeouts, retries, hedges, the deadline, the retry budget — live here,
//! so they are tested natively with a fake clock.
//!
//! A try that times out is not cancelled when the request is idempotent: the
//! next region is tried alongside it and the first good answer wins, so a region
//! that is merely slow loses nothing, and a black-holed one costs one timeout.
//! A timed-out try still running when the exchange ends is not aborted either:
//! the worker waits for it in the background ([`Exchange::lingering`]), since
//! its late answer is what tells a slow region from a dead one.

use crate::classify::ProxyRequest;
use crate::config::RegionIdx;
use crate::engine::{Engine, Outcome};
use crate::health::{FailureKind, HealthState};
use crate::policy::{Candidate, Route, RouteError};
use crate::time::{Time, duration_ms};
use serde::Serialize;
use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

pub type AttemptId = usize;

/// While a long try is pending, wake up this often to notice its region was ejected.
const EJECTION_RECHECK: Duration = Duration::from_millis(500);

/// Why an attempt was started.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "cause", rename_all = "snake_case")]
pub enum StartCause {
    First,
    /// The previous try failed this way.
    Retry {
        after: FailureKind,
    },
    /// The previous try is still running but slower than usual.
    Hedge,
    /// The previous try's region was ejected (by other traffic) while it ran.
    RegionEjected,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartAttempt {
    pub id: AttemptId,
    pub region: RegionIdx,
    /// The region of the try this one follows (for failover logs).
    pub previous: Option<RegionIdx>,
    pub cause: StartCause,
}

/// What the worker should do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Start(StartAttempt),
    /// Answer the client with this attempt's response; abort the others.
    Deliver {
        attempt: AttemptId,
        abort: Vec<AttemptId>,
    },
    /// Answer the client with an error; abort the others.
    Fail {
        error: ExchangeError,
        abort: Vec<AttemptId>,
    },
    /// Nothing to do until an attempt finishes or this time comes.
    Wait {
        until: Time,
    },
}

/// Why no region answered usefully.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum ExchangeError {
    /// The overall deadline passed with no answer.
    DeadlineExceeded,
    /// Every try failed (or no further try was allowed); the last failure.
    AllFailed { last: FailureKind },
    /// The request could not be sent again safely after an ambiguous failure.
    NotRetryable { last: FailureKind },
}

impl ExchangeError {
    pub fn status(self) -> u16 {
        match self {
            ExchangeError::DeadlineExceeded => 504,
            ExchangeError::AllFailed {
                last: FailureKind::Timeout,
            } => 504,
            _ => 502,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            ExchangeError::DeadlineExceeded => "edge_deadline_exceeded",
            ExchangeError::AllFailed { .. } => "all_regions_failed",
            ExchangeError::NotRetryable { .. } => "upstream_failed",
        }
    }
}

impl fmt::Display for ExchangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExchangeError::DeadlineExceeded => {
                f.write_str("no region answered before the deadline")
            }
            ExchangeError::AllFailed { last } => {
                write!(f, "every region tried failed (last: {last})")
            }
            ExchangeError::NotRetryable { last } => {
                write!(
                    f,
                    "the region failed ({last}) and the request is not idempotent, so it was not sent elsewhere"
                )
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AttemptState {
    InFlight {
        timed_out: bool,
    },
    Failed(FailureKind),
    /// Answered with a retryable status; kept as the fallback answer.
    Responded(u16),
    Delivered,
    Aborted,
    /// Timed out and still running after the exchange ended: watched in the background.
    Lingering,
}

#[derive(Clone, Debug)]
struct Attempt {
    region: RegionIdx,
    started: Time,
    timeout_at: Time,
    hedge_at: Option<Time>,
    /// A successor has been asked for (at most one per attempt).
    spawned: bool,
    state: AttemptState,
    finished: Option<Time>,
}

impl Attempt {
    fn in_flight(&self) -> bool {
        matches!(self.state, AttemptState::InFlight { .. })
    }
}

/// Per-request rules, resolved from the route class and the configuration.
#[derive(Clone, Debug)]
struct Rules {
    idempotent: bool,
    hedge: bool,
    fixed_try_timeout: Option<Duration>,
    observe_latency: bool,
    max_attempts: usize,
}

/// A timed-out try to keep waiting for after the exchange ended; report its
/// answer with [`Engine::record_late_answer`] and abort it at `until`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Linger {
    pub attempt: AttemptId,
    pub region: RegionIdx,
    pub started: Time,
    pub until: Time,
    pub observe_latency: bool,
}

/// One attempt as it ended, for `Server-Timing` and logs.
#[derive(Clone, Debug, Serialize)]
pub struct AttemptSummary {
    pub region: RegionIdx,
    pub outcome: String,
    pub ms: u64,
}

pub struct Exchange {
    rules: Rules,
    started: Time,
    deadline: Time,
    route: Route,
    next_candidate: usize,
    attempts: Vec<Attempt>,
    queued: VecDeque<(StartCause, RegionIdx)>,
    winner: Option<AttemptId>,
    fallback: Option<AttemptId>,
    last_failure: Option<FailureKind>,
    finished: bool,
}

impl Engine {
    /// Routes a client request and prepares its exchange.
    pub fn begin(
        &mut self,
        req: &ProxyRequest,
        now: Time,
        random: f64,
    ) -> Result<Exchange, RouteError> {
        let route = self.route(req, now, random)?;
        let config = self.config();
        let class = config
            .routes()
            .iter()
            .find(|r| r.prefix == req.route_prefix);
        let rules = Rules {
            idempotent: req.idempotent,
            hedge: req.hedge,
            fixed_try_timeout: class.and_then(|c| c.try_timeout),
            observe_latency: class.is_none_or(|c| c.observe_latency),
            max_attempts: usize::try_from(config.retries.max_attempts)
                .unwrap_or(1)
                .max(1),
        };
        let deadline = now.plus(class.map_or(config.timeouts.deadline(), |c| c.deadline));
        Ok(Exchange {
            rules,
            started: now,
            deadline,
            route,
            next_candidate: 0,
            attempts: Vec::new(),
            queued: VecDeque::new(),
            winner: None,
            fallback: None,
            last_failure: None,
            finished: false,
        })
    }
}

impl Exchange {
    pub fn candidates(&self) -> &[Candidate] {
        &self.route.candidates
    }

    pub fn is_panic(&self) -> bool {
        self.route.panic
    }

    pub fn attempts_started(&self) -> usize {
        self.attempts.len()
    }

    pub fn region_of(&self, id: AttemptId) -> Option<RegionIdx> {
        self.attempts.get(id).map(|a| a.region)
    }

    /// Time from the start of an attempt to its end (or to `now`).
    pub fn attempt_elapsed(&self, id: AttemptId, now: Time) -> Option<Duration> {
        self.attempts
            .get(id)
            .map(|a| a.finished.unwrap_or(now).since(a.started))
    }

    pub fn elapsed(&self, now: Time) -> Duration {
        now.since(self.started)
    }

    pub fn summary(&self, now: Time) -> Vec<AttemptSummary> {
        self.attempts
            .iter()
            .map(|a| AttemptSummary {
                region: a.region,
                outcome: match a.state {
                    AttemptState::InFlight { timed_out: true } => "timed_out".into(),
                    AttemptState::InFlight { .. } => "pending".into(),
                    AttemptState::Failed(kind) => kind.to_string(),
                    AttemptState::Responded(status) => format!("status_{status}"),
                    AttemptState::Delivered => "delivered".into(),
                    AttemptState::Aborted => "aborted".into(),
                    AttemptState::Lingering => "timed_out".into(),
                },
                ms: duration_ms(a.finished.unwrap_or(now).since(a.started)),
            })
            .collect()
    }

    /// The tries left running in the background once the exchange ended (see
    /// the module docs); empty before that.
    pub fn lingering(&self, engine: &Engine) -> Vec<Linger> {
        self.attempts
            .iter()
            .enumerate()
            .filter(|(_, a)| a.state == AttemptState::Lingering)
            .map(|(id, a)| Linger {
                attempt: id,
                region: a.region,
                started: a.started,
                until: a
                    .started
                    .plus(engine.late_answer_window(a.region, a.started)),
                observe_latency: self.rules.observe_latency,
            })
            .collect()
    }

    /// Decides the next step. Call it again after every `Start`, and after
    /// reporting an outcome or reaching the `Wait` time.
    pub fn poll(&mut self, engine: &mut Engine, now: Time) -> Step {
        if self.finished {
            return Step::Fail {
                error: ExchangeError::DeadlineExceeded,
                abort: Vec::new(),
            };
        }
        if let Some(winner) = self.winner {
            return self.finish(Ok(winner), now);
        }
        if self.attempts.is_empty() {
            let first = self.route.candidates.first().map(|c| c.region);
            if let Some(step) = first.and_then(|r| self.start(engine, now, StartCause::First, r)) {
                return step;
            }
        }
        if now >= self.deadline {
            return self.expire(engine, now);
        }
        self.fire_timers(engine, now);
        while let Some((cause, previous)) = self.queued.pop_front() {
            if let Some(step) = self.start(engine, now, cause, previous) {
                return step;
            }
        }
        if !self.attempts.iter().any(Attempt::in_flight) {
            let error = match self.last_failure {
                Some(last) if !self.rules.idempotent && !last.provably_not_sent() => {
                    ExchangeError::NotRetryable { last }
                }
                Some(last) => ExchangeError::AllFailed { last },
                None => ExchangeError::AllFailed {
                    last: FailureKind::Connect,
                },
            };
            return match self.fallback {
                Some(fallback) => self.finish(Ok(fallback), now),
                None => self.finish(Err(error), now),
            };
        }
        Step::Wait {
            until: self.next_wakeup(now),
        }
    }

    /// An attempt got response headers with `status`.
    pub fn on_response(&mut self, engine: &mut Engine, id: AttemptId, status: u16, now: Time) {
        let more_possible = self.can_start_more();
        let Some(attempt) = self.attempts.get_mut(id) else {
            return;
        };
        let AttemptState::InFlight { .. } = attempt.state else {
            return;
        };
        attempt.finished = Some(now);
        let region = attempt.region;
        if attempt.state == (AttemptState::InFlight { timed_out: true }) {
            engine.record_late_answer(
                region,
                status,
                attempt.started,
                self.rules.observe_latency,
                now,
            );
        } else {
            engine.record_attempt(
                region,
                Outcome::Answered { status },
                attempt.started,
                self.rules.observe_latency,
                now,
            );
        }
        let retryable = engine.is_failure_status(status) && self.rules.idempotent && more_possible;
        if !retryable {
            attempt.state = AttemptState::Delivered;
            self.winner.get_or_insert(id);
            return;
        }
        attempt.state = AttemptState::Responded(status);
        let spawn = !attempt.spawned;
        attempt.spawned = true;
        self.fallback = Some(id);
        self.last_failure = Some(FailureKind::Status { status });
        if spawn {
            self.queued.push_back((
                StartCause::Retry {
                    after: FailureKind::Status { status },
                },
                region,
            ));
        }
    }

    /// An attempt failed before any response (never report aborted attempts).
    pub fn on_failure(&mut self, engine: &mut Engine, id: AttemptId, kind: FailureKind, now: Time) {
        let Some(attempt) = self.attempts.get_mut(id) else {
            return;
        };
        let AttemptState::InFlight { timed_out } = attempt.state else {
            return;
        };
        attempt.state = AttemptState::Failed(kind);
        attempt.finished = Some(now);
        let retry = self.rules.idempotent || kind.provably_not_sent();
        // A try that already timed out was recorded as a failure then.
        self.note_failure(engine, id, kind, !timed_out, retry, now);
    }

    /// Records a failed try (unless already recorded) and, when another try may
    /// be sent, asks for a successor (one per try).
    fn note_failure(
        &mut self,
        engine: &mut Engine,
        id: AttemptId,
        kind: FailureKind,
        record: bool,
        retry: bool,
        now: Time,
    ) {
        let Some(attempt) = self.attempts.get_mut(id) else {
            return;
        };
        if record {
            engine.record_attempt(
                attempt.region,
                Outcome::Failed(kind),
                attempt.started,
                self.rules.observe_latency,
                now,
            );
            self.last_failure = Some(kind);
        }
        if retry && !attempt.spawned {
            attempt.spawned = true;
            self.queued
                .push_back((StartCause::Retry { after: kind }, attempt.region));
        }
    }

    fn can_start_more(&self) -> bool {
        self.next_candidate < self.route.candidates.len()
            && self.attempts.len() < self.rules.max_attempts
    }

    fn start(
        &mut self,
        engine: &mut Engine,
        now: Time,
        cause: StartCause,
        previous: RegionIdx,
    ) -> Option<Step> {
        if !self.can_start_more() {
            return None;
        }
        let first = cause == StartCause::First;
        if !first && !engine.withdraw_retry(now) {
            return None;
        }
        let region = self.route.candidates[self.next_candidate].region;
        self.next_candidate += 1;
        let try_timeout = self
            .rules
            .fixed_try_timeout
            .unwrap_or_else(|| engine.try_timeout(region, now));
        let timeout_at = now.plus(try_timeout).min(self.deadline);
        let hedge_at = self
            .rules
            .hedge
            .then(|| now.plus(engine.hedge_delay(region, now)))
            .filter(|&h| h < timeout_at);
        if !first {
            engine.note_failover();
        }
        let id = self.attempts.len();
        self.attempts.push(Attempt {
            region,
            started: now,
            timeout_at,
            hedge_at,
            spawned: false,
            state: AttemptState::InFlight { timed_out: false },
            finished: None,
        });
        Some(Step::Start(StartAttempt {
            id,
            region,
            previous: (!first).then_some(previous),
            cause,
        }))
    }

    /// Per-try timeouts, hedge delays and ejections noticed while waiting.
    fn fire_timers(&mut self, engine: &mut Engine, now: Time) {
        for id in 0..self.attempts.len() {
            let attempt = &mut self.attempts[id];
            if attempt.state == (AttemptState::InFlight { timed_out: false })
                && now >= attempt.timeout_at
            {
                attempt.state = AttemptState::InFlight { timed_out: true };
                let retry = self.rules.idempotent;
                self.note_failure(engine, id, FailureKind::Timeout, true, retry, now);
            }
            let attempt = &mut self.attempts[id];
            if !attempt.in_flight() || attempt.spawned {
                continue;
            }
            let cause = if attempt.hedge_at.is_some_and(|h| now >= h) {
                Some(StartCause::Hedge)
            } else {
                let ejected = matches!(
                    engine.health(attempt.region, now),
                    HealthState::Ejected { .. }
                );
                (self.rules.idempotent && !self.route.panic && ejected)
                    .then_some(StartCause::RegionEjected)
            };
            if let Some(cause) = cause {
                attempt.spawned = true;
                self.queued.push_back((cause, attempt.region));
            }
        }
    }

    fn next_wakeup(&self, now: Time) -> Time {
        let mut until = self.deadline;
        for a in self.attempts.iter().filter(|a| a.in_flight()) {
            if matches!(a.state, AttemptState::InFlight { timed_out: false }) {
                until = until.min(a.timeout_at);
            }
            if !a.spawned {
                if let Some(h) = a.hedge_at {
                    until = until.min(h);
                }
                if self.rules.idempotent && !self.route.panic {
                    until = until.min(now.plus(EJECTION_RECHECK));
                }
            }
        }
        until.max(now)
    }

    /// The deadline passed: tries still running count as timed out.
    fn expire(&mut self, engine: &mut Engine, now: Time) -> Step {
        for attempt in &mut self.attempts {
            if attempt.state == (AttemptState::InFlight { timed_out: false }) {
                engine.record_attempt(
                    attempt.region,
                    Outcome::Failed(FailureKind::Timeout),
                    attempt.started,
                    self.rules.observe_latency,
                    now,
                );
            }
        }
        match self.fallback {
            Some(fallback) => self.finish(Ok(fallback), now),
            None => self.finish(Err(ExchangeError::DeadlineExceeded), now),
        }
    }

    fn finish(&mut self, result: Result<AttemptId, ExchangeError>, now: Time) -> Step {
        self.finished = true;
        let keep = result.ok();
        let mut abort = Vec::new();
        for (id, attempt) in self.attempts.iter_mut().enumerate() {
            if Some(id) == keep {
                attempt.state = AttemptState::Delivered;
            } else if attempt.state == (AttemptState::InFlight { timed_out: true }) {
                attempt.state = AttemptState::Lingering;
            } else if attempt.in_flight() {
                attempt.state = AttemptState::Aborted;
                attempt.finished = Some(now);
                abort.push(id);
            }
        }
        match result {
            Ok(attempt) => Step::Deliver { attempt, abort },
            Err(error) => Step::Fail { error, abort },
        }
    }
}
