//! Numeric settings sections of `EDGE_CONFIG`, each with its defaults and checks.
//!
//! Durations are written in milliseconds (`*_ms`) in JSON and read back as
//! [`Duration`] through the accessors, so units never mix in code.

use super::error::{ConfigError, at};
use serde::Deserialize;
use std::time::Duration;

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

fn require(ok: bool, field: String, message: impl Into<String>) -> Result<(), ConfigError> {
    if ok {
        Ok(())
    } else {
        Err(ConfigError::new(field, message))
    }
}

fn positive_ms(parent: &str, name: &str, v: u64, max: u64) -> Result<(), ConfigError> {
    require(
        v > 0 && v <= max,
        at(parent, name),
        format!("must be between 1 and {max} milliseconds"),
    )
}

fn factor(parent: &str, name: &str, v: f64) -> Result<(), ConfigError> {
    require(
        v.is_finite() && (0.0..=16.0).contains(&v),
        at(parent, name),
        "must be a number between 0 and 16",
    )
}

const HOUR_MS: u64 = 3_600_000;

/// How latency estimates are smoothed, and when traffic moves (`latency`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LatencyConfig {
    /// Time constant of the estimates: a sample taken this long after the previous
    /// one carries ~63% of the weight, so stale estimates give way to fresh samples.
    pub decay_ms: u64,
    /// Hysteresis of the `latency` policy: traffic leaves the region it goes to
    /// only for one whose probe RTT is lower by more than the largest of this,
    /// `switch_margin_percent` of the current region's RTT, and the two regions'
    /// mean RTT deviation (their noise), so it does not flap between regions
    /// that are about as fast.
    pub switch_margin_ms: u64,
    pub switch_margin_percent: u32,
}

impl Default for LatencyConfig {
    fn default() -> Self {
        Self {
            decay_ms: 10_000,
            switch_margin_ms: 5,
            switch_margin_percent: 20,
        }
    }
}

impl LatencyConfig {
    pub fn decay(&self) -> Duration {
        ms(self.decay_ms)
    }

    /// How much faster than the current region another must be to take its traffic.
    pub fn switch_margin_ms(&self, current_ms: f64, noise_ms: f64) -> f64 {
        (self.switch_margin_ms as f64)
            .max(current_ms * f64::from(self.switch_margin_percent) / 100.0)
            .max(noise_ms)
    }

    pub(super) fn validate(&self, path: &str) -> Result<(), ConfigError> {
        positive_ms(path, "decay_ms", self.decay_ms, HOUR_MS)?;
        require(
            self.switch_margin_ms <= 60_000,
            at(path, "switch_margin_ms"),
            "must be at most 60000 milliseconds",
        )?;
        require(
            self.switch_margin_percent <= 100,
            at(path, "switch_margin_percent"),
            "must be between 0 and 100",
        )
    }
}

/// Active checks and passive outlier detection (`health`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct HealthConfig {
    /// Path probed on every region (it doubles as the latency probe).
    pub path: String,
    /// Each region is probed at most once per interval per isolate.
    pub interval_ms: u64,
    pub timeout_ms: u64,
    pub expected_status: Vec<u16>,
    /// Consecutive failed probes that eject a region.
    pub unhealthy_threshold: u32,
    /// Consecutive failures of real traffic (connect error, timeout, 5xx) that eject a region.
    pub consecutive_failures: u32,
    /// First ejection lasts this long; each further one doubles it, up to `ejection_max_ms`.
    pub ejection_base_ms: u64,
    pub ejection_max_ms: u64,
    /// A region healthy for this long starts its back-off from `ejection_base_ms` again.
    pub ejection_memory_ms: u64,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            path: "/readyz".into(),
            interval_ms: 2_000,
            timeout_ms: 1_000,
            expected_status: vec![200],
            unhealthy_threshold: 2,
            consecutive_failures: 3,
            ejection_base_ms: 2_000,
            ejection_max_ms: 30_000,
            ejection_memory_ms: 60_000,
        }
    }
}

impl HealthConfig {
    pub fn interval(&self) -> Duration {
        ms(self.interval_ms)
    }
    pub fn timeout(&self) -> Duration {
        ms(self.timeout_ms)
    }
    pub fn ejection_base(&self) -> Duration {
        ms(self.ejection_base_ms)
    }
    pub fn ejection_max(&self) -> Duration {
        ms(self.ejection_max_ms)
    }
    pub fn ejection_memory(&self) -> Duration {
        ms(self.ejection_memory_ms)
    }

    pub(super) fn validate(&self, path: &str) -> Result<(), ConfigError> {
        require(
            self.path.starts_with('/')
                && !self.path.contains(['?', '#', ' ', '\\'])
                && self.path.len() <= 256,
            at(path, "path"),
            "must be an absolute path such as /readyz, without query or spaces",
        )?;
        positive_ms(path, "interval_ms", self.interval_ms, HOUR_MS)?;
        positive_ms(path, "timeout_ms", self.timeout_ms, 60_000)?;
        require(
            !self.expected_status.is_empty()
                && self.expected_status.iter().all(|s| (100..=599).contains(s)),
            at(path, "expected_status"),
            "must list one or more HTTP status codes (100-599)",
        )?;
        require(
            self.unhealthy_threshold >= 1,
            at(path, "unhealthy_threshold"),
            "must be at least 1",
        )?;
        require(
            self.consecutive_failures >= 1,
            at(path, "consecutive_failures"),
            "must be at least 1",
        )?;
        positive_ms(path, "ejection_base_ms", self.ejection_base_ms, HOUR_MS)?;
        positive_ms(path, "ejection_max_ms", self.ejection_max_ms, 24 * HOUR_MS)?;
        require(
            self.ejection_max_ms >= self.ejection_base_ms,
            at(path, "ejection_max_ms"),
            "must not be smaller than ejection_base_ms",
        )?;
        positive_ms(
            path,
            "ejection_memory_ms",
            self.ejection_memory_ms,
            24 * HOUR_MS,
        )
    }
}

