//! Cost of the edge's per-request decisions, natively: classification, the
//! candidate order, a whole exchange (route, start, answer, deliver) and the
//! header hygiene. Run with `scripts/bench-edge.sh` (or `cargo bench -p edge-routing`).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use edge_routing::hygiene::{ForwardContext, upstream_request_headers};
use edge_routing::{
    ClientGeo, Disposition, EdgeConfig, Engine, Outcome, RequestInput, Step, Time, classify,
};
use serde_json::json;

fn config(regions: usize, extra: serde_json::Value) -> EdgeConfig {
    let list: Vec<_> = (0..regions)
        .map(|i| json!({"id": format!("region-{i}"), "origin": format!("https://r{i}.example.com"), "lat": (i as f64) * 7.0 - 60.0, "lon": (i as f64) * 20.0 - 170.0, "tags": [if i % 2 == 0 { "eu" } else { "us" }]}))
        .collect();
    let mut doc = json!({"regions": list});
    if let (Some(d), Some(e)) = (doc.as_object_mut(), extra.as_object()) {
        d.extend(e.clone());
    }
    EdgeConfig::parse(&doc.to_string()).expect("bench config")
}

fn measured(config: EdgeConfig) -> Engine {
    let mut engine = Engine::new(config, Time::from_millis(0));
    for round in 1..=5u64 {
        let now = Time::from_millis(round * 10_000);
        for probe in engine.due_probes(now) {
            let rtt = 10 + 7 * probe.region.index() as u64;
            engine.record_probe(
                probe.region,
                Outcome::Answered { status: 200 },
                Duration::from_millis(rtt),
                now,
            );
        }
    }
    engine
}

fn browser_headers() -> Vec<(String, String)> {
    [
        ("host", "app.example.com"),
        ("user-agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/148.0 Safari/537.36"),
        ("accept", "*/*"),
        ("accept-encoding", "gzip, deflate, br, zstd"),
        ("accept-language", "en-GB,en;q=0.9"),
        ("content-type", "application/x-edgesync-batch"),
        ("content-length", "512"),
        ("authorization", "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"),
        ("idempotency-key", "4f1c2a9e-8d7b-4e0f-9a55-1d2c3b4a5f60"),
        ("origin", "https://app.example.com"),
        ("cookie", "theme=dark; edge_region=region-1"),
        ("cf-connecting-ip", "203.0.113.7"),
        ("cf-ray", "8f00000000000000-DFW"),
        ("x-forwarded-proto", "https"),
    ]
    .iter()
    .map(|(n, v)| (n.to_string(), v.to_string()))
    .collect()
}

fn bench(c: &mut Criterion) {
    let headers = browser_headers();
    let geo = ClientGeo::from_parts(Some("DE"), Some("EU"), Some("52.5"), Some("13.4"));
    let request = |method| RequestInput {
        method,
        path: "/v1/sync",
        headers: &headers,
        geo: geo.clone(),
    };

    for (name, regions, extra) in [
        ("latency, 3 regions", 3, json!({})),
        ("latency, 16 regions", 16, json!({})),
        (
            "geo + residency + affinity, 16 regions",
            16,
            json!({"policy": "geo", "geo": {"continents": {"EU": ["region-2", "region-4"]}}, "residency": {"continents": {"EU": "eu"}}, "affinity": {}}),
        ),
    ] {
        let mut engine = measured(config(regions, extra));
        let Ok(Disposition::Proxy(proxied)) = classify(engine.config(), &request("POST")) else {
            panic!("not proxied")
        };
        let mut group = c.benchmark_group(name);
        group.bench_function("classify", |b| {
            b.iter(|| classify(engine.config(), black_box(&request("POST"))))
        });
        let now = Time::from_millis(60_000);
        group.bench_function("route (candidate order)", |b| {
            b.iter(|| engine.route(black_box(&proxied), now, 0.37))
        });
        group.bench_function(
            "whole decision: classify, route, start, answer, deliver",
            |b| {
                b.iter(|| {
                    let Ok(Disposition::Proxy(p)) = classify(engine.config(), &request("POST"))
                    else {
                        unreachable!()
                    };
                    let mut exchange = engine.begin(&p, now, 0.37).expect("routable");
                    let Step::Start(start) = exchange.poll(&mut engine, now) else {
                        unreachable!()
                    };
                    let _ = engine
                        .config()
                        .region(start.region)
                        .origin
                        .url_for("/v1/sync?x=1");
                    exchange.on_response(&mut engine, start.id, 200, Time::from_millis(60_012));
                    black_box(exchange.poll(&mut engine, Time::from_millis(60_012)))
                })
            },
        );
        group.finish();
    }

    let ctx = ForwardContext {
        client_ip: Some("203.0.113.7"),
        host: "app.example.com",
        proto: "https",
        request_id: "0123456789abcdef",
    };
    c.bench_function("upstream request headers (14 in)", |b| {
        b.iter(|| {
            upstream_request_headers(
                black_box(headers.iter().map(|(n, v)| (n.as_str(), v.as_str()))),
                &ctx,
            )
        })
    });
    let text = json!({"regions": [{"id": "us-east", "origin": "http://127.0.0.1:9101"}, {"id": "us-west", "origin": "http://127.0.0.1:9102"}, {"id": "eu-west", "origin": "http://127.0.0.1:9103"}]}).to_string();
    c.bench_function("parse EDGE_CONFIG (once per isolate)", |b| {
        b.iter(|| EdgeConfig::parse(black_box(&text)))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2)).sample_size(30);
    targets = bench
}
criterion_main!(benches);
