//! One request's tries across regions, driven with a fake clock: timeouts,
//! retries, hedges, budgets and deadlines.

mod support;

use std::time::Duration;

use edge_routing::exchange::StartCause;
use edge_routing::{ClientGeo, Engine, Exchange, ExchangeError, FailureKind, ProxyRequest, Step};
use serde_json::json;
use support::*;

struct Run {
    engine: Engine,
    clock: Clock,
}

impl Run {
    /// us-east 10 ms, us-west 30 ms, eu-west 60 ms, all measured by probes
    /// and by real traffic.
    fn new(extra: serde_json::Value) -> Self {
        let mut clock = Clock::new();
        let mut engine = Engine::new(config(extra), clock.now());
        let times = [("us-east", 10), ("us-west", 30), ("eu-west", 60)];
        measure(&mut engine, &mut clock, &times);
        serve(&mut engine, &mut clock, &times);
        Run { engine, clock }
    }

    fn begin(&mut self, req: &ProxyRequest) -> Exchange {
        self.engine
            .begin(req, self.clock.now(), 0.0)
            .expect("routable")
    }

    fn poll(&mut self, x: &mut Exchange) -> Step {
        x.poll(&mut self.engine, self.clock.now())
    }

    fn name(&self, step: &Step) -> String {
        match step {
            Step::Start(s) => self.engine.config().region(s.region).id.to_string(),
            other => panic!("expected a start, got {other:?}"),
        }
    }

    fn start(&mut self, x: &mut Exchange) -> (usize, String, StartCause) {
        let step = self.poll(x);
        let name = self.name(&step);
        let Step::Start(s) = step else { unreachable!() };
        (s.id, name, s.cause)
    }

    fn wait_until(&mut self, x: &mut Exchange) -> u64 {
        match self.poll(x) {
            Step::Wait { until } => until.as_millis(),
            other => panic!("expected to wait, got {other:?}"),
        }
    }

    fn respond(&mut self, x: &mut Exchange, id: usize, status: u16, after_ms: u64) {
        let now = self.clock.advance(after_ms);
        x.on_response(&mut self.engine, id, status, now);
    }

    fn fail(&mut self, x: &mut Exchange, id: usize, kind: FailureKind, after_ms: u64) {
        let now = self.clock.advance(after_ms);
        x.on_failure(&mut self.engine, id, kind, now);
    }
}

fn post(run: &Run, headers: &[(&str, &str)]) -> ProxyRequest {
    request(
        run.engine.config(),
        "POST",
        "/v1/sync",
        headers,
        ClientGeo::default(),
    )
}

#[test]
fn the_first_good_answer_is_delivered() {
    let mut run = Run::new(json!({}));
    let req = get(run.engine.config(), "/v1/x");
    let mut x = run.begin(&req);
    let (id, region, cause) = run.start(&mut x);
    assert_eq!((region.as_str(), cause), ("us-east", StartCause::First));
    run.respond(&mut x, id, 200, 12);
    assert_eq!(
        run.poll(&mut x),
        Step::Deliver {
            attempt: 0,
            abort: vec![]
        }
    );
    assert_eq!(x.attempts_started(), 1);
}

#[test]
fn a_connect_error_moves_on_to_the_next_region() {
    let mut run = Run::new(json!({}));
    let req = get(run.engine.config(), "/v1/x");
    let mut x = run.begin(&req);
    let (a, _, _) = run.start(&mut x);
    run.fail(&mut x, a, FailureKind::Connect, 1);
    let (b, region, cause) = run.start(&mut x);
    assert_eq!(region, "us-west");
    assert_eq!(
        cause,
        StartCause::Retry {
            after: FailureKind::Connect
        }
    );
    run.respond(&mut x, b, 200, 30);
    assert_eq!(
        run.poll(&mut x),
        Step::Deliver {
            attempt: b,
            abort: vec![]
        }
    );
}

#[test]
fn a_timeout_races_the_next_region_and_keeps_the_slow_try() {
    let mut run = Run::new(json!({}));
    let req = get(run.engine.config(), "/v1/x");
    let mut x = run.begin(&req);
    let started = run.clock.now().as_millis();
    let (a, _, _) = run.start(&mut x);
    let timeout = run
        .engine
        .try_timeout(idx(run.engine.config(), "us-east"), run.clock.now());
    // The per-try timeout derives from us-east's ~10 ms RTT: far below a second.
    assert!(timeout < Duration::from_millis(200), "{timeout:?}");
    let until = run.wait_until(&mut x);
    assert_eq!(until, started + timeout.as_millis() as u64);
    run.clock.advance(until - started);
    let (b, region, cause) = run.start(&mut x);
    assert_eq!(
        (region.as_str(), cause),
        (
            "us-west",
            StartCause::Retry {
                after: FailureKind::Timeout
            }
        )
    );
    // The slow first try answers before the second: it wins, the second is aborted.
    run.respond(&mut x, a, 200, 5);
    assert_eq!(
        run.poll(&mut x),
        Step::Deliver {
            attempt: a,
            abort: vec![b]
        }
    );
}

