//! The figures a chaos run prints, and whether it passed.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use crate::inject::{AppliedFault, HealReport};
use crate::native::{HttpTally, NativeWriter};
use crate::run::{ChaosConfig, Settled, fault_errors, native_http};
use crate::schedule::{FaultPlan, count_kinds};
use crate::verify::Verdict;

pub struct ChaosReport {
    pub seed: u64,
    pub duration: Duration,
    pub settle_timeout: Duration,
    pub replay: String,
    /// Faults applied and undone without error, by kind.
    pub faults_by_kind: BTreeMap<&'static str, usize>,
    pub faults_injected: usize,
    pub faults_planned: usize,
    pub fault_errors: Vec<String>,
    /// Latest start of a fault relative to its plan (how loaded the machine was).
    pub max_fault_lateness: Duration,
    pub slowest_restart: Duration,
    pub crashed: Vec<String>,
    pub heal_errors: Vec<String>,
    pub writes_native: u64,
    pub writes_browser: u64,
    pub acked: usize,
    pub acked_during_chaos_native: usize,
    pub lost: usize,
    pub converged_after: Option<Duration>,
    pub verdict: Verdict,
    pub read_errors: Vec<String>,
    pub write_api_errors: Vec<String>,
    pub page_errors: Vec<String>,
    pub native_http: HttpTally,
    pub browser_http_errors: BTreeMap<u16, u64>,
    pub browser_fetch_failures: u64,
    pub browser_fetches: u64,
    pub browser_status_errors: BTreeMap<String, u64>,
    pub unacked_at_end: u64,
}

impl ChaosReport {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: &ChaosConfig,
        plan: &FaultPlan,
        faults: Vec<AppliedFault>,
        healing: HealReport,
        crashed_after: Vec<String>,
        writers: &[NativeWriter],
        acked_during_chaos_native: usize,
        settled: Settled,
    ) -> Self {
        let mut crashed = healing.crashed;
        crashed.extend(crashed_after);
        let mut write_api_errors: Vec<String> = writers.iter().flat_map(|w| w.write_errors.iter().cloned()).collect();
        let mut page_errors = Vec::new();
        let mut browser_http_errors = BTreeMap::new();
        let mut browser_status_errors = BTreeMap::new();
        let (mut fetch_failures, mut fetches, mut unacked_browser) = (0, 0, 0);
        for b in &settled.browsers {
            write_api_errors.extend(b.write_errors.iter().map(|e| format!("{}: {e}", b.name)));
            page_errors.extend(b.page_errors.iter().map(|e| format!("{}: {e}", b.name)));
            for (status, n) in &b.http_errors {
                *browser_http_errors.entry(*status).or_insert(0) += n;
            }
            for (code, n) in &b.status_errors {
                *browser_status_errors.entry(code.clone()).or_insert(0) += n;
            }
            fetch_failures += b.fetch_failures;
            fetches += b.fetches;
            unacked_browser += b.unacked;
        }
        ChaosReport {
            seed: config.seed,
            duration: config.duration,
            settle_timeout: config.settle_timeout,
            replay: format!(
                "chaos --seed {} --duration {} --browsers {} --native-clients {} --docs {}",
                config.seed,
                humantime::format_duration(config.duration),
                config.browsers,
                config.native_clients,
                config.docs
            ),
            faults_by_kind: injected_by_kind(&faults),
            faults_injected: faults.iter().filter(|f| f.error.is_none()).count(),
            faults_planned: plan.faults.len(),
            fault_errors: fault_errors(&faults),
            max_fault_lateness: faults.iter().map(|f| f.late_by).max().unwrap_or_default(),
            slowest_restart: faults
                .iter()
                .filter(|f| f.fault.action.kind() == "kill")
                .map(|f| f.undo_took)
                .max()
                .unwrap_or_default(),
            crashed,
            heal_errors: healing.errors,
            writes_native: writers.iter().map(|w| w.writes_made).sum(),
            writes_browser: settled.browsers.iter().map(|b| b.writes_made).sum(),
            acked: settled.acked.len(),
            acked_during_chaos_native,
            lost: settled.verdict.lost.len(),
            converged_after: settled.converged_after,
            verdict: settled.verdict,
            read_errors: settled.read_errors,
            write_api_errors,
            page_errors,
            native_http: native_http(writers),
            browser_http_errors,
            browser_fetch_failures: fetch_failures,
            browser_fetches: fetches,
            browser_status_errors,
            unacked_at_end: writers.iter().map(|w| w.unacked_writes() as u64).sum::<u64>() + unacked_browser,
        }
    }

    /// Every check the suite makes; what failed is in [`ChaosReport::failures`].
    pub fn passed(&self) -> bool {
        self.failures().is_empty()
    }

    pub fn failures(&self) -> Vec<String> {
        let mut failures = Vec::new();
        if self.lost > 0 {
            failures.push(format!("{} acknowledged writes lost", self.lost));
        }
        match self.converged_after {
            None => failures.push(format!(
                "replicas did not converge within {:.0}s of healing",
                self.settle_timeout.as_secs_f64()
            )),
            Some(_) if self.unacked_at_end > 0 => {
                failures.push(format!("{} writes never acknowledged", self.unacked_at_end))
            }
            Some(_) => {}
        }
        if !self.write_api_errors.is_empty() {
            failures.push(format!("{} errors from the write API", self.write_api_errors.len()));
        }
        if !self.page_errors.is_empty() {
            failures.push(format!("{} uncaught errors in browser pages", self.page_errors.len()));
        }
        if !self.crashed.is_empty() {
            failures.push(format!("region processes crashed: {}", self.crashed.join(", ")));
        }
        for error in self.fault_errors.iter().chain(&self.heal_errors) {
            failures.push(format!("fault injection: {error}"));
        }
        failures
    }
}

