//! The engine over time: ejection and readmission timing, probe scheduling,
//! sharing between isolates, the status report, classification.

mod support;

use std::time::Duration;

use edge_routing::health::HealthState;
use edge_routing::snapshot::Snapshot;
use edge_routing::{
    ClientGeo, Disposition, Engine, FailureKind, Outcome, Rejection, RequestInput, classify,
};
use serde_json::json;
use support::*;

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

fn engine(extra: serde_json::Value) -> (Engine, Clock) {
    let clock = Clock::new();
    (Engine::new(config(extra), clock.now()), clock)
}

#[test]
fn probes_run_once_per_interval_and_never_against_an_ejected_region() {
    let (mut e, mut clock) = engine(
        json!({"health": {"interval_ms": 1000, "timeout_ms": 200, "ejection_base_ms": 5000}}),
    );
    // Everything is due on the first request.
    assert_eq!(e.due_probes(clock.now()).len(), 3);
    assert!(e.due_probes(clock.advance(999)).is_empty());
    let due = e.due_probes(clock.advance(1));
    assert_eq!(due.len(), 3);
    assert_eq!(due[0].url, "http://10.0.0.1:9001/readyz");
    assert_eq!(due[0].timeout, ms(200));
    // Two failed checks eject us-east: no probes for it until the ejection ends.
    let east = idx(e.config(), "us-east");
    for _ in 0..2 {
        let now = clock.advance(1000);
        e.record_probe(east, Outcome::Answered { status: 503 }, ms(3), now);
    }
    assert!(matches!(
        e.health(east, clock.now()),
        HealthState::Ejected { .. }
    ));
    for step in 0..4 {
        let now = clock.advance(1000);
        let due = e.due_probes(now);
        assert!(
            due.iter().all(|p| p.region != east),
            "probed an ejected region at step {step}"
        );
    }
    // Ejection over: the half-open trial is due at once.
    let now = clock.advance(1000);
    assert!(e.due_probes(now).iter().any(|p| p.region == east));
}

#[test]
fn ejection_and_readmission_follow_the_back_off() {
    let (mut e, mut clock) = engine(
        json!({"health": {"consecutive_failures": 3, "ejection_base_ms": 1000, "ejection_max_ms": 4000, "timeout_ms": 100}}),
    );
    let east = idx(e.config(), "us-east");
    let mut durations = vec![];
    for round in 0..4 {
        eject(&mut e, &mut clock, "us-east");
        let HealthState::Ejected { until } = e.health(east, clock.now()) else {
            panic!("round {round}: not ejected")
        };
        durations.push(until.as_millis() - clock.now().as_millis());
        clock.advance(until.as_millis() - clock.now().as_millis());
        assert_eq!(e.health(east, clock.now()), HealthState::HalfOpen);
        // The trial fails: ejected again (we leave the loop through the next round).
        if round < 3 {
            let now = clock.now();
            e.record_probe(east, Outcome::Failed(FailureKind::Timeout), ms(100), now);
            let HealthState::Ejected { until } = e.health(east, now) else {
                panic!("trial failure did not re-eject")
            };
            clock.advance(until.as_millis() - now.as_millis());
            e.record_probe(east, Outcome::Answered { status: 200 }, ms(8), clock.now());
            assert_eq!(e.health(east, clock.now()), HealthState::Healthy);
        }
    }
    assert_eq!(durations, [1000, 4000, 4000, 4000]);
    let events = e.drain_events();
    assert!(
        events
            .iter()
            .any(|ev| serde_json::to_value(ev).unwrap()["event"] == "readmitted")
    );
    assert!(e.drain_events().is_empty());
}

