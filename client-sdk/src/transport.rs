//! HTTP to the edge (or a region): sync batches and watches, with the auth token
//! from the app's callback (refreshed once on a 401), an `Idempotency-Key` on
//! every POST, and the serving region read from the answer.

use std::cell::RefCell;

use js_sys::{Array, ArrayBuffer, Function, Object, Promise, Reflect, Uint8Array, JSON};
use sync_protocol::http as paths;
use sync_protocol::{ApiError, DocId, SyncBatchRequest, SyncBatchResponse, WatchRequest, WatchResponse};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortSignal, Response};

use crate::error::{ErrorCode, SdkError};

/// The edge names the region that answered in this header; a region server
/// answering directly uses the protocol's own header.
const EDGE_REGION_HEADER: &str = "x-edge-region";

#[wasm_bindgen(module = "/js/support.js")]
extern "C" {
    /// `fetch(url, { method: "POST", headers, body, signal })`: resolves with the
    /// response whatever its status, rejects when the network fails or `signal` aborts.
    #[wasm_bindgen(js_name = post)]
    fn fetch_post(url: &str, headers: &Object, body: &Uint8Array, signal: Option<&AbortSignal>) -> Promise;
}

pub struct Transport {
    endpoint: String,
    token_provider: Option<Function>,
    token: RefCell<Option<String>>,
}

/// A successful answer and the region that produced it.
pub struct Answer<T> {
    pub body: T,
    pub region: Option<String>,
}

impl Transport {
    pub fn new(endpoint: String, token_provider: Option<Function>) -> Self {
        Self { endpoint, token_provider, token: RefCell::new(None) }
    }

    pub async fn sync(&self, batch: &SyncBatchRequest) -> Result<Answer<SyncBatchResponse>, SdkError> {
        let body = batch.encode();
        let response = self.post(paths::PATH_SYNC_BATCH, paths::CONTENT_TYPE_BATCH, &body, None).await?;
        let region = region_of(&response);
        let bytes = Uint8Array::new(&read_body(response.array_buffer()).await?.unchecked_into::<ArrayBuffer>()).to_vec();
        let body = SyncBatchResponse::decode_with(&bytes, api_error_from_json)
            .map_err(|e| SdkError::new(ErrorCode::Protocol, format!("the endpoint's sync answer is malformed: {e}")))?;
        if body.entries.len() != batch.entries.len()
            || body.entries.iter().zip(&batch.entries).any(|(reply, sent)| reply.doc != sent.doc)
        {
            return Err(SdkError::new(ErrorCode::Protocol, "the endpoint's sync answer does not match the request's documents"));
        }
        Ok(Answer { body, region })
    }

    pub async fn watch(&self, request: &WatchRequest, signal: &AbortSignal) -> Result<Answer<WatchResponse>, SdkError> {
        let body = watch_request_json(request);
        let response = self.post(paths::PATH_WATCH, paths::CONTENT_TYPE_JSON, body.as_bytes(), Some(signal)).await?;
        let region = region_of(&response);
        let text = read_body(response.text()).await?.as_string().unwrap_or_default();
        let body = watch_response_from_json(&text)
            .ok_or_else(|| SdkError::new(ErrorCode::Protocol, "the endpoint's watch answer is malformed"))?;
        Ok(Answer { body, region })
    }

    /// POSTs with auth; on a 401 refreshes the token once and retries with the
    /// same idempotency key.
    async fn post(&self, path: &str, content_type: &str, body: &[u8], signal: Option<&AbortSignal>) -> Result<Response, SdkError> {
        let key = idempotency_key();
        let mut refreshed = false;
        loop {
            let token = self.current_token(refreshed).await?;
            let url = format!("{}{}", self.endpoint, path);
            let headers = Object::new();
            let header = |name: &str, value: &str| {
                let _ = Reflect::set(&headers, &name.into(), &value.into());
            };
            header("content-type", content_type);
            header(paths::HEADER_IDEMPOTENCY_KEY, &key);
            if let Some(token) = &token {
                header("authorization", &format!("Bearer {token}"));
            }
            let response: Response = JsFuture::from(fetch_post(&url, &headers, &Uint8Array::from(body), signal))
                .await
                .map_err(network_error)?
                .unchecked_into();
            match response.status() {
                200..=299 => return Ok(response),
                401 if !refreshed && self.token_provider.is_some() => {
                    self.token.replace(None);
                    refreshed = true;
                }
                _ => return Err(error_from_response(response).await),
            }
        }
    }

