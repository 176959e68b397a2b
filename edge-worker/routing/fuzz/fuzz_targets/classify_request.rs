//! Every client request is classified before any region is contacted: method,
//! path, headers and (development) geo overrides are all attacker-chosen.
//! Classification must never panic, and what it decides must hold:
//! - a proxied request matched a configured route that prefixes its path;
//! - an oversized declared body is refused, an acceptable one is not;
//! - the upstream URL built for any path stays on the region's origin
//!   (the edge never becomes an open proxy);
//! - the headers sent upstream carry none of the client's copies of the edge's
//!   own headers, and the response headers none of an origin's.
#![no_main]

use std::sync::OnceLock;

use edge_routing::classify::{ClientGeo, Disposition, Rejection, RequestInput, classify};
use edge_routing::hygiene::{ForwardContext, client_response_headers, upstream_request_headers};
use edge_routing::target::split_url;
use edge_routing::EdgeConfig;
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

const CONFIG: &str = r#"{
  "regions": [
    {"id": "us-east", "origin": "http://127.0.0.1:9101", "lat": 39.0, "lon": -77.5, "tags": ["us"]},
    {"id": "eu-west", "origin": "http://127.0.0.1:9103/base", "lat": 53.3, "lon": -6.3, "tags": ["eu"]}
  ],
  "residency": {"header": "x-data-residency", "countries": {"DE": "eu"}, "continents": {"NA": "us"}},
  "affinity": {"cookie": "edge_region"},
  "routes": [
    {"prefix": "/v1/watch", "try_timeout_ms": 35000, "observe_latency": false, "idempotent": true},
    {"prefix": "/v1/", "hedge": true},
    {"prefix": "/api"}
  ],
  "hedging": {"enabled": true},
  "max_body_bytes": 1048576
}"#;

fn config() -> &'static EdgeConfig {
    static CONFIG_ONCE: OnceLock<EdgeConfig> = OnceLock::new();
    CONFIG_ONCE.get_or_init(|| EdgeConfig::parse(CONFIG).expect("the fuzz target's own config is valid"))
}

#[derive(Arbitrary, Debug)]
struct Input {
    method: String,
    path: String,
    query: Option<String>,
    headers: Vec<(String, String)>,
    country: Option<String>,
    continent: Option<String>,
    lat: Option<String>,
    lon: Option<String>,
}

fuzz_target!(|input: Input| {
    let config = config();
    let headers: Vec<(String, String)> =
        input.headers.iter().map(|(n, v)| (n.to_ascii_lowercase(), v.clone())).collect();
    let geo = ClientGeo::from_parts(input.country.as_deref(), input.continent.as_deref(), input.lat.as_deref(), input.lon.as_deref())
        .with_dev_overrides(&headers);
    let request = RequestInput { method: &input.method, path: &input.path, headers: &headers, geo };
    let declared = headers.iter().find(|(n, _)| n == "content-length").and_then(|(_, v)| v.trim().parse::<u64>().ok());

    match classify(config, &request) {
        Ok(Disposition::Proxy(proxy)) => {
            let route = config.route_for(&input.path).expect("a proxied path has a route");
            assert_eq!(route.prefix, proxy.route_prefix);
            assert!(input.path.starts_with(&proxy.route_prefix));
            assert!(declared.is_none_or(|n| n <= config.max_body_bytes), "{declared:?} accepted");
            for tag in &proxy.required_tags {
                assert!(config.regions().iter().any(|r| r.tags.contains(tag)), "tag {tag:?} no region carries");
            }
        }
        Ok(_) => {}
        Err(Rejection::BodyTooLarge { limit }) => {
            assert!(declared.is_some_and(|n| n > limit));
        }
        Err(rejection) => {
            assert!((400..500).contains(&rejection.status()), "{rejection:?}");
        }
    }

    // Whatever the client's path and query, the upstream URL stays on the origin.
    let path_and_query = match &input.query {
        Some(q) => format!("{}?{q}", input.path),
        None => input.path.clone(),
    };
    for region in config.regions() {
        if let Ok(url) = region.origin.url_for(&path_and_query) {
            let origin = region.origin.as_str();
            assert!(url.starts_with(origin), "{url} left {origin}");
            let rest = &url[origin.len()..];
            assert!(rest.is_empty() || rest.starts_with(['/', '?']), "{url} escaped {origin}");
        }
    }
    // The runtime hands the worker origin-form targets: those never change the authority.
    if path_and_query.starts_with('/')
        && let Some(parts) = split_url(&format!("http://edge.example{path_and_query}"))
    {
        assert_eq!(parts.authority, "edge.example");
    }

    // Proxy hygiene in both directions.
    let context = ForwardContext { client_ip: Some("203.0.113.9"), host: "edge.example", proto: "https", request_id: "fuzz" };
    let upstream = upstream_request_headers(input.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())), &context);
    for (name, value) in &upstream {
        if name.starts_with("x-edge-") {
            assert!(name == "x-edge-request-id" && value == "fuzz", "client header {name} leaked upstream");
        }
        assert!(!matches!(name.as_str(), "host" | "forwarded" | "connection" | "transfer-encoding"), "{name} leaked upstream");
        if name.starts_with("x-forwarded-") || name.starts_with("cf-") {
            assert!(
                matches!((name.as_str(), value.as_str()), ("x-forwarded-for", "203.0.113.9") | ("x-forwarded-host", "edge.example") | ("x-forwarded-proto", "https")),
                "client's {name}: {value} leaked upstream"
            );
        }
    }
    let downstream = client_response_headers(input.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    assert!(downstream.iter().all(|(n, _)| !n.starts_with("x-edge-") && n != "transfer-encoding"));
});
