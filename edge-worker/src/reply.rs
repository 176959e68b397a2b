//! Everything the edge answers by itself, and the dressing of proxied answers.

use crate::clock;
use crate::isolate::{self, Refusal};
use crate::log;
use edge_routing::ExchangeError;
use edge_routing::hygiene::{is_dropped_response_header, nominated_by_connection};
use edge_routing::reply::{ATTEMPTS_HEADER, REGION_HEADER, REQUEST_ID_HEADER, expose_headers};
use edge_routing::status::{ConfigErrorReport, ErrorBody};
use serde::Serialize;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{Headers, ResponseInit};
use worker::Env;

#[derive(Serialize)]
struct ErrorDoc<'a> {
    error: ErrorBody,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a str>,
}

/// A JSON answer. Building it only fails if the runtime is broken; then the
/// plainest possible response is returned instead.
fn json_response(
    status: u16,
    body: &impl Serialize,
    request_id: Option<&str>,
) -> web_sys::Response {
    let text = serde_json::to_string(body).unwrap_or_else(|_| "{}".to_owned());
    let build = || -> Result<web_sys::Response, JsValue> {
        let headers = Headers::new()?;
        headers.set("content-type", "application/json; charset=utf-8")?;
        headers.set("cache-control", "no-store")?;
        if let Some(id) = request_id {
            headers.set(REQUEST_ID_HEADER, id)?;
        }
        let init = ResponseInit::new();
        init.set_status(status);
        init.set_headers(&headers);
        web_sys::Response::new_with_opt_str_and_init(Some(&text), &init)
    };
    build().unwrap_or_else(|_| {
        web_sys::Response::new().unwrap_or_else(|_| JsValue::NULL.unchecked_into())
    })
}

/// `{"error":{"code","message"}}`, the shape the region servers use too.
pub fn error(
    status: u16,
    code: &'static str,
    message: impl Into<String>,
    request_id: &str,
) -> web_sys::Response {
    let doc = ErrorDoc {
        error: ErrorBody {
            code,
            message: message.into(),
            field: None,
        },
        request_id: Some(request_id),
    };
    json_response(status, &doc, Some(request_id))
}

pub fn refusal(refusal: &Refusal, request_id: &str) -> web_sys::Response {
    match refusal {
        Refusal::Config(e) => json_response(503, &ConfigErrorReport::new(e), Some(request_id)),
        Refusal::Rejected(r) => error(r.status(), r.code(), r.to_string(), request_id),
    }
}

pub fn exchange_error(err: ExchangeError, request_id: &str, attempts: usize) -> web_sys::Response {
    let response = error(err.status(), err.code(), err.to_string(), request_id);
    let _ = response
        .headers()
        .set(ATTEMPTS_HEADER, &attempts.to_string());
    response
}

/// A last-resort answer that cannot fail.
pub fn internal_error(e: &worker::Error) -> web_sys::Response {
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
pub fn status() -> web_sys::Response {
    let now = clock::now();
    isolate::with(|iso| match &iso.engine {
        Ok(engine) => json_response(200, &engine.status(now), None),
        Err(e) => json_response(503, &ConfigErrorReport::new(e), None),
    })
    .unwrap_or_else(|| error(503, "invalid_config", "EDGE_CONFIG has not been read", ""))
}

/// Static assets (the `ASSETS` binding), for paths that are not proxied.
pub async fn assets(env: &Env, req: web_sys::Request) -> worker::Result<web_sys::Response> {
    match env.assets("ASSETS") {
        Ok(assets) => Ok(assets
            .fetch_request(worker::Request::from(req))
            .await?
            .into()),
        Err(_) => Ok(error(
            404,
            "not_found",
            "nothing is served at this path",
            "",
        )),
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
/// and the edge's own headers. The origin's headers are copied by the runtime
/// and only the ones to drop are named, so values never cross into wasm.
pub fn proxied(
    upstream: &web_sys::Response,
    p: &Provenance<'_>,
) -> worker::Result<web_sys::Response> {
    let original = upstream.headers();
    let headers = Headers::new_with_headers(&original)?;
    let nominated = original
        .get("connection")?
        .map(|v| nominated_by_connection(&v))
        .unwrap_or_default();
    let names = js_sys::Array::from(&original.keys());
    for name in names.iter().filter_map(|n| n.as_string()) {
        if is_dropped_response_header(&name, &nominated) {
            headers.delete(&name)?;
        }
    }
    headers.set(REGION_HEADER, p.region)?;
    headers.set(ATTEMPTS_HEADER, &p.attempts.to_string())?;
    headers.set(REQUEST_ID_HEADER, p.request_id)?;
    headers.set("server-timing", &p.server_timing)?;
    if let Some(cookie) = &p.set_cookie {
        headers.append("set-cookie", cookie)?;
    }
    // A cross-origin page (an SDK user on another origin) reads x-edge-region too.
    if original.has("access-control-allow-origin")? {
        let listed = original.get("access-control-expose-headers")?;
        headers.set(
            "access-control-expose-headers",
            &expose_headers(listed.as_deref()),
        )?;
    }
    let init = ResponseInit::new();
    init.set_status(upstream.status());
    init.set_status_text(&upstream.status_text());
    init.set_headers(&headers);
    Ok(web_sys::Response::new_with_opt_readable_stream_and_init(
        upstream.body().as_ref(),
        &init,
    )?)
}
