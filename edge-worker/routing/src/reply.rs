//! Headers the edge adds to its answers: which region served, how many tries it
//! took, where the time went, and the affinity cookie.

use crate::config::AffinityConfig;
use crate::names::RegionName;
use std::fmt::Write;
use std::time::Duration;

pub const REGION_HEADER: &str = "x-edge-region";
pub const ATTEMPTS_HEADER: &str = "x-edge-attempts";
pub const REQUEST_ID_HEADER: &str = "x-edge-request-id";

/// The edge's headers a cross-origin page may read (CORS hides every response
/// header but a few unless the answer exposes it).
pub const EXPOSED_HEADERS: [&str; 4] = [
    REGION_HEADER,
    ATTEMPTS_HEADER,
    REQUEST_ID_HEADER,
    "server-timing",
];

/// `Access-Control-Expose-Headers` for a CORS answer: the origin's own list
/// (if any) followed by the edge's headers it does not name yet.
pub fn expose_headers(origin_list: Option<&str>) -> String {
    let mut names: Vec<&str> = origin_list
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .collect();
    for ours in EXPOSED_HEADERS {
        if !names.iter().any(|n| n.eq_ignore_ascii_case(ours)) {
            names.push(ours);
        }
    }
    names.join(", ")
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 10_000.0).round() / 10.0
}

/// `Server-Timing` value: the whole edge exchange, then the answering region's try.
/// An origin's own `Server-Timing` entries are kept after ours.
pub fn server_timing(
    total: Duration,
    origin: Option<(&RegionName, Duration)>,
    attempts: usize,
    upstream: Option<&str>,
) -> String {
    let mut out = format!(
        "edge;dur={};desc=\"{attempts} attempt{}\"",
        ms(total),
        if attempts == 1 { "" } else { "s" }
    );
    if let Some((region, elapsed)) = origin {
        let _ = write!(out, ", origin;dur={};desc=\"{region}\"", ms(elapsed));
    }
    if let Some(theirs) = upstream
        .map(str::trim)
        .filter(|v| !v.is_empty() && !v.contains(['\r', '\n']))
    {
        let _ = write!(out, ", {theirs}");
    }
    out
}

/// `Set-Cookie` pinning the client to `region` (region names are cookie-safe by construction).
pub fn affinity_cookie(cfg: &AffinityConfig, region: &RegionName, secure: bool) -> String {
    format!(
        "{}={region}; Path=/; Max-Age={}; HttpOnly; SameSite=Lax{}",
        cfg.cookie,
        cfg.max_age.as_secs(),
        if secure { "; Secure" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_timing_lists_edge_then_origin_then_upstream() {
        let region = RegionName::parse("us-east").unwrap();
        let v = server_timing(
            Duration::from_micros(12_345),
            Some((&region, Duration::from_millis(10))),
            2,
            Some("db;dur=3"),
        );
        assert_eq!(
            v,
            "edge;dur=12.3;desc=\"2 attempts\", origin;dur=10;desc=\"us-east\", db;dur=3"
        );
        let v = server_timing(Duration::from_millis(5), None, 1, Some("x\r\ny"));
        assert_eq!(v, "edge;dur=5;desc=\"1 attempt\"");
    }

    #[test]
    fn cors_answers_expose_the_edge_headers_once() {
        assert_eq!(
            expose_headers(None),
            "x-edge-region, x-edge-attempts, x-edge-request-id, server-timing"
        );
        assert_eq!(
            expose_headers(Some("ETag, X-Edge-Region ,")),
            "ETag, X-Edge-Region, x-edge-attempts, x-edge-request-id, server-timing"
        );
    }

    #[test]
    fn affinity_cookie_is_scoped_and_http_only() {
        let cfg = AffinityConfig {
            cookie: "edge_region".into(),
            max_age: Duration::from_secs(60),
        };
        let region = RegionName::parse("eu-west").unwrap();
        assert_eq!(
            affinity_cookie(&cfg, &region, true),
            "edge_region=eu-west; Path=/; Max-Age=60; HttpOnly; SameSite=Lax; Secure"
        );
    }
}
