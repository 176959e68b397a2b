//! ManagedProcess with real child processes (sh, sleep, node).

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod common;

use common::{gone, proc_state};
use local_world::{ManagedProcess, ProcessError, ProcessSpec, free_port};
use tempfile::TempDir;

const STEP: Duration = Duration::from_secs(10);

fn sh(dir: &TempDir, name: &str, script: &str) -> ProcessSpec {
    ProcessSpec::new(name, "/bin/sh", dir.path().join(format!("{name}.log"))).args(["-c", script])
}

async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + STEP;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn read_pid_file(path: &Path) -> u32 {
    let mut pid = None;
    eventually("the pid file is written", || {
        pid = std::fs::read_to_string(path)
            .ok()
            .and_then(|s| s.trim().parse().ok());
        pid.is_some()
    })
    .await;
    pid.unwrap_or_default()
}

#[tokio::test]
async fn output_goes_to_the_log_file() {
    let dir = TempDir::new().unwrap();
    let process =
        ManagedProcess::spawn(&sh(&dir, "talker", "echo to-stdout; echo to-stderr >&2")).unwrap();
    eventually("the process exits", || !process.is_running()).await;
    assert!(process.exit_status().unwrap().success());
    let log = std::fs::read_to_string(process.log_path()).unwrap();
    assert!(log.contains("--- talker started"), "{log}");
    assert!(
        log.contains("to-stdout") && log.contains("to-stderr"),
        "{log}"
    );
    assert_eq!(process.log_tail(1), "to-stderr");
}

#[tokio::test]
async fn kill_takes_the_whole_process_group() {
    let dir = TempDir::new().unwrap();
    let pid_file: PathBuf = dir.path().join("grandchild.pid");
    let script = format!("sleep 300 & echo $! > {}; wait", pid_file.display());
    let process = ManagedProcess::spawn(&sh(&dir, "parent", &script)).unwrap();
    let grandchild = read_pid_file(&pid_file).await;
    assert!(!gone(grandchild));

    process.kill().unwrap();
    assert!(!process.is_running());
    assert_eq!(process.exit_status().unwrap().signal(), Some(9));
    eventually("the grandchild is gone", || gone(grandchild)).await;
}

#[tokio::test]
async fn pause_and_resume_stop_and_continue_the_process() {
    let dir = TempDir::new().unwrap();
    let process = ManagedProcess::spawn(
        &ProcessSpec::new("sleeper", "sleep", dir.path().join("s.log")).arg("300"),
    )
    .unwrap();
    let pid = process.pid();
    eventually("sleep runs", || proc_state(pid) == Some('S')).await;

    process.pause().await.unwrap();
    // Stopped when pause returns, not some time later.
    assert_eq!(proc_state(pid), Some('T'));
    assert!(process.is_running(), "a paused process is still running");

    process.resume().unwrap();
    eventually("the process runs again", || proc_state(pid) == Some('S')).await;
}

#[tokio::test]
async fn terminate_lets_the_process_exit_gracefully() {
    let dir = TempDir::new().unwrap();
    let script = "trap 'echo got-term; exit 0' TERM; while true; do sleep 0.05; done";
    let process = ManagedProcess::spawn(&sh(&dir, "graceful", script)).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await; // let sh install the trap
    process.terminate(STEP).await.unwrap();
    let status = process.exit_status().unwrap();
    assert_eq!(status.code(), Some(0), "{status}");
    assert!(process.log_tail(5).contains("got-term"));
}

#[tokio::test]
async fn terminate_wakes_a_paused_process() {
    let dir = TempDir::new().unwrap();
    let process = ManagedProcess::spawn(&sh(
        &dir,
        "paused",
        "trap 'exit 0' TERM; while true; do sleep 0.05; done",
    ))
    .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    process.pause().await.unwrap();
    process.terminate(STEP).await.unwrap();
    assert_eq!(process.exit_status().unwrap().code(), Some(0));
}

#[tokio::test]
async fn terminate_kills_a_process_that_ignores_sigterm() {
    let dir = TempDir::new().unwrap();
    let process = ManagedProcess::spawn(&sh(&dir, "stubborn", "trap '' TERM; sleep 300")).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    process.terminate(Duration::from_millis(300)).await.unwrap();
    assert_eq!(process.exit_status().unwrap().signal(), Some(9));
}

#[tokio::test]
async fn dropping_the_handle_kills_the_process() {
    let dir = TempDir::new().unwrap();
    let process = ManagedProcess::spawn(
        &ProcessSpec::new("dropped", "sleep", dir.path().join("d.log")).arg("300"),
    )
    .unwrap();
    let pid = process.pid();
    drop(process);
    assert!(gone(pid));
}

#[tokio::test]
async fn spawn_of_a_missing_program_says_which() {
    let dir = TempDir::new().unwrap();
    let error = ManagedProcess::spawn(&ProcessSpec::new(
        "ghost",
        "/no/such/program",
        dir.path().join("g.log"),
    ))
    .unwrap_err();
    assert!(matches!(error, ProcessError::Spawn { .. }));
    assert!(error.to_string().contains("/no/such/program"), "{error}");
}

#[tokio::test]
async fn wait_http_ok_fails_at_once_when_the_process_exits() {
    let dir = TempDir::new().unwrap();
    let process =
        ManagedProcess::spawn(&sh(&dir, "crasher", "echo fatal-config-error; exit 3")).unwrap();
    let url = format!("http://127.0.0.1:{}/readyz", free_port().unwrap());
    let error = process
        .wait_http_ok(&url, Duration::from_secs(60))
        .await
        .unwrap_err();
    match &error {
        ProcessError::ExitedEarly { status, tail, .. } => {
            assert!(status.contains('3'), "{status}");
            assert!(tail.contains("fatal-config-error"), "{tail}");
        }
        other => panic!("expected ExitedEarly, got {other}"),
    }
}

fn node_server(dir: &TempDir, port: u16, status: u16) -> ProcessSpec {
    let script = format!(
        "require('http').createServer((q, s) => {{ s.statusCode = {status}; s.end('x'); }})\
         .listen({port}, '127.0.0.1', () => console.log('listening'))"
    );
    ProcessSpec::new("node-server", "node", dir.path().join("node.log")).args(["-e", &script])
}

#[tokio::test]
async fn wait_http_ok_returns_once_the_server_answers() {
    let dir = TempDir::new().unwrap();
    let port = free_port().unwrap();
    let process = ManagedProcess::spawn(&node_server(&dir, port, 200)).unwrap();
    process
        .wait_http_ok(&format!("http://127.0.0.1:{port}/"), STEP)
        .await
        .unwrap();
    process.terminate(STEP).await.unwrap();
}

#[tokio::test]
async fn wait_http_ok_times_out_on_a_failing_status_with_the_log_tail() {
    let dir = TempDir::new().unwrap();
    let port = free_port().unwrap();
    let process = ManagedProcess::spawn(&node_server(&dir, port, 503)).unwrap();
    let error = process
        .wait_http_ok(&format!("http://127.0.0.1:{port}/"), Duration::from_secs(3))
        .await
        .unwrap_err();
    match &error {
        ProcessError::NotReady {
            not_ready, tail, ..
        } => {
            assert!(not_ready.last.contains("503"), "{}", not_ready.last);
            assert!(tail.contains("listening"), "{tail}");
        }
        other => panic!("expected NotReady, got {other}"),
    }
}