#[test]
fn a_black_holed_region_costs_one_timeout() {
    let mut run = Run::new(json!({}));
    let req = get(run.engine.config(), "/v1/x");
    let mut x = run.begin(&req);
    let t0 = run.clock.now().as_millis();
    let (a, _, _) = run.start(&mut x);
    let until = run.wait_until(&mut x);
    run.clock.advance(until - t0);
    let (b, _, _) = run.start(&mut x);
    run.respond(&mut x, b, 200, 30);
    // The timed-out try is left running, to learn whether it was slow or dead.
    assert_eq!(
        run.poll(&mut x),
        Step::Deliver {
            attempt: b,
            abort: vec![]
        }
    );
    let total = run.clock.now().as_millis() - t0;
    assert!(total < 30 + 100, "the client waited {total} ms");
    let east = idx(run.engine.config(), "us-east");
    let lingering = x.lingering(&run.engine);
    assert_eq!(lingering.len(), 1);
    let l = lingering[0];
    assert_eq!((l.attempt, l.region, l.started.as_millis()), (a, east, t0));
    let window = l.until.as_millis() - t0;
    assert!(
        (1_000..=5_000).contains(&window),
        "watched for {window} ms after it started"
    );
}

#[test]
fn a_slow_region_is_not_ejected_and_its_timeout_grows_to_fit() {
    let mut run = Run::new(json!({}));
    let east = idx(run.engine.config(), "us-east");
    let req = get(run.engine.config(), "/v1/x");
    // us-east now takes 100 ms (it used to take 10): every try times out, the
    // retry on us-west wins, and us-east's answer arrives later in the background.
    let mut timeouts = 0;
    for _ in 0..20 {
        let mut x = run.begin(&req);
        let t0 = run.clock.now().as_millis();
        let (a, region, _) = run.start(&mut x);
        assert_eq!(region, "us-east", "a slow region is still the nearest");
        let wake = run.wait_until(&mut x);
        if wake - t0 >= 100 {
            // The timeout now leaves room for us-east's real time.
            run.respond(&mut x, a, 200, 100);
            assert!(matches!(run.poll(&mut x), Step::Deliver { attempt, .. } if attempt == a));
            continue;
        }
        timeouts += 1;
        run.clock.advance(wake - t0);
        let (b, _, _) = run.start(&mut x);
        run.respond(&mut x, b, 200, 30);
        assert!(matches!(run.poll(&mut x), Step::Deliver { attempt, .. } if attempt == b));
        let linger = x.lingering(&run.engine)[0];
        let late = run.clock.advance(t0 + 100 - run.clock.now().as_millis());
        run.engine
            .record_late_answer(linger.region, 200, linger.started, true, late);
        assert_eq!(
            run.engine.health(east, late),
            edge_routing::HealthState::Healthy,
            "us-east ejected after {timeouts} timeouts, though it answered every one"
        );
        run.clock.advance(5);
    }
    assert!(timeouts <= 6, "{timeouts} of 20 requests timed out");
    assert!(run.engine.try_timeout(east, run.clock.now()) > Duration::from_millis(100));
}

#[test]
fn a_region_that_never_answers_is_ejected_after_consecutive_timeouts() {
    let mut run = Run::new(json!({}));
    let east = idx(run.engine.config(), "us-east");
    let req = get(run.engine.config(), "/v1/x");
    let t0 = run.clock.now().as_millis();
    let mut to_east = 0;
    for _ in 0..10 {
        let mut x = run.begin(&req);
        let started = run.clock.now().as_millis();
        let (a, region, _) = run.start(&mut x);
        if region != "us-east" {
            run.respond(&mut x, a, 200, 30);
            continue;
        }
        to_east += 1;
        let wake = run.wait_until(&mut x);
        run.clock.advance(wake - started);
        let (b, _, _) = run.start(&mut x);
        run.respond(&mut x, b, 200, 30);
        assert!(matches!(run.poll(&mut x), Step::Deliver { .. }));
    }
    assert_eq!(to_east, 3, "consecutive timeouts eject");
    assert!(matches!(
        run.engine.health(east, run.clock.now()),
        edge_routing::HealthState::Ejected { .. }
    ));
    let elapsed = run.clock.now().as_millis() - t0;
    assert!(elapsed < 1_000, "ejection took {elapsed} ms of traffic");
}

