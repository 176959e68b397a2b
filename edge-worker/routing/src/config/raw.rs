//! The JSON shape of `EDGE_CONFIG` exactly as written by an operator.
//!
//! Unknown fields are refused so a typo (`"timout_ms"`) is an error naming the
//! field instead of a silently ignored setting. Numeric sections that need no
//! reshaping are deserialized straight into their final types (see `sections`).

use super::sections::{
    HealthConfig, HedgingConfig, LatencyConfig, RetryConfig, ShareConfig, TimeoutConfig,
};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub regions: Vec<RawRegion>,
    #[serde(default)]
    pub policy: RawPolicy,
    pub geo: Option<RawGeo>,
    pub residency: Option<RawResidency>,
    pub affinity: Option<RawAffinity>,
    #[serde(default)]
    pub latency: LatencyConfig,
    #[serde(default)]
    pub health: HealthConfig,
    #[serde(default)]
    pub timeouts: TimeoutConfig,
    #[serde(default)]
    pub retries: RetryConfig,
    #[serde(default)]
    pub hedging: HedgingConfig,
    pub routes: Option<Vec<RawRoute>>,
    pub max_body_bytes: Option<u64>,
    #[serde(default)]
    pub share: ShareConfig,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRegion {
    pub id: String,
    pub origin: String,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub weight: Option<u32>,
    pub priority: Option<u32>,
    #[serde(default)]
    pub tags: Vec<String>,
}

#[derive(Deserialize, Default, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "snake_case")]
pub(super) enum RawPolicy {
    #[default]
    Latency,
    Failover,
    Weighted,
    Geo,
    Proximity,
}

/// A map value naming one region or an ordered list of them.
#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(one) => vec![one],
            OneOrMany::Many(many) => many,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGeo {
    #[serde(default)]
    pub countries: BTreeMap<String, OneOrMany>,
    #[serde(default)]
    pub continents: BTreeMap<String, OneOrMany>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawResidency {
    pub header: Option<String>,
    #[serde(default)]
    pub countries: BTreeMap<String, String>,
    #[serde(default)]
    pub continents: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAffinity {
    pub cookie: Option<String>,
    pub max_age_s: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRoute {
    pub prefix: String,
    pub try_timeout_ms: Option<u64>,
    pub deadline_ms: Option<u64>,
    pub observe_latency: Option<bool>,
    pub hedge: Option<bool>,
    pub idempotent: Option<bool>,
}
