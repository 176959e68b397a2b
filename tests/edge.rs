//! The edge worker in workerd (`wrangler dev`) in front of echo origins, each
//! behind a fault proxy that can add latency, black-hole or refuse traffic.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use local_world::paths::{default_log_base, fresh_dir, repo_root};
use local_world::{EchoOrigin, FaultProxy, WranglerDev, WranglerOptions, loopback_client};
use serde_json::{Value, json};

/// The response header naming the region that served a request.
pub const REGION_HEADER: &str = "x-edge-region";

/// One region of a test world: a name, its simulated network distance, and
/// extra region fields for `EDGE_CONFIG` (`lat`, `tags`, `weight`, ...).
#[derive(Clone, Debug)]
pub struct RegionSpec {
    pub name: &'static str,
    pub one_way_latency: Duration,
    pub fields: Value,
}

impl RegionSpec {
    pub fn new(name: &'static str, one_way_latency_ms: u64) -> Self {
        RegionSpec {
            name,
            one_way_latency: Duration::from_millis(one_way_latency_ms),
            fields: json!({}),
        }
    }

    pub fn with(mut self, fields: Value) -> Self {
        self.fields = fields;
        self
    }
}

/// How to start an [`EdgeWorld`].
#[derive(Clone, Debug, Default)]
pub struct WorldSpec {
    pub regions: Vec<RegionSpec>,
    /// Top-level `EDGE_CONFIG` fields besides `regions` (policy, health, timeouts, ...).
    pub config: Value,
    /// Replaces the generated `EDGE_CONFIG` text entirely (for invalid-config tests).
    pub raw_config: Option<String>,
    /// Serve these static files instead of `demo-app/dist` (through a copy of
    /// the root `wrangler.toml` that differs only in paths).
    pub assets: Option<PathBuf>,
    /// Sets `EDGE_DEV=1` (development overrides such as `x-edge-dev-country`).
    pub dev: bool,
    /// More `EDGE_CONFIG` region entries, as written, for origins the test runs itself.
    pub extra_regions: Vec<Value>,
}

/// A region of a running world.
pub struct TestRegion {
    pub name: String,
    pub origin: EchoOrigin,
    pub proxy: FaultProxy,
}

/// The edge in workerd in front of its regions; everything stops when dropped.
pub struct EdgeWorld {
    pub regions: Vec<TestRegion>,
    pub edge: WranglerDev,
    pub client: reqwest::Client,
    pub config: String,
}

