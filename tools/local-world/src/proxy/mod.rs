//! A TCP proxy `listen -> upstream` that injects network faults: one-way latency,
//! a black hole (the peer stops answering) and refusal (the peer is dead).
//!
//! Every change applies at once to new and existing connections, so a test can
//! freeze a keep-alive connection in the middle of an exchange.

mod relay;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// What the simulated network does to traffic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// Traffic flows (after the configured latency).
    #[default]
    Pass,
    /// Connections are accepted but not a byte is forwarded either way; existing
    /// connections freeze. Clients hang until their own timeout: "the region
    /// stopped answering". Bytes held back are delivered if the fault is lifted,
    /// as TCP retransmission would.
    BlackHole,
    /// New connections are reset at once and existing ones are reset: "the region
    /// is dead".
    Refuse,
}

/// The conditions every connection of one proxy obeys, published through a
/// watch channel so changes reach connections that are already open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Conditions {
    pub fault: Fault,
    /// Added to each chunk in each direction.
    pub one_way_latency: Duration,
}

/// Counters since the proxy started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ProxyStats {
    /// Connections accepted from clients (including those refused at once).
    pub connections_accepted: u64,
    /// Connections currently open on the client side.
    pub connections_open: u64,
    /// Connections reset on accept because the proxy was refusing.
    pub connections_refused: u64,
    /// Open connections reset by a `Refuse` fault or a failed upstream.
    pub connections_reset: u64,
    /// Connects to the upstream that failed (upstream down).
    pub upstream_connect_failures: u64,
    /// Bytes delivered to the upstream.
    pub bytes_to_upstream: u64,
    /// Bytes delivered to clients.
    pub bytes_to_client: u64,
}

#[derive(Default)]
pub(crate) struct Counters {
    accepted: AtomicU64,
    open: AtomicU64,
    refused: AtomicU64,
    reset: AtomicU64,
    upstream_failures: AtomicU64,
    pub(crate) to_upstream: AtomicU64,
    pub(crate) to_client: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> ProxyStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ProxyStats {
            connections_accepted: get(&self.accepted),
            connections_open: get(&self.open),
            connections_refused: get(&self.refused),
            connections_reset: get(&self.reset),
            upstream_connect_failures: get(&self.upstream_failures),
            bytes_to_upstream: get(&self.to_upstream),
            bytes_to_client: get(&self.to_client),
        }
    }

    pub(crate) fn count_reset(&self) {
        self.reset.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_upstream_failure(&self) {
        self.upstream_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an open connection until the guard drops.
    pub(crate) fn open_guard(self: &Arc<Self>) -> OpenGuard {
        self.open.fetch_add(1, Ordering::Relaxed);
        OpenGuard(Arc::clone(self))
    }
}

pub(crate) struct OpenGuard(Arc<Counters>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A running fault proxy. Dropping it closes the listener and every connection.
pub struct FaultProxy {
    addr: SocketAddr,
    upstream: SocketAddr,
    conditions: watch::Sender<Conditions>,
    counters: Arc<Counters>,
    accept_loop: JoinHandle<()>,
}

impl FaultProxy {
    /// Listens on `listen` (port 0 picks a free port) and forwards to `upstream`.
    /// Starts in [`Fault::Pass`] with no added latency.
    pub async fn start(listen: SocketAddr, upstream: SocketAddr) -> io::Result<FaultProxy> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let (conditions, watcher) = watch::channel(Conditions {
            fault: Fault::Pass,
            one_way_latency: Duration::ZERO,
        });
        let counters = Arc::new(Counters::default());
        let accept_loop = tokio::spawn(accept_loop(
            listener,
            upstream,
            watcher,
            Arc::clone(&counters),
        ));
        Ok(FaultProxy {
            addr,
            upstream,
            conditions,
            counters,
            accept_loop,
        })
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`, for proxies in front of HTTP servers.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn upstream(&self) -> SocketAddr {
        self.upstream
    }

    /// Delays every chunk by `one_way` in each direction, so a request/response
    /// exchange pays about twice this. Applies to bytes read from now on.
    pub fn set_latency(&self, one_way: Duration) {
        self.conditions.send_modify(|c| c.one_way_latency = one_way);
    }

    pub fn latency(&self) -> Duration {
        self.conditions.borrow().one_way_latency
    }

    /// Applies `fault` to new and existing connections.
    pub fn set_fault(&self, fault: Fault) {
        self.conditions.send_modify(|c| c.fault = fault);
    }

    pub fn fault(&self) -> Fault {
        self.conditions.borrow().fault
    }

    pub fn stats(&self) -> ProxyStats {
        self.counters.snapshot()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        // The accept loop owns every connection task (a JoinSet), so aborting it
        // closes the listener and all connections.
        self.accept_loop.abort();
    }
}

impl std::fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultProxy")
            .field("addr", &self.addr)
            .field("upstream", &self.upstream)
            .field("conditions", &*self.conditions.borrow())
            .finish()
    }
}

async fn accept_loop(
    listener: TcpListener,
    upstream: SocketAddr,
    conditions: watch::Receiver<Conditions>,
    counters: Arc<Counters>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((client, _)) => {
                    counters.accepted.fetch_add(1, Ordering::Relaxed);
                    if conditions.borrow().fault == Fault::Refuse {
                        counters.refused.fetch_add(1, Ordering::Relaxed);
                        relay::reset(client);
                        continue;
                    }
                    connections.spawn(relay::serve(client, upstream, conditions.clone(), Arc::clone(&counters)));
                }
                Err(error) => {
                    // Out of descriptors and the like: back off instead of spinning.
                    tracing::warn!(%error, "fault proxy accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
            // Reap finished connections so the set does not grow without bound.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}
