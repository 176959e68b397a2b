//! The world as the control API and the demo page see it (JSON).

use serde::Serialize;

use super::region::ProcessStatus;
use crate::proxy::{Fault, FaultProxy, ProxyStats};

#[derive(Clone, Debug, Serialize)]
pub struct WorldState {
    pub edge: Option<EdgeState>,
    pub regions: Vec<RegionState>,
    /// One entry per ordered pair of regions.
    pub links: Vec<LinkState>,
}

#[derive(Clone, Debug, Serialize)]
pub struct EdgeState {
    pub url: String,
    pub running: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct RegionState {
    pub id: String,
    pub lat: f64,
    pub lon: f64,
    /// The process's own address (no simulated network in between).
    pub url: String,
    pub process: ProcessStatus,
    /// The edge -> region path.
    pub edge: EdgePathState,
}

/// A simulated network path: its fault, one-way latency and counters.
#[derive(Clone, Debug, Serialize)]
pub struct EdgePathState {
    /// The URL the edge is configured with for this region (the proxy).
    pub origin: String,
    pub fault: Fault,
    pub latency_ms: u64,
    pub stats: ProxyStats,
}

impl EdgePathState {
    pub(crate) fn of(proxy: &FaultProxy) -> Self {
        EdgePathState {
            origin: proxy.url(),
            fault: proxy.fault(),
            latency_ms: millis(proxy),
            stats: proxy.stats(),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct LinkState {
    pub from: String,
    pub to: String,
    pub fault: Fault,
    pub latency_ms: u64,
}

impl LinkState {
    pub(crate) fn of(from: &str, to: &str, proxy: &FaultProxy) -> Self {
        LinkState {
            from: from.to_owned(),
            to: to.to_owned(),
            fault: proxy.fault(),
            latency_ms: millis(proxy),
        }
    }
}

fn millis(proxy: &FaultProxy) -> u64 {
    u64::try_from(proxy.latency().as_millis()).unwrap_or(u64::MAX)
}
