//! EchoOrigin answers, counts and misbehaves on request; HTTP clients see the
//! faults of a FaultProxy in front of it the way they would see a real network.

use std::time::{Duration, Instant};

use local_world::{EchoOrigin, EchoReply, Fault, FaultProxy, loopback_client};

const CLIENT_TIMEOUT: Duration = Duration::from_millis(500);

async fn origin(name: &str) -> EchoOrigin {
    EchoOrigin::start("127.0.0.1:0".parse().unwrap(), name)
        .await
        .unwrap()
}

#[tokio::test]
async fn echoes_method_path_body_and_region() {
    let origin = origin("us-east").await;
    let response = loopback_client()
        .put(format!("{}/v1/docs/abc?x=1", origin.url()))
        .header("x-test", "yes")
        .body(vec![7u8; 1234])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-origin-region"], "us-east");
    let reply: EchoReply = response.json().await.unwrap();
    assert_eq!(reply.region, "us-east");
    assert_eq!(reply.method, "PUT");
    assert_eq!(reply.path, "/v1/docs/abc");
    assert_eq!(reply.query.as_deref(), Some("x=1"));
    assert_eq!(reply.body_len, 1234);
    assert_eq!(reply.headers["x-test"], "yes");
}

#[tokio::test]
async fn health_endpoints_answer_and_forced_status_covers_them() {
    let origin = origin("eu-west").await;
    let client = loopback_client();
    for path in ["/healthz", "/readyz"] {
        let status = client
            .get(format!("{}{path}", origin.url()))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200, "{path}");
    }
    origin.set_status(Some(503)).unwrap();
    for path in ["/healthz", "/readyz", "/anything"] {
        let response = client
            .get(format!("{}{path}", origin.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 503, "{path}");
        assert_eq!(response.headers()["x-origin-region"], "eu-west");
    }
    origin.set_status(None).unwrap();
    let status = client
        .get(format!("{}/readyz", origin.url()))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    assert!(
        origin.set_status(Some(42)).is_err(),
        "42 is not a status code"
    );
}

#[tokio::test]
async fn counts_requests_per_path() {
    let origin = origin("us-west").await;
    let client = loopback_client();
    for path in ["/a", "/a", "/b", "/healthz"] {
        client
            .get(format!("{}{path}", origin.url()))
            .send()
            .await
            .unwrap();
    }
    let counts = origin.requests();
    assert_eq!(counts.total, 4);
    assert_eq!(counts.path("/a"), 2);
    assert_eq!(counts.path("/b"), 1);
    assert_eq!(counts.path("/healthz"), 1);
    assert_eq!(counts.path("/never"), 0);
}

#[tokio::test]
async fn processing_delay_applies() {
    let origin = origin("slow").await;
    origin.set_delay(Duration::from_millis(200));
    let started = Instant::now();
    let status = loopback_client()
        .get(origin.url())
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    assert!(started.elapsed() >= Duration::from_millis(200));
}

#[tokio::test]
async fn stopping_the_origin_refuses_connections() {
    let origin = origin("gone").await;
    let url = origin.url();
    let client = loopback_client();
    client.get(&url).send().await.unwrap();
    drop(origin);
    // Let the runtime run the aborted server task, which closes the port.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let error = client
        .get(&url)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .unwrap_err();
    assert!(
        !error.is_timeout(),
        "a stopped origin must fail fast: {error}"
    );
}

async fn proxied_origin() -> (EchoOrigin, FaultProxy) {
    let origin = origin("behind-proxy").await;
    let proxy = FaultProxy::start("127.0.0.1:0".parse().unwrap(), origin.addr())
        .await
        .unwrap();
    (origin, proxy)
}

#[tokio::test]
async fn http_through_proxy_pays_latency_twice() {
    let (_origin, proxy) = proxied_origin().await;
    let client = loopback_client();
    client.get(proxy.url()).send().await.unwrap(); // connect outside the measurement
    proxy.set_latency(Duration::from_millis(100));
    let started = Instant::now();
    let response = client
        .get(format!("{}/x", proxy.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn black_hole_hangs_http_until_the_client_timeout_and_restore_works() {
    let (origin, proxy) = proxied_origin().await;
    let client = loopback_client();
    proxy.set_fault(Fault::BlackHole);
    let error = client
        .get(format!("{}/held", proxy.url()))
        .timeout(CLIENT_TIMEOUT)
        .send()
        .await
        .unwrap_err();
    assert!(
        error.is_timeout(),
        "expected the client's own timeout: {error}"
    );
    assert_eq!(
        origin.requests().path("/held"),
        0,
        "the request must never reach the origin"
    );

    proxy.set_fault(Fault::Pass);
    let response = client
        .get(format!("{}/after", proxy.url()))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(origin.requests().path("/after"), 1);
}

#[tokio::test]
async fn refuse_fails_http_fast_and_restore_works() {
    let (origin, proxy) = proxied_origin().await;
    let client = loopback_client();
    proxy.set_fault(Fault::Refuse);
    let error = client
        .get(format!("{}/refused", proxy.url()))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap_err();
    // Long before the client's 10 s timeout: the connection was reset.
    assert!(!error.is_timeout(), "refusal must fail fast: {error}");
    assert_eq!(origin.requests().total, 0);

    proxy.set_fault(Fault::Pass);
    let response = client
        .get(format!("{}/ok", proxy.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}
