//! The HTTP API (PROTOCOL.md, "HTTP endpoints").

mod error;
mod ops;
mod sync;
pub mod watch;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use sync_protocol::http as paths;
use sync_protocol::{Claims, ErrorCode};
use tokio_util::sync::CancellationToken;
use tower_http::cors::{AllowOrigin, CorsLayer};

pub use error::HttpError;

use crate::auth::{Authenticator, Identity};
use crate::docs::DocService;
use crate::metrics::{Metrics, RequestLabels, RouteLabels};
use crate::replication::Replication;

/// Everything a handler needs.
pub struct App {
    pub region: String,
    pub docs: Arc<DocService>,
    pub auth: Authenticator,
    pub metrics: Arc<Metrics>,
    pub replication: Arc<Replication>,
    /// Cancelled at shutdown: long-polls answer at once.
    pub shutdown: CancellationToken,
}

pub fn authenticate(state: &App, headers: &HeaderMap) -> Result<Identity, HttpError> {
    let header = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    Ok(state.auth.verify_header(header)?)
}

pub fn require_client(identity: &Identity) -> Result<&Claims, HttpError> {
    match identity {
        Identity::Client(claims) => Ok(claims),
        Identity::Region(_) => {
            Err(HttpError::new(ErrorCode::Unauthenticated, "replication tokens are not accepted on client endpoints"))
        }
    }
}

pub fn require_region(identity: &Identity) -> Result<&str, HttpError> {
    match identity {
        Identity::Region(name) => Ok(name),
        Identity::Client(_) => {
            Err(HttpError::new(ErrorCode::Unauthenticated, "this endpoint needs a replication token"))
        }
    }
}

/// CORS: any origin in development mode, else the configured list.
pub fn cors_layer(dev: bool, origins: &[String]) -> anyhow::Result<Option<CorsLayer>> {
    let allow_origin = if dev {
        AllowOrigin::mirror_request()
    } else if origins.is_empty() {
        return Ok(None);
    } else {
        let values = origins
            .iter()
            .map(|o| HeaderValue::from_str(o.trim()).map_err(|e| anyhow::anyhow!("invalid CORS origin {o:?}: {e}")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        AllowOrigin::list(values)
    };
    Ok(Some(
        CorsLayer::new()
            .allow_origin(allow_origin)
            .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static(paths::HEADER_IDEMPOTENCY_KEY),
            ])
            .expose_headers([HeaderName::from_static(paths::HEADER_REGION)])
            .max_age(std::time::Duration::from_secs(600)),
    ))
}

pub fn router(state: Arc<App>, max_body_bytes: usize, dev: bool, cors: Option<CorsLayer>) -> Router {
    let mut router = Router::new()
        .route(paths::PATH_SYNC_BATCH, post(sync::batch))
        .route(paths::PATH_DOC_SYNC_TEMPLATE, post(sync::single))
        .route(paths::PATH_REPLICATE, post(sync::replicate))
        .route(paths::PATH_WATCH, post(watch::watch))
        .route(paths::PATH_STATUS, get(ops::status))
        .route(paths::PATH_HEALTHZ, get(ops::healthz))
        .route(paths::PATH_READYZ, get(ops::readyz))
        .route(paths::PATH_METRICS, get(ops::metrics));
    if dev {
        router = router.route(paths::PATH_DEV_TOKEN, post(ops::dev_token));
    }
    let mut router = router
        .fallback(|| async { HttpError::new(ErrorCode::NotFound, "no such endpoint") })
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(state.clone(), observe));
    if let Some(cors) = cors {
        router = router.layer(cors);
    }
    router.with_state(state)
}

fn route_label(path: Option<&str>) -> &'static str {
    match path {
        Some(paths::PATH_SYNC_BATCH) => "sync",
        Some(paths::PATH_DOC_SYNC_TEMPLATE) => "doc_sync",
        Some(paths::PATH_REPLICATE) => "replicate",
        Some(paths::PATH_WATCH) => "watch",
        Some(paths::PATH_STATUS) => "status",
        Some(paths::PATH_HEALTHZ) => "healthz",
        Some(paths::PATH_READYZ) => "readyz",
        Some(paths::PATH_METRICS) => "metrics",
        Some(paths::PATH_DEV_TOKEN) => "dev_token",
        _ => "other",
    }
}

/// Metrics per route, the region header, and a log line per failed request.
async fn observe(State(state): State<Arc<App>>, request: Request, next: Next) -> Response {
    let route = route_label(request.extensions().get::<MatchedPath>().map(MatchedPath::as_str));
    let method = request.method().clone();
    let started = Instant::now();
    let mut response = next.run(request).await.into_response();
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    state.metrics.requests.get_or_create(&RequestLabels { route, status }).inc();
    state.metrics.request_seconds.get_or_create(&RouteLabels { route }).observe(elapsed.as_secs_f64());
    if let Ok(value) = HeaderValue::from_str(&state.region) {
        response.headers_mut().insert(HeaderName::from_static(paths::HEADER_REGION), value);
    }
    if status >= 500 {
        tracing::warn!(%method, route, status, ms = elapsed.as_millis() as u64, "request failed");
    } else {
        tracing::debug!(%method, route, status, ms = elapsed.as_millis() as u64, "request");
    }
    response
}
