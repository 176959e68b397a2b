//! Health, readiness, metrics, status and the development token endpoint.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use sync_protocol::ErrorCode;

use super::error::HttpError;
use super::App;
use crate::auth::DevTokenRequest;

pub async fn healthz() -> &'static str {
    "ok\n"
}

pub async fn readyz(State(state): State<Arc<App>>) -> Response {
    if state.shutdown.is_cancelled() {
        return HttpError::new(ErrorCode::Unavailable, "shutting down").into_response();
    }
    let store = state.docs.store().clone();
    match tokio::task::spawn_blocking(move || store.check_writable()).await {
        Ok(Ok(())) => (StatusCode::OK, "ready\n").into_response(),
        Ok(Err(e)) => HttpError::new(ErrorCode::Unavailable, format!("storage is not writable: {e}")).into_response(),
        Err(e) => HttpError::new(ErrorCode::Unavailable, format!("storage check failed: {e}")).into_response(),
    }
}

pub async fn metrics(State(state): State<Arc<App>>) -> Response {
    state.replication.update_metrics();
    state.metrics.docs_cached.set(state.docs.cached_docs() as i64);
    (
        [(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
        state.metrics.encode(),
    )
        .into_response()
}

pub async fn status(State(state): State<Arc<App>>) -> Result<Json<serde_json::Value>, HttpError> {
    let store = state.docs.store().clone();
    let stats = tokio::task::spawn_blocking(move || store.stats())
        .await
        .map_err(|e| HttpError::new(ErrorCode::Internal, e.to_string()))?
        .map_err(|e| HttpError::new(ErrorCode::Unavailable, e.to_string()))?;
    Ok(Json(serde_json::json!({
        "region": state.region,
        "storage": stats,
        "cached_docs": state.docs.cached_docs(),
        "peers": state.replication.status(),
    })))
}

pub async fn dev_token(State(state): State<Arc<App>>, body: Bytes) -> Result<Json<serde_json::Value>, HttpError> {
    let request: DevTokenRequest = serde_json::from_slice(&body)
        .map_err(|e| HttpError::new(ErrorCode::MalformedMessage, format!("invalid token request: {e}")))?;
    match state.auth.mint_dev_token(request) {
        Some(Ok(token)) => Ok(Json(serde_json::json!({ "token": token }))),
        Some(Err(e)) => Err(e.into()),
        None => Err(HttpError::new(ErrorCode::NotFound, "development mode is off")),
    }
}
