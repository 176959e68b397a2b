//! Load against a region server: one `POST /v1/docs/{id}/sync` per round.

use std::time::{Duration, Instant};

use sync_protocol::http::CONTENT_TYPE_SYNC_MESSAGE;

use crate::load::{Budget, ClientDoc, Measured};

pub async fn token(base: &str) -> anyhow::Result<String> {
    let body: serde_json::Value = reqwest::Client::new()
        .post(format!("{base}/v1/dev/token"))
        .json(&serde_json::json!({"sub": "bench", "write": ["*"], "ttl_s": 86400}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    body["token"].as_str().map(str::to_owned).ok_or_else(|| anyhow::anyhow!("no token in {body}"))
}

pub struct Worker {
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
    pub docs: Vec<(String, ClientDoc)>,
}

impl Worker {
    /// Syncs one document until it has nothing left to send.
    async fn sync(&mut self, index: usize) -> anyhow::Result<()> {
        let (id, doc) = &mut self.docs[index];
        for _ in 0..10 {
            let Some(message) = doc.sync.next_request_bytes(&mut doc.doc) else {
                return Ok(());
            };
            let response = self
                .http
                .post(format!("{}/v1/docs/{id}/sync", self.base))
                .bearer_auth(&self.token)
                .header("content-type", CONTENT_TYPE_SYNC_MESSAGE)
                .timeout(Duration::from_secs(30))
                .body(message)
                .send()
                .await;
            let response = match response {
                Ok(r) if r.status().is_success() => r,
                Ok(r) => {
                    doc.sync.request_failed();
                    anyhow::bail!("status {}", r.status());
                }
                Err(e) => {
                    doc.sync.request_failed();
                    return Err(e.into());
                }
            };
            let bytes = response.bytes().await?;
            let outcome = doc.sync.receive_reply_bytes(&mut doc.doc, &bytes).map_err(|e| anyhow::anyhow!("{e}"))?;
            if !outcome.needs_another_round {
                return Ok(());
            }
        }
        anyhow::bail!("document {id} did not settle in 10 rounds")
    }

    /// Creates every document at the server (not measured).
    pub async fn warm_up(&mut self) -> anyhow::Result<()> {
        for index in 0..self.docs.len() {
            self.docs[index].1.edit();
            self.sync(index).await?;
        }
        Ok(())
    }

    pub async fn run(mut self, budget: Budget) -> Measured {
        let mut measured = Measured::default();
        let mut done = 0u64;
        while budget.allows(done) {
            let index = (done as usize) % self.docs.len();
            self.docs[index].1.edit();
            let started = Instant::now();
            match self.sync(index).await {
                Ok(()) if self.docs[index].1.acknowledged() => measured.latencies.push(started.elapsed()),
                _ => measured.errors += 1,
            }
            done += 1;
        }
        measured
    }
}
