//! Documents held by a native client and batch rounds over HTTP
//! (`POST /v1/sync`, PROTOCOL.md) with `ClientSync`: what the chaos suite's
//! native writers, the region readers and the load generator all speak.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use automerge::{ActorId, Automerge, ChangeHash, ReadDoc, ROOT};
use sync_protocol::http::{CONTENT_TYPE_BATCH, HEADER_IDEMPOTENCY_KEY, PATH_SYNC_BATCH};
use sync_protocol::{ClientSync, DocId, DocMessage, SyncBatchRequest, SyncBatchResponse};

use crate::verify::DocState;
pub use local_world::error_chain;

/// One document as a client holds it.
pub struct LocalDoc {
    pub id: DocId,
    pub doc: Automerge,
    pub sync: ClientSync,
}

impl LocalDoc {
    /// An empty copy of `id` whose changes carry `actor`.
    pub fn new(id: DocId, actor: ActorId) -> Self {
        LocalDoc { id, doc: Automerge::new().with_actor(actor), sync: ClientSync::new() }
    }

    /// Local changes no server has acknowledged yet.
    pub fn unacknowledged(&mut self) -> HashSet<ChangeHash> {
        self.sync.unacknowledged_changes(&mut self.doc).into_iter().collect()
    }

    /// Heads as sorted hex strings (the form the SDK reports).
    pub fn heads_hex(&self) -> Vec<String> {
        let mut heads: Vec<String> = self.doc.get_heads().iter().map(ToString::to_string).collect();
        heads.sort();
        heads
    }

    /// The root map's numeric values: every write of the chaos suite is one root key.
    pub fn root_numbers(&self) -> BTreeMap<String, i64> {
        self.doc
            .keys(ROOT)
            .filter_map(|key| {
                let value = self.doc.get(ROOT, key.as_str()).ok().flatten()?.0.as_i64()?;
                Some((key, value))
            })
            .collect()
    }
}

/// Every document's state, for the checker.
pub fn doc_states(docs: &[LocalDoc]) -> BTreeMap<String, DocState> {
    docs.iter()
        .map(|d| (d.id.to_string(), DocState { heads: d.heads_hex(), values: d.root_numbers() }))
        .collect()
}

/// Where rounds go and as whom.
#[derive(Clone)]
pub struct Endpoint {
    pub http: reqwest::Client,
    /// `http://127.0.0.1:PORT` of the edge or of a region.
    pub base: String,
    pub token: String,
    /// Bound on one request, answer included.
    pub timeout: Duration,
}

/// Why a round got no usable answer. Every document in it is rolled back and
/// offers its changes again next round.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RoundError {
    #[error("transport: {0}")]
    Transport(String),
    #[error("HTTP {status}: {body}")]
    Status { status: u16, body: String },
    #[error("unreadable answer: {0}")]
    BadAnswer(String),
}

/// What a round that got an answer did.
#[derive(Debug, Default)]
pub struct RoundOutcome {
    /// Documents the request carried.
    pub sent: usize,
    /// Some document needs another round now.
    pub needs_more: bool,
    /// Per-document failures inside a successful answer: `(doc, code)`.
    pub entry_errors: Vec<(DocId, String)>,
    /// The region that answered (`x-edge-region` through the edge, else `x-edgesync-region`).
    pub region: Option<String>,
}

