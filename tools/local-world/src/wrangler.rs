//! `wrangler dev`: a worker running in a local workerd, started from the
//! repository root with bounded waits and its output in a log file.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::http_wait::Expect;
use crate::paths::{default_log_base, free_port, fresh_dir, repo_root};
use crate::process::{ManagedProcess, ProcessError, ProcessSpec};

/// How long wrangler gets to exit after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// How to start `wrangler dev`.
#[derive(Clone, Debug)]
pub struct WranglerOptions {
    /// The wrangler configuration; the root `wrangler.toml` by default.
    pub config: PathBuf,
    /// Port on 127.0.0.1; a free one when `None`.
    pub port: Option<u16>,
    /// Passed as `--var KEY:VALUE` each (they override the config's `[vars]`).
    pub vars: BTreeMap<String, String>,
    /// Where wrangler's output goes; a fresh file under the temp dir by default.
    pub log_path: Option<PathBuf>,
    /// Local persistence (cache, storage); private to this instance by default
    /// so that concurrent instances never share state.
    pub persist_dir: Option<PathBuf>,
    /// Bound on the start, which may include the config's `[build]` command.
    pub startup_timeout: Duration,
    /// Path probed for readiness, and what answer counts as ready.
    pub ready_path: String,
    pub ready_expect: Expect,
    /// More arguments for `wrangler dev`.
    pub extra_args: Vec<String>,
}

impl Default for WranglerOptions {
    fn default() -> Self {
        WranglerOptions {
            config: repo_root().join("wrangler.toml"),
            port: None,
            vars: BTreeMap::new(),
            log_path: None,
            persist_dir: None,
            startup_timeout: Duration::from_secs(180),
            ready_path: "/".into(),
            ready_expect: Expect::AnyAnswer,
            extra_args: Vec::new(),
        }
    }
}

impl WranglerOptions {
    /// Options for another configuration file (relative paths are taken from
    /// the repository root).
    pub fn with_config(config: impl Into<PathBuf>) -> Self {
        WranglerOptions {
            config: repo_root().join(config.into()),
            ..WranglerOptions::default()
        }
    }

    pub fn var(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.vars.insert(key.into(), value.into());
        self
    }

    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    pub fn log_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.log_path = Some(path.into());
        self
    }

    /// Ready when GET `path` answers 2xx (instead of any answer at `/`).
    pub fn ready_when_ok(mut self, path: impl Into<String>) -> Self {
        self.ready_path = path.into();
        self.ready_expect = Expect::Success;
        self
    }

    pub fn startup_timeout(mut self, timeout: Duration) -> Self {
        self.startup_timeout = timeout;
        self
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WranglerError {
    #[error("wrangler is not installed at {}: run scripts/setup.sh (npm ci) first", .0.display())]
    NotInstalled(PathBuf),
    #[error("wrangler config {} does not exist", .0.display())]
    MissingConfig(PathBuf),
    #[error("a var name must be non-empty and without ':' (got {0:?})")]
    BadVarName(String),
    #[error("could not prepare wrangler's files: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Process(#[from] ProcessError),
}

/// A running `wrangler dev`; stopped (with its workerd) when dropped.
#[derive(Debug)]
pub struct WranglerDev {
    process: ManagedProcess,
    port: u16,
}

impl WranglerDev {
    /// Starts wrangler and waits until it answers (see [`WranglerOptions`]).
    pub async fn start(options: WranglerOptions) -> Result<WranglerDev, WranglerError> {
        let root = repo_root();
        let wrangler = root.join("node_modules/.bin/wrangler");
        if !wrangler.is_file() {
            return Err(WranglerError::NotInstalled(wrangler));
        }
        if !options.config.is_file() {
            return Err(WranglerError::MissingConfig(options.config));
        }
        if let Some(bad) = options
            .vars
            .keys()
            .find(|k| k.is_empty() || k.contains(':'))
        {
            return Err(WranglerError::BadVarName(bad.clone()));
        }
        let port = match options.port {
            Some(port) => port,
            None => free_port()?,
        };
        let run_dir = fresh_dir(&default_log_base(), "wrangler")?;
        let log_path = options
            .log_path
            .clone()
            .unwrap_or_else(|| run_dir.join("wrangler.log"));
        let persist_dir = options
            .persist_dir
            .clone()
            .unwrap_or_else(|| run_dir.join("state"));

        let mut spec = ProcessSpec::new(format!("wrangler dev :{port}"), wrangler, &log_path)
            .current_dir(&root)
            .arg("dev")
            .arg("--config")
            .arg(&options.config)
            .args(["--ip", "127.0.0.1", "--port", &port.to_string()])
            // The default inspector port (9229) would collide between instances.
            .args(["--inspector-port", &free_port()?.to_string()])
            .arg("--persist-to")
            .arg(&persist_dir)
            .arg("--show-interactive-dev-session=false")
            .env("CI", "true")
            .env("WRANGLER_SEND_METRICS", "false")
            .env("WRANGLER_LOG_PATH", run_dir.join("wrangler-debug"))
            .env("NO_COLOR", "1")
            .env("FORCE_COLOR", "0");
        for (key, value) in &options.vars {
            // wrangler splits at the first ':', so values may contain colons (URLs, JSON).
            spec = spec.arg("--var").arg(format!("{key}:{value}"));
        }
        spec = spec.args(&options.extra_args);

        let process = ManagedProcess::spawn(&spec)?;
        let ready_url = format!("http://127.0.0.1:{port}{}", options.ready_path);
        process
            .wait_http(&ready_url, options.startup_timeout, options.ready_expect)
            .await?;
        Ok(WranglerDev { process, port })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn process(&self) -> &ManagedProcess {
        &self.process
    }

    /// SIGTERM wrangler and its workerd, SIGKILL what is left after a grace period.
    pub async fn stop(self) -> Result<(), ProcessError> {
        self.process.terminate(STOP_GRACE).await
    }
}
