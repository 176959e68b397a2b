//! What the edge does with a request: serve its own endpoint, leave it to the
//! static assets, or proxy it to a region (and under which rules).

use crate::config::{EdgeConfig, RegionIdx, RouteClass};
use crate::geo::GeoPoint;
use crate::names::{ContinentCode, CountryCode, Tag, truncate};
use serde::Serialize;
use std::collections::BTreeSet;
use std::fmt;

/// Where the client is, from `request.cf` (or, in development, from override headers).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ClientGeo {
    pub country: Option<CountryCode>,
    pub continent: Option<ContinentCode>,
    pub point: Option<GeoPoint>,
}

/// Development-only headers standing in for `request.cf` (honoured only with `EDGE_DEV=1`).
pub const DEV_COUNTRY: &str = "x-edge-dev-country";
pub const DEV_CONTINENT: &str = "x-edge-dev-continent";
pub const DEV_LAT: &str = "x-edge-dev-lat";
pub const DEV_LON: &str = "x-edge-dev-lon";

impl ClientGeo {
    /// From raw `cf` values; anything malformed is treated as unknown.
    pub fn from_parts(
        country: Option<&str>,
        continent: Option<&str>,
        lat: Option<&str>,
        lon: Option<&str>,
    ) -> Self {
        let num = |v: Option<&str>| v.and_then(|s| s.trim().parse::<f64>().ok());
        Self {
            country: country.and_then(|c| CountryCode::parse(c).ok()),
            continent: continent.and_then(|c| ContinentCode::parse(c).ok()),
            point: num(lat)
                .zip(num(lon))
                .and_then(|(la, lo)| GeoPoint::new(la, lo).ok()),
        }
    }

    /// Overrides each field a development header provides.
    pub fn with_dev_overrides(self, headers: &[(String, String)]) -> Self {
        let get = |name: &str| header(headers, name);
        let dev = Self::from_parts(
            get(DEV_COUNTRY),
            get(DEV_CONTINENT),
            get(DEV_LAT),
            get(DEV_LON),
        );
        Self {
            country: dev.country.or(self.country),
            continent: dev.continent.or(self.continent),
            point: dev.point.or(self.point),
        }
    }
}

/// The parts of a client request classification looks at. Header names are lowercase.
#[derive(Clone, Debug)]
pub struct RequestInput<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub headers: &'a [(String, String)],
    pub geo: ClientGeo,
}

/// First value of a (lowercase) header.
pub fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// HTTP methods the edge proxies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Options,
    Patch,
}

impl Method {
    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            "PATCH" => Method::Patch,
            _ => return None,
        })
    }

    /// Idempotent by definition (RFC 9110 §9.2.2).
    pub fn is_idempotent(self) -> bool {
        matches!(
            self,
            Method::Get | Method::Head | Method::Put | Method::Delete | Method::Options
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
            Method::Patch => "PATCH",
        }
    }
}

/// Everything routing and the retry loop need to know about a proxied request.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProxyRequest {
    pub method: Method,
    pub route_prefix: String,
    /// Safe to send to more than one region.
    pub idempotent: bool,
    /// May be hedged (a GET/HEAD on a route that allows it, with hedging on).
    pub hedge: bool,
    /// Every region that serves it must carry all of these tags.
    pub required_tags: BTreeSet<Tag>,
    pub client: ClientGeo,
    /// The region a valid affinity cookie names.
    pub affinity: Option<RegionIdx>,
}

/// What to do with a request.
#[derive(Clone, Debug, PartialEq)]
pub enum Disposition {
    /// `GET /_edge/status`.
    EdgeStatus,
    /// Any other `/_edge/...` path.
    EdgeNotFound,
    /// Not a proxied path: the static assets answer it.
    Assets,
    Proxy(ProxyRequest),
}

/// A request refused before any region is contacted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rejection {
    MethodNotAllowed { method: String },
    BodyTooLarge { limit: u64 },
    BadResidency { tag: String, reason: &'static str },
    BadIdempotencyKey,
}

