//! What is known about one region's latency, as two smoothed estimates that
//! answer different questions:
//!
//! - `rtt`, fed by the background probes (the light health check, sent to every
//!   region at the same rate): how far away the region is. Regions are ranked by
//!   it, because it is measured the same way for all of them. Ranking the chosen
//!   region by its real requests (which include the server's work) against the
//!   others by their probes would make every other region look faster than it is,
//!   and the edge would flap between them.
//! - `service`, fed by real proxied requests: how long this region takes to
//!   answer real traffic. Per-try timeouts and hedge delays come from it, so they
//!   include the server's work and its variance on a busy machine.
//!
//! Each is the RFC 6298 estimator (smoothed value and mean deviation) with one
//! change: the gain grows with the time since the previous sample,
//! `1 - exp(-dt/decay)`, so a sample after a long silence (a region back from an
//! ejection) outweighs a stale estimate instead of being averaged into it.

use crate::config::{HedgingConfig, LatencyConfig, TimeoutConfig};
use crate::time::{Time, duration_ms_f64};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Probes come every few seconds: a larger gain than real traffic's, so that a
/// region that became faster is noticed within a few probes.
const RTT_GAINS: Gains = Gains {
    mean: 1.0 / 4.0,
    deviation: 1.0 / 4.0,
};
/// RFC 6298's gains, for dense samples of real traffic.
const SERVICE_GAINS: Gains = Gains {
    mean: 1.0 / 8.0,
    deviation: 1.0 / 4.0,
};

/// Real traffic samples needed before the service estimate sets timeouts:
/// one or two requests (a cold connection, a cached answer) say little.
const WARM_SAMPLES: u64 = 3;
/// A service estimate older than this many decay periods no longer describes
/// the region: timeouts go back to the generous cold default.
const COLD_AFTER_DECAYS: u32 = 6;
/// The deviation used for timeouts is at least this share of the mean, so a
/// run of identical samples does not shrink the timeout onto the mean itself:
/// with the default factor 4, a try gets at least twice the region's usual time.
const MIN_DEVIATION_RATIO: f64 = 0.25;

#[derive(Clone, Copy)]
struct Gains {
    mean: f64,
    deviation: f64,
}

/// A smoothed mean and mean deviation of one kind of sample.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Smoothed {
    mean_ms: f64,
    deviation_ms: f64,
    samples: u64,
    last_sample: Option<Time>,
}

impl Smoothed {
    fn observe(&mut self, sample: Duration, now: Time, decay: Duration, gains: Gains) {
        let sample_ms = duration_ms_f64(sample);
        match self.last_sample {
            None => {
                self.mean_ms = sample_ms;
                self.deviation_ms = sample_ms / 2.0;
            }
            Some(last) => {
                let staleness =
                    1.0 - (-duration_ms_f64(now.since(last)) / duration_ms_f64(decay)).exp();
                let g = gains.mean.max(staleness);
                let h = gains.deviation.max(staleness);
                self.deviation_ms =
                    (1.0 - h) * self.deviation_ms + h * (self.mean_ms - sample_ms).abs();
                self.mean_ms = (1.0 - g) * self.mean_ms + g * sample_ms;
            }
        }
        self.samples = self.samples.saturating_add(1);
        self.last_sample = Some(self.last_sample.map_or(now, |last| last.max(now)));
    }

    /// Smoothed value in milliseconds, `None` before the first sample.
    pub fn mean_ms(&self) -> Option<f64> {
        self.last_sample.map(|_| self.mean_ms)
    }

    pub fn deviation_ms(&self) -> Option<f64> {
        self.last_sample.map(|_| self.deviation_ms)
    }

    pub fn samples(&self) -> u64 {
        self.samples
    }

    pub fn last_sample(&self) -> Option<Time> {
        self.last_sample
    }

    /// `mean + factor × deviation`, the deviation taken as at least
    /// [`MIN_DEVIATION_RATIO`] of the mean.
    fn spread(&self, factor: f64) -> Option<Duration> {
        let mean = self.mean_ms()?;
        let deviation = self.deviation_ms.max(mean * MIN_DEVIATION_RATIO);
        Some(Duration::from_secs_f64(
            ((mean + factor * deviation) / 1000.0).max(0.0),
        ))
    }

    fn is_warm(&self, now: Time, decay: Duration) -> bool {
        self.samples >= WARM_SAMPLES
            && self
                .last_sample
                .is_some_and(|at| now.since(at) < decay.saturating_mul(COLD_AFTER_DECAYS))
    }

