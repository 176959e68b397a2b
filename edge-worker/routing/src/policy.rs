//! Orders the regions a request may go to: the candidate list, with the reason
//! for each place. Pure: the same inputs (including the random draw) always give
//! the same list.

use crate::classify::ProxyRequest;
use crate::config::{EdgeConfig, GeoMap, Policy, RegionIdx};
use crate::health::HealthState;
use crate::names::{ContinentCode, CountryCode};
use serde::Serialize;
use std::cmp::Ordering;

/// Why a region holds its place in the candidate list.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "why", rename_all = "snake_case")]
pub enum Reason {
    /// The client's affinity cookie names it.
    Affinity,
    /// Its place by smoothed RTT (`srtt_ms` absent: not measured yet).
    Latency {
        srtt_ms: Option<f64>,
    },
    /// Its place in strict priority order.
    Priority {
        priority: u32,
    },
    /// Drawn by weight.
    Weighted {
        weight: u32,
    },
    GeoCountry {
        country: CountryCode,
    },
    GeoContinent {
        continent: ContinentCode,
    },
    Nearest {
        km: f64,
    },
    /// Ejection over; tried after the healthy regions to test readmission.
    HalfOpenTrial,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Candidate {
    pub region: RegionIdx,
    #[serde(flatten)]
    pub reason: Reason,
}

/// The ordered candidates for one request.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Route {
    pub candidates: Vec<Candidate>,
    /// No allowed region was healthy: all are tried in best-known order rather than failing closed.
    pub panic: bool,
}

/// The request cannot be routed at all.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error("no configured region carries all required residency tags ({0})")]
    NoResidentRegion(String),
}

/// What the policy needs to know about each region right now.
#[derive(Clone, Copy, Debug)]
pub struct RegionView {
    pub health: HealthState,
    /// Smoothed probe RTT, `None` before the first probe answered.
    pub srtt_ms: Option<f64>,
    /// Its mean deviation: how noisy the estimate is.
    pub rttvar_ms: Option<f64>,
}

/// What the policies see: the configuration, every region's state, and the
/// region latency ordering put first last time (it keeps its place until
/// another is clearly faster).
pub struct Table<'a> {
    pub config: &'a EdgeConfig,
    pub views: &'a [RegionView],
    pub incumbent: Option<RegionIdx>,
}

/// Orders the regions for `req`. `random` is a uniform draw in `[0, 1)`.
pub fn order(table: &Table<'_>, req: &ProxyRequest, random: f64) -> Result<Route, RouteError> {
    let (config, views) = (table.config, table.views);
    let allowed: Vec<RegionIdx> = config
        .region_indices()
        .filter(|&r| {
            req.required_tags
                .iter()
                .all(|t| config.region(r).tags.contains(t))
        })
        .collect();
    if allowed.is_empty() {
        let tags: Vec<&str> = req.required_tags.iter().map(|t| t.as_str()).collect();
        return Err(RouteError::NoResidentRegion(tags.join(", ")));
    }
    let view = |r: RegionIdx| views[r.index()];
    let healthy: Vec<RegionIdx> = allowed
        .iter()
        .copied()
        .filter(|&r| view(r).health == HealthState::Healthy)
        .collect();
    let half_open: Vec<RegionIdx> = allowed
        .iter()
        .copied()
        .filter(|&r| view(r).health == HealthState::HalfOpen)
        .collect();

    if healthy.is_empty() && half_open.is_empty() {
        return Ok(Route {
            candidates: by_policy(table, req, &allowed, random),
            panic: true,
        });
    }
    if healthy.is_empty() {
        let mut candidates = by_policy(table, req, &half_open, random);
        candidates
            .iter_mut()
            .for_each(|c| c.reason = Reason::HalfOpenTrial);
        return Ok(Route {
            candidates,
            panic: false,
        });
    }
    let mut candidates = by_policy(table, req, &healthy, random);
    if let Some(pos) = req
        .affinity
        .and_then(|a| candidates.iter().position(|c| c.region == a))
    {
        let mut chosen = candidates.remove(pos);
        chosen.reason = Reason::Affinity;
        candidates.insert(0, chosen);
    }
    if req.idempotent {
        let mut trials = latency_order(table, req, &half_open);
        trials
            .iter_mut()
            .for_each(|c| c.reason = Reason::HalfOpenTrial);
        candidates.extend(trials);
    }
    Ok(Route {
        candidates,
        panic: false,
    })
}

fn by_policy(
    table: &Table<'_>,
    req: &ProxyRequest,
    pool: &[RegionIdx],
    random: f64,
) -> Vec<Candidate> {
    let config = table.config;
    match &config.policy {
        Policy::Latency => latency_order(table, req, pool),
        Policy::Failover => {
            let mut ordered = pool.to_vec();
            ordered.sort_by_key(|&r| (config.region(r).priority, r));
            ordered
                .into_iter()
                .map(|r| Candidate {
                    region: r,
                    reason: Reason::Priority {
                        priority: config.region(r).priority,
                    },
                })
                .collect()
        }
        Policy::Weighted => {
            let first = weighted_draw(config, pool, random);
            preferred_then_latency(
                table,
                req,
                pool,
                first.map(|r| {
                    (
                        r,
                        Reason::Weighted {
                            weight: config.region(r).weight,
                        },
                    )
                }),
            )
        }
        Policy::Geo(map) => preferred_then_latency(table, req, pool, geo_preference(map, req)),
        Policy::Proximity => {
            let Some(client) = req.client.point else {
                return latency_order(table, req, pool);
            };
            let mut located: Vec<(RegionIdx, f64)> = pool
                .iter()
                .filter_map(|&r| {
                    config
                        .region(r)
                        .location
                        .map(|loc| (r, loc.distance_km(client)))
                })
                .collect();
            located.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
            preferred_then_latency(
                table,
                req,
                pool,
                located.into_iter().map(|(r, km)| {
                    (
                        r,
                        Reason::Nearest {
                            km: (km * 10.0).round() / 10.0,
                        },
                    )
                }),
            )
        }
    }
}

