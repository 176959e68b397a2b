//! One upstream fetch: building the request, sending it with an abort signal,
//! and naming its failure.

use edge_routing::FailureKind;
use futures_util::FutureExt;
use js_sys::ArrayBuffer;
use std::future::Future;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortController, Headers, RequestInit, RequestRedirect};

/// What an upstream request carries, built once and reused by every attempt.
pub struct Outgoing {
    pub method: String,
    pub headers: Headers,
    pub body: Option<ArrayBuffer>,
}

impl Outgoing {
    pub fn new(
        method: &str,
        headers: &[(String, String)],
        body: Option<ArrayBuffer>,
    ) -> Result<Self, JsValue> {
        let js_headers = Headers::new()?;
        for (name, value) in headers {
            // A value the runtime refuses (it validated it once already) is dropped, not fatal.
            let _ = js_headers.append(name, value);
        }
        Ok(Self {
            method: method.to_owned(),
            headers: js_headers,
            body,
        })
    }
}

/// A started fetch that can be cancelled.
pub struct InFlight {
    controller: AbortController,
}

impl InFlight {
    pub fn abort(&self) {
        self.controller.abort();
    }
}

/// Starts `outgoing` against `url`. The future resolves at response headers.
pub fn start(
    url: &str,
    outgoing: &Outgoing,
) -> Result<
    (
        InFlight,
        impl Future<Output = Result<web_sys::Response, FailureKind>> + 'static,
    ),
    JsValue,
> {
    let controller = AbortController::new()?;
    let init = RequestInit::new();
    init.set_method(&outgoing.method);
    init.set_headers(&outgoing.headers);
    // Redirects belong to the client: pass them through instead of following them.
    init.set_redirect(RequestRedirect::Manual);
    init.set_signal(Some(&controller.signal()));
    if let Some(body) = &outgoing.body {
        init.set_body(body);
    }
    let request = web_sys::Request::new_with_str_and_init(url, &init)?;
    let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    let promise = global.fetch_with_request(&request);
    let response = JsFuture::from(promise).map(|result| match result {
        Ok(value) => value
            .dyn_into::<web_sys::Response>()
            .map_err(|_| FailureKind::Network),
        Err(error) => Err(failure_kind(&error)),
    });
    Ok((InFlight { controller }, response))
}

/// Names a fetch failure. Only a failure to open the connection proves the
/// request never reached the origin.
fn failure_kind(error: &JsValue) -> FailureKind {
    let message = error_message(error).to_ascii_lowercase();
    let never_sent = [
        "connection refused",
        "econnrefused",
        "failed to connect",
        "connect error",
        "dns",
        "could not resolve",
    ];
    if never_sent.iter().any(|m| message.contains(m)) {
        FailureKind::Connect
    } else {
        FailureKind::Network
    }
}

/// Cloudflare answers for the origin when it could not connect to it (521 down,
/// 522 connect timeout, 523 unreachable, 525/526 TLS handshake): the request
/// never reached the origin, so it may go elsewhere whatever its method.
pub fn is_platform_connect_error(response: &web_sys::Response) -> bool {
    matches!(response.status(), 521 | 522 | 523 | 525 | 526)
        && response
            .headers()
            .get("server")
            .ok()
            .flatten()
            .is_some_and(|s| s.eq_ignore_ascii_case("cloudflare"))
}

pub fn error_message(error: &JsValue) -> String {
    if let Some(text) = error.as_string() {
        return text;
    }
    js_sys::Reflect::get(error, &JsValue::from_str("message"))
        .ok()
        .and_then(|m| m.as_string())
        .unwrap_or_else(|| "unknown error".to_owned())
}
