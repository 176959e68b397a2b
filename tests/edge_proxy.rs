//! The edge in workerd as a proxy: header hygiene, no open proxy, its own
//! headers and endpoints, refusals, residency, affinity, long-polls and static
//! assets. One world for the binary; each check reports on its own and the
//! test fails listing every check that did not hold.

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, ensure};
use local_world::paths::{default_log_base, fresh_dir, repo_root};
use local_world::{EchoReply, Fault, FaultProxy};
use reqwest::Method;
use serde_json::{Value, json};
use system_tests::edge::{EdgeWorld, REGION_HEADER, RegionSpec, WorldSpec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const FAST: &str = "us-east";
const OTHER_US: &str = "us-west";
const EU: &str = "eu-west";
/// A region whose origin answers like a CORS-enabled API (see [`cors_origin`]).
const CORS_LAB: &str = "cors-lab";
const HASHED_ASSET: &str = "/assets/app-3f2a1b9c.js";
const MAX_BODY: usize = 4096;

fn assets_dir() -> anyhow::Result<PathBuf> {
    let dir = fresh_dir(&default_log_base(), "edge-assets")?;
    std::fs::create_dir_all(dir.join("assets"))?;
    std::fs::create_dir_all(dir.join("v1"))?;
    std::fs::write(
        dir.join("index.html"),
        "<!doctype html><title>EdgeSync</title><p>index</p>",
    )?;
    std::fs::write(
        dir.join(HASHED_ASSET.trim_start_matches('/')),
        "console.log('app')",
    )?;
    // A file shadowing a dynamic path: the worker must still proxy it.
    std::fs::write(dir.join("v1/items"), "static shadow")?;
    std::fs::copy(
        repo_root().join("edge-worker/static/_headers"),
        dir.join("_headers"),
    )?;
    Ok(dir)
}

/// An origin that answers every request `200 ok` with the CORS headers of an
/// API open to pages of any origin, behind a fault proxy far enough away
/// that it is never the fastest region. Only requests tagged `lab` go there.
async fn cors_origin() -> anyhow::Result<(FaultProxy, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65_536 {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let answer = "HTTP/1.1 200 OK\r\naccess-control-allow-origin: *\r\naccess-control-expose-headers: etag\r\netag: \"v1\"\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok";
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    });
    let proxy = FaultProxy::start("127.0.0.1:0".parse()?, addr).await?;
    proxy.set_latency(Duration::from_millis(150));
    Ok((proxy, server))
}

