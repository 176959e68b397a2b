//! The edge in workerd in front of three regions at different network
//! distances: traffic goes to the fastest; when the fastest dies or stops
//! answering under load no idempotent request fails; when it comes back it is
//! readmitted; when another region becomes the fastest, traffic moves.
//!
//! One world, one scenario in order (each step starts from the state the
//! previous one left), so wrangler starts once for the whole binary.

use std::time::Duration;

use local_world::Fault;
use reqwest::Method;
use serde_json::json;
use system_tests::edge::{EdgeWorld, REGION_HEADER, RegionSpec, WorldSpec};
use system_tests::load::{Load, LoadReport, LoadSpec, percentile_ms};

const FAST: &str = "us-east";
const MIDDLE: &str = "us-west";
const SLOW: &str = "eu-west";

async fn world() -> EdgeWorld {
    let spec = WorldSpec {
        regions: vec![
            RegionSpec::new(FAST, 5),
            RegionSpec::new(MIDDLE, 50),
            RegionSpec::new(SLOW, 150),
        ],
        config: json!({
            "health": {"interval_ms": 300, "timeout_ms": 500, "ejection_base_ms": 1000, "ejection_max_ms": 2000},
            "latency": {"decay_ms": 1000},
        }),
        ..WorldSpec::default()
    };
    EdgeWorld::start(spec).await.expect("the edge world starts")
}

fn get_load(world: &EdgeWorld, path: &str, requests: u64, seconds: u64) -> LoadSpec {
    LoadSpec {
        concurrency: 4,
        max_requests: requests,
        max_duration: Duration::from_secs(seconds),
        timeout: Duration::from_secs(20),
        ..LoadSpec::get(world.url(path))
    }
}

fn post_load(world: &EdgeWorld, path: &str, requests: u64, seconds: u64) -> LoadSpec {
    LoadSpec {
        method: Method::POST,
        idempotency_key: true,
        body: Some(b"{\"change\":1}".to_vec()),
        concurrency: 2,
        ..get_load(world, path, requests, seconds)
    }
}

fn describe(report: &LoadReport) -> String {
    let failures: Vec<String> = report
        .failures()
        .iter()
        .take(5)
        .map(|s| format!("{:?}", s.error))
        .collect();
    let retried = report
        .samples
        .iter()
        .filter(|s| s.attempts > Some(1))
        .count();
    let sequence: String = report
        .samples
        .iter()
        .map(|s| match (s.region.as_deref(), s.attempts) {
            (Some(FAST), Some(1)) => 'f',
            (Some(FAST), _) => 'F',
            (Some(MIDDLE), Some(1)) => 'm',
            (Some(MIDDLE), _) => 'M',
            (Some(SLOW), Some(1)) => 's',
            (Some(SLOW), _) => 'S',
            _ => '?',
        })
        .collect();
    format!(
        "{} requests, {} failed, {retried} needed more than one attempt, regions {:?}, p50 {:.1} ms, max {:.1} ms, first failures {failures:?}\n  served by (capital: after a retry): {sequence}",
        report.samples.len(),
        report.failures().len(),
        LoadReport::regions(&report.samples),
        percentile_ms(&report.samples, 0.5),
        percentile_ms(&report.samples, 1.0),
    )
}

/// Runs `count` requests and returns the share the given region served.
async fn share_of(world: &EdgeWorld, region: &str, path: &str) -> (f64, LoadReport) {
    let report = Load::run(
        world.client.clone(),
        get_load(world, path, 200, 20),
        REGION_HEADER,
    )
    .await;
    assert!(
        report.failures().is_empty(),
        "requests failed in a healthy world: {}",
        describe(&report)
    );
    (LoadReport::share(&report.samples, region), report)
}

/// Light traffic until the edge's status satisfies `check` (probes ride on traffic).
async fn settle(
    world: &EdgeWorld,
    region: &str,
    what: &str,
    check: impl Fn(&serde_json::Value) -> bool,
) {
    let load = Load::start(
        world.client.clone(),
        LoadSpec {
            pause: Duration::from_millis(20),
            ..get_load(world, "/v1/settle", 5_000, 30)
        },
        REGION_HEADER,
    );
    let reached = world
        .wait_for_region(region, Duration::from_secs(25), check)
        .await;
    let report = load.stop().await;
    if let Err(e) = reached {
        panic!("{what}: {e}\nedge log:\n{}", world.edge_log(40));
    }
    assert!(
        report.failures().is_empty(),
        "{what}: requests failed while settling: {}",
        describe(&report)
    );
}

/// Load on GET and on idempotent POST while `fault` hits the fastest region.
async fn fault_under_load(world: &EdgeWorld, fault: Fault) -> (LoadReport, LoadReport, Duration) {
    let gets = Load::start(
        world.client.clone(),
        get_load(world, "/v1/items", 3_000, 8),
        REGION_HEADER,
    );
    let posts = Load::start(
        world.client.clone(),
        post_load(world, "/v1/docs/a/sync", 1_500, 8),
        REGION_HEADER,
    );
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let fault_at = gets.elapsed();
    world.region(FAST).proxy.set_fault(fault);
    (gets.finish().await, posts.finish().await, fault_at)
}