fn injected_by_kind(faults: &[AppliedFault]) -> BTreeMap<&'static str, usize> {
    count_kinds(faults.iter().filter(|f| f.error.is_none()).map(|f| &f.fault.action))
}

fn counts<K: fmt::Display>(map: &BTreeMap<K, u64>) -> String {
    if map.is_empty() {
        return "none".into();
    }
    map.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join(", ")
}

impl fmt::Display for ChaosReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kinds: BTreeMap<&str, u64> = self.faults_by_kind.iter().map(|(k, v)| (*k, *v as u64)).collect();
        writeln!(f, "\nchaos seed {} ({:.0}s of faults)", self.seed, self.duration.as_secs_f64())?;
        writeln!(
            f,
            "  faults injected:           {} of {} planned ({})",
            self.faults_injected,
            self.faults_planned,
            counts(&kinds)
        )?;
        writeln!(
            f,
            "                             latest start {:.2}s after plan, slowest restart {:.2}s",
            self.max_fault_lateness.as_secs_f64(),
            self.slowest_restart.as_secs_f64()
        )?;
        writeln!(
            f,
            "  writes made:               {} ({} native, {} browser)",
            self.writes_native + self.writes_browser,
            self.writes_native,
            self.writes_browser
        )?;
        writeln!(
            f,
            "  writes acknowledged:       {} (native ones during the chaos phase: {})",
            self.acked, self.acked_during_chaos_native
        )?;
        writeln!(f, "  writes lost:               {}", self.lost)?;
        match self.converged_after {
            Some(t) => writeln!(f, "  time to converge:          {:.2}s after healing", t.as_secs_f64())?,
            None => writeln!(f, "  time to converge:          not within {:.0}s", self.settle_timeout.as_secs_f64())?,
        }
        let http = &self.native_http;
        writeln!(
            f,
            "  HTTP error responses:      native {} ({}; per-document {}), browser {} ({})",
            http.error_statuses.values().sum::<u64>(),
            counts(&http.error_statuses),
            counts(&http.entry_errors),
            self.browser_http_errors.values().sum::<u64>(),
            counts(&self.browser_http_errors)
        )?;
        writeln!(
            f,
            "  requests without answer:   native {} of {} rounds, browser {} of {} requests",
            http.transport_failures,
            http.rounds_ok + http.transport_failures + http.error_statuses.values().sum::<u64>(),
            self.browser_fetch_failures,
            self.browser_fetches + self.browser_fetch_failures
        )?;
        writeln!(f, "  SDK status errors seen:    {}", counts(&self.browser_status_errors))?;
        writeln!(f, "  write API errors:          {}", self.write_api_errors.len())?;
        writeln!(
            f,
            "  native rounds:             p50 {:.1} ms, p99 {:.1} ms; per region {}",
            http.latency_percentile(0.5).as_secs_f64() * 1000.0,
            http.latency_percentile(0.99).as_secs_f64() * 1000.0,
            counts(&http.regions)
        )?;
        for sample in http.samples.iter().take(5) {
            writeln!(f, "    e.g. {sample}")?;
        }
        for line in self.write_api_errors.iter().chain(&self.page_errors).chain(&self.read_errors).take(10) {
            writeln!(f, "  ! {line}")?;
        }
        write!(f, "{}", self.verdict)?;
        let failures = self.failures();
        if failures.is_empty() {
            writeln!(f, "  result: PASS")?;
        } else {
            writeln!(f, "  result: FAIL ({})", failures.join("; "))?;
        }
        writeln!(f, "  replay: {}", self.replay)
    }
}
