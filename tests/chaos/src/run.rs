//! One chaos convergence run: the world, the clients writing through the edge
//! while the seeded faults hit, then heal, a bounded settle, and the verdict.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::future::join_all;
use local_world::{World, loopback_client};
use sync_protocol::DocId;

use crate::browser::{BrowserConfig, BrowserFleet, BrowserSnapshot};
use crate::inject::{AppliedFault, Baseline, HealReport, crashed_regions, heal, inject};
use crate::native::{HttpTally, NativeWriter, Pace};
use crate::regions::RegionReader;
use crate::report::ChaosReport;
use crate::schedule::{FaultPlan, plan};
use crate::sync_client::{Endpoint, dev_token};
use crate::verify::{AckedWrite, Replica, Verdict, check};
use crate::world::RunWorld;

/// Everything a run is made of; `seed` decides the faults and every choice of
/// the writers.
#[derive(Clone, Debug)]
pub struct ChaosConfig {
    pub seed: u64,
    /// Length of the chaos phase (faults and writes).
    pub duration: Duration,
    pub browsers: usize,
    pub native_clients: usize,
    pub docs: usize,
    /// Mean pause between two writes of one native client.
    pub native_interval: Duration,
    /// Mean pause between two writes of one browser client.
    pub browser_interval: Duration,
    /// Bound on the wait for convergence after healing.
    pub settle_timeout: Duration,
    /// Where the world keeps data and logs (a fresh directory under it).
    pub artifacts: PathBuf,
    /// The region server binary; the debug build when `None`.
    pub region_server: Option<PathBuf>,
}

impl ChaosConfig {
    pub fn doc_ids(&self) -> Vec<DocId> {
        (0..self.docs).filter_map(|i| DocId::parse(&format!("chaos-{i:03}")).ok()).collect()
    }

    /// The regions every plan is made for (the local world's default three).
    pub fn regions() -> Vec<String> {
        local_world::world::default_regions().into_iter().map(|r| r.id).collect()
    }

    pub fn plan(&self) -> FaultPlan {
        plan(self.seed, self.duration, &Self::regions())
    }
}

/// Long enough for any run plus its settle.
const TOKEN_TTL: Duration = Duration::from_secs(6 * 3600);
/// Per-request bound of the native clients (the edge's own deadline is shorter).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(15);
const SETTLE_POLL: Duration = Duration::from_millis(500);

/// Runs the whole thing; `progress` gets a line per phase.
pub async fn run(config: &ChaosConfig, progress: &(dyn Fn(&str) + Sync)) -> anyhow::Result<ChaosReport> {
    let plan = config.plan();
    progress(&plan.to_string());
    let started = RunWorld::start(&config.artifacts, &format!("seed-{}", config.seed), config.region_server.clone(), progress).await?;
    let result = drive(config, &plan, &started.world, &started.dir, progress).await;
    progress("stopping the world");
    let keep_data = !result.as_ref().is_ok_and(ChaosReport::passed);
    if let Err(e) = started.stop(keep_data).await {
        progress(&format!("stopping the world: {e}"));
    }
    result
}

async fn drive(
    config: &ChaosConfig,
    plan: &FaultPlan,
    world: &Arc<World>,
    dir: &std::path::Path,
    progress: &(dyn Fn(&str) + Sync),
) -> anyhow::Result<ChaosReport> {
    let http = loopback_client();
    let edge = world.edge_url().context("the world has no edge")?.to_owned();
    let regions = world.region_ids();
    let first_region = world.region_url(&regions[0])?;
    let doc_ids = config.doc_ids();
    let client_token = dev_token(&http, &first_region, "chaos-client", &["chaos-*"], &["chaos-*"], TOKEN_TTL).await?;
    let checker_token = dev_token(&http, &first_region, "chaos-checker", &["chaos-*"], &[], TOKEN_TTL).await?;
    let mut readers = Vec::new();
    for id in &regions {
        readers.push(RegionReader::new(id, &world.region_url(id)?, &checker_token, http.clone(), &doc_ids));
    }

    let mut browsers = if config.browsers > 0 {
        progress(&format!("starting {} browser clients (headless Chromium)", config.browsers));
        let browser_config = BrowserConfig {
            edge_url: edge.clone(),
            token: client_token.clone(),
            doc_ids: doc_ids.iter().map(ToString::to_string).collect(),
            browsers: config.browsers,
            seed: config.seed,
            write_interval_ms: config.browser_interval.as_millis() as u64,
        };
        Some(BrowserFleet::start(&browser_config, &dir.join("logs/browsers.log")).await?)
    } else {
        None
    };
    let endpoint = Endpoint { http: http.clone(), base: edge.clone(), token: client_token, timeout: CLIENT_TIMEOUT };
    let writers: Vec<NativeWriter> =
        (0..config.native_clients).map(|i| NativeWriter::new(i, config.seed, endpoint.clone(), &doc_ids)).collect();

    progress(&format!(
        "chaos for {:.0}s: {} browser and {} native clients writing to {} documents through the edge",
        config.duration.as_secs_f64(),
        config.browsers,
        config.native_clients,
        config.docs
    ));
    let baseline = Arc::new(Baseline::of(world));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let deadline = started + config.duration;
    if let Some(fleet) = browsers.as_mut() {
        fleet.start_writing().await?;
    }
    let pace = Pace { interval: config.native_interval, max_writes: 1_000_000 };
    let tasks: Vec<_> = writers
        .into_iter()
        .map(|mut writer| {
            let stop = Arc::clone(&stop);
            tokio::spawn(async move {
                writer.run(pace, deadline, stop).await;
                writer
            })
        })
        .collect();
    let faults = inject(Arc::clone(world), plan, Arc::clone(&baseline), started).await;
    progress(&format!("every fault undone {:.2}s into the chaos phase", started.elapsed().as_secs_f64()));
    tokio::time::sleep_until(deadline.into()).await;
    stop.store(true, Ordering::Relaxed);
    if let Some(fleet) = browsers.as_mut() {
        fleet.stop_writing().await?;
    }
    let mut writers = Vec::new();
    for task in tasks {
        writers.push(task.await.context("a native client panicked")?);
    }
    let acked_during_chaos = writers.iter().map(|w| w.acked.len()).sum::<usize>();
    progress(&format!("clients stopped writing {:.2}s after the chaos phase", deadline.elapsed().as_secs_f64()));

    progress("healing: every region running, every path clean");
    let healing = heal(world, &baseline).await;
    let healed_at = Instant::now();
    progress(&format!("healed in {:.2}s after the chaos phase; settling", healed_at.duration_since(deadline).as_secs_f64()));

    let settle = settle(config, &mut writers, &mut readers, browsers.as_mut(), healed_at, progress).await?;
    let crashed_after = crashed_regions(world);
    if let Some(fleet) = browsers {
        fleet.close().await?;
    }
    Ok(ChaosReport::new(config, plan, faults, healing, crashed_after, &writers, acked_during_chaos, settle))
}

