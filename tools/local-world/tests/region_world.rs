//! A World of real `region-server` processes (built by scripts/build.d/40-native.sh;
//! without it these tests fail and say which build to run).

mod common;

use std::time::{Duration, Instant};

use common::{gone, json_of, region_pids};
use local_world::world::{ProcessState, RegionBackend, World, WorldConfig};
use local_world::{ProxyStats, loopback_client};
use serde_json::{Value, json};
use sync_protocol::ClientSync;
use sync_protocol::automerge::{AutoCommit, ROOT, transaction::Transactable};
use sync_protocol::http::CONTENT_TYPE_SYNC_MESSAGE;
use tempfile::TempDir;

/// Bound on replication and traffic waits (a partition holds requests up to
/// the region server's 10 s peer timeout).
const CONVERGE: Duration = Duration::from_secs(30);
/// At most this many rounds to get one write acknowledged.
const MAX_ROUNDS: usize = 5;

fn region_server_world(data: &TempDir) -> WorldConfig {
    let mut config =
        WorldConfig::new(RegionBackend::region_server().unwrap(), data.path()).without_edge();
    config.region_ready_timeout = Duration::from_secs(30);
    config
}

/// Writes a new document `doc_id` to the region at `url` (no simulated
/// network) and returns once the region acknowledged it as durable.
async fn write_document(url: &str, doc_id: &str) {
    let client = loopback_client();
    let token = json_of(
        client
            .post(format!("{url}/v1/dev/token"))
            .json(&json!({"sub": "local-world-test", "read": ["*"], "write": ["*"]})),
    )
    .await;
    let token = token["token"].as_str().expect("a dev token");
    let mut doc = AutoCommit::new();
    doc.put(ROOT, "written_by", "local-world test").unwrap();
    let mut sync = ClientSync::new();
    for _ in 0..MAX_ROUNDS {
        let Some(body) = sync.next_request_bytes(&mut doc) else {
            break;
        };
        let reply = client
            .post(format!("{url}/v1/docs/{doc_id}/sync"))
            .bearer_auth(token)
            .header("content-type", CONTENT_TYPE_SYNC_MESSAGE)
            .body(body)
            .send()
            .await
            .unwrap();
        assert!(
            reply.status().is_success(),
            "sync round failed: {}",
            reply.status()
        );
        sync.receive_reply_bytes(&mut doc, &reply.bytes().await.unwrap())
            .unwrap();
        if sync.unacknowledged_changes(&mut doc).is_empty() {
            return;
        }
    }
    panic!("the write to {url} was not acknowledged in {MAX_ROUNDS} rounds");
}

/// Documents stored by the region `id`.
async fn stored_documents(world: &World, id: &str) -> u64 {
    let status: Value =
        json_of(loopback_client().get(format!("{}/v1/status", world.region_url(id).unwrap())))
            .await;
    status["storage"]["documents"].as_u64().unwrap_or(0)
}

async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + CONVERGE;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn link_stats(world: &World, from: &str, to: &str) -> ProxyStats {
    world.link_proxy(from, to).unwrap().stats()
}

#[tokio::test]
async fn region_servers_replicate_through_link_proxies_and_stop() {
    let data = TempDir::new().unwrap();
    let world = World::start(region_server_world(&data)).await.unwrap();
    for id in world.region_ids() {
        let ready = loopback_client()
            .get(format!("{}/readyz", world.edge_proxy(&id).unwrap().url()))
            .send()
            .await
            .unwrap();
        assert!(
            ready.status().is_success(),
            "{id} not ready through its edge path"
        );
    }

    write_document(&world.region_url("us-east").unwrap(), "replicated-doc").await;
    for peer in ["us-west", "eu-west"] {
        eventually(&format!("{peer} holds the document"), async || {
            stored_documents(&world, peer).await >= 1
        })
        .await;
        // Peers are configured with the link proxies only: the data went through them.
        assert!(link_stats(&world, "us-east", peer).bytes_to_upstream > 0);
    }

    let pids = region_pids(&world);
    world.stop().await.unwrap();
    for pid in pids {
        assert!(gone(pid), "region pid {pid} survived stop");
    }
    for region in world.state().regions {
        assert_eq!(region.process.state, ProcessState::Stopped);
    }
}

#[tokio::test]
async fn a_killed_region_server_restarts_on_its_data() {
    let data = TempDir::new().unwrap();
    let world = World::start(region_server_world(&data)).await.unwrap();
    // Partitioned, so after the restart the document can only come from its own disk.
    for peer in ["us-east", "us-west"] {
        world.partition("eu-west", peer).unwrap();
    }
    write_document(&world.region_url("eu-west").unwrap(), "durable-doc").await;

    world.kill_region("eu-west").unwrap();
    let error = loopback_client()
        .get(format!(
            "{}/readyz",
            world.edge_proxy("eu-west").unwrap().url()
        ))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap_err();
    assert!(!error.is_timeout(), "a killed region fails fast: {error}");

    world.restart_region("eu-west").await.unwrap();
    assert_eq!(
        world.region_status("eu-west").unwrap().state,
        ProcessState::Running
    );
    assert_eq!(stored_documents(&world, "eu-west").await, 1);
    world.stop().await.unwrap();
}

#[tokio::test]
async fn a_partition_stops_traffic_between_the_pair_until_healed() {
    let data = TempDir::new().unwrap();
    let world = World::start(region_server_world(&data)).await.unwrap();
    world.partition("us-east", "eu-west").unwrap();
    let cut = link_stats(&world, "us-east", "eu-west");

    write_document(&world.region_url("us-east").unwrap(), "partitioned-doc").await;
    eventually("us-west holds the document", async || {
        stored_documents(&world, "us-west").await >= 1
    })
    .await;
    let during = link_stats(&world, "us-east", "eu-west");
    assert_eq!(
        during.bytes_to_upstream, cut.bytes_to_upstream,
        "bytes crossed the partition"
    );

    world.heal("us-east", "eu-west").unwrap();
    eventually("traffic crosses the healed link", async || {
        link_stats(&world, "us-east", "eu-west").bytes_to_upstream > cut.bytes_to_upstream
    })
    .await;
    eventually("eu-west holds the document", async || {
        stored_documents(&world, "eu-west").await >= 1
    })
    .await;
    world.stop().await.unwrap();
}
