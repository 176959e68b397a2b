//! The fault schedule of a chaos run: a pure function of the seed, the run's
//! length and the region names, so a failing seed replays the same faults at
//! the same offsets (`chaos --seed N --plan-only` prints it without running).

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// How the edge loses its path to a region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cut {
    /// Connections hang: nothing answers (the edge must time out).
    BlackHole,
    /// Connections are reset at once (the region looks dead).
    Refuse,
}

/// One fault; it is undone when its time is up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultAction {
    /// SIGKILL, then a restart (the region is down meanwhile).
    Kill { region: String },
    /// SIGSTOP, then SIGCONT: sockets stay open, nothing answers.
    Pause { region: String },
    /// The edge -> region path fails.
    CutEdge { region: String, how: Cut },
    /// Regions `a` and `b` stop hearing each other (both directions).
    Partition { a: String, b: String },
    /// Extra one-way latency on the edge -> region path.
    EdgeLatency { region: String, added: Duration },
    /// Extra one-way latency between two regions (both directions).
    LinkLatency { a: String, b: String, added: Duration },
}

impl FaultAction {
    /// The region this fault makes unreachable for clients, if any.
    pub fn offline_region(&self) -> Option<&str> {
        match self {
            FaultAction::Kill { region }
            | FaultAction::Pause { region }
            | FaultAction::CutEdge { region, .. } => Some(region),
            _ => None,
        }
    }

    /// The short name figures are grouped by.
    pub fn kind(&self) -> &'static str {
        match self {
            FaultAction::Kill { .. } => "kill",
            FaultAction::Pause { .. } => "pause",
            FaultAction::CutEdge { how: Cut::BlackHole, .. } => "edge black hole",
            FaultAction::CutEdge { how: Cut::Refuse, .. } => "edge refused",
            FaultAction::Partition { .. } => "partition",
            FaultAction::EdgeLatency { .. } => "edge latency",
            FaultAction::LinkLatency { .. } => "link latency",
        }
    }

    /// What the fault occupies: two faults on one track never overlap.
    pub fn track(&self) -> Track {
        match self {
            FaultAction::Kill { region }
            | FaultAction::Pause { region }
            | FaultAction::CutEdge { region, .. } => Track::Availability(region.clone()),
            FaultAction::EdgeLatency { region, .. } => Track::EdgeLatency(region.clone()),
            FaultAction::Partition { a, b } => Track::LinkFault(a.clone(), b.clone()),
            FaultAction::LinkLatency { a, b, .. } => Track::LinkLatency(a.clone(), b.clone()),
        }
    }
}

impl fmt::Display for FaultAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FaultAction::Kill { region } => write!(f, "SIGKILL {region}, restart"),
            FaultAction::Pause { region } => write!(f, "SIGSTOP {region}, SIGCONT"),
            FaultAction::CutEdge { region, how: Cut::BlackHole } => write!(f, "black-hole edge -> {region}"),
            FaultAction::CutEdge { region, how: Cut::Refuse } => write!(f, "refuse edge -> {region}"),
            FaultAction::Partition { a, b } => write!(f, "partition {a} <-> {b}"),
            FaultAction::EdgeLatency { region, added } => {
                write!(f, "+{} ms edge -> {region}", added.as_millis())
            }
            FaultAction::LinkLatency { a, b, added } => write!(f, "+{} ms {a} <-> {b}", added.as_millis()),
        }
    }
}

/// A region's availability, its edge path's latency, or a link's fault or latency.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Track {
    Availability(String),
    EdgeLatency(String),
    LinkFault(String, String),
    LinkLatency(String, String),
}

/// A fault at an offset from the start of the chaos phase, lasting `lasts`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedFault {
    pub at: Duration,
    pub lasts: Duration,
    pub action: FaultAction,
}

impl PlannedFault {
    pub fn ends(&self) -> Duration {
        self.at + self.lasts
    }
}

impl fmt::Display for PlannedFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "t+{:6.2}s  {:<34} for {:.2}s",
            self.at.as_secs_f64(),
            self.action.to_string(),
            self.lasts.as_secs_f64()
        )
    }
}

/// Every fault of one run, ordered by start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultPlan {
    pub seed: u64,
    pub duration: Duration,
    pub faults: Vec<PlannedFault>,
}