    /// The cached token, or a new one from the provider (`force` asks it to refresh).
    async fn current_token(&self, force: bool) -> Result<Option<String>, SdkError> {
        let Some(provider) = &self.token_provider else { return Ok(None) };
        if !force && let Some(token) = self.token.borrow().clone() {
            return Ok(Some(token));
        }
        let auth_error = |why: String| SdkError::new(ErrorCode::Unauthenticated, format!("the token callback failed: {why}"));
        let mut value = provider.call1(&JsValue::UNDEFINED, &JsValue::from_bool(force)).map_err(|e| auth_error(describe_error(&e)))?;
        if let Some(promise) = value.dyn_ref::<Promise>() {
            value = JsFuture::from(promise.clone()).await.map_err(|e| auth_error(describe_error(&e)))?;
        }
        let token = value.as_string().filter(|t| !t.is_empty()).ok_or_else(|| auth_error("it did not return a non-empty string".into()))?;
        self.token.replace(Some(token.clone()));
        Ok(Some(token))
    }
}

fn region_of(response: &Response) -> Option<String> {
    let headers = response.headers();
    let get = |name: &str| headers.get(name).ok().flatten();
    get(EDGE_REGION_HEADER).or_else(|| get(paths::HEADER_REGION))
}

/// The body of a response (`response.arrayBuffer()` or `.text()`), once it has arrived.
async fn read_body(started: Result<Promise, JsValue>) -> Result<JsValue, SdkError> {
    JsFuture::from(started.map_err(network_error)?).await.map_err(network_error)
}

async fn error_from_response(response: Response) -> SdkError {
    let status = response.status();
    let body = read_body(response.text()).await.ok().and_then(|text| text.as_string()).unwrap_or_default();
    let message = match error_body_from_json(&body) {
        Some((code, text)) => format!("the endpoint answered {status} {code}: {text}"),
        None => format!("the endpoint answered HTTP {status}"),
    };
    let code = match status {
        401 => ErrorCode::Unauthenticated,
        403 => ErrorCode::Forbidden,
        500..=599 | 408 | 429 => ErrorCode::Network,
        _ => ErrorCode::Protocol,
    };
    SdkError::new(code, message)
}

fn network_error(err: JsValue) -> SdkError {
    SdkError::new(ErrorCode::Network, format!("the endpoint could not be reached: {}", describe_error(&err)))
}

fn describe_error(err: &JsValue) -> String {
    js_sys::Reflect::get(err, &"message".into())
        .ok()
        .and_then(|m| m.as_string())
        .or_else(|| err.as_string())
        .unwrap_or_else(|| "unknown error".into())
}

fn idempotency_key() -> String {
    let mut bytes = [0u8; 16];
    let _ = getrandom::fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// JSON goes through the browser's own parser and printer: serde_json would add
// tens of kilobytes of wasm for three small documents. The shapes are those of
// sync_protocol's `WatchRequest`, `WatchResponse`, `ErrorBody` and `ApiError`.

fn watch_request_json(request: &WatchRequest) -> String {
    let docs = Object::new();
    for (doc, heads) in &request.docs {
        let heads: Array = heads.iter().map(|h| JsValue::from_str(&h.to_string())).collect();
        let _ = Reflect::set(&docs, &doc.as_str().into(), &heads);
    }
    let body = Object::new();
    let _ = Reflect::set(&body, &"docs".into(), &docs);
    let _ = Reflect::set(&body, &"wait_ms".into(), &(request.wait_ms as f64).into());
    JSON::stringify(&body).ok().and_then(|s| s.as_string()).unwrap_or_default()
}

fn watch_response_from_json(text: &str) -> Option<WatchResponse> {
    let value = JSON::parse(text).ok()?;
    let changed = Reflect::get(&value, &"changed".into()).ok()?.dyn_into::<Array>().ok()?;
    let changed = changed.iter().map(|id| id.as_string().and_then(|id| DocId::parse(&id).ok())).collect::<Option<Vec<_>>>()?;
    Some(WatchResponse { changed })
}

/// `{"error": {"code", "message"}}` → (code, message).
fn error_body_from_json(text: &str) -> Option<(String, String)> {
    code_and_message(&Reflect::get(&JSON::parse(text).ok()?, &"error".into()).ok()?)
}

/// A batch entry's `{"code", "message"}` payload; an unknown code is refused, as
/// sync_protocol's own decoder does.
fn api_error_from_json(payload: &[u8]) -> Option<ApiError> {
    let (code, message) = code_and_message(&JSON::parse(std::str::from_utf8(payload).ok()?).ok()?)?;
    Some(ApiError::new(sync_protocol::ErrorCode::from_wire(&code)?, message))
}

fn code_and_message(error: &JsValue) -> Option<(String, String)> {
    let field = |key: &str| Reflect::get(error, &key.into()).ok().and_then(|v| v.as_string());
    Some((field("code")?, field("message")?))
}