impl Rejection {
    pub fn status(&self) -> u16 {
        match self {
            Rejection::MethodNotAllowed { .. } => 405,
            Rejection::BodyTooLarge { .. } => 413,
            Rejection::BadResidency { .. } | Rejection::BadIdempotencyKey => 400,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Rejection::MethodNotAllowed { .. } => "method_not_allowed",
            Rejection::BodyTooLarge { .. } => "body_too_large",
            Rejection::BadResidency { .. } => "bad_residency",
            Rejection::BadIdempotencyKey => "bad_idempotency_key",
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::MethodNotAllowed { method } => write!(f, "method {method:?} is not proxied"),
            Rejection::BodyTooLarge { limit } => {
                write!(f, "request body exceeds the edge's limit of {limit} bytes")
            }
            Rejection::BadResidency { tag, reason } => write!(f, "residency tag {tag:?} {reason}"),
            Rejection::BadIdempotencyKey => {
                f.write_str("Idempotency-Key must be 1 to 255 visible ASCII characters")
            }
        }
    }
}

/// Longest accepted `Idempotency-Key`.
pub const MAX_IDEMPOTENCY_KEY: usize = 255;

/// Classifies a request against the configuration. Never panics on any input.
pub fn classify(config: &EdgeConfig, req: &RequestInput<'_>) -> Result<Disposition, Rejection> {
    if req.path == "/_edge" || req.path.starts_with("/_edge/") {
        return Ok(match (req.method, req.path) {
            ("GET" | "HEAD", "/_edge/status") => Disposition::EdgeStatus,
            _ => Disposition::EdgeNotFound,
        });
    }
    let Some(route) = config.route_for(req.path) else {
        return Ok(Disposition::Assets);
    };
    let method = Method::parse(req.method).ok_or_else(|| Rejection::MethodNotAllowed {
        method: truncate(req.method),
    })?;
    if let Some(len) =
        header(req.headers, "content-length").and_then(|v| v.trim().parse::<u64>().ok())
        && len > config.max_body_bytes
    {
        return Err(Rejection::BodyTooLarge {
            limit: config.max_body_bytes,
        });
    }
    let has_key = match header(req.headers, "idempotency-key") {
        None => false,
        Some(key) if is_valid_idempotency_key(key) => true,
        Some(_) => return Err(Rejection::BadIdempotencyKey),
    };
    let idempotent = route
        .idempotent
        .unwrap_or(method.is_idempotent() || has_key);
    Ok(Disposition::Proxy(ProxyRequest {
        method,
        route_prefix: route.prefix.clone(),
        idempotent,
        hedge: hedgeable(config, route, method),
        required_tags: required_tags(config, req)?,
        affinity: affinity_region(config, req.headers),
        client: req.geo.clone(),
    }))
}

fn is_valid_idempotency_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= MAX_IDEMPOTENCY_KEY && key.bytes().all(|b| b.is_ascii_graphic())
}

fn hedgeable(config: &EdgeConfig, route: &RouteClass, method: Method) -> bool {
    config.hedging.enabled && route.hedge && matches!(method, Method::Get | Method::Head)
}

fn required_tags(config: &EdgeConfig, req: &RequestInput<'_>) -> Result<BTreeSet<Tag>, Rejection> {
    let mut tags = BTreeSet::new();
    let Some(rule) = &config.residency else {
        return Ok(tags);
    };
    if let Some(raw) = header(req.headers, &rule.header) {
        let tag = Tag::parse(raw.trim()).map_err(|_| Rejection::BadResidency {
            tag: truncate(raw),
            reason: "is not a valid tag",
        })?;
        if !config.regions().iter().any(|r| r.tags.contains(&tag)) {
            return Err(Rejection::BadResidency {
                tag: tag.to_string(),
                reason: "is carried by no configured region",
            });
        }
        tags.insert(tag);
    }
    let by_country = req.geo.country.as_ref().and_then(|c| rule.countries.get(c));
    let by_continent = req
        .geo
        .continent
        .as_ref()
        .and_then(|c| rule.continents.get(c));
    if let Some(tag) = by_country.or(by_continent) {
        tags.insert(tag.clone());
    }
    Ok(tags)
}

fn affinity_region(config: &EdgeConfig, headers: &[(String, String)]) -> Option<RegionIdx> {
    let name = &config.affinity.as_ref()?.cookie;
    headers
        .iter()
        .filter(|(n, _)| n == "cookie")
        .flat_map(|(_, v)| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| k == name)
        .and_then(|(_, value)| config.find_region(value.trim().trim_matches('"')))
}
