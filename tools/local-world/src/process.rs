//! Child processes that cannot outlive their owner: each runs in its own
//! process group, so signals reach grandchildren too (wrangler's workerd), and
//! it is killed when its handle drops.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::http_wait::{Expect, NotReady, WaitFailure, wait_for_http};

/// How often `terminate` checks whether the process has exited.
const EXIT_POLL: Duration = Duration::from_millis(25);
/// Bound on waiting for a paused group to stop, and how often it is checked.
const STOP_WAIT: Duration = Duration::from_secs(5);
const STOP_POLL: Duration = Duration::from_millis(2);
/// How many trailing log lines an error message carries.
const TAIL_LINES: usize = 40;

/// Everything needed to start (and restart) a process.
#[derive(Clone, Debug)]
pub struct ProcessSpec {
    name: String,
    program: PathBuf,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    current_dir: Option<PathBuf>,
    log_path: PathBuf,
}

impl ProcessSpec {
    /// `name` labels the process in logs and errors; stdout and stderr are
    /// appended to `log_path` (its directory is created).
    pub fn new(
        name: impl Into<String>,
        program: impl Into<PathBuf>,
        log_path: impl Into<PathBuf>,
    ) -> Self {
        ProcessSpec {
            name: name.into(),
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            current_dir: None,
            log_path: log_path.into(),
        }
    }

    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.current_dir = Some(dir.into());
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    pub fn program(&self) -> &Path {
        &self.program
    }

    pub fn arg_list(&self) -> &[OsString] {
        &self.args
    }

    fn command_line(&self) -> String {
        std::iter::once(self.program.as_os_str())
            .chain(self.args.iter().map(OsString::as_os_str))
            .map(|part| part.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Something went wrong starting, signalling or waiting for a process.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("could not open the log file {}: {source}", path.display())]
    Log { path: PathBuf, source: io::Error },
    #[error("could not start {name} ({program}): {source}", program = program.display())]
    Spawn {
        name: String,
        program: PathBuf,
        source: io::Error,
    },
    #[error("could not send {signal} to {name}: {source}")]
    Signal {
        name: String,
        signal: Signal,
        source: Errno,
    },
    #[error("{name} did not stop within {waited:?} of SIGSTOP")]
    NotStopped { name: String, waited: Duration },
    #[error("{name} exited ({status}) before {url} answered; last lines of {}:\n{tail}", log.display())]
    ExitedEarly {
        name: String,
        status: String,
        url: String,
        log: PathBuf,
        tail: String,
    },
    #[error("{name} is running but not ready: {not_ready}; last lines of {}:\n{tail}", log.display())]
    NotReady {
        name: String,
        not_ready: Box<NotReady>,
        log: PathBuf,
        tail: String,
    },
}

enum ChildState {
    Running(Child),
    Exited(ExitStatus),
}

/// A running child process and its process group.
pub struct ManagedProcess {
    spec: ProcessSpec,
    pid: u32,
    state: Mutex<ChildState>,
}

impl ManagedProcess {
    /// Starts `spec` in a new process group, stdin closed, output to its log.
    pub fn spawn(spec: &ProcessSpec) -> Result<ManagedProcess, ProcessError> {
        let mut log = open_log(&spec.log_path)?;
        let started = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let header = format!(
            "\n--- {} started at unix {started}: {}\n",
            spec.name,
            spec.command_line()
        );
        log.write_all(header.as_bytes())
            .map_err(|source| ProcessError::Log {
                path: spec.log_path.clone(),
                source,
            })?;
        let log_error = |source| ProcessError::Log {
            path: spec.log_path.clone(),
            source,
        };
        let stderr = log.try_clone().map_err(log_error)?;

        let mut command = Command::new(&spec.program);
        command
            .args(&spec.args)
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(stderr))
            // Its own group: one signal reaches the process and its descendants,
            // and a Ctrl-C in the terminal reaches only our launcher, which then
            // stops the children in order.
            .process_group(0);
        if let Some(dir) = &spec.current_dir {
            command.current_dir(dir);
        }
        let child = command.spawn().map_err(|source| ProcessError::Spawn {
            name: spec.name.clone(),
            program: spec.program.clone(),
            source,
        })?;
        Ok(ManagedProcess {
            spec: spec.clone(),
            pid: child.id(),
            state: Mutex::new(ChildState::Running(child)),
        })
    }

