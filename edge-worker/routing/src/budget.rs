//! Retry budget: retries may add only a fraction on top of real traffic, so a
//! global outage does not multiply the load on regions that are struggling.
//!
//! Every client request deposits `percent/100` of a token, a floor of
//! `min_per_s` tokens per second is always granted (a quiet edge can still fail
//! over), and each retry or hedge withdraws one token.

use crate::config::RetryConfig;
use crate::time::{Time, duration_ms_f64};

#[derive(Clone, Debug)]
pub struct RetryBudget {
    tokens: f64,
    refilled_at: Option<Time>,
    deposit: f64,
    floor_per_ms: f64,
    cap: f64,
    spent: u64,
    refused: u64,
}

impl RetryBudget {
    pub fn new(cfg: &RetryConfig) -> Self {
        let floor = f64::from(cfg.budget_min_per_s);
        // At most ten seconds of the floor rate (and never less than ten retries) saved up.
        let cap = (floor * 10.0).max(10.0);
        Self {
            tokens: cap,
            refilled_at: None,
            deposit: f64::from(cfg.budget_percent) / 100.0,
            floor_per_ms: floor / 1000.0,
            cap,
            spent: 0,
            refused: 0,
        }
    }

    fn refill(&mut self, now: Time) {
        if let Some(last) = self.refilled_at {
            self.tokens =
                (self.tokens + duration_ms_f64(now.since(last)) * self.floor_per_ms).min(self.cap);
        }
        self.refilled_at = Some(self.refilled_at.map_or(now, |last| last.max(now)));
    }

    /// A client request arrived.
    pub fn deposit(&mut self, now: Time) {
        self.refill(now);
        self.tokens = (self.tokens + self.deposit).min(self.cap);
    }

    pub fn tokens(&self) -> f64 {
        self.tokens
    }

    pub fn spent(&self) -> u64 {
        self.spent
    }

    pub fn refused(&self) -> u64 {
        self.refused
    }

    /// Asks for one retry; false when the budget is spent.
    pub fn try_withdraw(&mut self, now: Time) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            self.spent += 1;
            true
        } else {
            self.refused += 1;
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sustained_outage_is_limited_to_the_budget() {
        let cfg = RetryConfig {
            budget_percent: 20,
            budget_min_per_s: 5,
            ..RetryConfig::default()
        };
        let mut b = RetryBudget::new(&cfg);
        let mut granted = 0;
        // 100 requests per second for 10 seconds, each wanting two retries.
        for i in 0..1000u64 {
            let now = Time::from_millis(i * 10);
            b.deposit(now);
            granted += u32::from(b.try_withdraw(now)) + u32::from(b.try_withdraw(now));
        }
        // Saved-up 50 + 20% of 1000 + 5/s over 10 s = 300.
        assert!((280..=310).contains(&granted), "granted {granted}");
    }

    #[test]
    fn a_quiet_edge_can_still_retry() {
        let cfg = RetryConfig {
            budget_percent: 0,
            budget_min_per_s: 2,
            ..RetryConfig::default()
        };
        let mut b = RetryBudget::new(&cfg);
        let mut now = 0;
        while b.try_withdraw(Time::from_millis(now)) {}
        now += 1_000;
        assert!(b.try_withdraw(Time::from_millis(now)));
        assert!(b.try_withdraw(Time::from_millis(now)));
        assert!(!b.try_withdraw(Time::from_millis(now)));
    }
}
