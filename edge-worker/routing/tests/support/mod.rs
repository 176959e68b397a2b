//! Shared helpers of the engine's tests: configurations, a fake clock, requests.
#![allow(dead_code)]

use edge_routing::health::HealthState;
use edge_routing::{
    ClientGeo, Disposition, EdgeConfig, Engine, FailureKind, Outcome, ProxyRequest, RegionIdx,
    RequestInput, Time, classify,
};
use serde_json::{Value, json};

/// Three regions (us-east, us-west, eu-west) with locations and tags, plus `extra` top-level fields.
pub fn config(extra: Value) -> EdgeConfig {
    let mut doc = json!({
        "regions": [
            {"id": "us-east", "origin": "http://10.0.0.1:9001", "lat": 39.0, "lon": -77.5, "tags": ["us"], "priority": 0, "weight": 1},
            {"id": "us-west", "origin": "http://10.0.0.2:9001", "lat": 45.6, "lon": -121.2, "tags": ["us"], "priority": 1, "weight": 1},
            {"id": "eu-west", "origin": "http://10.0.0.3:9001", "lat": 53.3, "lon": -6.3, "tags": ["eu"], "priority": 2, "weight": 1}
        ]
    });
    if let (Some(doc), Some(extra)) = (doc.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            doc.insert(k.clone(), v.clone());
        }
    }
    EdgeConfig::parse(&doc.to_string()).unwrap_or_else(|e| panic!("test config: {e}"))
}

pub fn t(ms: u64) -> Time {
    Time::from_millis(ms)
}

/// A fake clock that only moves when told.
pub struct Clock(u64);

impl Clock {
    pub fn new() -> Self {
        Clock(1_000_000)
    }
    pub fn now(&self) -> Time {
        t(self.0)
    }
    pub fn advance(&mut self, ms: u64) -> Time {
        self.0 += ms;
        self.now()
    }
}

pub fn idx(config: &EdgeConfig, id: &str) -> RegionIdx {
    config
        .find_region(id)
        .unwrap_or_else(|| panic!("no region {id}"))
}

/// Classifies a request the way the worker does.
pub fn request(
    config: &EdgeConfig,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    geo: ClientGeo,
) -> ProxyRequest {
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    match classify(
        config,
        &RequestInput {
            method,
            path,
            headers: &headers,
            geo,
        },
    ) {
        Ok(Disposition::Proxy(p)) => p,
        other => panic!("{method} {path} was not proxied: {other:?}"),
    }
}

pub fn get(config: &EdgeConfig, path: &str) -> ProxyRequest {
    request(config, "GET", path, &[], ClientGeo::default())
}

/// Region ids of the candidate list for `req`.
pub fn order(engine: &mut Engine, req: &ProxyRequest, now: Time, random: f64) -> Vec<String> {
    let route = engine.route(req, now, random).expect("routable");
    route
        .candidates
        .iter()
        .map(|c| engine.config().region(c.region).id.to_string())
        .collect()
}

/// Gives each region a latency estimate by answering probes with these RTTs (ms).
pub fn measure(engine: &mut Engine, clock: &mut Clock, rtts: &[(&str, u64)]) {
    for _ in 0..5 {
        let now = clock.advance(10_000);
        let probes = engine.due_probes(now);
        for probe in probes {
            let id = engine.config().region(probe.region).id.to_string();
            let rtt = rtts
                .iter()
                .find(|(r, _)| *r == id)
                .map_or(100, |(_, ms)| *ms);
            engine.record_probe(
                probe.region,
                edge_routing::Outcome::Answered { status: 200 },
                std::time::Duration::from_millis(rtt),
                now,
            );
        }
    }
}

/// Gives each region a service estimate from real requests that took these times (ms).
pub fn serve(engine: &mut Engine, clock: &mut Clock, times: &[(&str, u64)]) {
    for _ in 0..5 {
        for (id, ms) in times {
            let region = idx(engine.config(), id);
            let started = clock.now();
            let now = clock.advance(*ms);
            engine.record_attempt(
                region,
                Outcome::Answered { status: 200 },
                started,
                true,
                now,
            );
        }
    }
}

/// Ejects a region the way real traffic does: consecutive refused connections.
pub fn eject(engine: &mut Engine, clock: &mut Clock, id: &str) {
    let region = idx(engine.config(), id);
    for _ in 0..engine.config().health.consecutive_failures {
        let started = clock.now();
        let now = clock.advance(1);
        engine.record_attempt(
            region,
            Outcome::Failed(FailureKind::Connect),
            started,
            true,
            now,
        );
    }
    assert!(
        matches!(
            engine.health(region, clock.now()),
            HealthState::Ejected { .. }
        ),
        "{id} not ejected"
    );
}
