//! The `local-world` binary as a user runs it: start, serve controls, stop
//! cleanly on SIGTERM / SIGINT leaving no process behind.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{LOCAL_WORLD, gone, json_of};
use local_world::{ManagedProcess, ProcessSpec, free_port, loopback_client, wait_http_ok};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;
use tempfile::TempDir;

const START_TIMEOUT: Duration = Duration::from_secs(60);

fn echo_world_command(data: &TempDir, control_port: u16) -> ProcessSpec {
    ProcessSpec::new("local-world", LOCAL_WORLD, data.path().join("cli.log")).args([
        "--echo-regions",
        "--no-edge",
        "--control-port",
        &control_port.to_string(),
        "--data-dir",
        &data.path().display().to_string(),
    ])
}

async fn stops_cleanly_on(signal: Signal) {
    let data = TempDir::new().unwrap();
    let control_port = free_port().unwrap();
    let process = ManagedProcess::spawn(&echo_world_command(&data, control_port)).unwrap();
    let state_url = format!("http://127.0.0.1:{control_port}/control/state");
    process
        .wait_http_ok(&state_url, START_TIMEOUT)
        .await
        .unwrap();

    let state: Value = json_of(loopback_client().get(&state_url)).await;
    let pids: Vec<u32> = state["regions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["process"]["pid"].as_u64().unwrap() as u32)
        .collect();
    assert_eq!(pids.len(), 3);
    assert!(pids.iter().all(|&pid| !gone(pid)));

    kill(Pid::from_raw(process.pid() as i32), signal).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while process.is_running() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "local-world did not exit"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let status = process.exit_status().unwrap();
    assert!(status.success(), "{status}; log:\n{}", process.log_tail(30));
    for pid in pids {
        assert!(gone(pid), "region pid {pid} outlived local-world");
    }
    let log = std::fs::read_to_string(process.log_path()).unwrap();
    assert!(log.contains("regions ready"), "{log}");
    assert!(log.contains("stopped"), "{log}");
}

#[tokio::test]
async fn sigterm_stops_everything_and_exits_zero() {
    stops_cleanly_on(Signal::SIGTERM).await;
}

#[tokio::test]
async fn ctrl_c_stops_everything_and_exits_zero() {
    stops_cleanly_on(Signal::SIGINT).await;
}

#[tokio::test]
async fn a_busy_port_is_reported_before_starting_anything() {
    let data = TempDir::new().unwrap();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let output = tokio::process::Command::new(LOCAL_WORLD)
        .args([
            "--echo-regions",
            "--no-edge",
            "--control-port",
            &port.to_string(),
            "--data-dir",
        ])
        .arg(data.path())
        .stdin(Stdio::null())
        .output();
    let output = tokio::time::timeout(Duration::from_secs(20), output)
        .await
        .unwrap()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("port {port}")), "{stderr}");
    assert!(!data.path().join("logs").exists(), "nothing may start");
}

#[tokio::test]
async fn help_explains_every_flag() {
    let output = tokio::process::Command::new(LOCAL_WORLD)
        .arg("--help")
        .output()
        .await
        .unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    for flag in [
        "--edge-port",
        "--control-port",
        "--data-dir",
        "--fresh",
        "--allow-origin",
        "--echo-regions",
        "--no-edge",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help");
    }
}

#[tokio::test]
async fn echo_origin_subcommand_serves_until_terminated() {
    let dir = TempDir::new().unwrap();
    let port = free_port().unwrap();
    let spec = ProcessSpec::new("echo", LOCAL_WORLD, dir.path().join("echo.log")).args([
        "echo-origin",
        "--region",
        "ap-south",
        "--listen",
        &format!("127.0.0.1:{port}"),
    ]);
    let process = ManagedProcess::spawn(&spec).unwrap();
    wait_http_ok(&format!("http://127.0.0.1:{port}/readyz"), START_TIMEOUT)
        .await
        .unwrap();
    let region = common::answered_by(&format!("http://127.0.0.1:{port}"), common::OK_TIMEOUT)
        .await
        .unwrap();
    assert_eq!(region, "ap-south");
    process.terminate(Duration::from_secs(5)).await.unwrap();
    assert!(process.exit_status().unwrap().success());
}