    fn merge_fresher(&mut self, other: &Smoothed) {
        let sane = |v: f64| v.is_finite() && v >= 0.0;
        if other.last_sample > self.last_sample && sane(other.mean_ms) && sane(other.deviation_ms) {
            *self = other.clone();
        }
    }
}

/// One region's latency, from this isolate's point of view.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencyEstimate {
    rtt: Smoothed,
    service: Smoothed,
}

impl LatencyEstimate {
    /// Folds in the round trip of a successful probe.
    pub fn observe_probe(&mut self, sample: Duration, now: Time, cfg: &LatencyConfig) {
        self.rtt.observe(sample, now, cfg.decay(), RTT_GAINS);
    }

    /// Folds in the duration of a real request the region answered.
    pub fn observe_traffic(&mut self, sample: Duration, now: Time, cfg: &LatencyConfig) {
        self.service
            .observe(sample, now, cfg.decay(), SERVICE_GAINS);
    }

    /// Probe round trips: what regions are ranked by.
    pub fn rtt(&self) -> &Smoothed {
        &self.rtt
    }

    /// Real requests' durations: what timeouts are derived from.
    pub fn service(&self) -> &Smoothed {
        &self.service
    }

    /// Smoothed probe RTT in milliseconds, `None` before the first probe answered.
    pub fn srtt_ms(&self) -> Option<f64> {
        self.rtt.mean_ms()
    }

    /// Per-try timeout: `service + k·deviation` within the configured bounds
    /// once real traffic has been measured recently; before that a generous
    /// default (`try_initial_ms`, or more for a region far away), because a
    /// tight guess makes a merely slow region look dead.
    pub fn try_timeout(&self, cfg: &TimeoutConfig, latency: &LatencyConfig, now: Time) -> Duration {
        let k = cfg.deviation_factor;
        let timeout = if self.service.is_warm(now, latency.decay()) {
            self.service.spread(k).unwrap_or(cfg.try_initial())
        } else {
            let far = self.rtt.spread(k).unwrap_or_default();
            cfg.try_initial().max(far)
        };
        timeout.clamp(cfg.try_min(), cfg.try_max())
    }

    /// Delay before a hedged second attempt: about the region's 95th percentile
    /// of real requests; the longest allowed delay until that is known.
    pub fn hedge_delay(&self, cfg: &HedgingConfig, latency: &LatencyConfig, now: Time) -> Duration {
        let known = self
            .service
            .is_warm(now, latency.decay())
            .then(|| self.service.spread(cfg.deviation_factor))
            .flatten();
        match known {
            Some(d) => d.clamp(cfg.min_delay(), cfg.max_delay()),
            None => cfg.max_delay(),
        }
    }

