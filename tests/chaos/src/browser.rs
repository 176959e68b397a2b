//! The browser clients of a chaos run: `tests/chaos/browser/driver.mjs` in
//! node, driving headless Chromium pages that run the SDK. One JSON command
//! per line on its stdin, one answer per line on its stdout.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use crate::verify::{AckedWrite, DocState, Replica};

/// Starting Chromium and opening every page (wasm, IndexedDB, first sync).
const READY_TIMEOUT: Duration = Duration::from_secs(180);
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Clone, Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BrowserConfig {
    pub edge_url: String,
    pub token: String,
    pub doc_ids: Vec<String>,
    pub browsers: usize,
    pub seed: u64,
    pub write_interval_ms: u64,
}

#[derive(Clone, Debug, Deserialize)]
pub struct BrowserWrite {
    pub doc: String,
    pub key: String,
    pub value: i64,
}

#[derive(Clone, Debug, Deserialize)]
pub struct BrowserDoc {
    pub heads: Vec<String>,
    pub pending: u64,
    pub values: BTreeMap<String, i64>,
}

/// What one page reports (see `snapshot()` in page/writer.mjs).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BrowserSnapshot {
    pub name: String,
    pub writes_made: u64,
    pub acked: Vec<BrowserWrite>,
    pub unacked: u64,
    pub write_errors: Vec<String>,
    pub http_errors: BTreeMap<u16, u64>,
    pub fetch_failures: u64,
    pub fetches: u64,
    pub status_errors: BTreeMap<String, u64>,
    pub docs: BTreeMap<String, BrowserDoc>,
    pub page_errors: Vec<String>,
}

impl BrowserSnapshot {
    pub fn acked_writes(&self) -> impl Iterator<Item = AckedWrite> + '_ {
        self.acked.iter().map(|w| AckedWrite {
            client: self.name.clone(),
            doc: w.doc.clone(),
            key: w.key.clone(),
            value: w.value,
        })
    }

    pub fn replica(&self) -> Replica {
        Replica {
            name: self.name.clone(),
            docs: self
                .docs
                .iter()
                .map(|(id, d)| (id.clone(), DocState { heads: d.heads.clone(), values: d.values.clone() }))
                .collect(),
            pending: self.docs.values().map(|d| d.pending).sum(),
        }
    }
}

#[derive(Deserialize)]
struct Answer {
    id: Option<u64>,
    ok: bool,
    #[serde(default)]
    result: serde_json::Value,
    #[serde(default)]
    error: Option<String>,
}

/// The running driver; dropping it kills node (and Chromium with it).
pub struct BrowserFleet {
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
    next_id: u64,
}

impl BrowserFleet {
    /// Starts the driver and waits until every page has opened its documents.
    pub async fn start(config: &BrowserConfig, log: &Path) -> anyhow::Result<Self> {
        let driver = local_world::repo_root().join("tests/chaos/browser/driver.mjs");
        let log_file = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let mut child = Command::new("node")
            .arg(&driver)
            .arg(serde_json::to_string(config)?)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .kill_on_drop(true)
            .spawn()
            .context("starting node (the browser driver)")?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            bail!("the browser driver has no stdin/stdout");
        };
        let mut fleet = BrowserFleet { child, stdin, stdout: BufReader::new(stdout).lines(), next_id: 0 };
        let first = tokio::time::timeout(READY_TIMEOUT, fleet.stdout.next_line())
            .await
            .with_context(|| format!("browsers not ready within {READY_TIMEOUT:?}; see {}", log.display()))??;
        let ready: serde_json::Value = match first {
            Some(line) => serde_json::from_str(&line).with_context(|| format!("driver said {line:?}"))?,
            None => bail!("the browser driver exited before it was ready; see {}", log.display()),
        };
        if ready["ready"] != true {
            bail!("the browser driver failed: {ready}; see {}", log.display());
        }
        Ok(fleet)
    }

    async fn call(&mut self, cmd: &str) -> anyhow::Result<serde_json::Value> {
        self.next_id += 1;
        let id = self.next_id;
        let line = serde_json::json!({ "id": id, "cmd": cmd }).to_string() + "\n";
        self.stdin.write_all(line.as_bytes()).await.context("writing to the browser driver")?;
        self.stdin.flush().await?;
        let answer = tokio::time::timeout(COMMAND_TIMEOUT, self.stdout.next_line())
            .await
            .with_context(|| format!("browser command {cmd} got no answer within {COMMAND_TIMEOUT:?}"))??
            .with_context(|| format!("the browser driver exited during {cmd}"))?;
        let answer: Answer = serde_json::from_str(&answer).with_context(|| format!("driver answered {answer:?}"))?;
        if answer.id != Some(id) {
            bail!("browser driver answered request {:?} instead of {id}", answer.id);
        }
        if !answer.ok {
            bail!("browser command {cmd} failed: {}", answer.error.unwrap_or_default());
        }
        Ok(answer.result)
    }

    pub async fn start_writing(&mut self) -> anyhow::Result<()> {
        self.call("start").await.map(drop)
    }

    pub async fn stop_writing(&mut self) -> anyhow::Result<()> {
        self.call("stop").await.map(drop)
    }

    pub async fn snapshot(&mut self) -> anyhow::Result<Vec<BrowserSnapshot>> {
        let result = self.call("snapshot").await?;
        serde_json::from_value(result).context("reading the browsers' snapshot")
    }

    /// Closes Chromium and waits for the driver to exit.
    pub async fn close(mut self) -> anyhow::Result<()> {
        let closed = self.call("close").await;
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
        closed.map(drop)
    }
}