impl EdgeWorld {
    pub async fn start(spec: WorldSpec) -> anyhow::Result<EdgeWorld> {
        let mut regions = Vec::new();
        for r in &spec.regions {
            let origin = EchoOrigin::start("127.0.0.1:0".parse()?, r.name).await?;
            let proxy = FaultProxy::start("127.0.0.1:0".parse()?, origin.addr()).await?;
            proxy.set_latency(r.one_way_latency);
            regions.push(TestRegion {
                name: r.name.to_owned(),
                origin,
                proxy,
            });
        }
        let config = match &spec.raw_config {
            Some(raw) => raw.clone(),
            None => edge_config(&spec, &regions)?,
        };
        let wrangler_config = match &spec.assets {
            Some(assets) => derived_wrangler_config(Some(assets))?,
            None => repo_root().join("wrangler.toml"),
        };
        let mut options = WranglerOptions::with_config(wrangler_config).var("EDGE_CONFIG", &config);
        if spec.dev {
            options = options.var("EDGE_DEV", "1");
        }
        let edge = WranglerDev::start(options)
            .await
            .context("starting the edge in wrangler dev")?;
        Ok(EdgeWorld {
            regions,
            edge,
            client: loopback_client(),
            config,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.edge.url())
    }

    pub fn region(&self, name: &str) -> &TestRegion {
        self.regions
            .iter()
            .find(|r| r.name == name)
            .unwrap_or_else(|| panic!("no region {name} in this world"))
    }

    /// `GET /_edge/status` as JSON.
    pub async fn status(&self) -> anyhow::Result<Value> {
        let response = self
            .client
            .get(self.url("/_edge/status"))
            .timeout(Duration::from_secs(10))
            .send()
            .await?;
        Ok(response.json().await?)
    }

    /// The status entry of one region.
    pub async fn region_status(&self, name: &str) -> anyhow::Result<Value> {
        let status = self.status().await?;
        status["regions"]
            .as_array()
            .and_then(|regions| regions.iter().find(|r| r["id"] == name).cloned())
            .with_context(|| format!("region {name} missing from /_edge/status: {status}"))
    }

    /// Polls `/_edge/status` until `check` holds for region `name`, for at most `timeout`.
    pub async fn wait_for_region(
        &self,
        name: &str,
        timeout: Duration,
        check: impl Fn(&Value) -> bool,
    ) -> anyhow::Result<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let status = self.region_status(name).await?;
            if check(&status) {
                return Ok(status);
            }
            if tokio::time::Instant::now() >= deadline {
                bail!(
                    "region {name} did not reach the expected state within {timeout:?}; last status: {status}"
                );
            }
            // Status requests are traffic too: they let the edge run its probes.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Tail of the edge's log (wrangler output, including the worker's logs).
    pub fn edge_log(&self, lines: usize) -> String {
        self.edge.process().log_tail(lines)
    }
}

/// `EDGE_CONFIG` for the world's regions: each region's origin is its fault proxy.
fn edge_config(spec: &WorldSpec, regions: &[TestRegion]) -> anyhow::Result<String> {
    let mut doc = match &spec.config {
        Value::Null => json!({}),
        Value::Object(_) => spec.config.clone(),
        other => bail!("WorldSpec::config must be a JSON object, not {other}"),
    };
    let listed: Vec<Value> = spec
        .regions
        .iter()
        .zip(regions)
        .map(|(r, running)| {
            let mut entry = json!({ "id": r.name, "origin": running.proxy.url() });
            if let (Some(entry), Some(fields)) = (entry.as_object_mut(), r.fields.as_object()) {
                entry.extend(fields.clone());
            }
            entry
        })
        .collect();
    doc["regions"] = Value::Array(
        listed
            .into_iter()
            .chain(spec.extra_regions.clone())
            .collect(),
    );
    Ok(doc.to_string())
}

/// A copy of the root `wrangler.toml` that runs the already built worker (no
/// `[build]` step) and serves `assets`, or no static assets at all with `None`:
/// the same settings otherwise.
pub fn derived_wrangler_config(assets: Option<&Path>) -> anyhow::Result<PathBuf> {
    let root = repo_root();
    let original = std::fs::read_to_string(root.join("wrangler.toml"))?;
    let main_line = "main = \"edge-worker/build/index.js\"";
    let assets_line = "directory = \"demo-app/dist\"";
    if !original.contains(main_line) || !original.contains(assets_line) {
        bail!(
            "wrangler.toml no longer has `{main_line}` and `{assets_line}`: update tests/edge.rs"
        );
    }
    let mut out = String::new();
    let mut skipping = false;
    for line in original.lines() {
        if line.starts_with('[') {
            skipping = line.trim() == "[build]" || (assets.is_none() && line.trim() == "[assets]");
        }
        if !skipping {
            out.push_str(line);
            out.push('\n');
        }
    }
    let main = root.join("edge-worker/build/index.js");
    let out = out
        .replace(
            main_line,
            &format!("main = {:?}", main.display().to_string()),
        )
        .replace(
            assets_line,
            &format!(
                "directory = {:?}",
                assets.map(|a| a.display().to_string()).unwrap_or_default()
            ),
        );
    let dir = fresh_dir(&default_log_base(), "edge-config")?;
    let path = dir.join("wrangler.toml");
    std::fs::write(&path, out)?;
    Ok(path)
}
