//! `EDGE_CONFIG`: the region table and every routing setting, parsed and validated
//! once. A [`EdgeConfig`] can only come out of [`EdgeConfig::parse`], so code that
//! holds one never meets a dangling region id, an empty table or min > max.

mod error;
mod origin;
mod raw;
mod sections;

pub use error::ConfigError;
pub use origin::{ForeignTarget, Origin};
pub use sections::{
    HealthConfig, HedgingConfig, LatencyConfig, RetryConfig, ShareConfig, TimeoutConfig,
};

use crate::geo::GeoPoint;
use crate::names::{ContinentCode, CountryCode, RegionName, Tag};
use error::{at, index};
use raw::{
    OneOrMany, RawAffinity, RawConfig, RawGeo, RawPolicy, RawRegion, RawResidency, RawRoute,
};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Most regions one edge routes between; keeps every per-request loop small.
pub const MAX_REGIONS: usize = 64;
/// Largest accepted `EDGE_CONFIG` text.
pub const MAX_CONFIG_BYTES: usize = 256 * 1024;
/// Default largest request body the edge buffers (to be able to retry it).
pub const DEFAULT_MAX_BODY_BYTES: u64 = 16 * 1024 * 1024;

/// Position of a region in the configured table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct RegionIdx(pub(crate) usize);

impl RegionIdx {
    pub fn index(self) -> usize {
        self.0
    }
}

/// One region the edge may send traffic to.
#[derive(Clone, Debug, PartialEq)]
pub struct RegionConfig {
    pub id: RegionName,
    pub origin: Origin,
    pub location: Option<GeoPoint>,
    /// Share of traffic under the `weighted` policy (0 = only as a fallback).
    pub weight: u32,
    /// Lower goes first under `failover`; breaks ties elsewhere.
    pub priority: u32,
    pub tags: BTreeSet<Tag>,
}

/// How healthy regions are ordered for a request.
#[derive(Clone, Debug, PartialEq)]
pub enum Policy {
    /// Lowest smoothed RTT first.
    Latency,
    /// Strict `priority` order, config order breaking ties.
    Failover,
    /// One region drawn by `weight`, then the rest by latency.
    Weighted,
    /// The client's country (else continent) decides the preferred regions.
    Geo(GeoMap),
    /// Nearest region to the client by great-circle distance.
    Proximity,
}

impl Policy {
    pub fn name(&self) -> &'static str {
        match self {
            Policy::Latency => "latency",
            Policy::Failover => "failover",
            Policy::Weighted => "weighted",
            Policy::Geo(_) => "geo",
            Policy::Proximity => "proximity",
        }
    }
}

/// Country and continent to preferred regions, in preference order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GeoMap {
    pub countries: BTreeMap<CountryCode, Vec<RegionIdx>>,
    pub continents: BTreeMap<ContinentCode, Vec<RegionIdx>>,
}

/// Data residency: which tags a request requires, from a header and from where the client is.
#[derive(Clone, Debug, PartialEq)]
pub struct ResidencyRule {
    /// Lowercase header name whose value (a tag) the client or app may send.
    pub header: String,
    pub countries: BTreeMap<CountryCode, Tag>,
    pub continents: BTreeMap<ContinentCode, Tag>,
}

/// Session affinity by cookie.
#[derive(Clone, Debug, PartialEq)]
pub struct AffinityConfig {
    pub cookie: String,
    pub max_age: Duration,
}

/// How a family of proxied paths is treated.
#[derive(Clone, Debug, PartialEq)]
pub struct RouteClass {
    pub prefix: String,
    /// `None`: derived from the region's observed latency.
    pub try_timeout: Option<Duration>,
    pub deadline: Duration,
    /// Long-polls must not feed the RTT estimate with their wait.
    pub observe_latency: bool,
    pub hedge: bool,
    /// Forces the idempotency of every request under this prefix (e.g. a long-poll read).
    pub idempotent: Option<bool>,
}