/// One batch round for every document in `docs` that has something to send.
pub async fn batch_round(
    endpoint: &Endpoint,
    docs: &mut [LocalDoc],
    idempotency_key: &str,
) -> Result<RoundOutcome, RoundError> {
    let mut sent = Vec::new();
    let mut entries = Vec::new();
    for (index, local) in docs.iter_mut().enumerate() {
        if let Some(message) = local.sync.next_request_bytes(&mut local.doc) {
            sent.push(index);
            entries.push(DocMessage { doc: local.id.clone(), message });
        }
    }
    if sent.is_empty() {
        return Ok(RoundOutcome::default());
    }
    let answer = post_batch(endpoint, SyncBatchRequest { entries }.encode(), idempotency_key).await;
    let (response, region) = match answer {
        Ok(answer) => answer,
        Err(error) => {
            for index in sent {
                docs[index].sync.request_failed();
            }
            return Err(error);
        }
    };
    let mut replies: HashMap<DocId, Result<Vec<u8>, String>> = response
        .entries
        .into_iter()
        .map(|reply| (reply.doc, reply.outcome.map_err(|e| e.code.to_string())))
        .collect();
    let mut outcome = RoundOutcome { sent: sent.len(), region, ..RoundOutcome::default() };
    for index in sent {
        let local = &mut docs[index];
        match replies.remove(&local.id) {
            Some(Ok(bytes)) => match local.sync.receive_reply_bytes(&mut local.doc, &bytes) {
                Ok(reply) => outcome.needs_more |= reply.needs_another_round,
                Err(error) => outcome.entry_errors.push((local.id.clone(), error.code.to_string())),
            },
            Some(Err(code)) => {
                local.sync.request_failed();
                outcome.entry_errors.push((local.id.clone(), code));
            }
            None => {
                local.sync.request_failed();
                outcome.entry_errors.push((local.id.clone(), "missing_entry".into()));
            }
        }
    }
    Ok(outcome)
}

async fn post_batch(
    endpoint: &Endpoint,
    body: Vec<u8>,
    idempotency_key: &str,
) -> Result<(SyncBatchResponse, Option<String>), RoundError> {
    let response = endpoint
        .http
        .post(format!("{}{PATH_SYNC_BATCH}", endpoint.base))
        .bearer_auth(&endpoint.token)
        .header("content-type", CONTENT_TYPE_BATCH)
        .header(HEADER_IDEMPOTENCY_KEY, idempotency_key)
        .timeout(endpoint.timeout)
        .body(body)
        .send()
        .await
        .map_err(|e| RoundError::Transport(error_chain(&e)))?;
    let status = response.status().as_u16();
    let region = ["x-edge-region", sync_protocol::http::HEADER_REGION]
        .iter()
        .find_map(|name| response.headers().get(*name)?.to_str().ok().map(str::to_owned));
    let bytes = response.bytes().await.map_err(|e| RoundError::Transport(error_chain(&e)))?;
    if !(200..300).contains(&status) {
        let body = String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned();
        return Err(RoundError::Status { status, body });
    }
    let decoded = SyncBatchResponse::decode(&bytes).map_err(|e| RoundError::BadAnswer(e.to_string()))?;
    Ok((decoded, region))
}

/// Rounds until nothing is left to exchange (with `force`, after asking every
/// document for a round, to pull what the server has). Returns the rounds made.
pub async fn sync_until_quiet(
    endpoint: &Endpoint,
    docs: &mut [LocalDoc],
    force: bool,
    max_rounds: usize,
    key_prefix: &str,
) -> Result<usize, RoundError> {
    if force {
        for local in docs.iter_mut() {
            local.sync.request_round();
        }
    }
    for round in 0..max_rounds {
        let outcome = batch_round(endpoint, docs, &format!("{key_prefix}-{round}")).await?;
        if outcome.sent == 0 {
            return Ok(round);
        }
        if let Some((doc, code)) = outcome.entry_errors.first() {
            return Err(RoundError::BadAnswer(format!("document {doc}: {code}")));
        }
    }
    Err(RoundError::BadAnswer(format!("still exchanging after {max_rounds} rounds")))
}

/// Mints a development token at a region (`--dev`): `read` and `write` patterns.
pub async fn dev_token(
    http: &reqwest::Client,
    region_url: &str,
    sub: &str,
    read: &[&str],
    write: &[&str],
    ttl: Duration,
) -> anyhow::Result<String> {
    let response = http
        .post(format!("{region_url}{}", sync_protocol::http::PATH_DEV_TOKEN))
        .json(&serde_json::json!({ "sub": sub, "read": read, "write": write, "ttl_s": ttl.as_secs() }))
        .timeout(Duration::from_secs(10))
        .send()
        .await?;
    let status = response.status();
    let body: serde_json::Value = response.json().await?;
    anyhow::ensure!(status.is_success(), "{region_url}: dev token refused ({status}): {body}");
    body["token"].as_str().map(str::to_owned).ok_or_else(|| anyhow::anyhow!("no token in {body}"))
}