impl FaultPlan {
    /// How many faults of each kind.
    pub fn counts(&self) -> BTreeMap<&'static str, usize> {
        count_kinds(self.faults.iter().map(|f| &f.action))
    }
}

/// How many of `actions` are of each kind (planned or applied alike).
pub fn count_kinds<'a>(actions: impl IntoIterator<Item = &'a FaultAction>) -> BTreeMap<&'static str, usize> {
    let mut counts = BTreeMap::new();
    for action in actions {
        *counts.entry(action.kind()).or_insert(0) += 1;
    }
    counts
}

impl fmt::Display for FaultPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "fault plan of seed {} over {:.0}s: {} faults",
            self.seed,
            self.duration.as_secs_f64(),
            self.faults.len()
        )?;
        for fault in &self.faults {
            writeln!(f, "  {fault}")?;
        }
        Ok(())
    }
}

/// No fault starts this early: clients first sync once with every region up.
const QUIET_START: Duration = Duration::from_secs(2);
/// Faults start this far apart (uniformly drawn).
const GAP_MS: (u64, u64) = (400, 2_500);

/// The plan for `seed` over a chaos phase of `duration` among `regions`.
///
/// Rules: one fault per region (or per region pair) and kind of track at a time;
/// at least one region always stays reachable by the edge (killed, paused and cut
/// regions together never cover all of them); every fault ends within `duration`.
pub fn plan(seed: u64, duration: Duration, regions: &[String]) -> FaultPlan {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut faults: Vec<PlannedFault> = Vec::new();
    let mut at = QUIET_START;
    loop {
        at += Duration::from_millis(rng.random_range(GAP_MS.0..=GAP_MS.1));
        // Every draw happens whether or not the fault fits, so one rejected
        // candidate never shifts the rest of the plan.
        let action = draw_action(&mut rng, regions);
        let lasts = draw_length(&mut rng, &action);
        if at + Duration::from_millis(500) >= duration {
            break;
        }
        let Some(action) = action else { continue };
        let lasts = lasts.min(duration - at);
        let candidate = PlannedFault { at, lasts, action };
        if fits(&faults, &candidate, regions.len()) {
            faults.push(candidate);
        }
    }
    FaultPlan { seed, duration, faults }
}

fn draw_action(rng: &mut ChaCha8Rng, regions: &[String]) -> Option<FaultAction> {
    let n = regions.len();
    let region = regions.get(rng.random_range(0..n.max(1)))?.clone();
    // A second, different region for link faults.
    let other = (n >= 2).then(|| {
        let offset = rng.random_range(1..n);
        regions[(regions.iter().position(|r| *r == region).unwrap_or(0) + offset) % n].clone()
    });
    let (a, b) = match other {
        Some(other) if other < region => (other, region.clone()),
        Some(other) => (region.clone(), other),
        None => (region.clone(), region.clone()),
    };
    let added = Duration::from_millis(rng.random_range(50..=400));
    let blackhole = rng.random_bool(0.5);
    let roll = rng.random_range(0..100u32);
    let link_ok = a != b;
    Some(match roll {
        0..20 => FaultAction::Kill { region },
        20..35 => FaultAction::Pause { region },
        35..55 => FaultAction::CutEdge { region, how: if blackhole { Cut::BlackHole } else { Cut::Refuse } },
        55..75 if link_ok => FaultAction::Partition { a, b },
        75..88 => FaultAction::EdgeLatency { region, added },
        88..100 if link_ok => FaultAction::LinkLatency { a, b, added },
        _ => return None,
    })
}

fn draw_length(rng: &mut ChaCha8Rng, action: &Option<FaultAction>) -> Duration {
    let raw: u64 = rng.random_range(0..=1_000);
    let (low, high) = match action {
        Some(FaultAction::Kill { .. }) => (500, 6_000),
        Some(FaultAction::Pause { .. }) => (500, 5_000),
        Some(FaultAction::CutEdge { .. }) => (1_000, 6_000),
        Some(FaultAction::Partition { .. }) => (2_000, 10_000),
        Some(FaultAction::EdgeLatency { .. } | FaultAction::LinkLatency { .. }) => (2_000, 8_000),
        None => (0, 0),
    };
    Duration::from_millis(low + (high - low) * raw / 1_000)
}