/// The validated configuration. Build it with [`EdgeConfig::parse`].
#[derive(Clone, Debug, PartialEq)]
pub struct EdgeConfig {
    regions: Vec<RegionConfig>,
    pub policy: Policy,
    pub residency: Option<ResidencyRule>,
    pub affinity: Option<AffinityConfig>,
    pub latency: LatencyConfig,
    pub health: HealthConfig,
    pub timeouts: TimeoutConfig,
    pub retries: RetryConfig,
    pub hedging: HedgingConfig,
    /// Longest prefix first, so the first match is the most specific.
    routes: Vec<RouteClass>,
    pub max_body_bytes: u64,
    pub share: ShareConfig,
}

impl EdgeConfig {
    /// Parses and validates `EDGE_CONFIG`; the error names the field at fault.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        if text.len() > MAX_CONFIG_BYTES {
            return Err(ConfigError::new(
                ".",
                format!(
                    "is {} bytes, more than the {MAX_CONFIG_BYTES} allowed",
                    text.len()
                ),
            ));
        }
        if text.trim().is_empty() {
            return Err(ConfigError::not_set());
        }
        let mut de = serde_json::Deserializer::from_str(text);
        let raw: RawConfig = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            // The library says `?` or `.` when the fault is the document itself.
            let field = if path.is_empty() || path == "?" {
                ".".to_owned()
            } else {
                path
            };
            ConfigError::new(field, e.inner().to_string())
        })?;
        Self::validate(raw)
    }

    fn validate(raw: RawConfig) -> Result<Self, ConfigError> {
        let regions = validate_regions(raw.regions)?;
        let ids: BTreeMap<&str, RegionIdx> = regions
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id.as_str(), RegionIdx(i)))
            .collect();
        let policy = validate_policy(raw.policy, raw.geo, &regions, &ids)?;
        let residency = raw
            .residency
            .map(|r| validate_residency(r, &regions))
            .transpose()?;
        let affinity = raw.affinity.map(validate_affinity).transpose()?;
        raw.latency.validate("latency")?;
        raw.health.validate("health")?;
        raw.timeouts.validate("timeouts")?;
        raw.retries.validate("retries")?;
        raw.hedging.validate("hedging")?;
        raw.share.validate("share")?;
        let routes = validate_routes(raw.routes, &raw.timeouts)?;
        let max_body_bytes = raw.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES);
        if max_body_bytes > 100 * 1024 * 1024 {
            return Err(ConfigError::new(
                "max_body_bytes",
                "must be at most 104857600 (100 MiB)",
            ));
        }
        Ok(Self {
            regions,
            policy,
            residency,
            affinity,
            latency: raw.latency,
            health: raw.health,
            timeouts: raw.timeouts,
            retries: raw.retries,
            hedging: raw.hedging,
            routes,
            max_body_bytes,
            share: raw.share,
        })
    }

    pub fn regions(&self) -> &[RegionConfig] {
        &self.regions
    }

    pub fn region(&self, idx: RegionIdx) -> &RegionConfig {
        &self.regions[idx.0]
    }

    pub fn region_indices(&self) -> impl ExactSizeIterator<Item = RegionIdx> + use<> {
        (0..self.regions.len()).map(RegionIdx)
    }

    pub fn find_region(&self, id: &str) -> Option<RegionIdx> {
        self.regions
            .iter()
            .position(|r| r.id.as_str() == id)
            .map(RegionIdx)
    }

    /// True when routing looks at where the client is (`request.cf`): the geo
    /// and proximity policies, and residency rules by country or continent.
    /// Reading `request.cf` has a cost, so the worker skips it otherwise.
    pub fn uses_client_location(&self) -> bool {
        matches!(self.policy, Policy::Geo(_) | Policy::Proximity)
            || self
                .residency
                .as_ref()
                .is_some_and(|r| !r.countries.is_empty() || !r.continents.is_empty())
    }

    /// The route class of a path, or `None` when the path is not proxied (static assets).
    pub fn route_for(&self, path: &str) -> Option<&RouteClass> {
        self.routes.iter().find(|r| path.starts_with(&r.prefix))
    }

    pub fn routes(&self) -> &[RouteClass] {
        &self.routes
    }
}