async fn world(cors: &FaultProxy) -> EdgeWorld {
    let spec = WorldSpec {
        regions: vec![
            RegionSpec::new(FAST, 5).with(json!({"tags": ["us"], "lat": 39.0, "lon": -77.5})),
            RegionSpec::new(OTHER_US, 40).with(json!({"tags": ["us"], "lat": 45.6, "lon": -121.2})),
            RegionSpec::new(EU, 80).with(json!({"tags": ["eu"], "lat": 53.3, "lon": -6.3})),
        ],
        config: json!({
            "residency": {"countries": {"DE": "eu"}},
            "affinity": {"cookie": "edge_region"},
            "max_body_bytes": MAX_BODY,
            "health": {"interval_ms": 500},
        }),
        assets: Some(assets_dir().expect("assets directory")),
        dev: true,
        extra_regions: vec![json!({"id": CORS_LAB, "origin": cors.url(), "tags": ["lab"]})],
        ..WorldSpec::default()
    };
    EdgeWorld::start(spec).await.expect("the edge world starts")
}

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Sends requests until the edge routes to the fastest region (probes have measured it).
async fn warm_up(world: &EdgeWorld) -> anyhow::Result<()> {
    for _ in 0..200 {
        let response = world.client.get(world.url("/v1/warm")).send().await?;
        if header(&response, REGION_HEADER).as_deref() == Some(FAST) && response.status() == 200 {
            let status = world.status().await?;
            let measured = status["regions"]
                .as_array()
                .is_some_and(|r| r.iter().all(|r| r["samples"].as_u64() >= Some(1)));
            if measured {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!(
        "the edge never settled on {FAST}: {}",
        world.status().await?
    )
}

async fn static_assets(world: &EdgeWorld) -> anyhow::Result<()> {
    let index = world.client.get(world.url("/")).send().await?;
    ensure!(index.status() == 200, "GET / answered {}", index.status());
    let cache = header(&index, "cache-control").unwrap_or_default();
    ensure!(
        cache.contains("max-age=0") && cache.contains("must-revalidate"),
        "index.html must be revalidated, got cache-control {cache:?}"
    );
    ensure!(
        index.text().await?.contains("<p>index</p>"),
        "GET / is not index.html"
    );

    let asset = world.client.get(world.url(HASHED_ASSET)).send().await?;
    ensure!(
        asset.status() == 200,
        "hashed asset answered {}",
        asset.status()
    );
    let cache = header(&asset, "cache-control").unwrap_or_default();
    ensure!(
        cache.contains("immutable") && cache.contains("max-age=31536000"),
        "hashed asset must be immutable, got {cache:?}"
    );
    ensure!(
        header(&asset, REGION_HEADER).is_none(),
        "a static asset went to a region"
    );

    let deep = world
        .client
        .get(world.url("/boards/42"))
        .header("accept", "text/html")
        .header("sec-fetch-mode", "navigate")
        .send()
        .await?;
    ensure!(
        deep.status() == 200 && deep.text().await?.contains("<p>index</p>"),
        "an app route does not fall back to index.html"
    );

    let shadowed = world.client.get(world.url("/v1/items")).send().await?;
    ensure!(
        header(&shadowed, REGION_HEADER).is_some(),
        "/v1/* must reach the worker even when a file of that name exists"
    );
    Ok(())
}

async fn status_endpoint(world: &EdgeWorld) -> anyhow::Result<()> {
    let status = world.status().await?;
    ensure!(
        status["ok"] == true && status["policy"] == "latency",
        "{status}"
    );
    let regions = status["regions"].as_array().context("regions")?;
    let ids: Vec<&str> = regions.iter().filter_map(|r| r["id"].as_str()).collect();
    ensure!(
        ids == [FAST, OTHER_US, EU, CORS_LAB],
        "region table {ids:?}"
    );
    for r in regions {
        ensure!(r["health"]["state"] == "healthy", "{r}");
        for field in [
            "srtt_ms",
            "rttvar_ms",
            "try_timeout_ms",
            "ejections",
            "recent_errors",
            "consecutive_failures",
        ] {
            ensure!(r.get(field).is_some(), "region status lacks {field}: {r}");
        }
    }
    let unknown = world.client.get(world.url("/_edge/nope")).send().await?;
    ensure!(
        unknown.status() == 404,
        "/_edge/nope answered {}",
        unknown.status()
    );
    Ok(())
}

async fn echo(response: reqwest::Response) -> anyhow::Result<EchoReply> {
    let status = response.status();
    let text = response.text().await?;
    ensure!(status == 200, "status {status}: {text}");
    Ok(serde_json::from_str(&text)?)
}

async fn hygiene(world: &EdgeWorld) -> anyhow::Result<()> {
    let response = world
        .client
        .get(world.url("/v1/echo?q=1"))
        .header("proxy-authorization", "Basic c2VjcmV0")
        .header("x-forwarded-for", "6.6.6.6")
        .header("x-forwarded-host", "evil.example")
        .header("x-forwarded-proto", "gopher")
        .header("forwarded", "for=6.6.6.6")
        .header("x-real-ip", "6.6.6.6")
        .header("x-edge-request-id", "spoofed")
        .header("x-edge-region", "spoofed")
        .header("x-edge-dev-lat", "10")
        .header("authorization", "Bearer app-token")
        .header("x-app", "kept")
        .send()
        .await?;
    let proxied_port = world.edge.port();
    let reply = echo(response).await?;
    let h = &reply.headers;
    // (Headers nominated by `Connection` are unit-tested: the runtime removes the
    // `Connection` header itself before the worker sees the request.)
    for gone in [
        "proxy-authorization",
        "forwarded",
        "x-real-ip",
        "x-edge-region",
        "x-edge-dev-lat",
    ] {
        ensure!(!h.contains_key(gone), "{gone} reached the origin: {h:?}");
    }
    ensure!(
        h.get("x-forwarded-for")
            .is_none_or(|v| !v.contains("6.6.6.6")),
        "client X-Forwarded-For was trusted: {h:?}"
    );
    ensure!(
        h.get("x-forwarded-host") == Some(&format!("127.0.0.1:{proxied_port}")),
        "X-Forwarded-Host: {h:?}"
    );
    ensure!(
        h.get("x-forwarded-proto").map(String::as_str) == Some("http"),
        "X-Forwarded-Proto: {h:?}"
    );
    ensure!(
        h.get("x-edge-request-id").is_some_and(|v| v != "spoofed"),
        "x-edge-request-id: {h:?}"
    );
    ensure!(
        h.get("authorization").map(String::as_str) == Some("Bearer app-token"),
        "authorization lost: {h:?}"
    );
    ensure!(
        h.get("x-app").map(String::as_str) == Some("kept"),
        "end-to-end header lost: {h:?}"
    );
    let host = h.get("host").cloned().unwrap_or_default();
    ensure!(
        host == world.region(FAST).proxy.addr().to_string(),
        "Host {host:?} is not the region's"
    );
    ensure!(
        reply.path == "/v1/echo" && reply.query.as_deref() == Some("q=1"),
        "{reply:?}"
    );
    Ok(())
}

async fn edge_headers(world: &EdgeWorld) -> anyhow::Result<()> {
    let response = world.client.get(world.url("/v1/headers")).send().await?;
    ensure!(
        header(&response, REGION_HEADER).as_deref() == Some(FAST),
        "x-edge-region {:?}",
        header(&response, REGION_HEADER)
    );
    ensure!(
        header(&response, "x-edge-attempts").as_deref() == Some("1"),
        "x-edge-attempts {:?}",
        header(&response, "x-edge-attempts")
    );
    let timing = header(&response, "server-timing").unwrap_or_default();
    ensure!(
        timing.starts_with("edge;dur=") && timing.contains("origin;dur=") && timing.contains(FAST),
        "server-timing {timing:?}"
    );
    ensure!(
        header(&response, "x-edge-request-id").is_some_and(|id| id.len() == 16),
        "request id missing"
    );
    let cookie = header(&response, "set-cookie").unwrap_or_default();
    ensure!(
        cookie.starts_with(&format!("edge_region={FAST};")) && cookie.contains("HttpOnly"),
        "affinity cookie {cookie:?}"
    );
    ensure!(
        header(&response, "x-origin-region").as_deref() == Some(FAST),
        "origin's own header dropped"
    );
    Ok(())
}

/// A cross-origin page reads the edge's headers: a CORS answer exposes them
/// next to what the origin exposes itself; other answers are left alone.
async fn cors_exposure(world: &EdgeWorld) -> anyhow::Result<()> {
    let response = world
        .client
        .get(world.url("/v1/cors"))
        .header("origin", "https://other.example")
        .header("x-data-residency", "lab")
        .send()
        .await?;
    ensure!(response.status() == 200, "status {}", response.status());
    ensure!(
        header(&response, REGION_HEADER).as_deref() == Some(CORS_LAB),
        "served by {:?}",
        header(&response, REGION_HEADER)
    );
    let exposed = header(&response, "access-control-expose-headers").unwrap_or_default();
    ensure!(
        exposed == "etag, x-edge-region, x-edge-attempts, x-edge-request-id, server-timing",
        "access-control-expose-headers {exposed:?}"
    );
    let plain = world.client.get(world.url("/v1/plain")).send().await?;
    ensure!(
        header(&plain, "access-control-expose-headers").is_none(),
        "a non-CORS answer got CORS headers"
    );
    Ok(())
}

/// Sends raw HTTP/1.1 bytes to the edge and returns the whole answer.
async fn raw_request(world: &EdgeWorld, request: &str) -> anyhow::Result<String> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", world.edge.port())).await?;
    stream.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await??;
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

async fn no_open_proxy(world: &EdgeWorld) -> anyhow::Result<()> {
    let cases = [
        "GET http://evil.example/v1/abs HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n",
        "GET /v1/host HTTP/1.1\r\nHost: evil.example:80\r\nConnection: close\r\n\r\n",
        "GET /v1//evil.example/x HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    ];
    for case in cases {
        let answer = raw_request(world, case).await?;
        let lower = answer.to_ascii_lowercase();
        let first_line = answer.lines().next().unwrap_or_default().to_owned();
        // Served by a configured region (the target's host is ignored), or refused
        // before the worker (workerd rejects absolute-form targets) — nothing else.
        if first_line.contains(" 200 ") {
            let region = world
                .regions
                .iter()
                .find(|r| lower.contains(&format!("x-edge-region: {}", r.name)));
            ensure!(
                region.is_some() && lower.contains("\"region\":"),
                "{case:?} answered without a region: {answer}"
            );
        } else {
            ensure!(
                !lower.contains("x-edge-region:") && !lower.contains("\"region\":"),
                "{case:?}: {answer}"
            );
        }
    }
    let reached: u64 = world
        .regions
        .iter()
        .map(|r| r.origin.requests().path("/v1/abs"))
        .sum();
    ensure!(
        reached == 0,
        "an absolute-form request for another host reached a region"
    );
    let host_header: u64 = world
        .regions
        .iter()
        .map(|r| r.origin.requests().path("/v1/host"))
        .sum();
    ensure!(
        host_header == 1,
        "a request with a foreign Host header was not served by a region"
    );
    Ok(())
}

async fn refusals(world: &EdgeWorld) -> anyhow::Result<()> {
    let big = world
        .client
        .post(world.url("/v1/big"))
        .header("idempotency-key", "big-1")
        .body(vec![b'x'; MAX_BODY + 1])
        .send()
        .await?;
    ensure!(
        big.status() == 413,
        "oversized body answered {}",
        big.status()
    );
    let method = world
        .client
        .request(Method::from_bytes(b"PROPFIND")?, world.url("/v1/x"))
        .send()
        .await?;
    ensure!(
        method.status() == 405,
        "PROPFIND answered {}",
        method.status()
    );
    let key = world
        .client
        .post(world.url("/v1/x"))
        .header("idempotency-key", "k".repeat(300))
        .body("x")
        .send()
        .await?;
    ensure!(
        key.status() == 400,
        "an over-long Idempotency-Key answered {}",
        key.status()
    );
    let body: Value = key.json().await?;
    ensure!(body["error"]["code"] == "bad_idempotency_key", "{body}");
    for path in ["/v1/big", "/v1/x"] {
        let reached: u64 = world
            .regions
            .iter()
            .map(|r| r.origin.requests().path(path))
            .sum();
        ensure!(reached == 0, "a refused request reached a region ({path})");
    }
    Ok(())
}

async fn affinity(world: &EdgeWorld) -> anyhow::Result<()> {
    let pinned = world
        .client
        .get(world.url("/v1/pinned"))
        .header("cookie", format!("theme=dark; edge_region={OTHER_US}"))
        .send()
        .await?;
    ensure!(
        header(&pinned, REGION_HEADER).as_deref() == Some(OTHER_US),
        "affinity cookie ignored: {:?}",
        header(&pinned, REGION_HEADER)
    );
    ensure!(
        header(&pinned, "set-cookie").is_none(),
        "a pinned client got a new cookie"
    );
    let bogus = world
        .client
        .get(world.url("/v1/pinned"))
        .header("cookie", "edge_region=evil.example")
        .send()
        .await?;
    ensure!(
        header(&bogus, REGION_HEADER).as_deref() == Some(FAST),
        "an unknown region in the cookie changed routing"
    );
    Ok(())
}

async fn residency(world: &EdgeWorld) -> anyhow::Result<()> {
    let tagged = world
        .client
        .get(world.url("/v1/resident"))
        .header("x-data-residency", "eu")
        .send()
        .await?;
    ensure!(
        header(&tagged, REGION_HEADER).as_deref() == Some(EU),
        "residency header ignored: {:?}",
        header(&tagged, REGION_HEADER)
    );
    let german = world
        .client
        .get(world.url("/v1/resident"))
        .header("x-edge-dev-country", "DE")
        .send()
        .await?;
    ensure!(
        header(&german, REGION_HEADER).as_deref() == Some(EU),
        "country rule ignored: {:?}",
        header(&german, REGION_HEADER)
    );
    let unknown = world
        .client
        .get(world.url("/v1/resident"))
        .header("x-data-residency", "mars")
        .send()
        .await?;
    ensure!(
        unknown.status() == 400,
        "an unknown residency tag answered {}",
        unknown.status()
    );

    // The only EU region is down: EU data still never goes to the US.
    let us_before: u64 = [FAST, OTHER_US]
        .iter()
        .map(|r| world.region(r).origin.requests().path("/v1/eu-only"))
        .sum();
    world.region(EU).proxy.set_fault(Fault::Refuse);
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let r = world
            .client
            .get(world.url("/v1/eu-only"))
            .header("x-data-residency", "eu")
            .send()
            .await?;
        ensure!(
            header(&r, REGION_HEADER).is_none_or(|region| region == EU),
            "EU request served by {:?}",
            header(&r, REGION_HEADER)
        );
        statuses.push(r.status().as_u16());
    }
    world.region(EU).proxy.set_fault(Fault::Pass);
    let us_after: u64 = [FAST, OTHER_US]
        .iter()
        .map(|r| world.region(r).origin.requests().path("/v1/eu-only"))
        .sum();
    ensure!(
        us_after == us_before,
        "an EU-resident request reached a US region"
    );
    ensure!(
        statuses.iter().all(|s| *s >= 500),
        "requests with no resident region up must fail, got {statuses:?}"
    );
    Ok(())
}

async fn long_poll(world: &EdgeWorld) -> anyhow::Result<()> {
    for r in &world.regions {
        r.origin.set_delay(Duration::from_millis(600));
    }
    let watch = world
        .client
        .post(world.url("/v1/watch"))
        .header("idempotency-key", "watch-1")
        .json(&json!({"docs": {}, "wait_ms": 500}))
        .send()
        .await;
    let slow = world.client.get(world.url("/v1/slow")).send().await;
    for r in &world.regions {
        r.origin.set_delay(Duration::ZERO);
    }
    let (watch, slow) = (watch?, slow?);
    ensure!(
        watch.status() == 200,
        "the long-poll answered {}",
        watch.status()
    );
    ensure!(
        header(&watch, "x-edge-attempts").as_deref() == Some("1"),
        "the long-poll was cut by the adaptive timeout: attempts {:?}",
        header(&watch, "x-edge-attempts")
    );
    // An ordinary request that slow outlives its latency-derived timeout and is raced elsewhere, yet succeeds.
    ensure!(slow.status() == 200, "slow GET answered {}", slow.status());
    let attempts: u32 = header(&slow, "x-edge-attempts")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    ensure!(
        attempts >= 2,
        "a slow GET was not raced on another region (attempts {attempts})"
    );
    Ok(())
}

async fn check(
    failures: &mut Vec<String>,
    name: &str,
    result: impl Future<Output = anyhow::Result<()>>,
) {
    match result.await {
        Ok(()) => println!("ok   {name}"),
        Err(e) => {
            println!("FAIL {name}: {e:#}");
            failures.push(format!("{name}: {e:#}"));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_as_a_proxy() {
    let (cors, _cors_server) = cors_origin().await.expect("the CORS origin starts");
    let world = world(&cors).await;
    warm_up(&world).await.expect("warm-up");
    let mut failures = Vec::new();
    check(
        &mut failures,
        "static assets and cache headers",
        static_assets(&world),
    )
    .await;
    check(&mut failures, "/_edge/status", status_endpoint(&world)).await;
    check(&mut failures, "request header hygiene", hygiene(&world)).await;
    check(&mut failures, "edge response headers", edge_headers(&world)).await;
    check(
        &mut failures,
        "CORS exposes the edge headers",
        cors_exposure(&world),
    )
    .await;
    check(&mut failures, "no open proxy", no_open_proxy(&world)).await;
    check(
        &mut failures,
        "refusals before any region",
        refusals(&world),
    )
    .await;
    check(&mut failures, "session affinity", affinity(&world)).await;
    check(&mut failures, "data residency", residency(&world)).await;
    check(
        &mut failures,
        "long-poll keeps its own timeout",
        long_poll(&world),
    )
    .await;
    assert!(
        failures.is_empty(),
        "{} check(s) failed:\n{}\nedge log:\n{}",
        failures.len(),
        failures.join("\n"),
        world.edge_log(30)
    );
}
