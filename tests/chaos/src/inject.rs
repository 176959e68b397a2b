//! Applies a [`FaultPlan`] to a running [`World`] on the plan's time line, and
//! heals the world afterwards (every region running, every path clean).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use local_world::world::ProcessState;
use local_world::{Fault, World, WorldError};
use tokio::sync::Mutex;
use tokio::task::JoinSet;

use crate::schedule::{Cut, FaultAction, FaultPlan, PlannedFault, Track};

/// The network as it was before any fault: what healing restores.
#[derive(Clone, Debug, Default)]
pub struct Baseline {
    edge_latency: BTreeMap<String, Duration>,
    link_latency: BTreeMap<(String, String), Duration>,
}

impl Baseline {
    pub fn of(world: &World) -> Self {
        let state = world.state();
        Baseline {
            edge_latency: state
                .regions
                .iter()
                .map(|r| (r.id.clone(), Duration::from_millis(r.edge.latency_ms)))
                .collect(),
            link_latency: state
                .links
                .iter()
                .map(|l| ((l.from.clone(), l.to.clone()), Duration::from_millis(l.latency_ms)))
                .collect(),
        }
    }

    fn edge(&self, region: &str) -> Duration {
        self.edge_latency.get(region).copied().unwrap_or_default()
    }

    fn link(&self, from: &str, to: &str) -> Duration {
        self.link_latency.get(&(from.to_owned(), to.to_owned())).copied().unwrap_or_default()
    }
}

/// One fault as it happened.
#[derive(Clone, Debug)]
pub struct AppliedFault {
    pub fault: PlannedFault,
    /// How much later than planned it began (a loaded machine is late).
    pub late_by: Duration,
    /// How long undoing it took (a restart waits until the region is ready).
    pub undo_took: Duration,
    pub error: Option<String>,
}

/// Runs every fault of `plan` from `started` on; resolves when all are undone.
///
/// The plan never overlaps two faults on one track, but undoing one can take
/// longer than planned (a restart waits until the region is ready): a fault
/// then waits for its track, and starts late rather than on a half-restarted region.
pub async fn inject(world: Arc<World>, plan: &FaultPlan, baseline: Arc<Baseline>, started: Instant) -> Vec<AppliedFault> {
    let mut tracks: BTreeMap<Track, Arc<Mutex<()>>> = BTreeMap::new();
    let mut tasks = JoinSet::new();
    for fault in plan.faults.clone() {
        let (world, baseline) = (Arc::clone(&world), Arc::clone(&baseline));
        let track = Arc::clone(tracks.entry(fault.action.track()).or_default());
        tasks.spawn(async move {
            tokio::time::sleep_until((started + fault.at).into()).await;
            let _track = track.lock().await;
            let late_by = started.elapsed().saturating_sub(fault.at);
            let began = begin(&world, &fault.action, &baseline).await;
            tokio::time::sleep(fault.lasts).await;
            let undo_started = Instant::now();
            let ended = end(&world, &fault.action, &baseline).await;
            let error = match (began, ended) {
                (Ok(()), Ok(())) => None,
                (Err(e), _) => Some(format!("applying: {e}")),
                (_, Err(e)) => Some(format!("undoing: {e}")),
            };
            AppliedFault { fault, late_by, undo_took: undo_started.elapsed(), error }
        });
    }
    let mut applied = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        if let Ok(fault) = joined {
            applied.push(fault);
        }
    }
    applied.sort_by_key(|a| a.fault.at);
    applied
}

async fn begin(world: &World, action: &FaultAction, baseline: &Baseline) -> Result<(), WorldError> {
    match action {
        FaultAction::Kill { region } => world.kill_region(region),
        FaultAction::Pause { region } => world.pause_region(region).await,
        FaultAction::CutEdge { region, how } => world.set_edge_fault(
            region,
            match how {
                Cut::BlackHole => Fault::BlackHole,
                Cut::Refuse => Fault::Refuse,
            },
        ),
        FaultAction::Partition { a, b } => world.partition(a, b),
        FaultAction::EdgeLatency { region, added } => world.set_edge_latency(region, baseline.edge(region) + *added),
        FaultAction::LinkLatency { a, b, added } => {
            world.set_link_latency(a, b, baseline.link(a, b) + *added)?;
            world.set_link_latency(b, a, baseline.link(b, a) + *added)
        }
    }
}

async fn end(world: &World, action: &FaultAction, baseline: &Baseline) -> Result<(), WorldError> {
    match action {
        FaultAction::Kill { region } => world.restart_region(region).await,
        FaultAction::Pause { region } => world.resume_region(region),
        FaultAction::CutEdge { region, .. } => world.restore(region),
        FaultAction::Partition { a, b } => world.heal(a, b),
        FaultAction::EdgeLatency { region, .. } => world.set_edge_latency(region, baseline.edge(region)),
        FaultAction::LinkLatency { a, b, .. } => {
            world.set_link_latency(a, b, baseline.link(a, b))?;
            world.set_link_latency(b, a, baseline.link(b, a))
        }
    }
}

/// What healing found.
#[derive(Clone, Debug, Default)]
pub struct HealReport {
    /// Regions whose process had exited on its own (a crash), with the exit status.
    pub crashed: Vec<String>,
    /// Regions that could not be brought back.
    pub errors: Vec<String>,
}

/// Brings every region back (resumed, restarted) and every path to its
/// baseline: no fault, base latency.
pub async fn heal(world: &World, baseline: &Baseline) -> HealReport {
    let mut report = HealReport::default();
    world.heal_all();
    for ((from, to), latency) in &baseline.link_latency {
        if let Err(e) = world.set_link_latency(from, to, *latency) {
            report.errors.push(format!("link {from} -> {to}: {e}"));
        }
    }
    for id in world.region_ids() {
        let fixed = async {
            world.restore(&id)?;
            world.set_edge_latency(&id, baseline.edge(&id))?;
            let status = world.region_status(&id)?;
            match status.state {
                ProcessState::Running | ProcessState::Starting => Ok(()),
                ProcessState::Paused => world.resume_region(&id),
                ProcessState::Exited => {
                    report.crashed.push(format!("{id} ({})", status.exit.unwrap_or_default()));
                    world.restart_region(&id).await
                }
                ProcessState::Killed | ProcessState::Stopped => world.restart_region(&id).await,
            }
        };
        if let Err(e) = fixed.await {
            report.errors.push(format!("{id}: {e}"));
        }
    }
    report
}

/// Regions whose process exited on its own since it was last started.
pub fn crashed_regions(world: &World) -> Vec<String> {
    world
        .region_ids()
        .into_iter()
        .filter_map(|id| {
            let status = world.region_status(&id).ok()?;
            (status.state == ProcessState::Exited).then(|| format!("{id} ({})", status.exit.unwrap_or_default()))
        })
        .collect()
}