    pub fn name(&self) -> &str {
        &self.spec.name
    }

    pub fn spec(&self) -> &ProcessSpec {
        &self.spec
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn log_path(&self) -> &Path {
        &self.spec.log_path
    }

    fn state(&self) -> MutexGuard<'_, ChildState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reaps the child if it has exited; returns its status then.
    fn poll_exit(state: &mut ChildState) -> Option<ExitStatus> {
        match state {
            ChildState::Exited(status) => Some(*status),
            ChildState::Running(child) => match child.try_wait() {
                Ok(Some(status)) => {
                    *state = ChildState::Exited(status);
                    Some(status)
                }
                Ok(None) => None,
                // ECHILD: someone else reaped it; it is gone either way.
                Err(_) => None,
            },
        }
    }

    /// True until the process exits (a paused process is running).
    pub fn is_running(&self) -> bool {
        Self::poll_exit(&mut self.state()).is_none()
    }

    /// The exit status, once the process has exited.
    pub fn exit_status(&self) -> Option<ExitStatus> {
        Self::poll_exit(&mut self.state())
    }

    fn signal_group(&self, signal: Signal) -> Result<(), ProcessError> {
        match killpg(Pid::from_raw(self.pid as i32), signal) {
            // ESRCH: the whole group is gone already.
            Ok(()) | Err(Errno::ESRCH) => Ok(()),
            Err(source) => Err(ProcessError::Signal {
                name: self.spec.name.clone(),
                signal,
                source,
            }),
        }
    }

    /// SIGKILLs the whole process group and reaps the process.
    pub fn kill(&self) -> Result<(), ProcessError> {
        let mut state = self.state();
        self.signal_group(Signal::SIGKILL)?;
        if let ChildState::Running(child) = &mut *state {
            // SIGKILL cannot be caught, so this returns promptly.
            if let Ok(status) = child.wait() {
                *state = ChildState::Exited(status);
            }
        }
        Ok(())
    }

    /// SIGTERM (and SIGCONT, in case it is paused), up to `grace` to exit, then
    /// SIGKILL. Descendants still alive afterwards are killed too.
    pub async fn terminate(&self, grace: Duration) -> Result<(), ProcessError> {
        if self.is_running() {
            self.signal_group(Signal::SIGTERM)?;
            // A stopped process only sees SIGTERM once it runs again.
            self.signal_group(Signal::SIGCONT)?;
            let deadline = tokio::time::Instant::now() + grace;
            while self.is_running() && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(EXIT_POLL).await;
            }
        }
        // Kills the leader if it ignored SIGTERM, and any orphans it left.
        self.kill()
    }

    /// SIGSTOP to the group, and waits until every thread of every process in
    /// it has stopped: the processes keep their sockets but answer nothing.
    ///
    /// The wait matters: the kernel stops a process's other threads only once
    /// one thread has run to take the signal, and on a busy machine a worker
    /// thread can still answer a request in between.
    pub async fn pause(&self) -> Result<(), ProcessError> {
        self.signal_group(Signal::SIGSTOP)?;
        let deadline = tokio::time::Instant::now() + STOP_WAIT;
        while !group_stopped(self.pid) {
            if tokio::time::Instant::now() >= deadline {
                return Err(ProcessError::NotStopped {
                    name: self.spec.name.clone(),
                    waited: STOP_WAIT,
                });
            }
            tokio::time::sleep(STOP_POLL).await;
        }
        Ok(())
    }

    /// SIGCONT to the group.
    pub fn resume(&self) -> Result<(), ProcessError> {
        self.signal_group(Signal::SIGCONT)
    }

