//! Per-region round-trip estimate: smoothed RTT and its mean deviation.
//!
//! The classic RFC 6298 estimator (gains 1/8 and 1/4), with one change: the gain
//! grows with the time since the previous sample, `1 - exp(-dt/decay)`, so a
//! sample after a long silence (a probe every few seconds, a region back from an
//! ejection) outweighs a stale estimate instead of being averaged into it, while
//! bursts of real traffic still smooth over single outliers.

use crate::config::{HedgingConfig, LatencyConfig, TimeoutConfig};
use crate::time::{Time, duration_ms_f64};
use serde::{Deserialize, Serialize};
use std::time::Duration;

const SRTT_GAIN: f64 = 1.0 / 8.0;
const RTTVAR_GAIN: f64 = 1.0 / 4.0;

/// What is known about one region's latency, from this isolate's point of view.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencyEstimate {
    srtt_ms: f64,
    rttvar_ms: f64,
    samples: u64,
    last_sample: Option<Time>,
}

impl LatencyEstimate {
    /// Folds in one observed round trip.
    pub fn observe(&mut self, sample: Duration, now: Time, cfg: &LatencyConfig) {
        let sample_ms = duration_ms_f64(sample);
        match self.last_sample {
            None => {
                self.srtt_ms = sample_ms;
                self.rttvar_ms = sample_ms / 2.0;
            }
            Some(last) => {
                let staleness =
                    1.0 - (-duration_ms_f64(now.since(last)) / duration_ms_f64(cfg.decay())).exp();
                let g = SRTT_GAIN.max(staleness);
                let h = RTTVAR_GAIN.max(staleness);
                self.rttvar_ms = (1.0 - h) * self.rttvar_ms + h * (self.srtt_ms - sample_ms).abs();
                self.srtt_ms = (1.0 - g) * self.srtt_ms + g * sample_ms;
            }
        }
        self.samples = self.samples.saturating_add(1);
        self.last_sample = Some(self.last_sample.map_or(now, |last| last.max(now)));
    }

    /// Smoothed RTT in milliseconds, `None` before the first sample.
    pub fn srtt_ms(&self) -> Option<f64> {
        self.last_sample.map(|_| self.srtt_ms)
    }

    pub fn rttvar_ms(&self) -> Option<f64> {
        self.last_sample.map(|_| self.rttvar_ms)
    }

    pub fn samples(&self) -> u64 {
        self.samples
    }

    pub fn last_sample(&self) -> Option<Time> {
        self.last_sample
    }

    fn spread(&self, factor: f64) -> Option<Duration> {
        let ms = self.srtt_ms()? + factor * self.rttvar_ms;
        Some(Duration::from_secs_f64((ms / 1000.0).max(0.0)))
    }

    /// Per-try timeout: `srtt + k·rttvar` within the configured bounds.
    pub fn try_timeout(&self, cfg: &TimeoutConfig) -> Duration {
        match self.spread(cfg.deviation_factor) {
            Some(d) => d.clamp(cfg.try_min(), cfg.try_max()),
            None => cfg.try_initial().clamp(cfg.try_min(), cfg.try_max()),
        }
    }

    /// Delay before a hedged second attempt: about the region's 95th percentile.
    pub fn hedge_delay(&self, cfg: &HedgingConfig) -> Duration {
        match self.spread(cfg.deviation_factor) {
            Some(d) => d.clamp(cfg.min_delay(), cfg.max_delay()),
            None => cfg.max_delay(),
        }
    }

    /// Adopts `other` when it holds fresher knowledge (another isolate's snapshot).
    pub fn merge_fresher(&mut self, other: &LatencyEstimate) {
        let sane = |v: f64| v.is_finite() && v >= 0.0;
        if other.last_sample > self.last_sample && sane(other.srtt_ms) && sane(other.rttvar_ms) {
            *self = other.clone();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> LatencyConfig {
        LatencyConfig { decay_ms: 2_000 }
    }

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn first_sample_sets_the_estimate() {
        let mut e = LatencyEstimate::default();
        assert_eq!(e.srtt_ms(), None);
        e.observe(ms(20), Time::from_millis(0), &cfg());
        assert_eq!(e.srtt_ms(), Some(20.0));
        assert_eq!(e.rttvar_ms(), Some(10.0));
    }

    #[test]
    fn dense_samples_smooth_a_single_outlier() {
        let mut e = LatencyEstimate::default();
        let mut t = 0;
        for _ in 0..50 {
            t += 5;
            e.observe(ms(10), Time::from_millis(t), &cfg());
        }
        e.observe(ms(200), Time::from_millis(t + 5), &cfg());
        let srtt = e.srtt_ms().unwrap();
        assert!(srtt < 40.0, "one outlier moved srtt to {srtt}");
    }

    #[test]
    fn a_sample_after_a_long_silence_dominates() {
        let mut e = LatencyEstimate::default();
        for i in 0..20 {
            e.observe(ms(80), Time::from_millis(i * 10), &cfg());
        }
        e.observe(ms(5), Time::from_millis(200 + 10_000), &cfg());
        let srtt = e.srtt_ms().unwrap();
        assert!(srtt < 6.0, "stale estimate still weighs: {srtt}");
    }

    #[test]
    fn timeouts_follow_the_estimate_within_bounds() {
        let t = TimeoutConfig::default();
        let mut e = LatencyEstimate::default();
        assert_eq!(e.try_timeout(&t), t.try_initial());
        for i in 0..30 {
            e.observe(ms(100), Time::from_millis(i * 10), &cfg());
        }
        let timeout = e.try_timeout(&t);
        assert!(timeout >= ms(100) && timeout < ms(200), "{timeout:?}");
        let mut fast = LatencyEstimate::default();
        fast.observe(ms(1), Time::from_millis(0), &cfg());
        assert_eq!(fast.try_timeout(&t), t.try_min());
    }

    #[test]
    fn merge_takes_only_fresher_knowledge() {
        let mut mine = LatencyEstimate::default();
        mine.observe(ms(10), Time::from_millis(100), &cfg());
        let mut older = LatencyEstimate::default();
        older.observe(ms(99), Time::from_millis(50), &cfg());
        mine.merge_fresher(&older);
        assert_eq!(mine.srtt_ms(), Some(10.0));
        let mut newer = LatencyEstimate::default();
        newer.observe(ms(30), Time::from_millis(150), &cfg());
        mine.merge_fresher(&newer);
        assert_eq!(mine.srtt_ms(), Some(30.0));
    }
}
