//! `Repo.open(options)`: reading and validating the options object.

use js_sys::{Function, Reflect};
use wasm_bindgen::{JsCast, JsValue};

use crate::error::SdkError;
use crate::js_value::number_text;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    /// All writes of one task (event handler, frame) become one automerge change.
    Task,
    /// Every write is its own automerge change.
    Write,
}

pub struct SyncOptions {
    /// Base URL of the edge (or a region server): requests go to `{endpoint}/v1/...`.
    pub endpoint: String,
    /// `(forceRefresh: boolean) => string | Promise<string>`; none means no Authorization header.
    pub token: Option<Function>,
    /// Long-poll the server's change notification (`POST /v1/watch`).
    pub watch: bool,
    pub min_backoff_ms: f64,
    pub max_backoff_ms: f64,
    /// How long a watch waits on the server before answering "nothing changed".
    pub watch_wait_ms: u64,
}

pub struct RepoOptions {
    /// IndexedDB database and BroadcastChannel name.
    pub name: String,
    pub grouping: Grouping,
    pub sync: Option<SyncOptions>,
}

fn get(object: &JsValue, key: &str) -> JsValue {
    if object.is_object() {
        Reflect::get(object, &key.into()).unwrap_or(JsValue::UNDEFINED)
    } else {
        JsValue::UNDEFINED
    }
}

fn optional_string(object: &JsValue, key: &str) -> Result<Option<String>, SdkError> {
    let value = get(object, key);
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    value.as_string().map(Some).ok_or_else(|| SdkError::invalid_argument(format!("option {key} must be a string")))
}

fn optional_number(object: &JsValue, key: &str, min: f64, max: f64) -> Result<Option<f64>, SdkError> {
    let value = get(object, key);
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    match value.as_f64() {
        Some(n) if (min..=max).contains(&n) => Ok(Some(n)),
        _ => Err(SdkError::invalid_argument(format!("option {key} must be a number between {} and {}", number_text(min), number_text(max)))),
    }
}

impl RepoOptions {
    pub fn from_js(options: &JsValue) -> Result<RepoOptions, SdkError> {
        if !(options.is_undefined() || options.is_null() || options.is_object()) {
            return Err(SdkError::invalid_argument("Repo.open takes an options object"));
        }
        let name = optional_string(options, "name")?.unwrap_or_else(|| "edgesync".into());
        if name.is_empty() {
            return Err(SdkError::invalid_argument("option name must not be empty"));
        }
        let grouping = match optional_string(options, "changeGrouping")?.as_deref() {
            None | Some("task") => Grouping::Task,
            Some("write") => Grouping::Write,
            Some(other) => {
                return Err(SdkError::invalid_argument(format!("option changeGrouping must be \"task\" or \"write\", not {other:?}")));
            }
        };
        let sync = match optional_string(options, "endpoint")? {
            None => None,
            Some(endpoint) => Some(SyncOptions::from_js(options, endpoint)?),
        };
        Ok(RepoOptions { name, grouping, sync })
    }
}

impl SyncOptions {
    fn from_js(options: &JsValue, endpoint: String) -> Result<SyncOptions, SdkError> {
        let parsed = web_sys_url(&endpoint)?;
        let token = get(options, "token");
        let token = if token.is_undefined() || token.is_null() {
            None
        } else {
            Some(token.dyn_into::<Function>().map_err(|_| {
                SdkError::invalid_argument("option token must be a function returning the token (or a promise of it)")
            })?)
        };
        let watch = get(options, "watch");
        let min_backoff_ms = optional_number(options, "minBackoffMs", 1.0, 3_600_000.0)?.unwrap_or(500.0);
        let max_backoff_ms = optional_number(options, "maxBackoffMs", min_backoff_ms, 3_600_000.0)?.unwrap_or(30_000.0);
        let watch_wait_ms = optional_number(options, "watchWaitMs", 0.0, sync_protocol::MAX_WATCH_WAIT_MS as f64)?
            .map_or(sync_protocol::DEFAULT_WATCH_WAIT_MS, |n| n as u64);
        Ok(SyncOptions {
            endpoint: parsed,
            token,
            watch: watch.as_bool().unwrap_or(true),
            min_backoff_ms,
            max_backoff_ms,
            watch_wait_ms,
        })
    }
}

/// Validates the endpoint as an absolute http(s) URL (relative ones resolve
/// against the page) and strips a trailing slash.
fn web_sys_url(endpoint: &str) -> Result<String, SdkError> {
    let base = Reflect::get(&js_sys::global(), &"location".into())
        .ok()
        .and_then(|l| Reflect::get(&l, &"href".into()).ok())
        .and_then(|h| h.as_string());
    let url = match base {
        Some(base) => web_sys::Url::new_with_base(endpoint, &base),
        None => web_sys::Url::new(endpoint),
    }
    .map_err(|_| SdkError::invalid_argument(format!("option endpoint is not a valid URL: {endpoint:?}")))?;
    let protocol = url.protocol();
    if protocol != "http:" && protocol != "https:" {
        return Err(SdkError::invalid_argument(format!("option endpoint must be an http(s) URL, not {protocol}")));
    }
    let href = url.href();
    Ok(href.trim_end_matches('/').to_owned())
}
