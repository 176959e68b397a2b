//! A World of three region processes (echo origins: the region server is not
//! needed to exercise processes, proxies and controls) without an edge.

mod common;

use std::time::{Duration, Instant};

use common::{
    HANG_TIMEOUT, OK_TIMEOUT, answered_by, echo_world, echo_world_config, gone, region_pids,
};
use local_world::world::{ProcessState, World, WorldError};
use local_world::{Fault, ProcessError};
use tempfile::TempDir;

#[tokio::test]
async fn starts_three_regions_each_behind_its_edge_proxy() {
    let (world, _data) = echo_world().await;
    assert_eq!(world.region_ids(), ["us-east", "us-west", "eu-west"]);
    for id in world.region_ids() {
        assert_eq!(
            world.region_status(&id).unwrap().state,
            ProcessState::Running
        );
        let via_edge_path = world.edge_proxy(&id).unwrap().url();
        assert_eq!(answered_by(&via_edge_path, OK_TIMEOUT).await.unwrap(), id);
        assert_eq!(
            answered_by(&world.region_url(&id).unwrap(), OK_TIMEOUT)
                .await
                .unwrap(),
            id
        );
    }
    // The configured edge latencies are in place: us-west's path pays 2 x 40 ms.
    let started = Instant::now();
    answered_by(&world.edge_proxy("us-west").unwrap().url(), OK_TIMEOUT)
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(80));
    world.stop().await.unwrap();
}

#[tokio::test]
async fn inter_region_links_reach_the_peer_with_distance_latency() {
    let (world, _data) = echo_world().await;
    let link = world.link_proxy("us-east", "eu-west").unwrap();
    assert_eq!(
        answered_by(&link.url(), OK_TIMEOUT).await.unwrap(),
        "eu-west"
    );
    assert!(
        link.latency() > Duration::from_millis(40),
        "{:?}",
        link.latency()
    );
    assert!(matches!(
        world.link_proxy("us-east", "us-east"),
        Err(WorldError::SelfPartition(_))
    ));
    assert!(matches!(
        world.link_proxy("us-east", "mars"),
        Err(WorldError::UnknownRegion(_))
    ));

    world.partition("us-east", "eu-west").unwrap();
    assert_eq!(link.fault(), Fault::BlackHole);
    assert_eq!(
        world.link_proxy("eu-west", "us-east").unwrap().fault(),
        Fault::BlackHole
    );
    assert_eq!(
        world.link_proxy("us-east", "us-west").unwrap().fault(),
        Fault::Pass
    );
    let error = answered_by(&link.url(), HANG_TIMEOUT).await.unwrap_err();
    assert!(error.is_timeout(), "{error}");

    world.heal("eu-west", "us-east").unwrap();
    assert_eq!(
        answered_by(&link.url(), OK_TIMEOUT).await.unwrap(),
        "eu-west"
    );
    world.partition("us-west", "eu-west").unwrap();
    world.heal_all();
    assert!(world.state().links.iter().all(|l| l.fault == Fault::Pass));
    world.stop().await.unwrap();
}

#[tokio::test]
async fn kill_and_restart_a_region() {
    let (world, _data) = echo_world().await;
    let pid = world.region_status("us-east").unwrap().pid.unwrap();
    let edge_path = world.edge_proxy("us-east").unwrap().url();

    world.kill_region("us-east").unwrap();
    assert_eq!(
        world.region_status("us-east").unwrap().state,
        ProcessState::Killed
    );
    assert!(gone(pid));
    // Through the proxy, a dead region is a reset connection, not a hang.
    let error = answered_by(&edge_path, OK_TIMEOUT).await.unwrap_err();
    assert!(!error.is_timeout(), "{error}");
    world.kill_region("us-east").unwrap(); // killing a dead region is harmless
    assert!(matches!(
        world.pause_region("us-east").await,
        Err(WorldError::InvalidState {
            state: ProcessState::Killed,
            ..
        })
    ));

    world.restart_region("us-east").await.unwrap();
    let status = world.region_status("us-east").unwrap();
    assert_eq!(status.state, ProcessState::Running);
    assert_ne!(status.pid, Some(pid));
    assert_eq!(
        answered_by(&edge_path, OK_TIMEOUT).await.unwrap(),
        "us-east"
    );

    // Restarting a running region replaces its process.
    world.restart_region("us-east").await.unwrap();
    assert_ne!(world.region_status("us-east").unwrap().pid, status.pid);
    world.stop().await.unwrap();
}