fn overlaps(a: &PlannedFault, b: &PlannedFault) -> bool {
    a.at < b.ends() && b.at < a.ends()
}

fn fits(planned: &[PlannedFault], candidate: &PlannedFault, region_count: usize) -> bool {
    let track = candidate.action.track();
    let busy = planned.iter().any(|p| p.action.track() == track && overlaps(p, candidate));
    if busy {
        return false;
    }
    if candidate.action.offline_region().is_none() {
        return true;
    }
    // Regions offline at any moment of the candidate, conservatively all at once.
    let offline_meanwhile = planned
        .iter()
        .filter(|p| p.action.offline_region().is_some() && overlaps(p, candidate))
        .count();
    offline_meanwhile + 1 < region_count
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regions() -> Vec<String> {
        ["us-east", "us-west", "eu-west"].map(String::from).to_vec()
    }

    #[test]
    fn a_seed_replays_the_same_plan_and_other_seeds_differ() {
        let a = plan(7, Duration::from_secs(60), &regions());
        assert_eq!(a, plan(7, Duration::from_secs(60), &regions()));
        assert_eq!(a.to_string(), plan(7, Duration::from_secs(60), &regions()).to_string());
        assert_ne!(a.faults, plan(8, Duration::from_secs(60), &regions()).faults);
    }

    #[test]
    fn a_minute_of_chaos_has_every_kind_of_fault_across_a_few_seeds() {
        let mut kinds = BTreeMap::new();
        for seed in 0..5 {
            let p = plan(seed, Duration::from_secs(60), &regions());
            assert!(p.faults.len() >= 15, "seed {seed}: only {} faults", p.faults.len());
            for (kind, n) in p.counts() {
                *kinds.entry(kind).or_insert(0) += n;
            }
        }
        for kind in ["kill", "pause", "edge black hole", "edge refused", "partition", "edge latency", "link latency"] {
            assert!(kinds.get(kind).copied().unwrap_or(0) > 0, "no {kind} in {kinds:?}");
        }
    }

    #[test]
    fn faults_end_in_time_never_overlap_on_a_track_and_one_region_stays_reachable() {
        for seed in 0..200 {
            let duration = Duration::from_secs(30 + seed % 90);
            let p = plan(seed, duration, &regions());
            for (i, f) in p.faults.iter().enumerate() {
                assert!(f.at >= QUIET_START && f.ends() <= duration, "seed {seed}: {f}");
                assert!(!f.lasts.is_zero(), "seed {seed}: {f}");
                for g in &p.faults[i + 1..] {
                    assert!(g.at >= f.at, "seed {seed}: not ordered");
                    assert!(
                        !(f.action.track() == g.action.track() && overlaps(f, g)),
                        "seed {seed}: {f} overlaps {g}"
                    );
                }
            }
            // Sweep every fault start: how many regions are offline there.
            for f in &p.faults {
                let offline: std::collections::BTreeSet<&str> = p
                    .faults
                    .iter()
                    .filter(|g| g.at <= f.at && f.at < g.ends())
                    .filter_map(|g| g.action.offline_region())
                    .collect();
                assert!(offline.len() < regions().len(), "seed {seed}: all regions offline at {f}");
            }
        }
    }

    #[test]
    fn link_faults_name_two_different_regions_and_one_region_gets_no_link_faults() {
        for seed in 0..50 {
            for f in plan(seed, Duration::from_secs(60), &regions()).faults {
                if let FaultAction::Partition { a, b } | FaultAction::LinkLatency { a, b, .. } = &f.action {
                    assert!(a < b, "{f}");
                }
            }
            let lonely = plan(seed, Duration::from_secs(60), &["solo".to_string()]);
            assert!(lonely.faults.iter().all(|f| f.action.offline_region().is_none()
                && !matches!(f.action, FaultAction::Partition { .. } | FaultAction::LinkLatency { .. })));
        }
    }

    #[test]
    fn the_plan_prints_one_line_per_fault() {
        let p = plan(3, Duration::from_secs(20), &regions());
        let text = p.to_string();
        assert!(text.starts_with("fault plan of seed 3 over 20s"));
        assert_eq!(text.lines().count(), p.faults.len() + 1);
    }
}
