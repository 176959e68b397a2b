//! `ClientSync`: the client side of EdgeSync rounds for one document, used by the
//! SDK and by regions replicating to their peers.
//!
//! It wraps automerge's sync `State` with what a request/response protocol over
//! stateless, interchangeable servers needs:
//! - a failed request is rolled back, so its changes are offered again;
//! - after every reply the record of "changes already sent" is dropped, because the
//!   next round may reach a server that never saw them (or forgot queued ones);
//! - the next message is prepared while handling a reply, so the caller learns at
//!   once whether another round is needed;
//! - replies prove durability: every change below a reply's heads is stored at a
//!   server, and `ClientSync` tracks that frontier.

use automerge::sync::{Message, State};
use automerge::ChangeHash;

use crate::document::SyncDocument;
use crate::leb128;

/// How many acknowledged heads are remembered; older ones only make a change look
/// unacknowledged until the next round, never the reverse.
const MAX_ACK_FRONTIER: usize = 32;
const SAVED_FORMAT: u8 = 1;

/// Per-document client sync state. Cheap to create; persist it with [`ClientSync::save`].
#[derive(Debug, Clone, Default)]
pub struct ClientSync {
    state: State,
    /// The state before the request now in flight, to roll back to if it fails.
    in_flight: Option<State>,
    /// The message prepared while handling the last reply.
    prepared: Option<Prepared>,
    /// Heads (known locally) below which every change is durable at some server.
    acknowledged: Vec<ChangeHash>,
    force_round: bool,
}

#[derive(Debug, Clone)]
struct Prepared {
    heads: Vec<ChangeHash>,
    state_after: State,
    message: Message,
}

