//! Headers the edge adds to its answers: which region served, how many tries it
//! took, where the time went, and the affinity cookie.

use crate::config::AffinityConfig;
use crate::names::RegionName;
use std::fmt::Write;
use std::time::Duration;

pub const REGION_HEADER: &str = "x-edge-region";
pub const ATTEMPTS_HEADER: &str = "x-edge-attempts";
pub const REQUEST_ID_HEADER: &str = "x-edge-request-id";

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
