//! The world every part of the suite runs against: three real region servers
//! behind fault proxies and the edge worker in workerd (`wrangler dev`), with
//! fresh data in a directory of its own that keeps the logs afterwards.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use local_world::World;
use local_world::world::{RegionBackend, WorldConfig};

/// A started world and the directory of its data and logs (`logs/` inside).
pub struct RunWorld {
    pub world: Arc<World>,
    pub dir: PathBuf,
}

impl RunWorld {
    /// Starts a fresh world under `<artifacts>/<label>-<pid>-<n>` with the
    /// region server at `region_server` (the debug build when `None`).
    pub async fn start(
        artifacts: &Path,
        label: &str,
        region_server: Option<PathBuf>,
        progress: &(dyn Fn(&str) + Sync),
    ) -> anyhow::Result<Self> {
        let dir = local_world::paths::fresh_dir(artifacts, label)
            .with_context(|| format!("creating a run directory under {}", artifacts.display()))?;
        let backend = match region_server {
            Some(binary) => RegionBackend::RegionServer { binary, extra_args: Vec::new(), env: Vec::new() },
            None => RegionBackend::region_server()?,
        };
        let mut config = WorldConfig::new(backend, &dir);
        config.fresh = true;
        let world = Arc::new(World::start_with_progress(config, progress).await?);
        Ok(RunWorld { world, dir })
    }

    pub fn edge_url(&self) -> anyhow::Result<String> {
        Ok(self.world.edge_url().context("the world has no edge")?.to_owned())
    }

    /// Stops every process gracefully; on success the region databases are
    /// deleted (`keep_data` keeps them for a post-mortem), the logs stay.
    pub async fn stop(self, keep_data: bool) -> anyhow::Result<()> {
        self.world.stop().await?;
        if !keep_data {
            let _ = std::fs::remove_dir_all(self.dir.join("regions"));
        }
        Ok(())
    }
}

/// `<repository>/tests/artifacts/<what>` (git-ignored).
pub fn default_artifacts(what: &str) -> PathBuf {
    local_world::repo_root().join("tests/artifacts").join(what)
}
