//! What a [`World`](super::World) is made of: regions with their places and
//! network distances, how a region process is started, and the edge.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::paths::{MissingBinary, binary_path, repo_root};
use crate::process::ProcessSpec;

/// One region of the world.
#[derive(Clone, Debug, PartialEq)]
pub struct RegionSpec {
    pub id: String,
    pub lat: f64,
    pub lon: f64,
    /// One-way latency of the edge -> region path (its fault proxy).
    pub edge_latency: Duration,
    /// Tags for the edge's residency rules (for example `eu`).
    pub tags: Vec<String>,
}

impl RegionSpec {
    pub fn new(id: impl Into<String>, lat: f64, lon: f64, edge_latency: Duration) -> Self {
        RegionSpec {
            id: id.into(),
            lat,
            lon,
            edge_latency,
            tags: Vec::new(),
        }
    }

    pub fn tagged(mut self, tag: impl Into<String>) -> Self {
        self.tags.push(tag.into());
        self
    }
}

/// The default world: three regions (Virginia, Oregon, Dublin, as in the root
/// `wrangler.toml`), with the simulated edge (a point of presence near
/// us-east) at growing distances.
pub fn default_regions() -> Vec<RegionSpec> {
    vec![
        RegionSpec::new("us-east", 39.0, -77.5, Duration::from_millis(10)).tagged("us"),
        RegionSpec::new("us-west", 45.6, -121.2, Duration::from_millis(40)).tagged("us"),
        RegionSpec::new("eu-west", 53.3, -6.3, Duration::from_millis(80)).tagged("eu"),
    ]
}

/// One-way latency between two places: great-circle distance at 100 km/ms,
/// i.e. light in fibre (200 km/ms) over a route twice as long as the arc, plus
/// 1 ms of switching. us-east <-> eu-west comes out near 55 ms.
pub fn one_way_latency_between(a: &RegionSpec, b: &RegionSpec) -> Duration {
    const EARTH_RADIUS_KM: f64 = 6371.0;
    const KM_PER_MS: f64 = 100.0;
    let (lat1, lat2) = (a.lat.to_radians(), b.lat.to_radians());
    let dlat = lat2 - lat1;
    let dlon = (b.lon - a.lon).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
    let km = 2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin();
    Duration::from_secs_f64((km / KM_PER_MS + 1.0) / 1000.0)
}

/// What runs in each region.
#[derive(Clone, Debug)]
pub enum RegionBackend {
    /// The real region server (issue 3), started as
    /// `region-server --region ID --listen ADDR --data-dir DIR --peer ID=URL... --dev`.
    RegionServer {
        binary: PathBuf,
        /// Appended to the command line (for example tuning flags).
        extra_args: Vec<String>,
        env: Vec<(String, String)>,
    },
    /// `local-world echo-origin --region ID --listen ADDR`: an [`EchoOrigin`](crate::EchoOrigin)
    /// in its own process, for edge tests that need origins that can be killed
    /// and paused like real ones but do not need documents.
    EchoOrigin { binary: PathBuf },
}

impl RegionBackend {
    /// The region server from `$CARGO_TARGET_DIR/debug`, in development mode.
    pub fn region_server() -> Result<Self, MissingBinary> {
        Ok(RegionBackend::RegionServer {
            binary: binary_path("region-server")?,
            extra_args: Vec::new(),
            env: Vec::new(),
        })
    }

    /// Echo origins run by the `local-world` binary at `binary`.
    pub fn echo_origin(binary: impl Into<PathBuf>) -> Self {
        RegionBackend::EchoOrigin {
            binary: binary.into(),
        }
    }

