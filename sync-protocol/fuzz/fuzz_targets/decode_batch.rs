//! Untrusted request bytes all the way through a server: the batch envelope, each
//! entry's automerge sync message, and a stateless round against a document.
//! Nothing may panic; whatever decodes must re-encode to an equal batch.
#![no_main]

use automerge::transaction::Transactable;
use automerge::Automerge;
use libfuzzer_sys::fuzz_target;
use sync_protocol::{decode_message, serve_round, RoundAccess, SyncBatchRequest, SyncBatchResponse};

fn small_doc() -> Automerge {
    let mut doc = Automerge::new().with_actor(automerge::ActorId::from(vec![1; 16]));
    let mut tx = doc.transaction();
    let _ = tx.put(automerge::ROOT, "k", 1);
    tx.commit_with(automerge::transaction::CommitOptions::default().with_time(0));
    doc
}

fuzz_target!(|data: &[u8]| {
    if let Ok(batch) = SyncBatchRequest::decode(data) {
        assert_eq!(SyncBatchRequest::decode(&batch.encode()).as_ref(), Ok(&batch));
        for entry in batch.entries.iter().take(4) {
            if let Ok(message) = decode_message(&entry.message) {
                let mut doc = small_doc();
                let _ = serve_round(&mut doc, message, RoundAccess::ReadWrite);
            }
        }
    }
    if let Ok(batch) = SyncBatchResponse::decode(data) {
        let _ = batch.encode();
    }
    // Bare automerge messages, as the single-document endpoint receives them.
    if let Ok(message) = decode_message(data) {
        let mut doc = small_doc();
        let _ = serve_round(&mut doc, message, RoundAccess::ReadOnly);
    }
});
