//! The control API over real HTTP, driving a World of echo-origin regions.

mod common;

use std::sync::Arc;

use common::{echo_world, json_of};
use local_world::control;
use local_world::loopback_client;
use local_world::server::HttpServer;
use local_world::world::World;
use serde_json::{Value, json};
use tempfile::TempDir;

const PAGE: &str = "http://127.0.0.1:8787";

async fn control_api() -> (Arc<World>, HttpServer, TempDir) {
    let (world, data) = echo_world().await;
    let world = Arc::new(world);
    let server = control::serve(
        Arc::clone(&world),
        "127.0.0.1:0".parse().unwrap(),
        &[PAGE.to_string()],
    )
    .await
    .unwrap();
    (world, server, data)
}

async fn post(server: &HttpServer, path: &str, body: &str) -> (u16, Value) {
    let response = loopback_client()
        .post(format!("{}{path}", server.url()))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

fn links_with_fault(state: &Value, fault: &str) -> usize {
    state["links"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["fault"] == fault)
        .count()
}

fn region<'a>(state: &'a Value, id: &str) -> &'a Value {
    state["regions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .unwrap()
}

#[tokio::test]
async fn state_lists_regions_links_and_paths() {
    let (world, server, _data) = control_api().await;
    let state: Value =
        json_of(loopback_client().get(format!("{}/control/state", server.url()))).await;
    assert_eq!(state["regions"].as_array().unwrap().len(), 3);
    let east = region(&state, "us-east");
    assert_eq!(east["process"]["state"], "running");
    assert_eq!(east["edge"]["fault"], "pass");
    assert_eq!(east["edge"]["latency_ms"], 10);
    assert_eq!(state["links"].as_array().unwrap().len(), 6);
    assert_eq!(state["edge"], Value::Null, "this world has no edge");
    world.stop().await.unwrap();
}

#[tokio::test]
async fn region_actions_change_the_process() {
    let (world, server, _data) = control_api().await;
    let (status, state) = post(&server, "/control/regions/us-west/kill", "").await;
    assert_eq!(status, 200);
    assert_eq!(region(&state, "us-west")["process"]["state"], "killed");

    let (status, body) = post(&server, "/control/regions/us-west/pause", "").await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "invalid_state");

    let (status, state) = post(&server, "/control/regions/us-west/restart", "").await;
    assert_eq!(status, 200);
    assert_eq!(region(&state, "us-west")["process"]["state"], "running");

    let (_, state) = post(&server, "/control/regions/us-west/pause", "").await;
    assert_eq!(region(&state, "us-west")["process"]["state"], "paused");
    let (_, state) = post(&server, "/control/regions/us-west/resume", "").await;
    assert_eq!(region(&state, "us-west")["process"]["state"], "running");

    let (status, body) = post(&server, "/control/regions/mars/kill", "").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("unknown_region"))
    );
    let (status, body) = post(&server, "/control/regions/us-west/explode", "").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("unknown_action"))
    );
    world.stop().await.unwrap();
}

#[tokio::test]
async fn edge_path_partition_and_heal() {
    let (world, server, _data) = control_api().await;
    let (status, state) = post(
        &server,
        "/control/regions/eu-west/edge",
        r#"{"fault":"black_hole","latency_ms":5}"#,
    )
    .await;
    assert_eq!(status, 200, "{state}");
    assert_eq!(region(&state, "eu-west")["edge"]["fault"], "black_hole");
    assert_eq!(region(&state, "eu-west")["edge"]["latency_ms"], 5);
    let (_, state) = post(
        &server,
        "/control/regions/eu-west/edge",
        r#"{"fault":"pass"}"#,
    )
    .await;
    assert_eq!(region(&state, "eu-west")["edge"]["fault"], "pass");
    assert_eq!(
        region(&state, "eu-west")["edge"]["latency_ms"],
        5,
        "latency untouched"
    );

    for bad in [
        r#"{"fault":"explode"}"#,
        r#"{"latency":5}"#,
        "not json",
        r#"{"latency_ms":999999}"#,
    ] {
        let (status, body) = post(&server, "/control/regions/eu-west/edge", bad).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some("bad_request")),
            "{bad}"
        );
    }

    let (status, state) = post(
        &server,
        "/control/partition",
        r#"{"a":"us-east","b":"eu-west"}"#,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(links_with_fault(&state, "black_hole"), 2);
    let (status, _) = post(
        &server,
        "/control/partition",
        r#"{"a":"us-east","b":"us-east"}"#,
    )
    .await;
    assert_eq!(status, 400);

    let (status, state) = post(&server, "/control/heal", "").await;
    assert_eq!(status, 200);
    assert_eq!(links_with_fault(&state, "pass"), 6);
    post(
        &server,
        "/control/partition",
        r#"{"a":"us-east","b":"eu-west"}"#,
    )
    .await;
    let (status, state) = post(&server, "/control/heal", r#"{"a":"eu-west","b":"us-east"}"#).await;
    assert_eq!(status, 200);
    assert_eq!(links_with_fault(&state, "pass"), 6);
    world.stop().await.unwrap();
}

#[tokio::test]
async fn only_loopback_hosts_and_the_page_may_call() {
    let (world, server, _data) = control_api().await;
    let client = loopback_client();
    let url = format!("{}/control/regions/us-east/kill", server.url());

    // DNS rebinding: a foreign host name pointing at 127.0.0.1.
    let response = client
        .post(&url)
        .header("host", "evil.example:8790")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    // Cross-site request from another page.
    let response = client
        .post(&url)
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    assert_eq!(
        world.region_status("us-east").unwrap().state,
        local_world::world::ProcessState::Running,
        "refused requests must not act"
    );

    // The demo page: preflight allowed, request allowed, CORS header present.
    let preflight = client
        .request(reqwest::Method::OPTIONS, &url)
        .header("origin", PAGE)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success());
    assert_eq!(preflight.headers()["access-control-allow-origin"], PAGE);
    let response = client
        .post(format!("{}/control/heal", server.url()))
        .header("origin", PAGE)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["access-control-allow-origin"], PAGE);

    let not_loopback = control::serve(Arc::clone(&world), "0.0.0.0:0".parse().unwrap(), &[]).await;
    assert!(matches!(
        not_loopback,
        Err(control::ControlError::NotLoopback(_))
    ));
    world.stop().await.unwrap();
}
