//! The stateless server side of one sync round (PROTOCOL.md, "Per-document sync").
//!
//! Every round starts from a fresh automerge `State` seeded with the hashes of the
//! client's `have[0].last_sync` that this server holds, so any region or instance
//! can answer any round and nothing is remembered per client.

use automerge::sync::{Message, State, SyncDoc};
use automerge::{Automerge, AutomergeError, Change, ChangeHash, ReadDoc};

use crate::document::has_change;
use crate::error::{ApiError, ErrorCode};

/// What the requester may do to the document in this round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoundAccess {
    /// Changes in the request are applied.
    ReadWrite,
    /// Changes in the request are ignored and the reply carries automerge's
    /// read-only flag, so a well-behaved client stops sending them.
    ReadOnly,
}

/// The outcome of [`serve_round`].
#[derive(Debug)]
pub struct RoundResult {
    /// The answer to send back; present in every round (a fresh state always answers).
    pub reply: Message,
    /// Changes this round added to the document, in causal order. The server must make
    /// them durable before sending `reply`.
    pub applied: Vec<Change>,
    pub heads_before: Vec<ChangeHash>,
    pub heads_after: Vec<ChangeHash>,
    /// The request carried changes that were not applied because of [`RoundAccess::ReadOnly`].
    pub ignored_changes: bool,
    /// After this round the requester and this document have identical heads.
    pub requester_in_sync: bool,
    /// The document now queues changes whose dependencies it lacks (they are not in
    /// `applied`, not durable, and a stateless server should not keep them: clients resend).
    pub has_orphans: bool,
}

impl RoundResult {
    pub fn changed(&self) -> bool {
        !self.applied.is_empty()
    }
}

/// Most hash probes a bloom filter may ask for (automerge uses 7).
const MAX_BLOOM_PROBES: u64 = 64;

/// Decodes one automerge sync message from untrusted bytes.
pub fn decode_message(bytes: &[u8]) -> Result<Message, ApiError> {
    let message = Message::decode(bytes)
        .map_err(|e| ApiError::new(ErrorCode::MalformedMessage, format!("invalid automerge sync message: {e}")))?;
    check_bloom_filters(&message)?;
    Ok(message)
}

/// Automerge 0.12 trusts a bloom filter's parameters from the wire: a filter with
/// entries but no bits divides by zero when probed, and a huge probe count
/// allocates without bound (both found by fuzzing). Refuse them before use.
fn check_bloom_filters(message: &Message) -> Result<(), ApiError> {
    let bad = |why: &str| ApiError::new(ErrorCode::MalformedMessage, format!("invalid bloom filter in sync message: {why}"));
    for have in &message.have {
        let bytes = have.bloom.to_bytes();
        if bytes.is_empty() {
            continue; // an empty filter
        }
        let mut rest = bytes.as_slice();
        let mut fields = [0u64; 3];
        for field in &mut fields {
            let (value, after) = crate::leb128::read(rest).map_err(|_| bad("truncated header"))?;
            *field = value;
            rest = after;
        }
        let [_entries, _bits_per_entry, probes] = fields;
        if rest.is_empty() {
            return Err(bad("entries but no bits"));
        }
        if probes > MAX_BLOOM_PROBES {
            return Err(bad("too many probes"));
        }
    }
    Ok(())
}

/// Answers one sync message against `doc`, statelessly.
///
/// On `Err` the document may have applied part of the message (automerge loads the
/// valid prefix of a damaged change list); those changes are valid and hash-checked,
/// but the caller must either persist them (see [`changes_since`]) or discard `doc`.
pub fn serve_round(doc: &mut Automerge, request: Message, access: RoundAccess) -> Result<RoundResult, RoundError> {
    let heads_before = doc.get_heads();
    let mut request_heads = request.heads.clone();
    request_heads.sort_unstable();
    let ignored_changes = access == RoundAccess::ReadOnly && !request.changes.is_empty();

    let mut state = match access {
        RoundAccess::ReadWrite => State::new(),
        RoundAccess::ReadOnly => State::new_read_only(),
    };
    // Keep the bloom filter in our answer small: only changes since the last point
    // the client says it shared with a server, as far as this server knows it.
    if let Some(have) = request.have.first() {
        state.shared_heads = have.last_sync.iter().copied().filter(|h| has_change(doc, h)).collect();
        state.shared_heads.sort_unstable();
    }
    doc.receive_sync_message(&mut state, request)?;

    // The client's bloom filter describes changes since its `last_sync`. If we still
    // lack some of those hashes (the client last synced with a region that is ahead of
    // us), the filter is meaningless here and automerge would answer with a reset that
    // makes the client resend its whole document. Instead answer only explicit needs
    // plus our own bloom filter: the client then sends exactly what we lack, and the
    // next round (now knowing `last_sync`) sends what it lacks.
    let last_sync_unknown = state
        .their_have
        .as_ref()
        .and_then(|haves| haves.first())
        .is_some_and(|have| !have.last_sync.iter().all(|h| has_change(doc, h)));
    if last_sync_unknown {
        state.their_have = Some(Vec::new());
    }

    let reply = match doc.generate_sync_message(&mut state) {
        Some(reply) => reply,
        // A fresh state has never responded, so automerge always produces a message.
        None => return Err(RoundError::NoReply),
    };
    let heads_after = doc.get_heads();
    let applied = if heads_after == heads_before { Vec::new() } else { doc.get_changes(&heads_before) };
    let has_orphans = !doc.get_missing_deps(&[]).is_empty();
    Ok(RoundResult {
        reply,
        requester_in_sync: heads_after == request_heads,
        applied,
        heads_before,
        heads_after,
        ignored_changes,
        has_orphans,
    })
}

/// Why a round failed.
#[derive(Debug, thiserror::Error)]
pub enum RoundError {
    #[error("the sync message's changes could not be applied: {0}")]
    Apply(#[from] AutomergeError),
    #[error("automerge produced no reply for a fresh sync state")]
    NoReply,
}

impl RoundError {
    pub fn to_api_error(&self) -> ApiError {
        match self {
            Self::Apply(_) => ApiError::new(ErrorCode::MalformedMessage, self.to_string()),
            Self::NoReply => ApiError::new(ErrorCode::Internal, self.to_string()),
        }
    }
}

/// Changes of `doc` that are not ancestors of `heads` (all of which `doc` must hold):
/// what a round applied before it failed.
pub fn changes_since(doc: &Automerge, heads: &[ChangeHash]) -> Vec<Change> {
    doc.get_changes(heads)
}
