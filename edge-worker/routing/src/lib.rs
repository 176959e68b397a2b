//! Routing engine of the edge worker. Runtime-free: compiles natively and to
//! wasm32, never reads a clock or a random source itself, so every decision is
//! reproducible in native tests with a fake clock.
//!
//! - [`config`]: `EDGE_CONFIG`, parsed and validated (errors name the field).
//! - [`classify`]: what to do with a request (own endpoint, static assets, proxy).
//! - [`engine`]: the region table with learned latency and health; routing.
//! - [`exchange`]: one request's tries across regions (timeouts, retries, hedges).
//! - [`hygiene`], [`reply`], [`target`]: headers and URLs in and out.
//! - [`snapshot`], [`status`]: sharing and reporting what was learned.

pub mod budget;
pub mod classify;
pub mod config;
pub mod engine;
pub mod exchange;
pub mod geo;
pub mod health;
pub mod hygiene;
pub mod latency;
pub mod names;
pub mod policy;
pub mod reply;
pub mod snapshot;
pub mod status;
pub mod target;
pub mod time;

pub use classify::{
    ClientGeo, Disposition, Method, ProxyRequest, Rejection, RequestInput, classify,
};
pub use config::{ConfigError, EdgeConfig, RegionIdx};
pub use engine::{Engine, HealthEvent, Outcome, Probe};
pub use exchange::{AttemptId, Exchange, ExchangeError, Linger, StartAttempt, StartCause, Step};
pub use health::{FailureKind, HealthState};
pub use policy::{Candidate, Reason, Route, RouteError};
pub use time::Time;
