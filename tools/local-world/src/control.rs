//! The chaos controls of a [`World`] as JSON over HTTP, for the demo page.
//!
//! Only ever on loopback: the listener must be a loopback address, requests must
//! name a loopback host (no DNS rebinding) and a browser request must come from
//! an allowed page origin (no cross-site request forgery from other pages).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::proxy::Fault;
use crate::server::HttpServer;
use crate::world::{World, WorldError};

const BODY_LIMIT_BYTES: usize = 16 * 1024;

/// A control error as JSON: `{"error": {"code", "message"}}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }
}

impl From<WorldError> for ApiError {
    fn from(error: WorldError) -> Self {
        let (status, code) = match &error {
            WorldError::UnknownRegion(_) => (StatusCode::NOT_FOUND, "unknown_region"),
            WorldError::SelfPartition(_) | WorldError::Config(_) => {
                (StatusCode::BAD_REQUEST, "bad_request")
            }
            WorldError::InvalidState { .. } | WorldError::Interrupted { .. } => {
                (StatusCode::CONFLICT, "invalid_state")
            }
            WorldError::Io { .. } | WorldError::Process(_) | WorldError::Edge(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "failed")
            }
        };
        ApiError::new(status, code, error.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": { "code": self.code, "message": self.message } });
        (self.status, Json(body)).into_response()
    }
}

/// The listener was not a loopback address.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("the control API only listens on loopback, not {0}")]
    NotLoopback(SocketAddr),
    #[error("could not listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// Serves the control API on `listen` (must be loopback), accepting browser
/// requests from `page_origins` (for example `http://127.0.0.1:8787`).
pub async fn serve(
    world: Arc<World>,
    listen: SocketAddr,
    page_origins: &[String],
) -> Result<HttpServer, ControlError> {
    if !listen.ip().is_loopback() {
        return Err(ControlError::NotLoopback(listen));
    }
    HttpServer::bind(listen, router(world, page_origins))
        .await
        .map_err(|source| ControlError::Bind {
            addr: listen,
            source,
        })
}

struct Control {
    world: Arc<World>,
    page_origins: Vec<HeaderValue>,
}

/// The control routes (see the module docs for who may call them).
pub fn router(world: Arc<World>, page_origins: &[String]) -> Router {
    let page_origins: Vec<HeaderValue> = page_origins
        .iter()
        .filter_map(|origin| HeaderValue::from_str(origin.trim_end_matches('/')).ok())
        .collect();
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::list(page_origins.clone()))
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::CONTENT_TYPE])
        .max_age(Duration::from_secs(600));
    let control = Arc::new(Control {
        world,
        page_origins,
    });
    Router::new()
        .route("/control/state", get(state))
        .route("/control/regions/{id}/edge", post(edge_path))
        .route("/control/regions/{id}/{action}", post(region_action))
        .route("/control/partition", post(partition))
        .route("/control/heal", post(heal))
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&control),
            loopback_only,
        ))
        // Outermost, so preflights are answered and errors still carry CORS headers.
        .layer(cors)
        .with_state(control)
}

/// Refuses requests that name a non-loopback host or come from a page that is
/// not the demo.
async fn loopback_only(
    State(control): State<Arc<Control>>,
    request: Request,
    next: Next,
) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if !is_loopback_host(host) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("host {host:?} is not loopback"),
        )
        .into_response();
    }
    if let Some(origin) = request.headers().get(header::ORIGIN)
        && !control.page_origins.contains(origin)
    {
        let origin = String::from_utf8_lossy(origin.as_bytes()).into_owned();
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("origin {origin:?} is not allowed"),
        )
        .into_response();
    }
    next.run(request).await
}

/// `127.0.0.1:8790`, `localhost`, `[::1]:8790`: a loopback name with an optional port.
fn is_loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split_once(']').map(|(inside, _)| inside).unwrap_or("")
    } else {
        host.split_once(':').map_or(host, |(name, _)| name)
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn parse_body<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|error| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("invalid JSON body: {error}"),
        )
    })
}

async fn state(State(control): State<Arc<Control>>) -> Response {
    Json(control.world.state()).into_response()
}

async fn region_action(
    State(control): State<Arc<Control>>,
    Path((id, action)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let world = &control.world;
    match action.as_str() {
        "kill" => world.kill_region(&id)?,
        "restart" => world.restart_region(&id).await?,
        "pause" => world.pause_region(&id).await?,
        "resume" => world.resume_region(&id)?,
        other => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown_action",
                format!("no action {other:?}; use kill, restart, pause or resume"),
            ));
        }
    }
    Ok(Json(world.state()).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EdgePathChange {
    fault: Option<Fault>,
    latency_ms: Option<u64>,
}

/// Latencies above this are typos, not networks.
const MAX_LATENCY_MS: u64 = 60_000;

async fn edge_path(
    State(control): State<Arc<Control>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let change: EdgePathChange = parse_body(&body)?;
    if change.latency_ms.is_some_and(|ms| ms > MAX_LATENCY_MS) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("latency_ms must be at most {MAX_LATENCY_MS}"),
        ));
    }
    let world = &control.world;
    if let Some(fault) = change.fault {
        world.set_edge_fault(&id, fault)?;
    }
    if let Some(ms) = change.latency_ms {
        world.set_edge_latency(&id, Duration::from_millis(ms))?;
    }
    Ok(Json(world.state()).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Pair {
    a: String,
    b: String,
}

async fn partition(State(control): State<Arc<Control>>, body: Bytes) -> Result<Response, ApiError> {
    let Pair { a, b } = parse_body(&body)?;
    control.world.partition(&a, &b)?;
    Ok(Json(control.world.state()).into_response())
}

/// `{"a", "b"}` heals one pair; an empty body or `{}` heals every link.
async fn heal(State(control): State<Arc<Control>>, body: Bytes) -> Result<Response, ApiError> {
    let everything = body.iter().all(u8::is_ascii_whitespace)
        || parse_body::<serde_json::Value>(&body)? == serde_json::json!({});
    if everything {
        control.world.heal_all();
    } else {
        let Pair { a, b } = parse_body(&body)?;
        control.world.heal(&a, &b)?;
    }
    Ok(Json(control.world.state()).into_response())
}

#[cfg(test)]
mod tests {
    use super::is_loopback_host;

    #[test]
    fn loopback_hosts() {
        for host in [
            "127.0.0.1:8790",
            "localhost",
            "LOCALHOST:1",
            "[::1]:8790",
            "127.1.2.3",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "",
            "evil.example:8790",
            "10.0.0.1",
            "localhost.evil.example",
            "[::2]:1",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }
}