    /// Waits until GET `url` answers 2xx; fails at once if the process exits,
    /// and carries the tail of its log in every error.
    pub async fn wait_http_ok(&self, url: &str, timeout: Duration) -> Result<(), ProcessError> {
        self.wait_http(url, timeout, Expect::Success).await
    }

    /// Like [`ManagedProcess::wait_http_ok`] with a choice of what counts as up.
    pub async fn wait_http(
        &self,
        url: &str,
        timeout: Duration,
        expect: Expect,
    ) -> Result<(), ProcessError> {
        let alive = || match self.exit_status() {
            None => Ok(()),
            Some(status) => Err(status),
        };
        match wait_for_http(url, timeout, expect, alive).await {
            Ok(()) => Ok(()),
            Err(WaitFailure::GaveUp(status)) => Err(ProcessError::ExitedEarly {
                name: self.spec.name.clone(),
                status: status.to_string(),
                url: url.to_owned(),
                log: self.spec.log_path.clone(),
                tail: self.log_tail(TAIL_LINES),
            }),
            Err(WaitFailure::TimedOut(not_ready)) => Err(ProcessError::NotReady {
                name: self.spec.name.clone(),
                not_ready: Box::new(not_ready),
                log: self.spec.log_path.clone(),
                tail: self.log_tail(TAIL_LINES),
            }),
        }
    }

    /// The last `lines` lines of the log (empty if it cannot be read).
    pub fn log_tail(&self, lines: usize) -> String {
        log_tail(&self.spec.log_path, lines)
    }
}

impl Drop for ManagedProcess {
    fn drop(&mut self) {
        if let Err(error) = self.kill() {
            tracing::warn!(%error, "could not kill {} on drop", self.spec.name);
        }
    }
}

impl std::fmt::Debug for ManagedProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagedProcess")
            .field("name", &self.spec.name)
            .field("pid", &self.pid)
            .field("log", &self.spec.log_path)
            .finish()
    }
}

fn open_log(path: &Path) -> Result<File, ProcessError> {
    let log_error = |source| ProcessError::Log {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(log_error)?;
    }
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(log_error)
}

/// The state letter and process group of `/proc/<pid>[/task/<tid>]/stat`.
fn proc_stat(path: &Path) -> Option<(char, u32)> {
    let stat = std::fs::read_to_string(path).ok()?;
    // "pid (comm) S ppid pgrp ...": comm may hold spaces, so split after the last ')'.
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let pgrp = fields.nth(1)?.parse().ok()?;
    Some((state, pgrp))
}

/// True when no thread of any process in group `pgid` can run (stopped,
/// traced-stopped or dead).
fn group_stopped(pgid: u32) -> bool {
    let Ok(processes) = std::fs::read_dir("/proc") else {
        return true; // no procfs: nothing to wait on
    };
    let can_run = |state: char| !matches!(state, 'T' | 't' | 'Z' | 'X' | 'x');
    for process in processes.flatten() {
        let path = process.path();
        if !process
            .file_name()
            .to_string_lossy()
            .bytes()
            .all(|b| b.is_ascii_digit())
        {
            continue;
        }
        if proc_stat(&path.join("stat")).is_none_or(|(_, pgrp)| pgrp != pgid) {
            continue;
        }
        let Ok(threads) = std::fs::read_dir(path.join("task")) else {
            continue; // exited meanwhile
        };
        let running = threads
            .flatten()
            .filter_map(|thread| proc_stat(&thread.path().join("stat")))
            .any(|(state, _)| can_run(state));
        if running {
            return false;
        }
    }
    true
}

/// The last `lines` lines of the file at `path`, reading at most its last 64 KiB.
pub fn log_tail(path: &Path, lines: usize) -> String {
    const MAX_BYTES: u64 = 64 * 1024;
    let Ok(mut file) = File::open(path) else {
        return String::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    if file
        .seek(SeekFrom::Start(len.saturating_sub(MAX_BYTES)))
        .is_err()
    {
        return String::new();
    }
    let mut bytes = Vec::new();
    if file.read_to_end(&mut bytes).is_err() {
        return String::new();
    }
    let text = String::from_utf8_lossy(&bytes);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
