//! `EDGE_CONFIG` in workerd, through the root `wrangler.toml`: an invalid
//! configuration is a clear error naming the field (at the first request and
//! in `/_edge/status`), never a crash; without `EDGE_DEV` the development
//! overrides are ignored and stripped.

use std::time::Duration;

use serde_json::{Value, json};
use system_tests::edge::{EdgeWorld, REGION_HEADER, RegionSpec, WorldSpec};

async fn json_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}")),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_config_is_reported_with_the_field() {
    let raw = r#"{"regions":[{"id":"us-east","origin":"http://127.0.0.1:9101"},{"id":"eu-west","origin":"ftp://eu.example"}]}"#;
    let world = EdgeWorld::start(WorldSpec {
        raw_config: Some(raw.into()),
        ..WorldSpec::default()
    })
    .await
    .expect("the edge starts");

    let (status, body) = json_of(
        world
            .client
            .get(world.url("/v1/items"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "invalid_config", "{body}");
    assert_eq!(body["error"]["field"], "regions[1].origin", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("ftp://eu.example"),
        "{body}"
    );

    let (status, report) = json_of(
        world
            .client
            .get(world.url("/_edge/status"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 503);
    assert_eq!(report["ok"], false);
    assert_eq!(report["error"]["field"], "regions[1].origin", "{report}");

    // Still alive: the isolate did not crash on the bad configuration.
    let (status, _) = json_of(
        world
            .client
            .post(world.url("/v1/sync"))
            .body("x")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 503);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn development_overrides_are_ignored_in_production() {
    let spec = WorldSpec {
        regions: vec![
            RegionSpec::new("us-east", 2).with(json!({"tags": ["us"]})),
            RegionSpec::new("eu-west", 40).with(json!({"tags": ["eu"]})),
        ],
        config: json!({"residency": {"countries": {"DE": "eu"}}, "health": {"interval_ms": 300}}),
        dev: false,
        ..WorldSpec::default()
    };
    let world = EdgeWorld::start(spec).await.expect("the edge starts");
    world
        .wait_for_region("eu-west", Duration::from_secs(20), |r| {
            r["samples"].as_u64() >= Some(1)
        })
        .await
        .expect("probes measure every region");
    // Workers' placeholder `cf` says US; the dev header claiming Germany must not count.
    for _ in 0..5 {
        let response = world
            .client
            .get(world.url("/v1/echo"))
            .header("x-edge-dev-country", "DE")
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()[REGION_HEADER], "us-east");
        let reply: Value = response.json().await.unwrap();
        assert!(
            reply["headers"].get("x-edge-dev-country").is_none(),
            "dev header forwarded: {reply}"
        );
    }
}
