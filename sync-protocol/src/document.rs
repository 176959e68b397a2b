//! The few document operations the protocol needs, over both automerge document types,
//! so the SDK may hold an `AutoCommit` while servers hold an `Automerge`.

use automerge::sync::{Message, State, SyncDoc};
use automerge::{AutoCommit, Automerge, AutomergeError, ChangeHash};

/// A document that can take part in EdgeSync rounds.
pub trait SyncDocument {
    fn heads(&mut self) -> Vec<ChangeHash>;
    /// Whether the change is applied (not merely queued waiting for its dependencies).
    fn has_change(&mut self, hash: &ChangeHash) -> bool;
    /// Hashes of the applied changes that are not ancestors of `heads` (unknown heads are ignored).
    fn changes_not_covered_by(&mut self, heads: &[ChangeHash]) -> Vec<ChangeHash>;
    fn generate(&mut self, state: &mut State) -> Option<Message>;
    fn receive(&mut self, state: &mut State, message: Message) -> Result<(), AutomergeError>;
}

impl SyncDocument for Automerge {
    fn heads(&mut self) -> Vec<ChangeHash> {
        self.get_heads()
    }

    fn has_change(&mut self, hash: &ChangeHash) -> bool {
        has_change(self, hash)
    }

    fn changes_not_covered_by(&mut self, heads: &[ChangeHash]) -> Vec<ChangeHash> {
        changes_not_covered_by(self, heads)
    }

    fn generate(&mut self, state: &mut State) -> Option<Message> {
        self.generate_sync_message(state)
    }

    fn receive(&mut self, state: &mut State, message: Message) -> Result<(), AutomergeError> {
        self.receive_sync_message(state, message)
    }
}

impl SyncDocument for AutoCommit {
    fn heads(&mut self) -> Vec<ChangeHash> {
        self.get_heads()
    }

    fn has_change(&mut self, hash: &ChangeHash) -> bool {
        has_change(self.document(), hash)
    }

    fn changes_not_covered_by(&mut self, heads: &[ChangeHash]) -> Vec<ChangeHash> {
        // `document()` commits any open transaction first, so pending edits count.
        changes_not_covered_by(self.document(), heads)
    }

    fn generate(&mut self, state: &mut State) -> Option<Message> {
        self.sync().generate_sync_message(state)
    }

    fn receive(&mut self, state: &mut State, message: Message) -> Result<(), AutomergeError> {
        self.sync().receive_sync_message(state, message)
    }
}

/// Whether `doc` has applied the change; a metadata lookup, so cheap even for huge changes.
pub fn has_change(doc: &Automerge, hash: &ChangeHash) -> bool {
    doc.get_change_meta_by_hash(hash).is_some()
}

fn changes_not_covered_by(doc: &Automerge, heads: &[ChangeHash]) -> Vec<ChangeHash> {
    let known: Vec<_> = heads.iter().copied().filter(|h| has_change(doc, h)).collect();
    doc.get_changes_meta(&known).iter().map(|c| c.hash).collect()
}
