//! Shared by the world, control and CLI tests: a world of echo-origin region
//! processes (the `local-world echo-origin` subcommand of this crate).

#![allow(dead_code)] // each test binary uses a different part

use std::time::Duration;

use local_world::EchoReply;
use local_world::world::{RegionBackend, World, WorldConfig};
use tempfile::TempDir;

pub const LOCAL_WORLD: &str = env!("CARGO_BIN_EXE_local-world");

/// Bound for requests expected to succeed.
pub const OK_TIMEOUT: Duration = Duration::from_secs(10);
/// Client timeout for requests expected to hang.
pub const HANG_TIMEOUT: Duration = Duration::from_millis(400);

pub fn echo_world_config(data: &TempDir) -> WorldConfig {
    let mut config =
        WorldConfig::new(RegionBackend::echo_origin(LOCAL_WORLD), data.path()).without_edge();
    config.region_ready_timeout = Duration::from_secs(20);
    config.stop_grace = Duration::from_secs(5);
    config
}

pub async fn echo_world() -> (World, TempDir) {
    let data = TempDir::new().unwrap();
    let world = World::start(echo_world_config(&data)).await.unwrap();
    (world, data)
}

/// GET `url`; the region that answered, or the error.
pub async fn answered_by(url: &str, timeout: Duration) -> Result<String, reqwest::Error> {
    let client = local_world::loopback_client();
    let response = client
        .get(format!("{url}/probe"))
        .timeout(timeout)
        .send()
        .await?;
    let reply: EchoReply = response.error_for_status()?.json().await?;
    Ok(reply.region)
}

/// The state letter in /proc/PID/stat (R, S, T, Z, ...), or None when gone.
pub fn proc_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) S ...": the state follows the last ')'.
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// The process no longer runs (reaped, or a zombie waiting to be).
pub fn gone(pid: u32) -> bool {
    matches!(proc_state(pid), None | Some('Z') | Some('X'))
}

/// The pids of the world's region processes.
pub fn region_pids(world: &World) -> Vec<u32> {
    world
        .state()
        .regions
        .iter()
        .filter_map(|r| r.process.pid)
        .collect()
}

/// Sends `request` and parses its JSON answer (whatever the status).
pub async fn json_of(request: reqwest::RequestBuilder) -> serde_json::Value {
    request.send().await.unwrap().json().await.unwrap()
}
