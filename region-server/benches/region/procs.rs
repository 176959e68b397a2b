//! The servers under test, as child processes killed when dropped.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Proc {
    child: Child,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    local_world::free_port().expect("a free port")
}

async fn wait_ready(url: &str, child: &mut Child, name: &str) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            anyhow::bail!("{name} exited with {status} during start");
        }
        if http.get(url).timeout(Duration::from_millis(500)).send().await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("{name} did not start within 30 s")
}

/// A region-server in development mode.
pub async fn region(name: &str, port: u16, data_dir: &Path, peers: &[(String, String)], extra: &[&str]) -> anyhow::Result<Proc> {
    let log = std::fs::File::create(data_dir.with_extension("log"))?;
    let mut command = Command::new(env!("CARGO_BIN_EXE_region-server"));
    command
        .args(["--region", name, "--listen", &format!("127.0.0.1:{port}"), "--dev"])
        .arg("--data-dir")
        .arg(data_dir)
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log);
    for (peer, url) in peers {
        command.arg("--peer").arg(format!("{peer}={url}"));
    }
    let mut child = command.spawn()?;
    wait_ready(&format!("http://127.0.0.1:{port}/healthz"), &mut child, name).await?;
    Ok(Proc { child })
}

/// The automerge-repo sync server (Node) from region-server/bench/.
pub async fn automerge_repo(port: u16, data_dir: &Path) -> anyhow::Result<Proc> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/automerge-repo-server.mjs");
    let log = std::fs::File::create(data_dir.with_extension("log"))?;
    let mut child = Command::new("node")
        .arg(script)
        .arg(port.to_string())
        .arg(data_dir)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()?;
    // The WebSocket server answers plain HTTP with 426 once it listens.
    wait_ready(&format!("http://127.0.0.1:{port}/"), &mut child, "automerge-repo").await?;
    Ok(Proc { child })
}