/// The outcome of the settle phase.
pub struct Settled {
    pub converged_after: Option<Duration>,
    pub verdict: Verdict,
    pub acked: Vec<AckedWrite>,
    pub browsers: Vec<BrowserSnapshot>,
    /// Why replicas could not be read at the last attempt, if they could not.
    pub read_errors: Vec<String>,
}

async fn settle(
    config: &ChaosConfig,
    writers: &mut [NativeWriter],
    readers: &mut [RegionReader],
    mut browsers: Option<&mut BrowserFleet>,
    healed_at: Instant,
    progress: &(dyn Fn(&str) + Sync),
) -> anyhow::Result<Settled> {
    let doc_names: Vec<String> = config.doc_ids().iter().map(ToString::to_string).collect();
    let mut last_report = Instant::now();
    loop {
        let mut read_errors = Vec::new();
        for result in join_all(writers.iter_mut().map(|w| w.settle())).await {
            if let Err(e) = result {
                read_errors.push(format!("native settle: {e}"));
            }
        }
        for reader in readers.iter_mut() {
            if let Err(e) = reader.refresh().await {
                read_errors.push(format!("reading {}: {e}", reader.region));
            }
        }
        let snapshots = match browsers.as_deref_mut() {
            Some(fleet) => fleet.snapshot().await?,
            None => Vec::new(),
        };
        let mut replicas: Vec<Replica> = readers.iter().map(RegionReader::replica).collect();
        replicas.extend(writers.iter_mut().map(NativeWriter::replica));
        replicas.extend(snapshots.iter().map(BrowserSnapshot::replica));
        let mut acked: Vec<AckedWrite> = writers.iter().flat_map(|w| w.acked.iter().cloned()).collect();
        acked.extend(snapshots.iter().flat_map(BrowserSnapshot::acked_writes));
        let verdict = check(&replicas, &acked, &doc_names);
        let elapsed = healed_at.elapsed();
        let done = verdict.converged() && read_errors.is_empty();
        if done || elapsed >= config.settle_timeout {
            return Ok(Settled {
                converged_after: done.then_some(elapsed),
                verdict,
                acked,
                browsers: snapshots,
                read_errors,
            });
        }
        if last_report.elapsed() >= Duration::from_secs(10) {
            last_report = Instant::now();
            progress(&format!(
                "  {:.0}s after healing: {} documents differ, {} clients pending{}",
                elapsed.as_secs_f64(),
                verdict.divergent.len(),
                verdict.pending.len(),
                read_errors.first().map(|e| format!(", {e}")).unwrap_or_default()
            ));
        }
        tokio::time::sleep(SETTLE_POLL).await;
    }
}

/// HTTP figures of every native client together.
pub fn native_http(writers: &[NativeWriter]) -> HttpTally {
    let mut total = HttpTally::default();
    for w in writers {
        total.merge(&w.http);
    }
    total
}

/// Faults that failed to apply or undo.
pub fn fault_errors(faults: &[AppliedFault]) -> Vec<String> {
    faults.iter().filter_map(|f| f.error.as_ref().map(|e| format!("{}: {e}", f.fault))).collect()
}

/// Whether healing found nothing wrong.
pub fn heal_clean(healing: &HealReport) -> bool {
    healing.crashed.is_empty() && healing.errors.is_empty()
}