#[test]
fn a_region_that_gets_faster_is_discovered_by_probes() {
    let (mut e, mut clock) =
        engine(json!({"health": {"interval_ms": 500}, "latency": {"decay_ms": 1000}}));
    measure(
        &mut e,
        &mut clock,
        &[("us-east", 20), ("us-west", 60), ("eu-west", 90)],
    );
    let req = get(e.config(), "/v1/x");
    assert_eq!(order(&mut e, &req, clock.now(), 0.0)[0], "us-east");
    // us-west becomes 5 ms; each probe round (every 500 ms) brings the news.
    let mut rounds = 0;
    while order(&mut e, &req, clock.now(), 0.0)[0] != "us-west" {
        rounds += 1;
        assert!(
            rounds <= 10,
            "us-west still not preferred after {rounds} probe rounds"
        );
        let now = clock.advance(500);
        for probe in e.due_probes(now) {
            let rtt = match e.config().region(probe.region).id.as_str() {
                "us-east" => 20,
                "us-west" => 5,
                _ => 90,
            };
            e.record_probe(
                probe.region,
                Outcome::Answered { status: 200 },
                ms(rtt),
                now,
            );
        }
    }
    // A few rounds more than the bare estimate needs: traffic only moves once
    // us-west is clearly faster, beyond the switch margin and the estimates' noise.
    assert!(rounds <= 8, "took {rounds} probe rounds");
}

#[test]
fn snapshots_carry_latency_and_ejections_to_a_fresh_isolate() {
    let (mut old, mut clock) = engine(json!({}));
    measure(
        &mut old,
        &mut clock,
        &[("us-east", 70), ("us-west", 15), ("eu-west", 40)],
    );
    eject(&mut old, &mut clock, "us-east");
    let text = old.snapshot(clock.now()).to_json();

    let mut fresh = Engine::new(config(json!({})), clock.now());
    let req = get(fresh.config(), "/v1/x");
    assert_eq!(
        order(&mut fresh, &req, clock.now(), 0.0),
        ["us-east", "us-west", "eu-west"],
        "blind before the snapshot"
    );
    let snap = Snapshot::from_json(&text).unwrap();
    assert_eq!(fresh.merge_snapshot(&snap, clock.now()), 3);
    assert_eq!(
        order(&mut fresh, &req, clock.now(), 0.0),
        ["us-west", "eu-west"]
    );

    // Garbage and other versions are refused, not trusted.
    assert!(Snapshot::from_json("{").is_err());
    assert!(text.contains("\"version\":2"), "{text}");
    assert!(Snapshot::from_json(&text.replacen("\"version\":2", "\"version\":9", 1)).is_err());
    // A snapshot from another configuration only touches regions both know.
    let other = edge_routing::EdgeConfig::parse(
        r#"{"regions":[{"id":"ap-south","origin":"http://10.9.9.9"}]}"#,
    )
    .unwrap();
    let mut stranger = Engine::new(other, clock.now());
    assert_eq!(stranger.merge_snapshot(&snap, clock.now()), 0);
}

#[test]
fn status_reports_the_region_table() {
    let (mut e, mut clock) = engine(json!({}));
    measure(
        &mut e,
        &mut clock,
        &[("us-east", 10), ("us-west", 30), ("eu-west", 60)],
    );
    let west = idx(e.config(), "us-west");
    let started = clock.now();
    let now = clock.advance(5);
    e.record_attempt(west, Outcome::Answered { status: 503 }, started, true, now);
    let status = serde_json::to_value(e.status(clock.advance(100))).unwrap();
    assert_eq!(status["ok"], true);
    assert_eq!(status["policy"], "latency");
    let regions = status["regions"].as_array().unwrap();
    assert_eq!(regions.len(), 3);
    assert_eq!(regions[0]["id"], "us-east");
    assert!((regions[0]["srtt_ms"].as_f64().unwrap() - 10.0).abs() < 0.5);
    assert_eq!(regions[1]["consecutive_failures"], 1);
    assert_eq!(regions[1]["recent_errors"][0]["kind"], "status");
    assert_eq!(regions[1]["recent_errors"][0]["status"], 503);
    assert_eq!(regions[1]["recent_errors"][0]["age_ms"], 100);
    assert_eq!(regions[1]["health"]["state"], "healthy");
}

fn input<'a>(method: &'a str, path: &'a str, headers: &'a [(String, String)]) -> RequestInput<'a> {
    RequestInput {
        method,
        path,
        headers,
        geo: ClientGeo::default(),
    }
}

