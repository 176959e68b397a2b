//! The whole world as the demo runs it: region servers behind their proxies
//! and the edge worker (root wrangler.toml) in workerd in front.

use std::time::Duration;

use local_world::loopback_client;
use local_world::world::{RegionBackend, World, WorldConfig};
use tempfile::TempDir;

const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// The region that served GET `path` through the edge (status must be 2xx).
async fn served_by(edge: &str, path: &str) -> String {
    let response = loopback_client()
        .get(format!("{edge}{path}"))
        .timeout(REQUEST_TIMEOUT)
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    response
        .headers()
        .get("x-edge-region")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn the_edge_routes_to_the_world_and_fails_over_when_a_region_dies() {
    let data = TempDir::new().unwrap();
    let config = WorldConfig::new(RegionBackend::region_server().unwrap(), data.path());
    let world = World::start(config).await.unwrap();
    let edge = world.edge_url().expect("the world has an edge").to_owned();

    let first = served_by(&edge, "/v1/status").await;
    assert!(
        world.region_ids().contains(&first),
        "unknown region {first:?}"
    );

    world.kill_region(&first).unwrap();
    for _ in 0..5 {
        let region = served_by(&edge, "/v1/status").await;
        assert_ne!(region, first, "a killed region answered");
    }
    assert!(world.state().edge.is_some_and(|e| e.running));

    world.stop().await.unwrap();
    let after = loopback_client()
        .get(&edge)
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    assert!(after.is_err(), "the edge still answers after stop");
}