#[test]
fn non_idempotent_requests_are_not_resent_after_an_ambiguous_failure() {
    let mut run = Run::new(json!({}));
    let req = post(&run, &[]);
    assert!(!req.idempotent);
    let mut x = run.begin(&req);
    let (a, _, _) = run.start(&mut x);
    run.fail(&mut x, a, FailureKind::Network, 3);
    assert_eq!(
        run.poll(&mut x),
        Step::Fail {
            error: ExchangeError::NotRetryable {
                last: FailureKind::Network
            },
            abort: vec![]
        }
    );
    assert_eq!(x.attempts_started(), 1);

    // A refused connection proves the request never left: it may go elsewhere.
    let mut x = run.begin(&req);
    let (a, _, _) = run.start(&mut x);
    run.fail(&mut x, a, FailureKind::Connect, 1);
    let (_, region, _) = run.start(&mut x);
    assert_eq!(region, "us-west");
}

#[test]
fn non_idempotent_requests_wait_out_a_slow_region_instead_of_duplicating() {
    let mut run = Run::new(json!({"timeouts": {"deadline_ms": 3000}}));
    let req = post(&run, &[]);
    let mut x = run.begin(&req);
    let t0 = run.clock.now().as_millis();
    run.start(&mut x);
    let first_wake = run.wait_until(&mut x);
    run.clock.advance(first_wake - t0);
    // The per-try timeout fired (recorded for health) but nothing else starts.
    let until = run.wait_until(&mut x);
    assert_eq!(until, t0 + 3000);
    run.clock.advance(until - run.clock.now().as_millis());
    assert_eq!(
        run.poll(&mut x),
        Step::Fail {
            error: ExchangeError::DeadlineExceeded,
            abort: vec![]
        }
    );
    assert_eq!(
        x.lingering(&run.engine).len(),
        1,
        "timed out: watched, not aborted"
    );
    assert_eq!(ExchangeError::DeadlineExceeded.status(), 504);
}

#[test]
fn an_idempotency_key_makes_a_post_retryable() {
    let mut run = Run::new(json!({}));
    let req = post(&run, &[("idempotency-key", "k-1")]);
    assert!(req.idempotent);
    let mut x = run.begin(&req);
    let (a, _, _) = run.start(&mut x);
    run.fail(&mut x, a, FailureKind::Network, 2);
    let (_, region, _) = run.start(&mut x);
    assert_eq!(region, "us-west");
}

#[test]
fn retryable_statuses_go_elsewhere_and_the_last_answer_is_kept() {
    let mut run = Run::new(json!({}));
    let req = get(run.engine.config(), "/v1/x");
    let mut x = run.begin(&req);
    for expected in ["us-east", "us-west", "eu-west"] {
        let (id, region, _) = run.start(&mut x);
        assert_eq!(region, expected);
        run.respond(&mut x, id, 503, 5);
    }
    // Nothing left to try: the last 503 goes to the client as the origin sent it.
    assert_eq!(
        run.poll(&mut x),
        Step::Deliver {
            attempt: 2,
            abort: vec![]
        }
    );

    // A non-idempotent request's 5xx is the answer.
    let req = post(&run, &[]);
    let mut x = run.begin(&req);
    let (id, _, _) = run.start(&mut x);
    run.respond(&mut x, id, 503, 5);
    assert_eq!(
        run.poll(&mut x),
        Step::Deliver {
            attempt: id,
            abort: vec![]
        }
    );
    // 4xx are answers, never retried.
    let req = get(run.engine.config(), "/v1/x");
    let mut x = run.begin(&req);
    let (id, _, _) = run.start(&mut x);
    run.respond(&mut x, id, 404, 5);
    assert_eq!(
        run.poll(&mut x),
        Step::Deliver {
            attempt: id,
            abort: vec![]
        }
    );
}

#[test]
fn attempts_are_capped() {
    let mut run = Run::new(json!({"retries": {"max_attempts": 2}}));
    let req = get(run.engine.config(), "/v1/x");
    let mut x = run.begin(&req);
    let (a, _, _) = run.start(&mut x);
    run.fail(&mut x, a, FailureKind::Connect, 1);
    let (b, _, _) = run.start(&mut x);
    run.fail(&mut x, b, FailureKind::Connect, 1);
    assert_eq!(
        run.poll(&mut x),
        Step::Fail {
            error: ExchangeError::AllFailed {
                last: FailureKind::Connect
            },
            abort: vec![]
        }
    );
}

