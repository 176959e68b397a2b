//! One region of the world: its process through kills, pauses and restarts,
//! and the fault proxy the edge reaches it through.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde::Serialize;

use super::WorldError;
use super::config::RegionSpec;
use crate::process::{ManagedProcess, ProcessSpec};
use crate::proxy::FaultProxy;

/// Where a region's process is in its life, as the control API reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProcessState {
    /// Started, not ready yet.
    Starting,
    Running,
    /// SIGSTOPped: holds its sockets, answers nothing.
    Paused,
    /// SIGKILLed by a control.
    Killed,
    /// Terminated gracefully by a control or at shutdown.
    Stopped,
    /// Exited on its own (crashed).
    Exited,
}

impl std::fmt::Display for ProcessState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        f.write_str(&text)
    }
}

enum Lifecycle {
    Starting(Arc<ManagedProcess>),
    Running(Arc<ManagedProcess>),
    Paused(Arc<ManagedProcess>),
    Killed,
    Stopped,
}

impl Lifecycle {
    fn process(&self) -> Option<&Arc<ManagedProcess>> {
        match self {
            Lifecycle::Starting(p) | Lifecycle::Running(p) | Lifecycle::Paused(p) => Some(p),
            Lifecycle::Killed | Lifecycle::Stopped => None,
        }
    }

    fn state(&self) -> ProcessState {
        match self {
            Lifecycle::Starting(p) | Lifecycle::Running(p) | Lifecycle::Paused(p)
                if !p.is_running() =>
            {
                ProcessState::Exited
            }
            Lifecycle::Starting(_) => ProcessState::Starting,
            Lifecycle::Running(_) => ProcessState::Running,
            Lifecycle::Paused(_) => ProcessState::Paused,
            Lifecycle::Killed => ProcessState::Killed,
            Lifecycle::Stopped => ProcessState::Stopped,
        }
    }
}

/// A snapshot of a region's process.
#[derive(Clone, Debug, Serialize)]
pub struct ProcessStatus {
    pub state: ProcessState,
    pub pid: Option<u32>,
    /// The exit status when the process exited on its own.
    pub exit: Option<String>,
}

pub(crate) struct Region {
    pub spec: RegionSpec,
    /// The process's own address, the same across restarts.
    pub listen: SocketAddr,
    pub edge_proxy: FaultProxy,
    launch: ProcessSpec,
    lifecycle: Mutex<Lifecycle>,
    ready_timeout: Duration,
    stop_grace: Duration,
}

impl Region {
    pub fn new(
        spec: RegionSpec,
        listen: SocketAddr,
        edge_proxy: FaultProxy,
        launch: ProcessSpec,
        ready_timeout: Duration,
        stop_grace: Duration,
    ) -> Region {
        Region {
            spec,
            listen,
            edge_proxy,
            launch,
            lifecycle: Mutex::new(Lifecycle::Stopped),
            ready_timeout,
            stop_grace,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.listen)
    }

    pub fn log_path(&self) -> &std::path::Path {
        self.launch.log_path()
    }

    fn lifecycle(&self) -> MutexGuard<'_, Lifecycle> {
        self.lifecycle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn invalid(&self, action: &'static str, state: ProcessState) -> WorldError {
        WorldError::InvalidState {
            region: self.spec.id.clone(),
            action,
            state,
        }
    }

    pub fn status(&self) -> ProcessStatus {
        let lifecycle = self.lifecycle();
        let state = lifecycle.state();
        let process = lifecycle.process();
        ProcessStatus {
            state,
            pid: process.map(|p| p.pid()),
            exit: process.and_then(|p| p.exit_status()).map(|s| s.to_string()),
        }
    }

    /// Starts the process (unless one is alive) and waits until `/readyz` is 2xx.
    pub async fn start(&self) -> Result<(), WorldError> {
        let process = {
            let mut lifecycle = self.lifecycle();
            match lifecycle.state() {
                ProcessState::Killed | ProcessState::Stopped | ProcessState::Exited => {}
                state => return Err(self.invalid("start", state)),
            }
            let process = Arc::new(ManagedProcess::spawn(&self.launch)?);
            *lifecycle = Lifecycle::Starting(Arc::clone(&process));
            process
        };
        // Not holding the lock: the state stays observable and killable meanwhile.
        let ready_url = format!("{}/readyz", self.url());
        let ready = process.wait_http_ok(&ready_url, self.ready_timeout).await;
        let mut lifecycle = self.lifecycle();
        match &*lifecycle {
            Lifecycle::Starting(current) if Arc::ptr_eq(current, &process) => {
                if let Err(error) = ready {
                    *lifecycle = Lifecycle::Stopped;
                    drop(lifecycle);
                    // Kills it; a process that never became ready must not linger.
                    drop(process);
                    return Err(error.into());
                }
                *lifecycle = Lifecycle::Running(process);
                Ok(())
            }
            // A control killed or replaced it while it was starting.
            _ => Err(WorldError::Interrupted {
                region: self.spec.id.clone(),
            }),
        }
    }

    /// SIGKILL, as when a machine dies. Killing a dead region does nothing.
    pub fn kill(&self) -> Result<(), WorldError> {
        let mut lifecycle = self.lifecycle();
        if let Some(process) = lifecycle.process() {
            process.kill()?;
            *lifecycle = Lifecycle::Killed;
        }
        Ok(())
    }

    pub async fn pause(&self) -> Result<(), WorldError> {
        let process = {
            let mut lifecycle = self.lifecycle();
            match (lifecycle.state(), &*lifecycle) {
                (ProcessState::Running, Lifecycle::Running(process)) => {
                    let process = Arc::clone(process);
                    *lifecycle = Lifecycle::Paused(Arc::clone(&process));
                    process
                }
                (ProcessState::Paused, _) => return Ok(()),
                (state, _) => return Err(self.invalid("pause", state)),
            }
        };
        // Outside the lock: waiting for the stop takes a moment.
        process.pause().await?;
        Ok(())
    }

    pub fn resume(&self) -> Result<(), WorldError> {
        let mut lifecycle = self.lifecycle();
        match (lifecycle.state(), &*lifecycle) {
            (ProcessState::Paused, Lifecycle::Paused(process)) => {
                let process = Arc::clone(process);
                process.resume()?;
                *lifecycle = Lifecycle::Running(process);
                Ok(())
            }
            (ProcessState::Running, _) => Ok(()),
            (state, _) => Err(self.invalid("resume", state)),
        }
    }

    /// Gracefully stops a live process (SIGTERM, then SIGKILL after the grace).
    pub async fn stop(&self) -> Result<(), WorldError> {
        let process = {
            let mut lifecycle = self.lifecycle();
            let process = lifecycle.process().cloned();
            if process.is_some() {
                *lifecycle = Lifecycle::Stopped;
            }
            process
        };
        if let Some(process) = process {
            process.terminate(self.stop_grace).await?;
        }
        Ok(())
    }

    /// Stops the process if it is alive, then starts it and waits until ready.
    pub async fn restart(&self) -> Result<(), WorldError> {
        if let ProcessState::Starting = self.status().state {
            return Err(self.invalid("restart", ProcessState::Starting));
        }
        self.stop().await?;
        self.start().await
    }
}