/// Per-try timeouts and the overall deadline (`timeouts`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TimeoutConfig {
    /// Bounds of the adaptive per-try timeout `srtt + deviation_factor × rttvar`.
    pub try_min_ms: u64,
    pub try_max_ms: u64,
    /// Per-try timeout for a region with no latency sample yet.
    pub try_initial_ms: u64,
    pub deviation_factor: f64,
    /// Overall budget of one client request across all its attempts.
    pub deadline_ms: u64,
}

impl Default for TimeoutConfig {
    fn default() -> Self {
        Self {
            try_min_ms: 50,
            try_max_ms: 5_000,
            try_initial_ms: 1_000,
            deviation_factor: 4.0,
            deadline_ms: 15_000,
        }
    }
}

impl TimeoutConfig {
    pub fn try_min(&self) -> Duration {
        ms(self.try_min_ms)
    }
    pub fn try_max(&self) -> Duration {
        ms(self.try_max_ms)
    }
    pub fn try_initial(&self) -> Duration {
        ms(self.try_initial_ms)
    }
    pub fn deadline(&self) -> Duration {
        ms(self.deadline_ms)
    }

    pub(super) fn validate(&self, path: &str) -> Result<(), ConfigError> {
        positive_ms(path, "try_min_ms", self.try_min_ms, 600_000)?;
        positive_ms(path, "try_max_ms", self.try_max_ms, 600_000)?;
        require(
            self.try_max_ms >= self.try_min_ms,
            at(path, "try_max_ms"),
            "must not be smaller than try_min_ms",
        )?;
        positive_ms(path, "try_initial_ms", self.try_initial_ms, 600_000)?;
        factor(path, "deviation_factor", self.deviation_factor)?;
        positive_ms(path, "deadline_ms", self.deadline_ms, 600_000)
    }
}

/// Retries across regions (`retries`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RetryConfig {
    /// Attempts per client request, the first one included.
    pub max_attempts: u32,
    /// Each client request earns this percentage of one retry...
    pub budget_percent: u32,
    /// ...and this many retries per second are always allowed, so a quiet edge can still fail over.
    pub budget_min_per_s: u32,
    /// Upstream statuses that count as a region failure and are retried for idempotent requests.
    pub on_status: Vec<u16>,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            budget_percent: 20,
            budget_min_per_s: 10,
            on_status: vec![500, 502, 503, 504],
        }
    }
}

impl RetryConfig {
    pub(super) fn validate(&self, path: &str) -> Result<(), ConfigError> {
        require(
            (1..=10).contains(&self.max_attempts),
            at(path, "max_attempts"),
            "must be between 1 and 10",
        )?;
        require(
            self.budget_percent <= 1000,
            at(path, "budget_percent"),
            "must be at most 1000",
        )?;
        require(
            self.budget_min_per_s <= 100_000,
            at(path, "budget_min_per_s"),
            "must be at most 100000",
        )?;
        require(
            self.on_status.iter().all(|s| (500..=599).contains(s)),
            at(path, "on_status"),
            "may only list 5xx statuses",
        )
    }
}

/// Hedged GETs (`hedging`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct HedgingConfig {
    pub enabled: bool,
    /// The hedge fires after `srtt + deviation_factor × rttvar` of the first region
    /// (about its 95th percentile with the default 2), clamped to these bounds.
    pub deviation_factor: f64,
    pub min_delay_ms: u64,
    pub max_delay_ms: u64,
}

impl Default for HedgingConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            deviation_factor: 2.0,
            min_delay_ms: 10,
            max_delay_ms: 2_000,
        }
    }
}

impl HedgingConfig {
    pub fn min_delay(&self) -> Duration {
        ms(self.min_delay_ms)
    }
    pub fn max_delay(&self) -> Duration {
        ms(self.max_delay_ms)
    }

    pub(super) fn validate(&self, path: &str) -> Result<(), ConfigError> {
        factor(path, "deviation_factor", self.deviation_factor)?;
        positive_ms(path, "min_delay_ms", self.min_delay_ms, 600_000)?;
        positive_ms(path, "max_delay_ms", self.max_delay_ms, 600_000)?;
        require(
            self.max_delay_ms >= self.min_delay_ms,
            at(path, "max_delay_ms"),
            "must not be smaller than min_delay_ms",
        )
    }
}

/// Sharing what one isolate learned with the others of its data center (`share`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ShareConfig {
    pub enabled: bool,
    pub interval_ms: u64,
}

impl Default for ShareConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            interval_ms: 2_000,
        }
    }
}

impl ShareConfig {
    pub fn interval(&self) -> Duration {
        ms(self.interval_ms)
    }

    pub(super) fn validate(&self, path: &str) -> Result<(), ConfigError> {
        positive_ms(path, "interval_ms", self.interval_ms, HOUR_MS)
    }
}