#[test]
fn an_empty_retry_budget_stops_retries() {
    let mut run = Run::new(json!({"retries": {"budget_percent": 0, "budget_min_per_s": 0}}));
    let req = get(run.engine.config(), "/v1/x");
    let mut failed_without_retry = 0;
    for _ in 0..20 {
        let mut x = run.begin(&req);
        let (a, _, _) = run.start(&mut x);
        run.fail(&mut x, a, FailureKind::Connect, 1);
        if let Step::Fail { .. } = run.poll(&mut x) {
            failed_without_retry += 1;
        }
    }
    // Ten saved-up retries, then none.
    assert_eq!(failed_without_retry, 10);
}

#[test]
fn hedged_gets_race_after_the_observed_latency() {
    let mut run = Run::new(
        json!({"hedging": {"enabled": true, "min_delay_ms": 5}, "timeouts": {"try_min_ms": 500}}),
    );
    let req = get(run.engine.config(), "/v1/x");
    assert!(req.hedge);
    let mut x = run.begin(&req);
    let t0 = run.clock.now().as_millis();
    let (a, _, _) = run.start(&mut x);
    let hedge_at = run.wait_until(&mut x);
    assert!(hedge_at - t0 < 100, "hedge after {} ms", hedge_at - t0);
    run.clock.advance(hedge_at - t0);
    let (b, region, cause) = run.start(&mut x);
    assert_eq!((region.as_str(), cause), ("us-west", StartCause::Hedge));
    run.respond(&mut x, b, 200, 30);
    assert_eq!(
        run.poll(&mut x),
        Step::Deliver {
            attempt: b,
            abort: vec![a]
        }
    );
    // POSTs are never hedged.
    assert!(!post(&run, &[("idempotency-key", "k")]).hedge);
}

#[test]
fn a_long_poll_keeps_its_own_timeout_and_does_not_skew_latency() {
    let mut run = Run::new(json!({}));
    let watch = request(
        run.engine.config(),
        "POST",
        "/v1/watch",
        &[],
        ClientGeo::default(),
    );
    assert!(watch.idempotent, "a watch is a read");
    let east = idx(run.engine.config(), "us-east");
    let srtt = run.engine.latency(east).srtt_ms();
    let mut x = run.begin(&watch);
    let t0 = run.clock.now().as_millis();
    let (a, _, _) = run.start(&mut x);
    // Woken now and then to re-check health, but a held long-poll gets no second try.
    while run.clock.now().as_millis() < t0 + 25_000 {
        let until = run.wait_until(&mut x);
        assert!(until <= t0 + 35_000);
        run.clock.advance(until - run.clock.now().as_millis());
    }
    assert_eq!(x.attempts_started(), 1);
    x.on_response(&mut run.engine, a, 200, run.clock.now());
    assert!(matches!(run.poll(&mut x), Step::Deliver { .. }));
    assert_eq!(
        run.engine.latency(east).srtt_ms(),
        srtt,
        "a 25 s long-poll fed the RTT estimate"
    );
}

#[test]
fn a_try_on_a_region_ejected_meanwhile_is_raced_elsewhere() {
    let mut run = Run::new(json!({}));
    let watch = request(
        run.engine.config(),
        "POST",
        "/v1/watch",
        &[],
        ClientGeo::default(),
    );
    let mut x = run.begin(&watch);
    run.start(&mut x);
    // Other requests find us-east dead.
    eject(&mut run.engine, &mut run.clock, "us-east");
    run.clock.advance(500);
    let (_, region, cause) = run.start(&mut x);
    assert_eq!(
        (region.as_str(), cause),
        ("us-west", StartCause::RegionEjected)
    );
}

#[test]
fn the_deadline_delivers_a_held_answer_or_gives_up() {
    let mut run = Run::new(
        json!({"timeouts": {"deadline_ms": 1000, "try_min_ms": 2000, "try_max_ms": 5000}}),
    );
    let req = get(run.engine.config(), "/v1/x");
    let mut x = run.begin(&req);
    let (a, _, _) = run.start(&mut x);
    run.respond(&mut x, a, 502, 10);
    let (b, _, _) = run.start(&mut x);
    run.clock.advance(990);
    match run.poll(&mut x) {
        Step::Deliver { attempt, abort } => {
            assert_eq!(attempt, a, "the held 502 is the answer at the deadline");
            assert_eq!(abort, vec![b]);
        }
        other => panic!("{other:?}"),
    }
}
