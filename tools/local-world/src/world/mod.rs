//! The local world: region processes, each behind an edge-facing fault proxy,
//! talking to each other through one fault proxy per ordered pair, and the
//! edge worker in `wrangler dev` in front. Every fault the demo and the chaos
//! suite inject goes through the controls here.

mod config;
mod region;
mod state;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

pub use config::{
    EdgeSpec, RegionBackend, RegionSpec, WorldConfig, default_regions, one_way_latency_between,
};
pub use region::{ProcessState, ProcessStatus};
pub use state::{EdgePathState, EdgeState, LinkState, RegionState, WorldState};

use futures_util::future::join_all;

use crate::paths::{free_port, loopback};
use crate::process::ProcessError;
use crate::proxy::{Fault, FaultProxy};
use crate::wrangler::{WranglerDev, WranglerError, WranglerOptions};
use region::Region;

/// How long the edge gets to exit after SIGTERM.
const EDGE_STOP_GRACE: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum WorldError {
    #[error("invalid world configuration: {0}")]
    Config(String),
    #[error("no region {0:?}")]
    UnknownRegion(String),
    #[error("a region cannot be partitioned from itself ({0:?})")]
    SelfPartition(String),
    #[error("cannot {action} region {region}: it is {state}")]
    InvalidState {
        region: String,
        action: &'static str,
        state: ProcessState,
    },
    #[error("region {region} was killed or restarted while it was starting")]
    Interrupted { region: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Process(#[from] ProcessError),
    #[error("the edge did not start: {0}")]
    Edge(#[from] WranglerError),
}

fn io_error(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> WorldError {
    let context = context.into();
    move |source| WorldError::Io { context, source }
}

/// A running world. Dropping it kills every process; [`World::stop`] stops
/// them gracefully.
pub struct World {
    regions: Vec<Region>,
    /// `(from, to)` -> the proxy `from` reaches `to` through.
    links: BTreeMap<(String, String), FaultProxy>,
    edge: Mutex<Option<WranglerDev>>,
    edge_url: Option<String>,
    data_dir: PathBuf,
}

impl World {
    /// Starts the world and waits until every region and the edge are ready.
    pub async fn start(config: WorldConfig) -> Result<World, WorldError> {
        Self::start_with_progress(config, &|_| {}).await
    }

    /// Like [`World::start`], calling `progress` with a line before each step.
    pub async fn start_with_progress(
        config: WorldConfig,
        progress: &(dyn Fn(&str) + Sync),
    ) -> Result<World, WorldError> {
        config.validate().map_err(WorldError::Config)?;
        let regions_dir = config.data_dir.join("regions");
        let logs_dir = config.data_dir.join("logs");
        if config.fresh && regions_dir.exists() {
            progress(&format!(
                "deleting old region data in {}",
                regions_dir.display()
            ));
            std::fs::remove_dir_all(&regions_dir)
                .map_err(io_error(format!("deleting {}", regions_dir.display())))?;
        }

        // Ports first: every region's peers must be known before any starts.
        let mut ports = BTreeMap::new();
        for spec in &config.regions {
            ports.insert(
                spec.id.clone(),
                free_port().map_err(io_error("finding a free port"))?,
            );
        }
        let mut links = BTreeMap::new();
        for from in &config.regions {
            for to in config.regions.iter().filter(|to| to.id != from.id) {
                let proxy = FaultProxy::start(loopback(0), loopback(ports[&to.id]))
                    .await
                    .map_err(io_error("starting an inter-region proxy"))?;
                proxy.set_latency(config.link_latency(from, to));
                links.insert((from.id.clone(), to.id.clone()), proxy);
            }
        }

        let mut regions = Vec::new();
        for spec in &config.regions {
            let listen = loopback(ports[&spec.id]);
            let edge_proxy = FaultProxy::start(loopback(0), listen)
                .await
                .map_err(io_error("starting an edge proxy"))?;
            edge_proxy.set_latency(spec.edge_latency);
            let peers: BTreeMap<String, String> = links
                .iter()
                .filter(|((from, _), _)| *from == spec.id)
                .map(|((_, to), proxy)| (to.clone(), proxy.url()))
                .collect();
            let data = regions_dir.join(&spec.id);
            std::fs::create_dir_all(&data)
                .map_err(io_error(format!("creating {}", data.display())))?;
            let launch = config.backend.process_spec(
                &spec.id,
                listen,
                &data,
                &peers,
                &logs_dir.join(format!("{}.log", spec.id)),
            );
            regions.push(Region::new(
                spec.clone(),
                listen,
                edge_proxy,
                launch,
                config.region_ready_timeout,
                config.stop_grace,
            ));
        }

        let mut world = World {
            regions,
            links,
            edge: Mutex::new(None),
            edge_url: None,
            data_dir: config.data_dir.clone(),
        };
        let started = Instant::now();
        progress(&format!(
            "starting regions {} (logs in {})",
            world.region_ids().join(", "),
            logs_dir.display()
        ));
        // In parallel: each waits for its own /readyz.
        let starts = world.regions.iter().map(Region::start);
        for result in join_all(starts).await {
            result?;
        }
        progress(&format!(
            "regions ready in {:.1}s",
            started.elapsed().as_secs_f64()
        ));

        if let Some(edge) = &config.edge {
            let started = Instant::now();
            progress("starting the edge (wrangler dev; the first start builds the worker)");
            let dev = WranglerDev::start(world.edge_options(edge, &logs_dir)).await?;
            progress(&format!(
                "edge ready at {} in {:.1}s",
                dev.url(),
                started.elapsed().as_secs_f64()
            ));
            world.edge_url = Some(dev.url());
            *world.edge.lock().unwrap_or_else(PoisonError::into_inner) = Some(dev);
        }
        Ok(world)
    }

    /// `EDGE_CONFIG`: the regions as the edge reaches them (through their proxies).
    pub fn edge_config(
        &self,
        extra: &serde_json::Map<String, serde_json::Value>,
    ) -> serde_json::Value {
        let regions: Vec<serde_json::Value> = self
            .regions
            .iter()
            .map(|r| {
                serde_json::json!({
                    "id": r.spec.id,
                    "origin": r.edge_proxy.url(),
                    "lat": r.spec.lat,
                    "lon": r.spec.lon,
                    "tags": r.spec.tags,
                })
            })
            .collect();
        let mut config = serde_json::Map::new();
        config.insert("regions".into(), regions.into());
        for (key, value) in extra {
            config.insert(key.clone(), value.clone());
        }
        config.into()
    }

    fn edge_options(&self, edge: &EdgeSpec, logs_dir: &Path) -> WranglerOptions {
        let mut options = WranglerOptions {
            config: edge.config.clone(),
            port: edge.port,
            log_path: Some(logs_dir.join("edge.log")),
            persist_dir: Some(self.data_dir.join("edge-state")),
            startup_timeout: edge.startup_timeout,
            ..WranglerOptions::default()
        }
        .ready_when_ok(edge.ready_path.clone())
        .var(
            "EDGE_CONFIG",
            self.edge_config(&edge.extra_config).to_string(),
        )
        .var("EDGE_DEV", "1");
        for (key, value) in &edge.extra_vars {
            options = options.var(key.clone(), value.clone());
        }
        options
    }

    pub fn region_ids(&self) -> Vec<String> {
        self.regions.iter().map(|r| r.spec.id.clone()).collect()
    }

    fn region(&self, id: &str) -> Result<&Region, WorldError> {
        self.regions
            .iter()
            .find(|r| r.spec.id == id)
            .ok_or_else(|| WorldError::UnknownRegion(id.to_owned()))
    }

    /// The edge's URL (`http://127.0.0.1:PORT`), when the world has an edge.
    pub fn edge_url(&self) -> Option<&str> {
        self.edge_url.as_deref()
    }

    /// The region process's own URL (bypasses every fault).
    pub fn region_url(&self, id: &str) -> Result<String, WorldError> {
        Ok(self.region(id)?.url())
    }

    /// The proxy the edge reaches region `id` through.
    pub fn edge_proxy(&self, id: &str) -> Result<&FaultProxy, WorldError> {
        Ok(&self.region(id)?.edge_proxy)
    }

    /// The proxy region `from` reaches region `to` through.
    pub fn link_proxy(&self, from: &str, to: &str) -> Result<&FaultProxy, WorldError> {
        self.region(from)?;
        self.region(to)?;
        if from == to {
            return Err(WorldError::SelfPartition(from.to_owned()));
        }
        self.links
            .get(&(from.to_owned(), to.to_owned()))
            .ok_or_else(|| WorldError::UnknownRegion(to.to_owned()))
    }

    pub fn region_log(&self, id: &str) -> Result<PathBuf, WorldError> {
        Ok(self.region(id)?.log_path().to_path_buf())
    }

    pub fn region_status(&self, id: &str) -> Result<ProcessStatus, WorldError> {
        Ok(self.region(id)?.status())
    }

    /// SIGKILL region `id` (and everything it started).
    pub fn kill_region(&self, id: &str) -> Result<(), WorldError> {
        self.region(id)?.kill()
    }

    /// Stops region `id` if it runs, starts it again and waits until it is ready.
    pub async fn restart_region(&self, id: &str) -> Result<(), WorldError> {
        self.region(id)?.restart().await
    }

    /// SIGSTOP region `id`: connections stay open, nothing is answered.
    pub async fn pause_region(&self, id: &str) -> Result<(), WorldError> {
        self.region(id)?.pause().await
    }

    pub fn resume_region(&self, id: &str) -> Result<(), WorldError> {
        self.region(id)?.resume()
    }

    pub fn set_edge_fault(&self, id: &str, fault: Fault) -> Result<(), WorldError> {
        self.region(id)?.edge_proxy.set_fault(fault);
        Ok(())
    }

    /// The edge's path to region `id` stops answering (connections hang).
    pub fn black_hole(&self, id: &str) -> Result<(), WorldError> {
        self.set_edge_fault(id, Fault::BlackHole)
    }

    /// The edge's connections to region `id` are refused and reset.
    pub fn refuse(&self, id: &str) -> Result<(), WorldError> {
        self.set_edge_fault(id, Fault::Refuse)
    }

    /// The edge's path to region `id` works again.
    pub fn restore(&self, id: &str) -> Result<(), WorldError> {
        self.set_edge_fault(id, Fault::Pass)
    }

    /// One-way latency of the edge -> region `id` path.
    pub fn set_edge_latency(&self, id: &str, one_way: Duration) -> Result<(), WorldError> {
        self.region(id)?.edge_proxy.set_latency(one_way);
        Ok(())
    }

    pub fn set_link_fault(&self, from: &str, to: &str, fault: Fault) -> Result<(), WorldError> {
        self.link_proxy(from, to)?.set_fault(fault);
        Ok(())
    }

    pub fn set_link_latency(
        &self,
        from: &str,
        to: &str,
        one_way: Duration,
    ) -> Result<(), WorldError> {
        self.link_proxy(from, to)?.set_latency(one_way);
        Ok(())
    }

    /// Regions `a` and `b` stop hearing each other (both directions black-holed,
    /// as in a real partition: no error, just silence).
    pub fn partition(&self, a: &str, b: &str) -> Result<(), WorldError> {
        self.set_link_fault(a, b, Fault::BlackHole)?;
        self.set_link_fault(b, a, Fault::BlackHole)
    }

    pub fn heal(&self, a: &str, b: &str) -> Result<(), WorldError> {
        self.set_link_fault(a, b, Fault::Pass)?;
        self.set_link_fault(b, a, Fault::Pass)
    }

    /// Every inter-region link passes traffic again.
    pub fn heal_all(&self) {
        for proxy in self.links.values() {
            proxy.set_fault(Fault::Pass);
        }
    }

    /// Everything the control API reports.
    pub fn state(&self) -> WorldState {
        let edge_running = self
            .edge
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(|dev| dev.process().is_running());
        WorldState {
            edge: self.edge_url.as_ref().map(|url| EdgeState {
                url: url.clone(),
                running: edge_running.unwrap_or(false),
            }),
            regions: self
                .regions
                .iter()
                .map(|r| RegionState {
                    id: r.spec.id.clone(),
                    lat: r.spec.lat,
                    lon: r.spec.lon,
                    url: r.url(),
                    process: r.status(),
                    edge: EdgePathState::of(&r.edge_proxy),
                })
                .collect(),
            links: self
                .links
                .iter()
                .map(|((from, to), proxy)| LinkState::of(from, to, proxy))
                .collect(),
        }
    }

    /// Stops the edge, then every region gracefully (SIGTERM, bounded grace).
    pub async fn stop(&self) -> Result<(), WorldError> {
        let edge = self
            .edge
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(edge) = edge {
            edge.process().terminate(EDGE_STOP_GRACE).await?;
        }
        let mut first_error = None;
        for result in join_all(self.regions.iter().map(Region::stop)).await {
            if let Err(error) = result {
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}