    /// How to start region `id` listening on `listen`, storing under
    /// `data_dir`, replicating to `peers` (peer id -> URL), logging to `log`.
    pub(crate) fn process_spec(
        &self,
        id: &str,
        listen: SocketAddr,
        data_dir: &Path,
        peers: &BTreeMap<String, String>,
        log: &Path,
    ) -> ProcessSpec {
        let name = format!("region {id}");
        match self {
            RegionBackend::RegionServer {
                binary,
                extra_args,
                env,
            } => {
                let mut spec = ProcessSpec::new(name, binary, log)
                    .current_dir(repo_root())
                    .args([
                        "--region",
                        id,
                        "--listen",
                        &listen.to_string(),
                        "--data-dir",
                    ])
                    .arg(data_dir);
                for (peer, url) in peers {
                    spec = spec.arg("--peer").arg(format!("{peer}={url}"));
                }
                spec = spec.arg("--dev").args(extra_args);
                for (key, value) in env {
                    spec = spec.env(key, value);
                }
                spec
            }
            RegionBackend::EchoOrigin { binary } => ProcessSpec::new(name, binary, log).args([
                "echo-origin",
                "--region",
                id,
                "--listen",
                &listen.to_string(),
            ]),
        }
    }
}

/// The edge: `wrangler dev` of a worker configured with the world's regions.
#[derive(Clone, Debug)]
pub struct EdgeSpec {
    /// The wrangler configuration (the root `wrangler.toml` by default).
    pub config: PathBuf,
    /// Port on 127.0.0.1; a free one when `None`.
    pub port: Option<u16>,
    /// Fields merged into the top level of `EDGE_CONFIG` next to `regions`
    /// (for example faster health checks in tests).
    pub extra_config: serde_json::Map<String, serde_json::Value>,
    /// More `--var`s for the worker.
    pub extra_vars: BTreeMap<String, String>,
    /// Readiness: GET this path must answer 2xx.
    pub ready_path: String,
    pub startup_timeout: Duration,
}

impl Default for EdgeSpec {
    fn default() -> Self {
        EdgeSpec {
            config: repo_root().join("wrangler.toml"),
            port: None,
            extra_config: serde_json::Map::new(),
            extra_vars: BTreeMap::new(),
            ready_path: "/_edge/status".into(),
            // Generous: wrangler runs the worker build first, a release build when sources changed.
            startup_timeout: Duration::from_secs(600),
        }
    }
}

/// Everything a [`World`](super::World) starts.
#[derive(Clone, Debug)]
pub struct WorldConfig {
    pub regions: Vec<RegionSpec>,
    /// One-way inter-region latency for an ordered pair; pairs not listed get
    /// [`one_way_latency_between`] their coordinates.
    pub link_latency: BTreeMap<(String, String), Duration>,
    pub backend: RegionBackend,
    /// Region data under `<dir>/regions/<id>`, logs under `<dir>/logs`.
    pub data_dir: PathBuf,
    /// Delete the regions' data before starting.
    pub fresh: bool,
    /// `None` starts the regions only.
    pub edge: Option<EdgeSpec>,
    /// Bound on each region's start (until `/readyz` answers 2xx).
    pub region_ready_timeout: Duration,
    /// How long a region gets to exit after SIGTERM.
    pub stop_grace: Duration,
}

impl WorldConfig {
    /// The default three regions with `backend`, the edge from the root
    /// `wrangler.toml`, everything stored under `data_dir`.
    pub fn new(backend: RegionBackend, data_dir: impl Into<PathBuf>) -> Self {
        WorldConfig {
            regions: default_regions(),
            link_latency: BTreeMap::new(),
            backend,
            data_dir: data_dir.into(),
            fresh: false,
            edge: Some(EdgeSpec::default()),
            region_ready_timeout: Duration::from_secs(60),
            stop_grace: Duration::from_secs(10),
        }
    }

    pub fn without_edge(mut self) -> Self {
        self.edge = None;
        self
    }

    pub(crate) fn link_latency(&self, from: &RegionSpec, to: &RegionSpec) -> Duration {
        self.link_latency
            .get(&(from.id.clone(), to.id.clone()))
            .copied()
            .unwrap_or_else(|| one_way_latency_between(from, to))
    }