/// What a reply did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyOutcome {
    /// The reply carried changes that moved the local document.
    pub doc_changed: bool,
    /// The reply's heads that are held locally: these and all their ancestors are
    /// durable at the server that answered.
    pub acknowledged: Vec<ChangeHash>,
    /// Another round is needed now (the server lacks changes or we lack some).
    pub needs_another_round: bool,
    /// The server applies no changes from this client (read-only access).
    pub server_read_only: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientSyncError {
    #[error("the server's sync message could not be applied: {0}")]
    Apply(#[from] automerge::AutomergeError),
    #[error("saved sync state is invalid: {0}")]
    BadSavedState(&'static str),
}

impl ClientSync {
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks for a round even if the document looks in sync, e.g. after a watch
    /// reported that the server has new changes.
    pub fn request_round(&mut self) {
        self.force_round = true;
    }

    /// Whether a request is outstanding.
    pub fn is_in_flight(&self) -> bool {
        self.in_flight.is_some()
    }

    /// The next message to send, or `None` when there is nothing to exchange.
    /// The message is then in flight: answer with [`Self::receive_reply`] or
    /// [`Self::request_failed`].
    pub fn next_request<D: SyncDocument + ?Sized>(&mut self, doc: &mut D) -> Option<Message> {
        if let Some(prepared) = self.prepared.take()
            && !self.force_round
            && doc.heads() == prepared.heads
        {
            self.in_flight = Some(std::mem::replace(&mut self.state, prepared.state_after));
            return Some(prepared.message);
        }
        let before = self.state.clone();
        let forced = std::mem::take(&mut self.force_round);
        if forced {
            // Automerge stays silent when it believes the peer is up to date.
            self.state.have_responded = false;
        }
        match doc.generate(&mut self.state) {
            Some(message) if forced || worth_sending(&before, &message) => {
                self.in_flight = Some(before);
                Some(message)
            }
            _ => {
                self.state = before;
                None
            }
        }
    }

    /// Like [`Self::next_request`], encoded for the wire.
    pub fn next_request_bytes<D: SyncDocument + ?Sized>(&mut self, doc: &mut D) -> Option<Vec<u8>> {
        self.next_request(doc).map(Message::encode)
    }

    /// The request got no (usable) answer: forget it was sent, so the next request
    /// carries the same changes again (possibly to another region).
    pub fn request_failed(&mut self) {
        if let Some(before) = self.in_flight.take() {
            self.state = before;
        }
        self.prepared = None;
    }

    /// Applies the server's reply to `doc`.
    pub fn receive_reply<D: SyncDocument + ?Sized>(
        &mut self,
        doc: &mut D,
        reply: Message,
    ) -> Result<ReplyOutcome, ClientSyncError> {
        let heads_before = doc.heads();
        let reply_heads = reply.heads.clone();
        let rollback = self.in_flight.take().unwrap_or_else(|| self.state.clone());
        if let Err(e) = doc.receive(&mut self.state, reply) {
            self.state = rollback;
            self.prepared = None;
            return Err(e.into());
        }
        // The next round may reach a server that never saw what we sent (another
        // region, or this one after forgetting queued changes): offer it all again.
        self.state.sent_hashes.clear();
        let heads_after = doc.heads();

        let acknowledged: Vec<_> = reply_heads.iter().copied().filter(|h| doc.has_change(h)).collect();
        self.extend_acknowledged(&acknowledged, &heads_after);

        let mut probe = self.state.clone();
        self.prepared = doc
            .generate(&mut probe)
            .filter(|message| worth_sending(&self.state, message))
            .map(|message| Prepared { heads: heads_after.clone(), state_after: probe, message });

        Ok(ReplyOutcome {
            doc_changed: heads_after != heads_before,
            acknowledged,
            needs_another_round: self.prepared.is_some(),
            server_read_only: self.state.peer_read_only,
        })
    }

    /// Like [`Self::receive_reply`], from wire bytes.
    pub fn receive_reply_bytes<D: SyncDocument + ?Sized>(
        &mut self,
        doc: &mut D,
        reply: &[u8],
    ) -> Result<ReplyOutcome, crate::ApiError> {
        let message = crate::server::decode_message(reply).inspect_err(|_| self.request_failed())?;
        self.receive_reply(doc, message)
            .map_err(|e| crate::ApiError::new(crate::ErrorCode::MalformedMessage, e.to_string()))
    }

    /// Heads below which every change is known to be durable at some server.
    pub fn acknowledged_heads(&self) -> &[ChangeHash] {
        &self.acknowledged
    }

    /// Local changes not yet known to be durable at any server.
    pub fn unacknowledged_changes<D: SyncDocument + ?Sized>(&self, doc: &mut D) -> Vec<ChangeHash> {
        doc.changes_not_covered_by(&self.acknowledged)
    }

    fn extend_acknowledged(&mut self, acknowledged: &[ChangeHash], doc_heads: &[ChangeHash]) {
        if doc_heads.iter().all(|h| acknowledged.contains(h)) {
            // Everything we hold is durable: the frontier collapses to our heads.
            self.acknowledged = doc_heads.to_vec();
            return;
        }
        for head in acknowledged {
            if !self.acknowledged.contains(head) {
                self.acknowledged.push(*head);
            }
        }
        let excess = self.acknowledged.len().saturating_sub(MAX_ACK_FRONTIER);
        self.acknowledged.drain(..excess);
    }

    /// What survives a restart: the last shared heads (keeps the first bloom filter
    /// small) and the acknowledged frontier.
    pub fn save(&self) -> Vec<u8> {
        let mut out = vec![SAVED_FORMAT];
        for hashes in [&self.state.shared_heads, &self.acknowledged] {
            leb128::write(&mut out, hashes.len() as u64);
            for hash in hashes.iter() {
                out.extend_from_slice(&hash.0);
            }
        }
        out
    }

    /// Restores what [`Self::save`] wrote.
    pub fn load(saved: &[u8]) -> Result<Self, ClientSyncError> {
        let Some((&SAVED_FORMAT, mut rest)) = saved.split_first() else {
            return Err(ClientSyncError::BadSavedState("unknown format"));
        };
        let mut lists = [Vec::new(), Vec::new()];
        for list in &mut lists {
            let (count, after) = leb128::read(rest).map_err(|_| ClientSyncError::BadSavedState("bad length"))?;
            let count = usize::try_from(count).map_err(|_| ClientSyncError::BadSavedState("bad length"))?;
            let bytes = count.checked_mul(32).filter(|n| *n <= after.len());
            let Some(bytes) = bytes else {
                return Err(ClientSyncError::BadSavedState("truncated"));
            };
            *list = after[..bytes]
                .chunks_exact(32)
                .filter_map(|chunk| ChangeHash::try_from(chunk).ok())
                .collect();
            rest = &after[bytes..];
        }
        if !rest.is_empty() {
            return Err(ClientSyncError::BadSavedState("trailing bytes"));
        }
        let [shared_heads, acknowledged] = lists;
        let mut sync = Self::new();
        sync.state.shared_heads = shared_heads;
        sync.acknowledged = acknowledged;
        Ok(sync)
    }
}

/// Whether a generated message can teach the server anything. Automerge keeps
/// answering a peer whose heads differ from ours even when it has nothing to give
/// it (a read-only server): those rounds would repeat forever.
fn worth_sending(state_before: &State, message: &Message) -> bool {
    let Some(their_heads) = &state_before.their_heads else {
        return true; // first round: the server must learn our heads and filter
    };
    !message.changes.is_empty()
        || !message.need.is_empty()
        || (!state_before.peer_read_only && *their_heads != message.heads)
}
