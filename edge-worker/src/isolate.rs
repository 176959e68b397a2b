//! State an isolate keeps between requests: the engine (or the reason the
//! configuration was refused). WebAssembly in a Worker is single-threaded and
//! the engine is only borrowed between awaits, never across one.

use crate::log;
use edge_routing::snapshot::fingerprint;
use edge_routing::{ConfigError, Disposition, EdgeConfig, Engine, Rejection, RequestInput, Time};
use std::cell::RefCell;
use worker::Env;

/// Per-request view of the environment.
pub struct Settings {
    pub config_text: String,
    /// `EDGE_DEV=1`: development-only overrides are honoured.
    pub dev: bool,
}

impl Settings {
    pub fn from_env(env: &Env) -> Self {
        let var = |name: &str| env.var(name).map(|v| v.to_string()).ok();
        Self {
            config_text: var("EDGE_CONFIG").unwrap_or_default(),
            dev: var("EDGE_DEV").is_some_and(|v| matches!(v.trim(), "1" | "true" | "yes")),
        }
    }
}

pub struct Isolate {
    pub fingerprint: String,
    pub engine: Result<Engine, ConfigError>,
    pub share_loaded: bool,
    pub share_synced_at: Option<Time>,
    pub share_in_flight: bool,
}

thread_local! {
    static ISOLATE: RefCell<Option<Isolate>> = const { RefCell::new(None) };
}

/// Parses `EDGE_CONFIG` the first time it is seen (and again if it changes).
pub fn ensure_config(text: &str, now: Time) {
    let print = fingerprint(text);
    ISOLATE.with_borrow_mut(|slot| {
        if slot.as_ref().is_some_and(|iso| iso.fingerprint == print) {
            return;
        }
        let engine = EdgeConfig::parse(text).map(|config| Engine::new(config, now));
        if let Err(e) = &engine {
            log::config_error(e);
        }
        *slot = Some(Isolate {
            fingerprint: print,
            engine,
            share_loaded: false,
            share_synced_at: None,
            share_in_flight: false,
        });
    });
}

/// Runs `f` on the isolate state (present after [`ensure_config`]).
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