fn headers(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

#[test]
fn classification_of_paths_methods_and_headers() {
    let c = config(json!({"max_body_bytes": 100, "residency": {}, "hedging": {"enabled": true}}));
    let none = headers(&[]);
    assert_eq!(
        classify(&c, &input("GET", "/_edge/status", &none)),
        Ok(Disposition::EdgeStatus)
    );
    assert_eq!(
        classify(&c, &input("POST", "/_edge/status", &none)),
        Ok(Disposition::EdgeNotFound)
    );
    assert_eq!(
        classify(&c, &input("GET", "/_edge/x", &none)),
        Ok(Disposition::EdgeNotFound)
    );
    assert_eq!(
        classify(&c, &input("GET", "/", &none)),
        Ok(Disposition::Assets)
    );
    assert_eq!(
        classify(&c, &input("GET", "/assets/app.js", &none)),
        Ok(Disposition::Assets)
    );
    assert!(matches!(
        classify(&c, &input("PROPFIND", "/v1/x", &none)),
        Err(Rejection::MethodNotAllowed { .. })
    ));
    assert!(matches!(
        classify(&c, &input("get", "/v1/x", &none)),
        Err(Rejection::MethodNotAllowed { .. })
    ));
    let big = headers(&[("content-length", "101")]);
    assert_eq!(
        classify(&c, &input("POST", "/v1/x", &big)),
        Err(Rejection::BodyTooLarge { limit: 100 })
    );
    let bad_key = headers(&[("idempotency-key", "has space")]);
    assert_eq!(
        classify(&c, &input("POST", "/v1/x", &bad_key)),
        Err(Rejection::BadIdempotencyKey)
    );
    let bad_tag = headers(&[("x-data-residency", "mars")]);
    assert!(matches!(
        classify(&c, &input("GET", "/v1/x", &bad_tag)),
        Err(Rejection::BadResidency { .. })
    ));

    let Ok(Disposition::Proxy(p)) = classify(&c, &input("GET", "/v1/x", &none)) else {
        panic!()
    };
    assert!(p.idempotent && p.hedge);
    let Ok(Disposition::Proxy(p)) = classify(&c, &input("POST", "/v1/x", &none)) else {
        panic!()
    };
    assert!(!p.idempotent && !p.hedge);
    let keyed = headers(&[("idempotency-key", "abc-123")]);
    let Ok(Disposition::Proxy(p)) = classify(&c, &input("POST", "/v1/x", &keyed)) else {
        panic!()
    };
    assert!(p.idempotent && !p.hedge);
    let Ok(Disposition::Proxy(p)) = classify(&c, &input("DELETE", "/v1/x", &none)) else {
        panic!()
    };
    assert!(p.idempotent);
    let Ok(Disposition::Proxy(p)) = classify(&c, &input("GET", "/v1/watch", &none)) else {
        panic!()
    };
    assert!(!p.hedge, "long-polls are never hedged");
}

#[test]
fn development_headers_override_only_what_they_provide() {
    let cf = ClientGeo::from_parts(Some("US"), Some("NA"), Some("30.27"), Some("-97.74"));
    let dev = headers(&[
        ("x-edge-dev-country", "de"),
        ("x-edge-dev-lat", "not a number"),
    ]);
    let geo = cf.clone().with_dev_overrides(&dev);
    assert_eq!(geo.country.unwrap().as_str(), "DE");
    assert_eq!(geo.continent.unwrap().as_str(), "NA");
    assert_eq!(geo.point, cf.point);
    let garbage = ClientGeo::from_parts(Some("Germany"), Some("Europe"), Some("91"), Some("0"));
    assert_eq!(garbage, ClientGeo::default());
}

proptest::proptest! {
    /// Classification never panics, whatever the method, path and headers.
    #[test]
    fn classification_never_panics(
        method in "[A-Za-z]{0,10}",
        path in "\\PC{0,80}",
        names in proptest::collection::vec("[a-z-]{1,20}", 0..6),
        values in proptest::collection::vec("\\PC{0,40}", 0..6),
    ) {
        let c = config(json!({"residency": {"countries": {"DE": "eu"}}, "affinity": {}}));
        let hs: Vec<(String, String)> = names.into_iter().zip(values).collect();
        let _ = classify(&c, &input(&method, &path, &hs));
    }
}