fn validate_regions(raw: Vec<RawRegion>) -> Result<Vec<RegionConfig>, ConfigError> {
    if raw.is_empty() {
        return Err(ConfigError::new("regions", "must list at least one region"));
    }
    if raw.len() > MAX_REGIONS {
        return Err(ConfigError::new(
            "regions",
            format!(
                "lists {} regions, more than the {MAX_REGIONS} allowed",
                raw.len()
            ),
        ));
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(raw.len());
    for (i, r) in raw.into_iter().enumerate() {
        let path = index("regions", i);
        let id = RegionName::parse(&r.id).map_err(|e| ConfigError::new(at(&path, "id"), e))?;
        if !seen.insert(id.clone()) {
            return Err(ConfigError::new(
                at(&path, "id"),
                format!("{id:?} is used by an earlier region"),
            ));
        }
        let origin =
            Origin::parse(&r.origin).map_err(|e| ConfigError::new(at(&path, "origin"), e))?;
        let location = match (r.lat, r.lon) {
            (Some(lat), Some(lon)) => {
                Some(GeoPoint::new(lat, lon).map_err(|e| ConfigError::new(at(&path, "lat"), e))?)
            }
            (None, None) => None,
            (Some(_), None) => {
                return Err(ConfigError::new(
                    at(&path, "lon"),
                    "is required when lat is given",
                ));
            }
            (None, Some(_)) => {
                return Err(ConfigError::new(
                    at(&path, "lat"),
                    "is required when lon is given",
                ));
            }
        };
        let tags = r
            .tags
            .iter()
            .enumerate()
            .map(|(t, tag)| {
                Tag::parse(tag).map_err(|e| ConfigError::new(index(&at(&path, "tags"), t), e))
            })
            .collect::<Result<BTreeSet<_>, _>>()?;
        let weight = r.weight.unwrap_or(1);
        if weight > 1_000_000 {
            return Err(ConfigError::new(
                at(&path, "weight"),
                "must be at most 1000000",
            ));
        }
        out.push(RegionConfig {
            id,
            origin,
            location,
            weight,
            priority: r.priority.unwrap_or(0),
            tags,
        });
    }
    Ok(out)
}

fn lookup_region(
    ids: &BTreeMap<&str, RegionIdx>,
    id: &str,
    field: &str,
) -> Result<RegionIdx, ConfigError> {
    ids.get(id).copied().ok_or_else(|| {
        let known: Vec<&str> = ids.keys().copied().collect();
        ConfigError::new(
            field,
            format!(
                "names unknown region {:?} (configured: {})",
                crate::names::truncate(id),
                known.join(", ")
            ),
        )
    })
}

fn region_list(
    value: OneOrMany,
    ids: &BTreeMap<&str, RegionIdx>,
    field: &str,
) -> Result<Vec<RegionIdx>, ConfigError> {
    let names = value.into_vec();
    if names.is_empty() {
        return Err(ConfigError::new(field, "must name at least one region"));
    }
    let mut out: Vec<RegionIdx> = Vec::with_capacity(names.len());
    for name in &names {
        let idx = lookup_region(ids, name, field)?;
        if !out.contains(&idx) {
            out.push(idx);
        }
    }
    Ok(out)
}

fn validate_policy(
    policy: RawPolicy,
    geo: Option<RawGeo>,
    regions: &[RegionConfig],
    ids: &BTreeMap<&str, RegionIdx>,
) -> Result<Policy, ConfigError> {
    if policy != RawPolicy::Geo && geo.is_some() {
        return Err(ConfigError::new(
            "geo",
            "is only used with \"policy\": \"geo\"",
        ));
    }
    Ok(match policy {
        RawPolicy::Latency => Policy::Latency,
        RawPolicy::Failover => Policy::Failover,
        RawPolicy::Weighted => {
            if regions.iter().all(|r| r.weight == 0) {
                return Err(ConfigError::new(
                    "regions",
                    "the weighted policy needs at least one region with a weight above 0",
                ));
            }
            Policy::Weighted
        }
        RawPolicy::Proximity => {
            if regions.iter().all(|r| r.location.is_none()) {
                return Err(ConfigError::new(
                    "regions",
                    "the proximity policy needs lat/lon on at least one region",
                ));
            }
            Policy::Proximity
        }
        RawPolicy::Geo => {
            let geo =
                geo.ok_or_else(|| ConfigError::new("geo", "is required with \"policy\": \"geo\""))?;
            let mut map = GeoMap::default();
            for (code, value) in geo.countries {
                let field = format!("geo.countries.{code}");
                let country = CountryCode::parse(&code).map_err(|e| ConfigError::new(&field, e))?;
                map.countries
                    .insert(country, region_list(value, ids, &field)?);
            }
            for (code, value) in geo.continents {
                let field = format!("geo.continents.{code}");
                let continent =
                    ContinentCode::parse(&code).map_err(|e| ConfigError::new(&field, e))?;
                map.continents
                    .insert(continent, region_list(value, ids, &field)?);
            }
            if map.countries.is_empty() && map.continents.is_empty() {
                return Err(ConfigError::new(
                    "geo",
                    "must map at least one country or continent",
                ));
            }
            Policy::Geo(map)
        }
    })
}

fn header_name(raw: &str) -> Option<String> {
    let ok = !raw.is_empty()
        && raw.len() <= 64
        && raw.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !crate::hygiene::is_reserved_request_header(&raw.to_ascii_lowercase());
    ok.then(|| raw.to_ascii_lowercase())
}

fn validate_residency(
    raw: RawResidency,
    regions: &[RegionConfig],
) -> Result<ResidencyRule, ConfigError> {
    let header_raw = raw.header.unwrap_or_else(|| "x-data-residency".into());
    let header = header_name(&header_raw).ok_or_else(|| {
        ConfigError::new("residency.header", format!("{header_raw:?} is not a usable header name (letters, digits and -; not hop-by-hop, x-edge-*, x-forwarded-* or cf-*)"))
    })?;
    let known_tag = |tag: &Tag, field: &str| {
        if regions.iter().any(|r| r.tags.contains(tag)) {
            Ok(())
        } else {
            Err(ConfigError::new(
                field,
                format!("requires tag {tag:?}, which no region carries"),
            ))
        }
    };
    let mut rule = ResidencyRule {
        header,
        countries: BTreeMap::new(),
        continents: BTreeMap::new(),
    };
    for (code, tag) in raw.countries {
        let field = format!("residency.countries.{code}");
        let country = CountryCode::parse(&code).map_err(|e| ConfigError::new(&field, e))?;
        let tag = Tag::parse(&tag).map_err(|e| ConfigError::new(&field, e))?;
        known_tag(&tag, &field)?;
        rule.countries.insert(country, tag);
    }
    for (code, tag) in raw.continents {
        let field = format!("residency.continents.{code}");
        let continent = ContinentCode::parse(&code).map_err(|e| ConfigError::new(&field, e))?;
        let tag = Tag::parse(&tag).map_err(|e| ConfigError::new(&field, e))?;
        known_tag(&tag, &field)?;
        rule.continents.insert(continent, tag);
    }
    Ok(rule)
}

fn validate_affinity(raw: RawAffinity) -> Result<AffinityConfig, ConfigError> {
    let cookie = raw.cookie.unwrap_or_else(|| "edge_region".into());
    if cookie.is_empty()
        || cookie.len() > 64
        || !cookie
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(ConfigError::new(
            "affinity.cookie",
            format!("{cookie:?} is not a usable cookie name (A-Z a-z 0-9 _ -)"),
        ));
    }
    let max_age_s = raw.max_age_s.unwrap_or(3600);
    if max_age_s == 0 || max_age_s > 400 * 24 * 3600 {
        return Err(ConfigError::new(
            "affinity.max_age_s",
            "must be between 1 second and 400 days",
        ));
    }
    Ok(AffinityConfig {
        cookie,
        max_age: Duration::from_secs(max_age_s),
    })
}