fn after_fault(report: &LoadReport, fault_at: Duration) -> Vec<&system_tests::load::Sample> {
    report.samples.iter().filter(|s| s.at >= fault_at).collect()
}

/// Healthy again, and measured as clearly faster than the next region (~100 ms RTT).
fn readmitted_and_fast(r: &serde_json::Value) -> bool {
    r["health"]["state"] == "healthy" && r["srtt_ms"].as_f64().is_some_and(|ms| ms < 50.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_scenario() {
    let world = world().await;

    // Every region gets measured by the background probes.
    for name in [FAST, MIDDLE, SLOW] {
        settle(&world, name, "regions measured", |r| {
            r["samples"].as_u64() >= Some(2)
        })
        .await;
    }

    // 1. Traffic goes to the fastest region.
    let (share, report) = share_of(&world, FAST, "/v1/items").await;
    println!(
        "healthy: {}\nstatus: {}",
        describe(&report),
        world.status().await.unwrap()
    );
    assert!(
        share >= 0.8,
        "the fastest region served only {:.0}%: {}",
        share * 100.0,
        describe(&report)
    );

    // 2. The fastest region dies mid-load: no idempotent request fails.
    let (gets, posts, fault_at) = fault_under_load(&world, Fault::Refuse).await;
    println!(
        "killed: GET {}\n        POST {}",
        describe(&gets),
        describe(&posts)
    );
    assert!(
        gets.failures().is_empty(),
        "GETs failed when the fastest region died: {}",
        describe(&gets)
    );
    assert!(
        posts.failures().is_empty(),
        "idempotent POSTs failed when the fastest region died: {}",
        describe(&posts)
    );
    let moved = LoadReport::share(
        after_fault(&gets, fault_at + Duration::from_millis(1_000)),
        MIDDLE,
    );
    assert!(
        moved >= 0.75,
        "after the kill only {:.0}% went to the next fastest region: {}",
        moved * 100.0,
        describe(&gets)
    );
    let ejected = world.region_status(FAST).await.unwrap();
    assert!(
        ejected["ejections"].as_u64() >= Some(1),
        "the dead region was never ejected: {ejected}"
    );

    // 3. It comes back: readmitted, and traffic returns to it.
    world.region(FAST).proxy.set_fault(Fault::Pass);
    settle(
        &world,
        FAST,
        "readmission after the kill",
        readmitted_and_fast,
    )
    .await;
    let (share, report) = share_of(&world, FAST, "/v1/items").await;
    println!(
        "readmitted: {}\nstatus: {}",
        describe(&report),
        world.status().await.unwrap()
    );
    assert!(
        share >= 0.8,
        "after readmission the fastest region served only {:.0}%: {}",
        share * 100.0,
        describe(&report)
    );

    // 4. The fastest region stops answering (black hole) mid-load: no idempotent request fails.
    let (gets, posts, _) = fault_under_load(&world, Fault::BlackHole).await;
    println!(
        "black-holed: GET {}\n             POST {}",
        describe(&gets),
        describe(&posts)
    );
    assert!(
        gets.failures().is_empty(),
        "GETs failed when the fastest region black-holed: {}",
        describe(&gets)
    );
    assert!(
        posts.failures().is_empty(),
        "idempotent POSTs failed when the fastest region black-holed: {}",
        describe(&posts)
    );
    world.region(FAST).proxy.set_fault(Fault::Pass);
    settle(
        &world,
        FAST,
        "readmission after the black hole",
        readmitted_and_fast,
    )
    .await;

    // 5. A slower region becomes the fastest: traffic moves to it.
    world
        .region(FAST)
        .proxy
        .set_latency(Duration::from_millis(150));
    world
        .region(SLOW)
        .proxy
        .set_latency(Duration::from_millis(1));
    settle(&world, SLOW, "the new fastest region is measured", |r| {
        r["srtt_ms"].as_f64().is_some_and(|ms| ms < 60.0)
    })
    .await;
    let (share, report) = share_of(&world, SLOW, "/v1/items").await;
    assert!(
        share >= 0.8,
        "the new fastest region served only {:.0}%: {}",
        share * 100.0,
        describe(&report)
    );

    // 6. A request that is not idempotent is not sent to a second region after an
    //    ambiguous failure (a refused connection looks like a lost one in workerd).
    world.region(SLOW).proxy.set_fault(Fault::Refuse);
    let before: u64 = world
        .regions
        .iter()
        .map(|r| r.origin.requests().path("/v1/once"))
        .sum();
    let response = world
        .client
        .post(world.url("/v1/once"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 502);
    assert_eq!(response.headers()["x-edge-attempts"], "1");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "upstream_failed", "{body}");
    let after: u64 = world
        .regions
        .iter()
        .map(|r| r.origin.requests().path("/v1/once"))
        .sum();
    assert_eq!(
        after, before,
        "a non-idempotent request reached another region"
    );
    // The same request with an Idempotency-Key is safe to retry elsewhere.
    let response = world
        .client
        .post(world.url("/v1/once"))
        .header("idempotency-key", "k-1")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_ne!(response.headers()[REGION_HEADER], SLOW);
}