/// The preferred regions (those in `pool`, in the order given), then every other one by latency.
fn preferred_then_latency(
    table: &Table<'_>,
    req: &ProxyRequest,
    pool: &[RegionIdx],
    preferred: impl IntoIterator<Item = (RegionIdx, Reason)>,
) -> Vec<Candidate> {
    let mut out: Vec<Candidate> = Vec::with_capacity(pool.len());
    for (region, reason) in preferred {
        if pool.contains(&region) && !out.iter().any(|c| c.region == region) {
            out.push(Candidate { region, reason });
        }
    }
    let rest: Vec<RegionIdx> = pool
        .iter()
        .copied()
        .filter(|r| !out.iter().any(|c| c.region == *r))
        .collect();
    out.extend(latency_order(table, req, &rest));
    out
}

fn geo_preference(map: &GeoMap, req: &ProxyRequest) -> Vec<(RegionIdx, Reason)> {
    if let Some((country, regions)) = req
        .client
        .country
        .as_ref()
        .and_then(|c| map.countries.get(c).map(|r| (c, r)))
    {
        return regions
            .iter()
            .map(|&r| {
                (
                    r,
                    Reason::GeoCountry {
                        country: country.clone(),
                    },
                )
            })
            .collect();
    }
    if let Some((continent, regions)) = req
        .client
        .continent
        .as_ref()
        .and_then(|c| map.continents.get(c).map(|r| (c, r)))
    {
        return regions
            .iter()
            .map(|&r| {
                (
                    r,
                    Reason::GeoContinent {
                        continent: continent.clone(),
                    },
                )
            })
            .collect();
    }
    Vec::new()
}

fn weighted_draw(config: &EdgeConfig, pool: &[RegionIdx], random: f64) -> Option<RegionIdx> {
    let total: u64 = pool
        .iter()
        .map(|&r| u64::from(config.region(r).weight))
        .sum();
    if total == 0 {
        return None;
    }
    let target = (random.clamp(0.0, 1.0) * total as f64) as u64;
    let mut acc = 0u64;
    for &r in pool {
        acc += u64::from(config.region(r).weight);
        if target < acc {
            return Some(r);
        }
    }
    pool.iter().copied().rfind(|&r| config.region(r).weight > 0)
}

/// Measured regions by smoothed RTT; unmeasured ones after, nearest first when
/// the client's location is known; priority and config order break ties. The
/// incumbent (first last time) ranks as if faster by the switch margin, so
/// traffic moves only to a region that is clearly faster.
fn latency_order(table: &Table<'_>, req: &ProxyRequest, pool: &[RegionIdx]) -> Vec<Candidate> {
    let (config, views) = (table.config, table.views);
    let distance = |r: RegionIdx| match (req.client.point, config.region(r).location) {
        (Some(c), Some(loc)) => loc.distance_km(c),
        _ => f64::INFINITY,
    };
    let rank = incumbent_rank(table, pool);
    let rank_of = |r: RegionIdx| match rank {
        Some((incumbent, ms)) if incumbent == r => Some(ms),
        _ => views[r.index()].srtt_ms,
    };
    let mut ordered = pool.to_vec();
    ordered.sort_by(|&a, &b| {
        let by_rtt = match (rank_of(a), rank_of(b)) {
            (Some(x), Some(y)) => x.total_cmp(&y),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => distance(a).total_cmp(&distance(b)),
        };
        by_rtt
            .then(config.region(a).priority.cmp(&config.region(b).priority))
            .then(a.cmp(&b))
    });
    ordered
        .into_iter()
        .map(|r| Candidate {
            region: r,
            reason: Reason::Latency {
                srtt_ms: views[r.index()].srtt_ms.map(round1),
            },
        })
        .collect()
}

/// The incumbent's rank in `pool`: its RTT less the switch margin, the noise
/// taken from it and its fastest challenger. `None` when it is not in the pool
/// or not measured.
fn incumbent_rank(table: &Table<'_>, pool: &[RegionIdx]) -> Option<(RegionIdx, f64)> {
    let incumbent = table.incumbent.filter(|r| pool.contains(r))?;
    let view = table.views[incumbent.index()];
    let srtt = view.srtt_ms?;
    let challenger = pool
        .iter()
        .filter(|&&r| r != incumbent)
        .filter_map(|&r| {
            let v = table.views[r.index()];
            Some((v.srtt_ms?, v.rttvar_ms.unwrap_or(0.0)))
        })
        .min_by(|x, y| x.0.total_cmp(&y.0));
    let noise = match challenger {
        Some((_, var)) => (view.rttvar_ms.unwrap_or(0.0) + var) / 2.0,
        None => 0.0,
    };
    let margin = table.config.latency.switch_margin_ms(srtt, noise);
    Some((incumbent, srtt - margin))
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}