    /// Checks what would otherwise fail confusingly later.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.regions.is_empty() {
            return Err("a world needs at least one region".into());
        }
        let mut seen = std::collections::BTreeSet::new();
        for region in &self.regions {
            let id_ok = !region.id.is_empty()
                && region
                    .id
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            if !id_ok {
                return Err(format!(
                    "region id {:?} must be non-empty lowercase letters, digits and '-'",
                    region.id
                ));
            }
            if !seen.insert(region.id.as_str()) {
                return Err(format!("region id {:?} appears twice", region.id));
            }
            if !(-90.0..=90.0).contains(&region.lat) || !(-180.0..=180.0).contains(&region.lon) {
                return Err(format!(
                    "region {:?} has coordinates out of range",
                    region.id
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(id: &str) -> RegionSpec {
        default_regions().into_iter().find(|r| r.id == id).unwrap()
    }

    #[test]
    fn latency_grows_with_distance_and_is_symmetric() {
        let (east, west, eu) = (region("us-east"), region("us-west"), region("eu-west"));
        let east_west = one_way_latency_between(&east, &west);
        let east_eu = one_way_latency_between(&east, &eu);
        let west_eu = one_way_latency_between(&west, &eu);
        assert!(
            east_west < east_eu && east_eu < west_eu,
            "{east_west:?} {east_eu:?} {west_eu:?}"
        );
        assert_eq!(east_eu, one_way_latency_between(&eu, &east));
        // Sanity against the real network: tens of milliseconds, not seconds.
        assert!(east_eu > Duration::from_millis(40) && east_eu < Duration::from_millis(80));
        assert_eq!(
            one_way_latency_between(&east, &east),
            Duration::from_millis(1)
        );
    }

    #[test]
    fn explicit_link_latency_wins() {
        let mut config = WorldConfig::new(RegionBackend::echo_origin("/bin/true"), "/tmp/x");
        config.link_latency.insert(
            ("us-east".into(), "eu-west".into()),
            Duration::from_millis(7),
        );
        let (east, eu) = (region("us-east"), region("eu-west"));
        assert_eq!(config.link_latency(&east, &eu), Duration::from_millis(7));
        assert_ne!(config.link_latency(&eu, &east), Duration::from_millis(7));
    }

    #[test]
    fn validation_names_the_problem() {
        let base = WorldConfig::new(RegionBackend::echo_origin("/bin/true"), "/tmp/x");
        assert!(base.validate().is_ok());

        let mut twice = base.clone();
        twice.regions.push(region("us-east"));
        assert!(twice.validate().unwrap_err().contains("twice"));

        let mut bad_id = base.clone();
        bad_id.regions[0].id = "US East".into();
        assert!(bad_id.validate().unwrap_err().contains("US East"));

        let mut empty = base.clone();
        empty.regions.clear();
        assert!(empty.validate().is_err());

        let mut far = base;
        far.regions[0].lat = 91.0;
        assert!(far.validate().unwrap_err().contains("coordinates"));
    }

    #[test]
    fn region_server_command_line_follows_issue_3() {
        let backend = RegionBackend::RegionServer {
            binary: "/bin/region-server".into(),
            extra_args: vec!["--x".into()],
            env: vec![],
        };
        let peers = BTreeMap::from([("eu-west".to_string(), "http://127.0.0.1:2".to_string())]);
        let spec = backend.process_spec(
            "us-east",
            "127.0.0.1:1".parse().unwrap(),
            Path::new("/d/us-east"),
            &peers,
            Path::new("/l/us-east.log"),
        );
        let args: Vec<String> = spec
            .arg_list()
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let expected = [
            "--region",
            "us-east",
            "--listen",
            "127.0.0.1:1",
            "--data-dir",
            "/d/us-east",
            "--peer",
            "eu-west=http://127.0.0.1:2",
            "--dev",
            "--x",
        ];
        assert_eq!(args, expected);
        assert_eq!(spec.program(), Path::new("/bin/region-server"));
    }
}
