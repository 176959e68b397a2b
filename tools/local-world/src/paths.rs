//! Where things are: the repository, the binaries cargo built, free ports.
//!
//! Mirrors `scripts/lib.sh` so that a Rust test and a shell script started with
//! the same environment find the same binary.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};

/// Overrides the repository root (for a binary copied out of the clone).
pub const ROOT_ENV: &str = "EDGESYNC_ROOT";

/// The repository root: `$EDGESYNC_ROOT` when set, else the clone this crate was
/// compiled from.
pub fn repo_root() -> PathBuf {
    if let Some(root) = std::env::var_os(ROOT_ENV).filter(|v| !v.is_empty()) {
        return PathBuf::from(root);
    }
    // tools/local-world -> repository root.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

/// Cargo's target directory as `scripts/lib.sh` computes it: `$CARGO_TARGET_DIR`
/// (relative paths are taken from the repository root, where the scripts run),
/// else `<root>/target`.
pub fn target_dir() -> PathBuf {
    let root = repo_root();
    match std::env::var_os("CARGO_TARGET_DIR").filter(|v| !v.is_empty()) {
        Some(dir) => root.join(dir), // join keeps an absolute `dir` as is
        None => root.join("target"),
    }
}

/// A native binary of the workspace that has not been built.
#[derive(Debug, thiserror::Error)]
#[error(
    "binary `{name}` not found at {}: build it first with \
     `cargo build --bin {name}` in {} (with CARGO_TARGET_DIR={})",
    path.display(), root.display(), target.display()
)]
pub struct MissingBinary {
    pub name: String,
    pub path: PathBuf,
    root: PathBuf,
    target: PathBuf,
}

/// `$CARGO_TARGET_DIR/debug/<name>`, or an error that says which build to run.
pub fn binary_path(name: &str) -> Result<PathBuf, MissingBinary> {
    let target = target_dir();
    let path = target.join("debug").join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(MissingBinary {
            name: name.to_owned(),
            path,
            root: repo_root(),
            target,
        })
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago, for a child process to
/// listen on.
///
/// Not what the kernel gives for port 0: it hands a just-released port out
/// again (two regions of one world got the same one) and outgoing connections
/// take ports from that ephemeral range. Instead a random port below the
/// ephemeral range, never the same twice in this process, checked by binding.
/// Another process can still take it before the child binds it; callers that
/// can bind port 0 themselves should do that instead.
pub fn free_port() -> std::io::Result<u16> {
    use rand::Rng;
    use std::collections::BTreeSet;
    use std::sync::{Mutex, PoisonError};
    static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    const ATTEMPTS: usize = 500;

    let (ephemeral_low, _) = ephemeral_port_range();
    let candidates = FREE_PORT_FLOOR..ephemeral_low.max(FREE_PORT_FLOOR + 1000);
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(PoisonError::into_inner);
    let mut rng = rand::rng();
    for _ in 0..ATTEMPTS {
        let port = rng.random_range(candidates.clone());
        if !handed_out.contains(&port) && TcpListener::bind(loopback(port)).is_ok() {
            handed_out.insert(port);
            return Ok(port);
        }
    }
    // A crowded machine: fall back to the kernel's choice.
    let listener = TcpListener::bind(loopback(0))?;
    Ok(listener.local_addr()?.port())
}

/// Ports below this are left to well-known services.
const FREE_PORT_FLOOR: u16 = 10_000;

/// Linux's range for outgoing connections and port 0 (its default if unreadable).
fn ephemeral_port_range() -> (u16, u16) {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| {
            let mut parts = text.split_whitespace().map(|p| p.parse::<u16>().ok());
            Some((parts.next()??, parts.next()??))
        })
        .unwrap_or((32768, 60999))
}

/// `127.0.0.1:port`.
pub fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

/// A directory for logs and data of one run that nothing else uses:
/// `<base>/<label>-<pid>-<n>`, created. Kept after the run for post-mortems.
pub fn fresh_dir(base: &Path, label: &str) -> std::io::Result<PathBuf> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = base.join(format!("{label}-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// The default place for logs of processes started by tests and tools.
pub fn default_log_base() -> PathBuf {
    std::env::temp_dir().join("edgesync-local-world")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_root_holds_the_workspace_manifest() {
        let manifest = std::fs::read_to_string(repo_root().join("Cargo.toml")).unwrap();
        assert!(manifest.contains("[workspace]"));
    }

    #[test]
    fn missing_binary_names_the_build_command() {
        let err = binary_path("no-such-binary-edgesync").unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("cargo build --bin no-such-binary-edgesync"),
            "{message}"
        );
        assert!(err.path.ends_with("debug/no-such-binary-edgesync"));
    }

    #[test]
    fn free_ports_are_bindable_distinct_and_not_ephemeral() {
        let ports: Vec<u16> = (0..50).map(|_| free_port().unwrap()).collect();
        let distinct: std::collections::BTreeSet<_> = ports.iter().collect();
        assert_eq!(distinct.len(), ports.len(), "a port was handed out twice");
        let (low, high) = ephemeral_port_range();
        for port in ports {
            assert!(!(low..=high).contains(&port), "{port} is ephemeral");
            TcpListener::bind(loopback(port)).unwrap();
        }
    }

    #[test]
    fn fresh_dirs_are_distinct() {
        let base = tempfile::tempdir().unwrap();
        let a = fresh_dir(base.path(), "x").unwrap();
        let b = fresh_dir(base.path(), "x").unwrap();
        assert_ne!(a, b);
        assert!(a.is_dir() && b.is_dir());
    }
}
