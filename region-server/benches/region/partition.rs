//! Three regions that reach each other only through fault proxies (one per
//! direction), partitioned while every region takes writes, then healed: how
//! long until all regions hold identical heads for every document.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use automerge::sync::SyncDoc;
use automerge::{Automerge, ChangeHash};
use local_world::{Fault, FaultProxy};
use sync_protocol::http::{CONTENT_TYPE_BATCH, PATH_SYNC_BATCH};
use sync_protocol::{DocId, DocMessage, SyncBatchRequest, SyncBatchResponse};

use crate::edgesync::{self, Worker};
use crate::load::ClientDoc;
use crate::procs::{self, Proc};

pub struct Partitioned {
    pub urls: Vec<String>,
    proxies: Vec<FaultProxy>,
    _regions: Vec<Proc>,
    token: String,
}

impl Partitioned {
    pub async fn start(dir: &std::path::Path) -> anyhow::Result<Self> {
        let names = ["us", "eu", "ap"];
        let ports: Vec<u16> = names.iter().map(|_| procs::free_port()).collect();
        let mut proxies = Vec::new();
        let mut peers: Vec<Vec<(String, String)>> = vec![Vec::new(); names.len()];
        for (from, from_peers) in peers.iter_mut().enumerate() {
            for (to, name) in names.iter().enumerate() {
                if from == to {
                    continue;
                }
                let upstream: SocketAddr = format!("127.0.0.1:{}", ports[to]).parse()?;
                let proxy = FaultProxy::start("127.0.0.1:0".parse()?, upstream).await?;
                from_peers.push((name.to_string(), proxy.url()));
                proxies.push(proxy);
            }
        }
        let mut regions = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let data = dir.join(format!("partition-{name}"));
            regions.push(procs::region(name, ports[i], &data, &peers[i], &[]).await?);
        }
        let urls: Vec<String> = ports.iter().map(|p| format!("http://127.0.0.1:{p}")).collect();
        let token = edgesync::token(&urls[0]).await?;
        Ok(Self { urls, proxies, _regions: regions, token })
    }

    pub fn set_fault(&self, fault: Fault) {
        for proxy in &self.proxies {
            proxy.set_fault(fault);
        }
    }

    /// Every region's heads for `docs`, read with a fresh client's first message.
    async fn heads(&self, http: &reqwest::Client, docs: &[DocId]) -> Vec<Option<Vec<Vec<ChangeHash>>>> {
        let first = Automerge::new()
            .generate_sync_message(&mut automerge::sync::State::new())
            .map(|m| m.encode())
            .unwrap_or_default();
        let body = SyncBatchRequest {
            entries: docs.iter().map(|d| DocMessage { doc: d.clone(), message: first.clone() }).collect(),
        }
        .encode();
        let mut all = Vec::new();
        for url in &self.urls {
            let response = http
                .post(format!("{url}{PATH_SYNC_BATCH}"))
                .bearer_auth(&self.token)
                .header("content-type", CONTENT_TYPE_BATCH)
                .body(body.clone())
                .timeout(Duration::from_secs(5))
                .send()
                .await;
            let heads = async {
                let bytes = response.ok()?.bytes().await.ok()?;
                let batch = SyncBatchResponse::decode(&bytes).ok()?;
                batch
                    .entries
                    .into_iter()
                    .map(|e| e.outcome.ok().and_then(|m| automerge::sync::Message::decode(&m).ok()).map(|m| m.heads))
                    .collect::<Option<Vec<_>>>()
            }
            .await;
            all.push(heads);
        }
        all
    }

    /// Writes to every document in every region during a partition of `hold`,
    /// heals it, and returns the time until all regions agree on every document.
    pub async fn heal_time(&self, fault: Fault, docs: usize, hold: Duration) -> anyhow::Result<Duration> {
        let ids: Vec<DocId> = (0..docs).map(|i| DocId::parse(&format!("part-{fault:?}-{i}")).map_err(anyhow::Error::from)).collect::<Result<_, _>>()?;
        self.set_fault(fault);
        for (r, url) in self.urls.iter().enumerate() {
            let mut worker = Worker {
                http: reqwest::Client::new(),
                base: url.clone(),
                token: self.token.clone(),
                docs: ids.iter().map(|id| (id.to_string(), ClientDoc::new(1000 + r as u64))).collect(),
            };
            worker.warm_up().await?;
        }
        tokio::time::sleep(hold).await;
        let http = reqwest::Client::new();
        self.set_fault(Fault::Pass);
        let healed = Instant::now();
        let deadline = healed + Duration::from_secs(60);
        loop {
            let heads = self.heads(&http, &ids).await;
            let first = &heads[0];
            // Converged: every region answered, identically, and each doc merged all three writers.
            if first.is_some() && heads.iter().all(|h| h == first) && first.as_ref().is_some_and(|d| d.iter().all(|h| h.len() == 3)) {
                return Ok(healed.elapsed());
            }
            anyhow::ensure!(Instant::now() < deadline, "regions did not converge within 60 s of healing");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
