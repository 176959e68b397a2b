//! Sync endpoints: the batch, the single document, and region-to-region replication.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use futures_util::future::join_all;
use sync_protocol::http::{CONTENT_TYPE_BATCH, CONTENT_TYPE_SYNC_MESSAGE};
use sync_protocol::{
    decode_message, serve_round, Access, ApiError, DocId, DocReply, ErrorCode, RoundAccess, SyncBatchRequest,
    SyncBatchResponse,
};

use super::error::{body_error, doc_error, HttpError};
use super::{authenticate, require_client, require_region, App};

/// Who is syncing, which decides access and bookkeeping.
#[derive(Clone, Copy)]
enum Requester<'a> {
    Client(&'a sync_protocol::Claims),
    Region(&'a str),
}

fn check_content_type(headers: &HeaderMap, expected: &str) -> Result<(), HttpError> {
    let actual = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = actual.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case(expected) {
        Ok(())
    } else {
        Err(HttpError::new(
            ErrorCode::UnsupportedMediaType,
            format!("expected Content-Type {expected}, got {actual:?}"),
        ))
    }
}

/// One document's round; errors are per document.
async fn sync_one(state: &App, requester: Requester<'_>, doc: &DocId, message: &[u8]) -> Result<Vec<u8>, ApiError> {
    let access = match requester {
        Requester::Region(_) => RoundAccess::ReadWrite,
        Requester::Client(claims) => match claims.access(doc) {
            Access::Write => RoundAccess::ReadWrite,
            Access::Read => RoundAccess::ReadOnly,
            Access::None => {
                return Err(ApiError::new(ErrorCode::Forbidden, format!("the token grants no access to document {doc}")));
            }
        },
    };
    let message = decode_message(message)?;
    let updated = state.docs.update(doc, |d| serve_round(d, message, access)).await.map_err(|e| doc_error(&e))?;
    let result = match updated.value {
        Ok(result) => result,
        Err(e) => {
            tracing::warn!(%doc, error = %e, "sync round rejected");
            return Err(e.to_api_error());
        }
    };
    match requester {
        Requester::Client(_) => state.metrics.round("client"),
        Requester::Region(peer) => {
            state.metrics.round("replication_in");
            if result.requester_in_sync {
                state.replication.peer_holds(peer, doc, updated.seq);
            }
        }
    }
    if result.ignored_changes {
        tracing::debug!(%doc, "ignored changes from a read-only requester");
    }
    Ok(result.reply.encode())
}

async fn sync_batch(state: &App, requester: Requester<'_>, headers: &HeaderMap, body: Bytes) -> Result<Response, HttpError> {
    check_content_type(headers, CONTENT_TYPE_BATCH)?;
    state.metrics.bytes("in", body.len());
    let request = SyncBatchRequest::decode(&body).map_err(|e| HttpError(e.to_api_error()))?;
    // Rounds of different documents run concurrently, so their writes share commits.
    let entries = join_all(request.entries.iter().map(|entry| async move {
        DocReply { doc: entry.doc.clone(), outcome: sync_one(state, requester, &entry.doc, &entry.message).await }
    }))
    .await;
    // If storage failed for every document, say so with a status the edge retries elsewhere.
    if !entries.is_empty()
        && entries.iter().all(|e| matches!(&e.outcome, Err(err) if err.code == ErrorCode::Unavailable))
        && let Some(Err(first)) = entries.first().map(|e| &e.outcome)
    {
        return Err(HttpError(first.clone()));
    }
    let body = SyncBatchResponse { entries }.encode();
    state.metrics.bytes("out", body.len());
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE_BATCH)], body).into_response())
}

/// `POST /v1/sync`
pub async fn batch(
    State(state): State<Arc<super::App>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, HttpError> {
    let identity = authenticate(&state, &headers)?;
    let claims = require_client(&identity)?;
    let body = body.map_err(body_error)?;
    sync_batch(&state, Requester::Client(claims), &headers, body).await
}

/// `POST /v1/replicate`
pub async fn replicate(
    State(state): State<Arc<super::App>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, HttpError> {
    let identity = authenticate(&state, &headers)?;
    let peer = require_region(&identity)?;
    let body = body.map_err(body_error)?;
    sync_batch(&state, Requester::Region(peer), &headers, body).await
}

/// `POST /v1/docs/{doc_id}/sync`
pub async fn single(
    State(state): State<Arc<super::App>>,
    Path(doc_id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, HttpError> {
    let identity = authenticate(&state, &headers)?;
    let claims = require_client(&identity)?;
    let doc = DocId::parse(&doc_id).map_err(|e| HttpError::new(ErrorCode::InvalidDocId, e.to_string()))?;
    let body = body.map_err(body_error)?;
    check_content_type(&headers, CONTENT_TYPE_SYNC_MESSAGE)?;
    state.metrics.bytes("in", body.len());
    let reply = sync_one(&state, Requester::Client(claims), &doc, &body).await?;
    state.metrics.bytes("out", reply.len());
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE_SYNC_MESSAGE)], reply).into_response())
}
