//! WranglerDev for real: the JavaScript pass-through worker in workerd in front
//! of an EchoOrigin on loopback.

use std::time::Duration;

use local_world::{
    EchoOrigin, EchoReply, WranglerDev, WranglerError, WranglerOptions, loopback_client,
};

const PASSTHROUGH: &str = "tools/local-world/fixtures/passthrough-worker/wrangler.toml";
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn passthrough_worker_forwards_to_the_origin_and_stops_cleanly() {
    let origin = EchoOrigin::start("127.0.0.1:0".parse().unwrap(), "us-east")
        .await
        .unwrap();
    // The value has colons: wrangler splits `--var` at the first one only.
    let options = WranglerOptions::with_config(PASSTHROUGH).var("ORIGIN", origin.url());
    let worker = WranglerDev::start(options).await.unwrap();
    let client = loopback_client();

    let response = client
        .post(format!("{}/v1/docs/a/sync?round=2", worker.url()))
        .body(vec![1u8; 321])
        .timeout(REQUEST_TIMEOUT)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-origin-region"], "us-east");
    let reply: EchoReply = response.json().await.unwrap();
    assert_eq!(
        (reply.method.as_str(), reply.path.as_str()),
        ("POST", "/v1/docs/a/sync")
    );
    assert_eq!(reply.query.as_deref(), Some("round=2"));
    assert_eq!(reply.body_len, 321);
    assert_eq!(origin.requests().path("/v1/docs/a/sync"), 1);

    // Stopping takes wrangler and its workerd down: the port stops answering.
    let url = worker.url();
    worker.stop().await.unwrap();
    let after = client
        .get(&url)
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    assert!(
        after.is_err(),
        "wrangler still answers after stop: {after:?}"
    );
}

#[tokio::test]
async fn missing_config_is_a_clear_error() {
    let error = WranglerDev::start(WranglerOptions::with_config("no/such/wrangler.toml"))
        .await
        .unwrap_err();
    assert!(matches!(error, WranglerError::MissingConfig(_)), "{error}");
}

#[tokio::test]
async fn bad_var_name_is_refused_before_starting() {
    let options = WranglerOptions::with_config(PASSTHROUGH).var("A:B", "x");
    let error = WranglerDev::start(options).await.unwrap_err();
    assert!(matches!(error, WranglerError::BadVarName(_)), "{error}");
}
