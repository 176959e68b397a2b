//! Everything the edge answers by itself, and the dressing of proxied answers.

use crate::clock;
use crate::isolate::{self, Refusal};
use crate::log;
use edge_routing::reply::{ATTEMPTS_HEADER, REGION_HEADER, REQUEST_ID_HEADER};
use edge_routing::status::{ConfigErrorReport, ErrorBody};
use edge_routing::{ExchangeError, hygiene};
use serde::Serialize;
use worker::{Env, Headers, Request, Response};

#[derive(Serialize)]
struct ErrorDoc<'a> {
    error: ErrorBody,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a str>,
}

fn json_response(status: u16, body: &impl Serialize, request_id: Option<&str>) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    let headers = Headers::new();
    let _ = headers.set("content-type", "application/json; charset=utf-8");
    let _ = headers.set("cache-control", "no-store");
    if let Some(id) = request_id {
        let _ = headers.set(REQUEST_ID_HEADER, id);
    }
    Response::builder()
        .with_status(status)
        .with_headers(headers)
        .fixed(bytes)
}

/// `{"error":{"code","message"}}`, the shape the region servers use too.
pub fn error(
    status: u16,
    code: &'static str,
    message: impl Into<String>,
    request_id: &str,
) -> worker::Result<Response> {
    let doc = ErrorDoc {
        error: ErrorBody {
            code,
            message: message.into(),
            field: None,
        },
        request_id: Some(request_id),
    };
    Ok(json_response(status, &doc, Some(request_id)))
}

pub fn refusal(refusal: &Refusal, request_id: &str) -> worker::Result<Response> {
    match refusal {
        Refusal::Config(e) => Ok(json_response(
            503,
            &ConfigErrorReport::new(e),
            Some(request_id),
        )),
        Refusal::Rejected(r) => error(r.status(), r.code(), r.to_string(), request_id),
    }
}

pub fn exchange_error(
    err: ExchangeError,
    request_id: &str,
    attempts: usize,
) -> worker::Result<Response> {
    let mut response = error(err.status(), err.code(), err.to_string(), request_id)?;
    let _ = response
        .headers_mut()
        .set(ATTEMPTS_HEADER, &attempts.to_string());
    Ok(response)
}

/// A last-resort answer that cannot fail.
pub fn internal_error(e: &worker::Error) -> Response {
    log::internal_error(&e.to_string());
    let doc = ErrorDoc {
        error: ErrorBody {
            code: "edge_internal_error",
            message: "the edge failed to handle this request".into(),
            field: None,
        },
        request_id: None,
    };
    json_response(500, &doc, None)
}

/// `GET /_edge/status`.
pub fn status() -> worker::Result<Response> {
    let now = clock::now();
    let doc = isolate::with(|iso| match &iso.engine {
        Ok(engine) => Ok(json_response(200, &engine.status(now), None)),
        Err(e) => Ok(json_response(503, &ConfigErrorReport::new(e), None)),
    });
    doc.unwrap_or_else(|| error(503, "invalid_config", "EDGE_CONFIG has not been read", ""))
}

/// Static assets (the `ASSETS` binding), for paths that are not proxied.
pub async fn assets(env: &Env, req: Request) -> worker::Result<Response> {
    match env.assets("ASSETS") {
        Ok(assets) => assets.fetch_request(req).await,
        Err(_) => error(404, "not_found", "nothing is served at this path", ""),
    }
}

/// How the edge dresses a proxied answer.
pub struct Provenance<'a> {
    pub region: &'a str,
    pub attempts: usize,
    pub server_timing: String,
    pub request_id: &'a str,
    pub set_cookie: Option<String>,
}

/// The client's response: the origin's status and body, its end-to-end headers,
/// and the edge's own headers.
pub fn proxied(upstream: web_sys::Response, p: &Provenance<'_>) -> worker::Result<Response> {
    let upstream = Response::from(upstream);
    let status = upstream.status_code();
    let entries: Vec<(String, String)> = upstream.headers().entries().collect();
    let headers = Headers::new();
    for (name, value) in
        hygiene::client_response_headers(entries.iter().map(|(n, v)| (n.as_str(), v.as_str())))
    {
        if name != "server-timing" {
            let _ = headers.append(&name, &value);
        }
    }
    headers.set(REGION_HEADER, p.region)?;
    headers.set(ATTEMPTS_HEADER, &p.attempts.to_string())?;
    headers.set(REQUEST_ID_HEADER, p.request_id)?;
    headers.set("server-timing", &p.server_timing)?;
    if let Some(cookie) = &p.set_cookie {
        headers.append("set-cookie", cookie)?;
    }
    let (_, body) = upstream.into_parts();
    Ok(Response::builder()
        .with_status(status)
        .with_headers(headers)
        .body(body))
}
