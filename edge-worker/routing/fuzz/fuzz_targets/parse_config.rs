//! `EDGE_CONFIG` is operator input: any text must parse to a validated config
//! or to an error naming a field, never panic. Whatever parses must keep its
//! promises: every region's origin builds only URLs on that origin, routing
//! finds a route for what it proxies, and classification never panics.
#![no_main]

use edge_routing::classify::{ClientGeo, RequestInput, classify};
use edge_routing::EdgeConfig;
use libfuzzer_sys::fuzz_target;

const PATHS: [&str; 6] = ["/v1/sync", "/v1/watch", "/", "//evil.example/v1/x", "/v1/../../x", "/_edge/status"];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let config = match EdgeConfig::parse(text) {
        Ok(config) => config,
        Err(error) => {
            // The error always names where the fault is.
            assert!(!error.to_string().is_empty());
            return;
        }
    };
    assert!(!config.regions().is_empty());
    for region in config.regions() {
        let origin = region.origin.as_str();
        for path in PATHS {
            if let Ok(url) = region.origin.url_for(path) {
                assert!(url.starts_with(origin), "{url} left origin {origin}");
            }
        }
    }
    for path in PATHS {
        if let Some(route) = config.route_for(path) {
            assert!(path.starts_with(&route.prefix));
        }
        let headers = [("content-length".to_string(), "12".to_string())];
        let request = RequestInput { method: "POST", path, headers: &headers, geo: ClientGeo::default() };
        let _ = classify(&config, &request);
    }
});
