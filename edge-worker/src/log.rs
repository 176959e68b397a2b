//! Structured logs: one JSON object per line, for every failover, failed
//! request, health change and configuration error.

use crate::isolate::with_engine;
use crate::request::Head;
use edge_routing::exchange::StartCause;
use edge_routing::{ConfigError, Exchange, ExchangeError, RegionIdx};
use serde_json::json;

fn region_name(region: RegionIdx) -> String {
    with_engine(|e| e.config().region(region).id.to_string()).unwrap_or_default()
}

pub fn failover(
    head: &Head,
    exchange: &Exchange,
    from: RegionIdx,
    to: RegionIdx,
    cause: &StartCause,
) {
    let line = json!({
        "event": "failover",
        "request_id": head.request_id,
        "method": head.method,
        "path": head.path,
        "from": region_name(from),
        "to": region_name(to),
        "cause": cause,
        "attempt": exchange.attempts_started(),
        "panic": exchange.is_panic(),
    });
    worker::console_log!("{line}");
}

pub fn request_failed(head: &Head, exchange: &Exchange, error: ExchangeError) {
    let now = crate::clock::now();
    let attempts: Vec<_> = exchange
        .summary(now)
        .into_iter()
        .map(|a| json!({"region": region_name(a.region), "outcome": a.outcome, "ms": a.ms}))
        .collect();
    let line = json!({
        "event": "request_failed",
        "request_id": head.request_id,
        "method": head.method,
        "path": head.path,
        "error": error.code(),
        "message": error.to_string(),
        "attempts": attempts,
    });
    worker::console_error!("{line}");
}

pub fn flush_health_events() {
    for event in with_engine(|e| e.drain_events()).unwrap_or_default() {
        let line = json!({ "event": "health", "detail": event });
        worker::console_log!("{line}");
    }
}

pub fn config_error(e: &ConfigError) {
    let line = json!({ "event": "config_error", "field": e.field(), "message": e.to_string() });
    worker::console_error!("{line}");
}

pub fn internal_error(message: &str) {
    let line = json!({ "event": "internal_error", "message": message });
    worker::console_error!("{line}");
}
