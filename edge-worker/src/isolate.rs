//! State an isolate keeps between requests: the engine (or the reason the
//! configuration was refused). WebAssembly in a Worker is single-threaded and
//! the engine is only borrowed between awaits, never across one.

use crate::log;
use edge_routing::snapshot::fingerprint;
use edge_routing::{ConfigError, Disposition, EdgeConfig, Engine, Rejection, RequestInput, Time};
use std::cell::RefCell;
use wasm_bindgen::JsValue;
use worker::Env;

pub struct Isolate {
    /// The `EDGE_CONFIG` value this state was built from, kept as the
    /// runtime's own string: comparing it costs one call, not a copy.
    config_value: JsValue,
    /// `EDGE_DEV=1`: development-only overrides are honoured.
    pub dev: bool,
    pub fingerprint: String,
    pub engine: Result<Engine, ConfigError>,
    pub share_loaded: bool,
    pub share_synced_at: Option<Time>,
    pub share_in_flight: bool,
}

impl Isolate {
    fn mode(&self) -> Mode {
        Mode {
            dev: self.dev,
            wants_location: self
                .engine
                .as_ref()
                .is_ok_and(|e| e.config().uses_client_location()),
        }
    }
}

thread_local! {
    static ISOLATE: RefCell<Option<Isolate>> = const { RefCell::new(None) };
}

/// What a request needs to know about the isolate before reading the request.
#[derive(Clone, Copy)]
pub struct Mode {
    /// `EDGE_DEV=1`: development-only overrides are honoured.
    pub dev: bool,
    /// Routing looks at the client's location.
    pub wants_location: bool,
}

/// Reads the configuration from `env` the first time (and again only if the
/// `EDGE_CONFIG` value changes).
pub fn refresh(env: &Env, now: Time) -> Mode {
    let var = |name: &str| {
        js_sys::Reflect::get(env.as_ref(), &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED)
    };
    let config_value = var("EDGE_CONFIG");
    let current = ISOLATE.with_borrow(|slot| {
        slot.as_ref()
            .filter(|iso| iso.config_value == config_value)
            .map(Isolate::mode)
    });
    if let Some(mode) = current {
        return mode;
    }
    let text = config_value.as_string().unwrap_or_default();
    let dev = var("EDGE_DEV")
        .as_string()
        .is_some_and(|v| matches!(v.trim(), "1" | "true" | "yes"));
    let engine = EdgeConfig::parse(&text).map(|config| Engine::new(config, now));
    if let Err(e) = &engine {
        log::config_error(e);
    }
    ISOLATE.with_borrow_mut(|slot| {
        slot.insert(Isolate {
            config_value,
            dev,
            fingerprint: fingerprint(&text),
            engine,
            share_loaded: false,
            share_synced_at: None,
            share_in_flight: false,
        })
        .mode()
    })
}

/// Runs `f` on the isolate state (present after [`refresh`]).
pub fn with<R>(f: impl FnOnce(&mut Isolate) -> R) -> Option<R> {
    ISOLATE.with_borrow_mut(|slot| slot.as_mut().map(f))
}

/// Runs `f` on the engine; `None` when the configuration is invalid.
pub fn with_engine<R>(f: impl FnOnce(&mut Engine) -> R) -> Option<R> {
    with(|iso| iso.engine.as_mut().ok().map(f)).flatten()
}

/// Why a request is answered before reaching any region.
pub enum Refusal {
    Config(ConfigError),
    Rejected(Rejection),
}

pub fn classify(head: &crate::request::Head) -> Result<Disposition, Refusal> {
    let input = RequestInput {
        method: &head.method,
        path: &head.path,
        headers: &head.headers,
        geo: head.geo.clone(),
    };
    with(|iso| match &iso.engine {
        Ok(engine) => edge_routing::classify(engine.config(), &input).map_err(Refusal::Rejected),
        // The status page still answers, and says why.
        Err(_) if input.path == "/_edge/status" => Ok(Disposition::EdgeStatus),
        Err(e) => Err(Refusal::Config(e.clone())),
    })
    .unwrap_or_else(|| Err(Refusal::Config(ConfigError::not_set())))
}