#[tokio::test]
async fn pause_freezes_a_region_and_resume_thaws_it() {
    let (world, _data) = echo_world().await;
    let url = world.region_url("us-west").unwrap();
    world.pause_region("us-west").await.unwrap();
    assert_eq!(
        world.region_status("us-west").unwrap().state,
        ProcessState::Paused
    );
    let error = answered_by(&url, HANG_TIMEOUT).await.unwrap_err();
    assert!(
        error.is_timeout(),
        "a paused region accepts but never answers: {error}"
    );

    world.resume_region("us-west").unwrap();
    assert_eq!(answered_by(&url, OK_TIMEOUT).await.unwrap(), "us-west");
    // A paused region still stops (SIGCONT follows SIGTERM).
    world.pause_region("us-west").await.unwrap();
    world.stop().await.unwrap();
    assert_eq!(
        world.region_status("us-west").unwrap().state,
        ProcessState::Stopped
    );
}

#[tokio::test]
async fn edge_path_faults_and_latency() {
    let (world, _data) = echo_world().await;
    let edge_path = world.edge_proxy("eu-west").unwrap().url();

    world.black_hole("eu-west").unwrap();
    assert!(
        answered_by(&edge_path, HANG_TIMEOUT)
            .await
            .unwrap_err()
            .is_timeout()
    );
    world.refuse("eu-west").unwrap();
    assert!(
        !answered_by(&edge_path, OK_TIMEOUT)
            .await
            .unwrap_err()
            .is_timeout()
    );
    world.restore("eu-west").unwrap();
    assert_eq!(
        answered_by(&edge_path, OK_TIMEOUT).await.unwrap(),
        "eu-west"
    );

    world
        .set_edge_latency("eu-west", Duration::from_millis(200))
        .unwrap();
    let started = Instant::now();
    answered_by(&edge_path, OK_TIMEOUT).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(400));
    let state = world.state();
    let eu = state.regions.iter().find(|r| r.id == "eu-west").unwrap();
    assert_eq!((eu.edge.fault, eu.edge.latency_ms), (Fault::Pass, 200));
    assert!(matches!(
        world.black_hole("mars"),
        Err(WorldError::UnknownRegion(_))
    ));
    world.stop().await.unwrap();
}

#[tokio::test]
async fn stop_leaves_no_process_behind() {
    let (world, _data) = echo_world().await;
    let pids = region_pids(&world);
    assert_eq!(pids.len(), 3);
    world.stop().await.unwrap();
    for pid in pids {
        assert!(gone(pid), "pid {pid} survived stop");
    }
    assert!(
        world
            .state()
            .regions
            .iter()
            .all(|r| r.process.state == ProcessState::Stopped)
    );
}

#[tokio::test]
async fn dropping_the_world_kills_its_processes() {
    let (world, _data) = echo_world().await;
    let pids = region_pids(&world);
    assert_eq!(pids.len(), 3);
    drop(world);
    for pid in pids {
        assert!(gone(pid), "pid {pid} survived drop");
    }
}

#[tokio::test]
async fn a_region_that_cannot_start_fails_the_world_with_its_log() {
    let data = TempDir::new().unwrap();
    let mut config = echo_world_config(&data);
    // `false` exits at once: the world must say so, not wait for the timeout.
    config.backend = local_world::world::RegionBackend::echo_origin("/bin/false");
    let started = Instant::now();
    let error = match World::start(config).await {
        Err(error) => error,
        Ok(_) => panic!("a world of crashing regions started"),
    };
    assert!(
        matches!(error, WorldError::Process(ProcessError::ExitedEarly { .. })),
        "{error}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "waited for the timeout"
    );
}

#[tokio::test]
async fn invalid_configuration_is_refused_before_anything_starts() {
    let data = TempDir::new().unwrap();
    let mut config = echo_world_config(&data);
    config.regions[1].id = config.regions[0].id.clone();
    let error = World::start(config).await.err().unwrap();
    assert!(matches!(error, WorldError::Config(_)), "{error}");
}

#[tokio::test]
async fn fresh_deletes_old_region_data() {
    let data = TempDir::new().unwrap();
    let stale = data.path().join("regions/us-east/old.db");
    std::fs::create_dir_all(stale.parent().unwrap()).unwrap();
    std::fs::write(&stale, b"x").unwrap();

    let world = World::start(echo_world_config(&data)).await.unwrap();
    assert!(stale.exists(), "without fresh, data is kept");
    world.stop().await.unwrap();
    drop(world);

    let mut config = echo_world_config(&data);
    config.fresh = true;
    let world = World::start(config).await.unwrap();
    assert!(!stale.exists());
    assert!(data.path().join("regions/us-east").is_dir());
    assert!(data.path().join("logs/us-east.log").is_file());
    world.stop().await.unwrap();
}
