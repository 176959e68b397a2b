//! Time as the engine sees it: milliseconds on the caller's clock.
//!
//! The engine never reads a clock itself. The worker passes `Date.now()` (the only
//! clock a Worker has, and one that isolates of a data center share, which the
//! cross-isolate snapshot relies on); tests pass a fake clock.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A point in time, in whole milliseconds on the caller's clock.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Time(u64);

impl Time {
    pub const fn from_millis(ms: u64) -> Self {
        Self(ms)
    }

    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// Time elapsed since `earlier`; zero if the clock went backwards.
    pub fn since(self, earlier: Time) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }

    pub fn plus(self, d: Duration) -> Time {
        Time(self.0.saturating_add(duration_ms(d)))
    }
}

/// Whole milliseconds of a duration, saturating.
pub fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Milliseconds of a duration as a float, for estimators.
pub fn duration_ms_f64(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