    /// Adopts the parts of `other` that hold fresher knowledge (another isolate's snapshot).
    pub fn merge_fresher(&mut self, other: &LatencyEstimate) {
        self.rtt.merge_fresher(&other.rtt);
        self.service.merge_fresher(&other.service);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> LatencyConfig {
        LatencyConfig {
            decay_ms: 2_000,
            ..LatencyConfig::default()
        }
    }

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    fn t(v: u64) -> Time {
        Time::from_millis(v)
    }

    #[test]
    fn first_sample_sets_the_estimate() {
        let mut e = LatencyEstimate::default();
        assert_eq!(e.srtt_ms(), None);
        e.observe_probe(ms(20), t(0), &cfg());
        assert_eq!(e.srtt_ms(), Some(20.0));
        assert_eq!(e.rtt().deviation_ms(), Some(10.0));
        assert_eq!(e.service().mean_ms(), None, "probes are not traffic");
    }

    #[test]
    fn dense_samples_smooth_a_single_outlier() {
        let mut e = LatencyEstimate::default();
        let mut now = 0;
        for _ in 0..50 {
            now += 5;
            e.observe_traffic(ms(10), t(now), &cfg());
        }
        e.observe_traffic(ms(200), t(now + 5), &cfg());
        let mean = e.service().mean_ms().unwrap();
        assert!(mean < 40.0, "one outlier moved the mean to {mean}");
    }

    #[test]
    fn a_sample_after_a_long_silence_dominates() {
        let mut e = LatencyEstimate::default();
        for i in 0..20 {
            e.observe_probe(ms(80), t(i * 10), &cfg());
        }
        e.observe_probe(ms(5), t(200 + 10_000), &cfg());
        let srtt = e.srtt_ms().unwrap();
        assert!(srtt < 6.0, "stale estimate still weighs: {srtt}");
    }

    #[test]
    fn probes_every_interval_smooth_out_one_lucky_answer() {
        let c = LatencyConfig::default();
        let mut e = LatencyEstimate::default();
        for i in 0..10 {
            e.observe_probe(ms(100), t(i * 2_000), &c);
        }
        e.observe_probe(ms(20), t(20_000), &c);
        let srtt = e.srtt_ms().unwrap();
        assert!(srtt > 70.0, "one fast probe moved the rank to {srtt}");
    }

    #[test]
    fn timeouts_follow_real_traffic_within_bounds() {
        let t_cfg = TimeoutConfig::default();
        let l = cfg();
        let mut e = LatencyEstimate::default();
        assert_eq!(e.try_timeout(&t_cfg, &l, t(0)), t_cfg.try_initial());
        for i in 0..30 {
            e.observe_traffic(ms(100), t(i * 10), &l);
        }
        let timeout = e.try_timeout(&t_cfg, &l, t(300));
        assert!(timeout >= ms(200) && timeout < ms(260), "{timeout:?}");
        let mut fast = LatencyEstimate::default();
        for i in 0..5 {
            fast.observe_traffic(ms(1), t(i), &l);
        }
        assert_eq!(fast.try_timeout(&t_cfg, &l, t(10)), t_cfg.try_min());
    }

    #[test]
    fn a_cold_or_stale_estimate_gets_the_generous_default() {
        let t_cfg = TimeoutConfig::default();
        let l = cfg();
        let mut e = LatencyEstimate::default();
        // Fast probes say nothing about how long real requests take.
        for i in 0..10 {
            e.observe_probe(ms(2), t(i * 100), &l);
        }
        assert_eq!(e.try_timeout(&t_cfg, &l, t(1_000)), t_cfg.try_initial());
        // Two real requests are not enough either; the third is.
        e.observe_traffic(ms(20), t(1_000), &l);
        e.observe_traffic(ms(20), t(1_010), &l);
        assert_eq!(e.try_timeout(&t_cfg, &l, t(1_020)), t_cfg.try_initial());
        e.observe_traffic(ms(20), t(1_020), &l);
        assert!(e.try_timeout(&t_cfg, &l, t(1_030)) < ms(200));
        // Minutes without traffic: cold again.
        assert_eq!(
            e.try_timeout(&t_cfg, &l, t(1_020 + 60_000)),
            t_cfg.try_initial()
        );
        // A region far away gets more than the default.
        let mut far = LatencyEstimate::default();
        far.observe_probe(ms(900), t(0), &l);
        assert!(far.try_timeout(&t_cfg, &l, t(1)) > ms(2_000));
    }

    #[test]
    fn a_noisy_region_gets_a_timeout_above_its_noise() {
        let t_cfg = TimeoutConfig::default();
        let l = cfg();
        let mut e = LatencyEstimate::default();
        // A loaded machine: 110 to 450 ms, mean about 250.
        let samples = [110, 450, 200, 380, 150, 300, 420, 130, 260, 350];
        for (i, s) in samples.iter().cycle().take(60).enumerate() {
            e.observe_traffic(ms(*s), t(i as u64 * 50), &l);
        }
        let timeout = e.try_timeout(&t_cfg, &l, t(3_000));
        assert!(
            timeout > ms(450),
            "{timeout:?} would cut the slow half short"
        );
    }

    #[test]
    fn merge_takes_only_fresher_knowledge() {
        let mut mine = LatencyEstimate::default();
        mine.observe_probe(ms(10), t(100), &cfg());
        let mut older = LatencyEstimate::default();
        older.observe_probe(ms(99), t(50), &cfg());
        older.observe_traffic(ms(40), t(50), &cfg());
        mine.merge_fresher(&older);
        assert_eq!(mine.srtt_ms(), Some(10.0));
        assert_eq!(
            mine.service().mean_ms(),
            Some(40.0),
            "the only service estimate"
        );
        let mut newer = LatencyEstimate::default();
        newer.observe_probe(ms(30), t(150), &cfg());
        mine.merge_fresher(&newer);
        assert_eq!(mine.srtt_ms(), Some(30.0));
    }
}
