//! `POST /v1/watch`: long-poll until a listed document has changes the client lacks.

use std::sync::Arc;
use std::time::Duration;

use automerge::{Automerge, ChangeHash};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use futures_util::future::select_all;
use sync_protocol::{DocId, ErrorCode, WatchRequest, WatchResponse};

use super::error::{body_error, HttpError};
use super::{authenticate, require_client, App};

/// Whether `doc` holds a change that is not below the client's `heads`.
///
/// When the client holds heads this region lacks (it is ahead of us), the history
/// cannot be compared, so the answer is "no" until this region learns those
/// changes (from the client's next round or from replication, which wakes the
/// watch): a spurious "yes" would make the client poll in a loop instead.
pub fn has_changes_beyond(doc: &Automerge, heads: &[ChangeHash]) -> bool {
    let mut ours = doc.get_heads();
    ours.sort_unstable();
    let mut theirs = heads.to_vec();
    theirs.sort_unstable();
    theirs.dedup();
    // Known client heads are inside our history; if they all are and differ from
    // our heads, we hold more than the client.
    ours != theirs && theirs.iter().all(|h| sync_protocol::document::has_change(doc, h))
}

struct WatchGauge<'a>(&'a prometheus_client::metrics::gauge::Gauge);

impl Drop for WatchGauge<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

pub async fn watch(
    State(state): State<Arc<App>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<WatchResponse>, HttpError> {
    let identity = authenticate(&state, &headers)?;
    let claims = require_client(&identity)?;
    let body = body.map_err(body_error)?;
    let request = WatchRequest::from_json(&body)?;
    if let Some(doc) = request.docs.keys().find(|doc| !claims.can_read(doc)) {
        return Err(HttpError::new(ErrorCode::Forbidden, format!("the token grants no access to document {doc}")));
    }
    state.metrics.watches_open.inc();
    let _gauge = WatchGauge(&state.metrics.watches_open);

    // Subscribe before looking, so a change landing in between still wakes us.
    let mut receivers: Vec<(DocId, tokio::sync::watch::Receiver<u64>)> =
        request.docs.keys().map(|doc| (doc.clone(), state.docs.subscribe(doc))).collect();
    let deadline = tokio::time::Instant::now() + Duration::from_millis(request.wait_ms);
    let mut to_check: Vec<DocId> = request.docs.keys().cloned().collect();
    loop {
        let mut changed = Vec::new();
        for doc in &to_check {
            let heads = &request.docs[doc];
            if state.docs.read(doc, |d| has_changes_beyond(d, heads)).await? {
                changed.push(doc.clone());
            }
        }
        if !changed.is_empty() {
            return Ok(Json(WatchResponse { changed }));
        }
        let woke = {
            let waits = receivers.iter_mut().map(|(_, rx)| Box::pin(rx.changed()));
            tokio::select! {
                (result, index, _) = select_all(waits) => result.ok().map(|_| index),
                _ = tokio::time::sleep_until(deadline) => None,
                _ = state.shutdown.cancelled() => None,
            }
        };
        let Some(index) = woke else {
            return Ok(Json(WatchResponse::default()));
        };
        receivers[index].1.borrow_and_update();
        to_check = vec![receivers[index].0.clone()];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::transaction::Transactable;

    fn edit(doc: &mut Automerge, key: &str) {
        let mut tx = doc.transaction();
        tx.put(automerge::ROOT, key, 1).unwrap();
        tx.commit();
    }

    #[test]
    fn detects_changes_beyond_client_heads() {
        let mut server = Automerge::new();
        edit(&mut server, "a");
        let mut client = server.fork();
        assert!(!has_changes_beyond(&server, &client.get_heads()));
        assert!(has_changes_beyond(&server, &[]));
        edit(&mut server, "b");
        assert!(has_changes_beyond(&server, &client.get_heads()));
        // The client is only ahead: no wake-up.
        let mut ahead = server.fork();
        edit(&mut ahead, "d");
        assert!(!has_changes_beyond(&server, &ahead.get_heads()));
        // Ahead and behind: reported once the server holds the client's change.
        edit(&mut client, "c");
        assert!(!has_changes_beyond(&server, &client.get_heads()));
        server.merge(&mut client).unwrap();
        let mut stale = client.fork();
        edit(&mut server, "e");
        assert!(has_changes_beyond(&server, &stale.get_heads()));
        stale.merge(&mut server).unwrap();
        assert!(!has_changes_beyond(&server, &stale.get_heads()));
    }
}
