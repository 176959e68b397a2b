//! What one isolate learned, in a form other isolates of the same data center
//! can adopt (the worker keeps it in the data-center-local Cache API), so a new
//! isolate does not start blind.

use crate::engine::Engine;
use crate::health::RegionHealth;
use crate::latency::LatencyEstimate;
use crate::time::Time;
use serde::{Deserialize, Serialize};

/// 2: latency split into probe RTT and real-request service time.
const SNAPSHOT_VERSION: u32 = 2;
/// Snapshots larger than this are ignored rather than parsed.
pub const MAX_SNAPSHOT_BYTES: usize = 512 * 1024;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    version: u32,
    written_at: Time,
    regions: Vec<RegionSnapshot>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct RegionSnapshot {
    id: String,
    latency: LatencyEstimate,
    health: RegionHealth,
}

impl Snapshot {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses a stored snapshot; anything unexpected is an error, never a panic.
    pub fn from_json(text: &str) -> Result<Self, String> {
        if text.len() > MAX_SNAPSHOT_BYTES {
            return Err(format!("snapshot of {} bytes is too large", text.len()));
        }
        let snap: Snapshot =
            serde_json::from_str(text).map_err(|e| format!("unreadable snapshot: {e}"))?;
        if snap.version != SNAPSHOT_VERSION {
            return Err(format!(
                "snapshot version {} is not {SNAPSHOT_VERSION}",
                snap.version
            ));
        }
        Ok(snap)
    }

    pub fn written_at(&self) -> Time {
        self.written_at
    }
}

impl Engine {
    pub fn snapshot(&self, now: Time) -> Snapshot {
        Snapshot {
            version: SNAPSHOT_VERSION,
            written_at: now,
            regions: self
                .config()
                .region_indices()
                .map(|idx| RegionSnapshot {
                    id: self.config().region(idx).id.to_string(),
                    latency: self.regions[idx.index()].latency.clone(),
                    health: self.regions[idx.index()].health.clone(),
                })
                .collect(),
        }
    }

    /// Adopts fresher latency estimates and live ejections from another isolate.
    /// Regions the snapshot names but this configuration lacks are ignored.
    pub fn merge_snapshot(&mut self, snap: &Snapshot, now: Time) -> usize {
        let mut merged = 0;
        for theirs in &snap.regions {
            let Some(idx) = self.config().find_region(&theirs.id) else {
                continue;
            };
            let mine = &mut self.regions[idx.index()];
            mine.latency.merge_fresher(&theirs.latency);
            mine.health.merge_ejection(&theirs.health, now);
            merged += 1;
        }
        merged
    }
}

/// A short stable fingerprint of a configuration text (FNV-1a, 64 bit), so
/// isolates running different configurations never mix their snapshots.
pub fn fingerprint(text: &str) -> String {
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{hash:016x}")
}
