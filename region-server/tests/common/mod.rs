//! Helpers for multi-process tests: real region-server processes on loopback,
//! and a client that syncs through the public HTTP API with `ClientSync`.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use automerge::transaction::Transactable;
use automerge::{Automerge, ChangeHash, ReadDoc, ROOT};
use sync_protocol::http::{CONTENT_TYPE_BATCH, PATH_SYNC_BATCH};
use sync_protocol::{ClientSync, DocId, DocMessage, SyncBatchRequest, SyncBatchResponse};

pub const BIN: &str = env!("CARGO_BIN_EXE_region-server");

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

pub fn doc_id(id: &str) -> DocId {
    DocId::parse(id).expect("valid id")
}

/// One region-server process.
pub struct Region {
    pub name: String,
    pub port: u16,
    pub data_dir: PathBuf,
    pub peers: Vec<(String, String)>,
    pub extra_args: Vec<String>,
    child: Option<Child>,
}

impl Region {
    pub fn new(name: &str, data_dir: PathBuf) -> Self {
        Self { name: name.into(), port: free_port(), data_dir, peers: Vec::new(), extra_args: Vec::new(), child: None }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn log_path(&self) -> PathBuf {
        self.data_dir.with_extension("log")
    }

    pub async fn start(&mut self) {
        assert!(self.child.is_none(), "{} already running", self.name);
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.log_path()).expect("log file");
        let mut command = Command::new(BIN);
        command
            .args(["--region", &self.name, "--listen", &format!("127.0.0.1:{}", self.port), "--dev"])
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(["--anti-entropy-ms", "1000"])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log);
        for (name, url) in &self.peers {
            command.arg("--peer").arg(format!("{name}={url}"));
        }
        command.args(&self.extra_args);
        self.child = Some(command.spawn().expect("spawn region-server"));
        let health = format!("{}/healthz", self.url());
        let deadline = Instant::now() + Duration::from_secs(20);
        let http = reqwest::Client::new();
        loop {
            if let Ok(r) = http.get(&health).timeout(Duration::from_millis(500)).send().await
                && r.status().is_success()
            {
                return;
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!("{} exited with {status} at start:\n{}", self.name, self.log_tail());
            }
            assert!(Instant::now() < deadline, "{} did not become healthy:\n{}", self.name, self.log_tail());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL: the process gets no chance to flush anything.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then waits for a clean exit.
    pub async fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status;
            }
            assert!(Instant::now() < deadline, "{} ignored SIGTERM", self.name);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<_> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Regions that replicate with each other, all in one temporary directory.
pub struct Cluster {
    pub regions: Vec<Region>,
    pub dir: tempfile::TempDir,
}

impl Cluster {
    pub async fn start(names: &[&str], extra_args: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut regions: Vec<Region> = names.iter().map(|n| Region::new(n, dir.path().join(n))).collect();
        let all: Vec<(String, String)> = regions.iter().map(|r| (r.name.clone(), r.url())).collect();
        for region in &mut regions {
            region.peers = all.iter().filter(|(n, _)| *n != region.name).cloned().collect();
            region.extra_args = extra_args.iter().map(|s| s.to_string()).collect();
        }
        for region in &mut regions {
            region.start().await;
        }
        Self { regions, dir }
    }
}

/// Mints a development token.
pub async fn dev_token(region_url: &str, sub: &str, read: &[&str], write: &[&str]) -> String {
    let response = reqwest::Client::new()
        .post(format!("{region_url}/v1/dev/token"))
        .json(&serde_json::json!({ "sub": sub, "read": read, "write": write, "ttl_s": 600 }))
        .send()
        .await
        .expect("token request");
    assert!(response.status().is_success(), "token: {}", response.status());
    let body: serde_json::Value = response.json().await.expect("token json");
    body["token"].as_str().expect("token field").to_owned()
}

/// A client holding documents locally, syncing them with `ClientSync` over `/v1/sync`.
pub struct TestClient {
    pub http: reqwest::Client,
    pub token: String,
    pub docs: HashMap<DocId, (Automerge, ClientSync)>,
    actor: u8,
}

impl TestClient {
    pub fn new(token: String, actor: u8) -> Self {
        Self { http: reqwest::Client::new(), token, docs: HashMap::new(), actor }
    }