/// The default route table: the sync protocol's long-poll, then every other `/v1/` path.
fn default_routes() -> Vec<RawRoute> {
    vec![
        RawRoute {
            prefix: "/v1/watch".into(),
            // The protocol holds a watch up to 30 s: wait for it plus a margin.
            try_timeout_ms: Some(35_000),
            deadline_ms: Some(65_000),
            observe_latency: Some(false),
            hedge: Some(false),
            idempotent: Some(true),
        },
        RawRoute {
            prefix: "/v1/".into(),
            try_timeout_ms: None,
            deadline_ms: None,
            observe_latency: None,
            hedge: None,
            idempotent: None,
        },
    ]
}

fn validate_routes(
    raw: Option<Vec<RawRoute>>,
    timeouts: &TimeoutConfig,
) -> Result<Vec<RouteClass>, ConfigError> {
    let explicit = raw.is_some();
    let raw = raw.unwrap_or_else(default_routes);
    if raw.len() > 64 {
        return Err(ConfigError::new("routes", "lists more than 64 routes"));
    }
    let mut out: Vec<RouteClass> = Vec::with_capacity(raw.len());
    for (i, r) in raw.into_iter().enumerate() {
        let path = if explicit {
            index("routes", i)
        } else {
            "routes".into()
        };
        let prefix_ok = r.prefix.starts_with('/')
            && !r.prefix.starts_with("/_edge")
            && r.prefix.len() <= 256
            && !r.prefix.contains(['?', '#', ' ', '\\']);
        if !prefix_ok {
            return Err(ConfigError::new(
                at(&path, "prefix"),
                format!(
                    "{:?} must be a path starting with / (and not /_edge, which the edge serves itself)",
                    r.prefix
                ),
            ));
        }
        if out.iter().any(|o| o.prefix == r.prefix) {
            return Err(ConfigError::new(
                at(&path, "prefix"),
                format!("{:?} is listed twice", r.prefix),
            ));
        }
        let try_timeout = match r.try_timeout_ms {
            Some(0) => {
                return Err(ConfigError::new(
                    at(&path, "try_timeout_ms"),
                    "must be above 0 (omit it for the adaptive timeout)",
                ));
            }
            Some(ms) if ms > 600_000 => {
                return Err(ConfigError::new(
                    at(&path, "try_timeout_ms"),
                    "must be at most 600000",
                ));
            }
            other => other.map(Duration::from_millis),
        };
        let deadline = match r.deadline_ms {
            Some(ms) if ms == 0 || ms > 600_000 => {
                return Err(ConfigError::new(
                    at(&path, "deadline_ms"),
                    "must be between 1 and 600000",
                ));
            }
            Some(ms) => Duration::from_millis(ms),
            None => timeouts.deadline().max(try_timeout.unwrap_or_default()),
        };
        out.push(RouteClass {
            prefix: r.prefix,
            try_timeout,
            deadline,
            observe_latency: r.observe_latency.unwrap_or(true),
            hedge: r.hedge.unwrap_or(true),
            idempotent: r.idempotent,
        });
    }
    out.sort_by_key(|r| std::cmp::Reverse(r.prefix.len()));
    Ok(out)
}

#[cfg(test)]
mod tests;
