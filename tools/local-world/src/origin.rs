//! A small HTTP origin for edge tests and benchmarks: answers every method and
//! path with a JSON description of the request and the name of its region, and
//! counts what reached it so a test can prove a request never did.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde::Serialize;

use crate::server::HttpServer;

/// The header naming the origin's region on every answer.
pub const REGION_HEADER: &str = "x-origin-region";
/// Largest request body the origin reads (benchmarks send big bodies).
const BODY_LIMIT_BYTES: usize = 64 * 1024 * 1024;

/// What a request to an [`EchoOrigin`] answers (outside `/healthz`, `/readyz`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct EchoReply {
    pub region: String,
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub body_len: usize,
    /// Request headers as received (values joined with ", "), for proxy hygiene tests.
    pub headers: BTreeMap<String, String>,
}

/// Requests that reached an origin, counted on arrival.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RequestCounts {
    pub total: u64,
    pub per_path: BTreeMap<String, u64>,
}

impl RequestCounts {
    /// Requests to `path` (0 when none).
    pub fn path(&self, path: &str) -> u64 {
        self.per_path.get(path).copied().unwrap_or(0)
    }
}

/// An HTTP status code outside 100..=999.
#[derive(Debug, thiserror::Error)]
#[error("{0} is not an HTTP status code")]
pub struct InvalidStatus(pub u16);

struct OriginState {
    name: String,
    forced_status: Mutex<Option<StatusCode>>,
    delay: Mutex<Duration>,
    total: AtomicU64,
    per_path: Mutex<BTreeMap<String, u64>>,
}

impl OriginState {
    fn record(&self, path: &str) {
        self.total.fetch_add(1, Ordering::Relaxed);
        let mut per_path = self.per_path.lock().unwrap_or_else(PoisonError::into_inner);
        *per_path.entry(path.to_owned()).or_default() += 1;
    }

    fn forced_status(&self) -> Option<StatusCode> {
        *self
            .forced_status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn delay(&self) -> Duration {
        *self.delay.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running echo origin. Dropping it closes the port and every connection,
/// as if the process died.
pub struct EchoOrigin {
    server: HttpServer,
    state: Arc<OriginState>,
}

impl EchoOrigin {
    /// Serves on `listen` (port 0 picks a free port) as region `name`.
    pub async fn start(listen: SocketAddr, name: impl Into<String>) -> io::Result<EchoOrigin> {
        let state = Arc::new(OriginState {
            name: name.into(),
            forced_status: Mutex::new(None),
            delay: Mutex::new(Duration::ZERO),
            total: AtomicU64::new(0),
            per_path: Mutex::new(BTreeMap::new()),
        });
        let router = Router::new()
            .fallback(answer)
            .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
            .with_state(Arc::clone(&state));
        let server = HttpServer::bind(listen, router).await?;
        Ok(EchoOrigin { server, state })
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    pub fn name(&self) -> &str {
        &self.state.name
    }

    /// Forces every answer, health checks included, to `status` (for example
    /// 503); `None` restores normal answers.
    pub fn set_status(&self, status: Option<u16>) -> Result<(), InvalidStatus> {
        let status = status
            .map(|code| StatusCode::from_u16(code).map_err(|_| InvalidStatus(code)))
            .transpose()?;
        *self
            .state
            .forced_status
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = status;
        Ok(())
    }

    /// Waits `delay` before answering each request (processing time).
    pub fn set_delay(&self, delay: Duration) {
        *self
            .state
            .delay
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = delay;
    }

    pub fn requests(&self) -> RequestCounts {
        RequestCounts {
            total: self.state.total.load(Ordering::Relaxed),
            per_path: self
                .state
                .per_path
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        }
    }
}

impl std::fmt::Debug for EchoOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EchoOrigin")
            .field("name", &self.state.name)
            .field("addr", &self.server.addr())
            .finish()
    }
}

async fn answer(
    State(state): State<Arc<OriginState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    state.record(&path);
    let delay = state.delay();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let region =
        HeaderValue::from_str(&state.name).unwrap_or(HeaderValue::from_static("invalid-name"));
    let mut response = if let Some(status) = state.forced_status() {
        let error =
            serde_json::json!({ "region": state.name, "error": "status forced by the test" });
        (status, Json(error)).into_response()
    } else if path == "/healthz" || path == "/readyz" {
        (StatusCode::OK, "ok").into_response()
    } else {
        Json(EchoReply {
            region: state.name.clone(),
            method: method.to_string(),
            path,
            query: uri.query().map(str::to_owned),
            body_len: body.len(),
            headers: header_map(&headers),
        })
        .into_response()
    };
    response.headers_mut().insert(REGION_HEADER, region);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn header_map(headers: &HeaderMap) -> BTreeMap<String, String> {
    let mut map: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes());
        map.entry(name.as_str().to_owned())
            .and_modify(|joined| {
                joined.push_str(", ");
                joined.push_str(&value);
            })
            .or_insert_with(|| value.into_owned());
    }
    map
}