    pub fn doc(&mut self, id: &DocId) -> &mut Automerge {
        let actor = self.actor;
        &mut self
            .docs
            .entry(id.clone())
            .or_insert_with(|| {
                let mut actor_id = vec![actor; 8];
                actor_id.extend_from_slice(&rand::random::<[u8; 8]>());
                (Automerge::new().with_actor(automerge::ActorId::from(actor_id)), ClientSync::new())
            })
            .0
    }

    pub fn put(&mut self, id: &DocId, key: &str, value: &str) {
        let doc = self.doc(id);
        let mut tx = doc.transaction();
        tx.put(ROOT, key, value).expect("put");
        tx.commit();
    }

    pub fn get(&mut self, id: &DocId, key: &str) -> Option<String> {
        self.doc(id).get(ROOT, key).ok().flatten().and_then(|(v, _)| v.into_string().ok())
    }

    pub fn heads(&mut self, id: &DocId) -> Vec<ChangeHash> {
        self.doc(id).get_heads()
    }

    /// One batch round for `ids`; returns per-document errors and whether any document needs more.
    pub async fn round(&mut self, region_url: &str, ids: &[DocId], force: bool) -> Result<bool, String> {
        let mut entries = Vec::new();
        for id in ids {
            self.doc(id);
            let (doc, sync) = self.docs.get_mut(id).expect("present");
            if force {
                sync.request_round();
            }
            if let Some(message) = sync.next_request_bytes(doc) {
                entries.push(DocMessage { doc: id.clone(), message });
            }
        }
        if entries.is_empty() {
            return Ok(false);
        }
        let sent: Vec<DocId> = entries.iter().map(|e| e.doc.clone()).collect();
        let response = self
            .http
            .post(format!("{region_url}{PATH_SYNC_BATCH}"))
            .bearer_auth(&self.token)
            .header("content-type", CONTENT_TYPE_BATCH)
            .body(SyncBatchRequest { entries }.encode())
            .timeout(Duration::from_secs(20))
            .send()
            .await;
        let fail_all = |docs: &mut HashMap<DocId, (Automerge, ClientSync)>| {
            for id in &sent {
                if let Some((_, sync)) = docs.get_mut(id) {
                    sync.request_failed();
                }
            }
        };
        let response = match response {
            Ok(r) => r,
            Err(e) => {
                fail_all(&mut self.docs);
                return Err(e.to_string());
            }
        };
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| e.to_string())?;
        if !status.is_success() {
            fail_all(&mut self.docs);
            return Err(format!("{status}: {}", String::from_utf8_lossy(&bytes)));
        }
        let batch = SyncBatchResponse::decode(&bytes).map_err(|e| e.to_string())?;
        let mut more = false;
        for reply in batch.entries {
            let (doc, sync) = self.docs.get_mut(&reply.doc).expect("known doc");
            match reply.outcome {
                Ok(bytes) => {
                    let outcome = sync.receive_reply_bytes(doc, &bytes).map_err(|e| e.to_string())?;
                    more |= outcome.needs_another_round;
                }
                Err(e) => {
                    sync.request_failed();
                    return Err(format!("{}: {e}", reply.doc));
                }
            }
        }
        Ok(more)
    }

    /// Rounds until nothing is left to exchange (forcing the first one, to pull).
    pub async fn sync(&mut self, region_url: &str, ids: &[DocId]) -> Result<usize, String> {
        let mut rounds = 0;
        let mut force = true;
        loop {
            let more = self.round(region_url, ids, force).await?;
            force = false;
            rounds += 1;
            if !more {
                return Ok(rounds);
            }
            assert!(rounds < 10, "sync did not settle");
        }
    }
}

/// Bounds a polling loop: `while !done { assert!(deadline.tick().await) }`.
pub struct Deadline(Instant);

impl Deadline {
    pub fn after(timeout: Duration) -> Self {
        Self(Instant::now() + timeout)
    }

    /// Sleeps a little; false once the deadline has passed.
    pub async fn tick(&self) -> bool {
        tokio::time::sleep(Duration::from_millis(100)).await;
        Instant::now() < self.0
    }
}

/// The heads a fresh reader gets from `region_url` for `id`.
pub async fn heads_at(region_url: &str, token: &str, id: &DocId) -> Result<Vec<ChangeHash>, String> {
    let mut reader = TestClient::new(token.to_owned(), 200);
    reader.sync(region_url, std::slice::from_ref(id)).await?;
    Ok(reader.heads(id))
}
