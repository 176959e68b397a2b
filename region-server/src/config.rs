//! Command-line flags; every flag can also be set through an `EDGESYNC_*` variable.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::Parser;

/// The documented development secret (`--dev` only; never in production).
pub const DEV_SECRET: &str = "edgesync-dev-secret";

/// A replication peer: `name=http://host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerSpec {
    pub name: String,
    pub url: reqwest::Url,
}

impl FromStr for PeerSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, url) = s
            .split_once('=')
            .ok_or_else(|| format!("peer {s:?} must look like name=http://host:port"))?;
        let name = name.trim();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(format!("peer name {name:?} must be letters, digits, '-' or '_'"));
        }
        let url = reqwest::Url::parse(url.trim()).map_err(|e| format!("peer {name}: invalid URL {url:?}: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(format!("peer {name}: URL {url} must be http(s)://host[:port]"));
        }
        Ok(Self { name: name.to_owned(), url })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// EdgeSync region server: durable automerge documents, stateless sync rounds,
/// active-active replication to peer regions.
#[derive(Debug, Clone, Parser)]
#[command(name = "region-server", version, about, long_about = None)]
pub struct Config {
    /// Name of this region (reported in headers, metrics and replication tokens).
    #[arg(long, env = "EDGESYNC_REGION")]
    pub region: String,

    /// Address to serve HTTP on.
    #[arg(long, env = "EDGESYNC_LISTEN", default_value = "127.0.0.1:9001")]
    pub listen: SocketAddr,

    /// Directory for the SQLite database (created if missing).
    #[arg(long, env = "EDGESYNC_DATA_DIR")]
    pub data_dir: PathBuf,

    /// A peer region to replicate with, as name=http://host:port. Repeat for each
    /// peer; the variable takes a comma-separated list.
    #[arg(long = "peer", env = "EDGESYNC_PEERS", value_delimiter = ',')]
    pub peers: Vec<PeerSpec>,

    /// Development mode: the documented HS256 secret "edgesync-dev-secret" for
    /// client and cluster tokens, POST /v1/dev/token, and CORS for any origin.
    /// Never enable in production.
    #[arg(long, env = "EDGESYNC_DEV")]
    pub dev: bool,

    /// HS256 secret that client tokens are signed with.
    #[arg(long, env = "EDGESYNC_JWT_HS256_SECRET", hide_env_values = true)]
    pub jwt_hs256_secret: Option<String>,

    /// Path of a PEM public key (P-256) that ES256 client tokens are signed with.
    #[arg(long, env = "EDGESYNC_JWT_ES256_PUBLIC_KEY")]
    pub jwt_es256_public_key: Option<PathBuf>,

    /// HS256 secret shared by all regions of the cluster, for replication tokens.
    #[arg(long, env = "EDGESYNC_CLUSTER_SECRET", hide_env_values = true)]
    pub cluster_secret: Option<String>,

    /// Browser origins allowed by CORS (comma-separated in the variable); `--dev` allows any.
    #[arg(long = "cors-origin", env = "EDGESYNC_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,

    /// Largest accepted request body, in bytes.
    #[arg(long, env = "EDGESYNC_MAX_BODY_BYTES", default_value_t = sync_protocol::DEFAULT_MAX_BODY_BYTES)]
    pub max_body_bytes: usize,

    /// Documents kept in memory (least recently used are dropped first).
    #[arg(long, env = "EDGESYNC_CACHE_DOCS", default_value_t = 10_000)]
    pub cache_docs: usize,

    /// Stored change rows of one document that trigger compaction into a snapshot.
    #[arg(long, env = "EDGESYNC_COMPACT_AFTER_CHANGES", default_value_t = 256)]
    pub compact_after_changes: u64,

    /// How often each peer is checked for documents that still differ (anti-entropy), in ms.
    #[arg(long, env = "EDGESYNC_ANTI_ENTROPY_MS", default_value_t = 5_000)]
    pub anti_entropy_ms: u64,

    /// Longest wait between attempts to reach a peer that is down, in ms. Keep it
    /// well under a second so regions converge promptly when a partition heals.
    #[arg(long, env = "EDGESYNC_PEER_MAX_BACKOFF_MS", default_value_t = 400)]
    pub peer_max_backoff_ms: u64,

    /// Timeout of one replication request to a peer that is up, in ms.
    #[arg(long, env = "EDGESYNC_PEER_TIMEOUT_MS", default_value_t = 10_000)]
    pub peer_timeout_ms: u64,

    /// Longest time graceful shutdown waits for in-flight requests, in ms.
    #[arg(long, env = "EDGESYNC_SHUTDOWN_GRACE_MS", default_value_t = 10_000)]
    pub shutdown_grace_ms: u64,

    /// Log format.
    #[arg(long, env = "EDGESYNC_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
}

impl Config {
    /// Checks what clap cannot: a usable auth setup and sane limits.
    pub fn validate(&self) -> Result<(), String> {
        if self.region.is_empty() || !self.region.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(format!("--region {:?} must be letters, digits, '-' or '_'", self.region));
        }
        if !self.dev && self.jwt_hs256_secret.is_none() && self.jwt_es256_public_key.is_none() {
            return Err("no way to verify client tokens: pass --jwt-hs256-secret and/or --jwt-es256-public-key (or --dev)".into());
        }
        if !self.dev && !self.peers.is_empty() && self.cluster_secret.is_none() {
            return Err("replication needs --cluster-secret (shared by every region) unless --dev".into());
        }
        if let Some(peer) = self.peers.iter().find(|p| p.name == self.region) {
            return Err(format!("--peer {} has this region's own name", peer.name));
        }
        let mut names: Vec<_> = self.peers.iter().map(|p| &p.name).collect();
        names.sort();
        if let Some(pair) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(format!("peer {} is given twice", pair[0]));
        }
        if self.max_body_bytes < 1024 {
            return Err("--max-body-bytes must be at least 1024".into());
        }
        if self.cache_docs == 0 {
            return Err("--cache-docs must be at least 1".into());
        }
        if self.peer_max_backoff_ms == 0 || self.anti_entropy_ms == 0 || self.peer_timeout_ms == 0 {
            return Err("replication intervals must be positive".into());
        }
        Ok(())
    }

    pub fn client_hs256_secret(&self) -> Option<&str> {
        self.jwt_hs256_secret.as_deref().or(self.dev.then_some(DEV_SECRET))
    }

    pub fn cluster_secret(&self) -> Option<&str> {
        self.cluster_secret.as_deref().or(self.dev.then_some(DEV_SECRET))
    }

    pub fn anti_entropy_interval(&self) -> Duration {
        Duration::from_millis(self.anti_entropy_ms)
    }

    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("region.sqlite3")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, String> {
        let mut all = vec!["region-server"];
        all.extend_from_slice(args);
        let config = Config::try_parse_from(all).map_err(|e| e.to_string())?;
        config.validate()?;
        Ok(config)
    }

    #[test]
    fn the_issue_example_parses() {
        let c = parse(&[
            "--region", "us-east", "--listen", "127.0.0.1:9001", "--data-dir", "./data/us-east",
            "--peer", "us-west=http://127.0.0.1:9002", "--peer", "eu-west=http://127.0.0.1:9003", "--dev",
        ])
        .unwrap();
        assert_eq!(c.peers.len(), 2);
        assert_eq!(c.peers[1].name, "eu-west");
        assert_eq!(c.client_hs256_secret(), Some(DEV_SECRET));
    }

    #[test]
    fn bad_configs_are_explained() {
        let base = ["--region", "r", "--data-dir", "/tmp/x"];
        let with = |extra: &[&str]| {
            let mut v = base.to_vec();
            v.extend_from_slice(extra);
            parse(&v)
        };
        assert!(with(&[]).unwrap_err().contains("verify client tokens"));
        assert!(with(&["--dev", "--peer", "nope"]).unwrap_err().contains("name=http"));
        assert!(with(&["--dev", "--peer", "x=ftp://h"]).unwrap_err().contains("http(s)"));
        assert!(with(&["--dev", "--peer", "r=http://h:1"]).unwrap_err().contains("own name"));
        assert!(with(&["--dev", "--peer", "a=http://h:1", "--peer", "a=http://h:2"]).unwrap_err().contains("twice"));
        assert!(with(&["--jwt-hs256-secret", "s", "--peer", "a=http://h:1"]).unwrap_err().contains("cluster-secret"));
        assert!(with(&["--dev", "--listen", "nowhere"]).is_err());
    }
}
