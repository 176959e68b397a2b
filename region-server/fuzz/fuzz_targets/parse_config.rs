//! The region server's configuration is operator input: command-line flags
//! (and the same parsers behind the `EDGESYNC_*` variables). Any argument
//! list, one argument per line of the input and not necessarily UTF-8, must
//! give a config or an explained error, never a panic; and whatever passes
//! `validate` must keep the promises the server relies on at startup.
#![no_main]

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use clap::Parser;
use libfuzzer_sys::fuzz_target;
use region_server::config::{Config, PeerSpec};

fuzz_target!(|data: &[u8]| {
    let args = std::iter::once(OsString::from("region-server"))
        .chain(data.split(|&b| b == b'\n').map(|arg| OsString::from_vec(arg.to_vec())));
    match Config::try_parse_from(args) {
        Ok(config) => match config.validate() {
            Ok(()) => check_valid(&config),
            Err(message) => assert!(!message.is_empty()),
        },
        // Rendering is what the operator sees (including --help and --version).
        Err(error) => drop(error.render().to_string()),
    }
    // A peer spec (`--peer` or one item of EDGESYNC_PEERS) on its own, whole.
    if let Ok(text) = std::str::from_utf8(data) {
        check_peer(text);
    }
});

/// What a validated config promises.
fn check_valid(config: &Config) {
    assert!(!config.region.is_empty());
    assert!(config.region.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    assert!(config.dev || config.jwt_hs256_secret.is_some() || config.jwt_es256_public_key.is_some());
    assert!(config.client_hs256_secret().is_some() || config.jwt_es256_public_key.is_some());
    assert!(config.peers.is_empty() || config.cluster_secret().is_some());
    let names: BTreeSet<&str> = config.peers.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names.len(), config.peers.len(), "duplicate peer names passed");
    assert!(!names.contains(config.region.as_str()), "a peer named like this region passed");
    assert!(config.max_body_bytes >= 1024 && config.cache_docs >= 1);
    assert!(!config.anti_entropy_interval().is_zero());
    assert!(config.peer_max_backoff_ms > 0 && config.peer_timeout_ms > 0);
    assert!(config.database_path().starts_with(&config.data_dir));
    for peer in &config.peers {
        check_peer_invariants(peer);
    }
}

/// A peer that parses is usable, and written back as `name=url` it parses to itself.
fn check_peer(text: &str) {
    let Ok(peer) = text.parse::<PeerSpec>() else { return };
    check_peer_invariants(&peer);
    let again: PeerSpec = format!("{}={}", peer.name, peer.url).parse().expect("a parsed peer round-trips");
    assert_eq!(again, peer);
}

fn check_peer_invariants(peer: &PeerSpec) {
    assert!(!peer.name.is_empty());
    assert!(peer.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    assert!(matches!(peer.url.scheme(), "http" | "https"));
    assert!(peer.url.host().is_some());
}
