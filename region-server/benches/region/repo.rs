//! Load against the automerge-repo sync server, speaking its WebSocket protocol
//! (CBOR messages: join/peer handshake, then `sync` messages carrying automerge
//! sync messages per document id) with the same automerge sync state machine.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ciborium::value::Value;
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::load::{Budget, ClientDoc, Measured};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// automerge-repo document ids: bs58check of 16 random bytes.
pub fn new_document_id() -> String {
    bs58::encode(rand::random::<[u8; 16]>()).with_check().into_string()
}

fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

fn encode(pairs: Vec<(&str, Value)>) -> anyhow::Result<Vec<u8>> {
    let map = Value::Map(pairs.into_iter().map(|(k, v)| (text(k), v)).collect());
    let mut out = Vec::new();
    ciborium::into_writer(&map, &mut out)?;
    Ok(out)
}

/// The fields of an incoming message this client cares about.
struct Incoming {
    kind: String,
    sender: Option<String>,
    document_id: Option<String>,
    data: Option<Vec<u8>>,
}

fn decode(bytes: &[u8]) -> anyhow::Result<Incoming> {
    let value: Value = ciborium::from_reader(bytes)?;
    let Value::Map(entries) = value else { anyhow::bail!("message is not a map") };
    let mut incoming = Incoming { kind: String::new(), sender: None, document_id: None, data: None };
    for (key, value) in entries {
        match (key.as_text(), value) {
            (Some("type"), Value::Text(t)) => incoming.kind = t,
            (Some("senderId"), Value::Text(t)) => incoming.sender = Some(t),
            (Some("documentId"), Value::Text(t)) => incoming.document_id = Some(t),
            (Some("data"), Value::Bytes(b)) => incoming.data = Some(b),
            _ => {}
        }
    }
    Ok(incoming)
}

pub struct Worker {
    socket: Socket,
    peer_id: String,
    server_id: String,
    pub docs: Vec<(String, ClientDoc)>,
    index_of: HashMap<String, usize>,
}

impl Worker {
    pub async fn connect(url: &str, worker: usize, docs: Vec<(String, ClientDoc)>) -> anyhow::Result<Self> {
        let (mut socket, _) = tokio_tungstenite::connect_async(url).await?;
        let peer_id = format!("bench-client-{worker}-{}", rand::random::<u32>());
        let join = encode(vec![
            ("type", text("join")),
            ("senderId", text(&peer_id)),
            ("peerMetadata", Value::Map(vec![(text("isEphemeral"), Value::Bool(true))])),
            ("supportedProtocolVersions", Value::Array(vec![text("1")])),
        ])?;
        socket.send(WsMessage::Binary(join.into())).await?;
        let server_id = loop {
            let frame = tokio::time::timeout(Duration::from_secs(10), socket.next())
                .await?
                .ok_or_else(|| anyhow::anyhow!("server closed during handshake"))??;
            if let WsMessage::Binary(bytes) = frame {
                let message = decode(&bytes)?;
                if message.kind == "peer" {
                    break message.sender.ok_or_else(|| anyhow::anyhow!("peer message without senderId"))?;
                }
            }
        };
        let index_of = docs.iter().enumerate().map(|(i, (id, _))| (id.clone(), i)).collect();
        Ok(Self { socket, peer_id, server_id, docs, index_of })
    }

    async fn send(&mut self, index: usize) -> anyhow::Result<bool> {
        let (id, doc) = &mut self.docs[index];
        let Some(message) = doc.sync.next_request_bytes(&mut doc.doc) else {
            return Ok(false);
        };
        let frame = encode(vec![
            ("type", text("sync")),
            ("senderId", text(&self.peer_id)),
            ("targetId", text(&self.server_id)),
            ("documentId", text(id)),
            ("data", Value::Bytes(message)),
        ])?;
        self.socket.send(WsMessage::Binary(frame.into())).await?;
        Ok(true)
    }

    /// Sends the document's changes and reads replies until the server holds them.
    async fn sync(&mut self, index: usize, deadline: Instant) -> anyhow::Result<()> {
        if !self.send(index).await? {
            return Ok(());
        }
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let frame = tokio::time::timeout(remaining.max(Duration::from_millis(1)), self.socket.next())
                .await
                .map_err(|_| anyhow::anyhow!("no acknowledgement before the deadline"))?
                .ok_or_else(|| anyhow::anyhow!("server closed the connection"))??;
            let WsMessage::Binary(bytes) = frame else { continue };
            let message = decode(&bytes)?;
            let (Some(doc_id), Some(data)) = (message.document_id, message.data) else { continue };
            if message.kind != "sync" {
                continue;
            }
            let Some(&at) = self.index_of.get(&doc_id) else { continue };
            let doc = &mut self.docs[at].1;
            let outcome = doc.sync.receive_reply_bytes(&mut doc.doc, &data).map_err(|e| anyhow::anyhow!("{e}"))?;
            if at != index {
                continue;
            }
            if self.docs[index].1.acknowledged() {
                return Ok(());
            }
            if outcome.needs_another_round {
                self.send(index).await?;
            }
        }
    }

    pub async fn warm_up(&mut self, deadline: Instant) -> anyhow::Result<()> {
        for index in 0..self.docs.len() {
            self.docs[index].1.edit();
            self.sync(index, deadline).await?;
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
            match self.sync(index, budget.deadline + Duration::from_secs(10)).await {
                Ok(()) => measured.latencies.push(started.elapsed()),
                Err(_) => measured.errors += 1,
            }
            done += 1;
        }
        measured
    }
}
