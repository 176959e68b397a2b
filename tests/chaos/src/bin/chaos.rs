//! `chaos --duration 60s --seed N`: the chaos convergence run (see tests/chaos/README.md).
//! Exit status: 0 passed, 1 a check failed, 2 the run could not be made.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use chaos::run::{ChaosConfig, run};
use clap::Parser;

#[derive(Parser)]
#[command(
    name = "chaos",
    about = "Writes continuously through the edge from browser (SDK in headless Chromium) and \
             native clients while a seeded schedule kills, pauses, partitions and slows the \
             three regions; then heals, waits for convergence and checks that no acknowledged \
             write was lost and every replica holds identical heads."
)]
struct Cli {
    /// Length of the chaos phase (faults and writes), e.g. 60s, 5m.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "60s")]
    duration: Duration,
    /// Decides the fault schedule and the writers' choices; a failing seed replays
    /// the same schedule [default: a random seed, printed].
    #[arg(long)]
    seed: Option<u64>,
    /// Browser clients (each a separate browser context: its own IndexedDB).
    #[arg(long, default_value_t = 2)]
    browsers: usize,
    /// Native clients (Rust, ClientSync over HTTP).
    #[arg(long, default_value_t = 8)]
    native_clients: usize,
    /// Documents the clients write to.
    #[arg(long, default_value_t = 20)]
    docs: usize,
    /// Mean pause between two writes of one native client.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "100ms")]
    native_interval: Duration,
    /// Mean pause between two writes of one browser client.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "150ms")]
    browser_interval: Duration,
    /// Bound on the wait for convergence after healing.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "180s")]
    settle_timeout: Duration,
    /// Where each run keeps its logs [default: <repository>/tests/artifacts/chaos].
    #[arg(long)]
    artifacts: Option<PathBuf>,
    /// The region server binary [default: the debug build in $CARGO_TARGET_DIR].
    #[arg(long)]
    region_server: Option<PathBuf>,
    /// Print the fault schedule of the seed and exit.
    #[arg(long)]
    plan_only: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.docs == 0 || cli.browsers + cli.native_clients == 0 {
        eprintln!("chaos: needs at least one document and one client");
        return ExitCode::from(2);
    }
    let config = ChaosConfig {
        seed: cli.seed.unwrap_or_else(rand::random),
        duration: cli.duration,
        browsers: cli.browsers,
        native_clients: cli.native_clients,
        docs: cli.docs,
        native_interval: cli.native_interval,
        browser_interval: cli.browser_interval,
        settle_timeout: cli.settle_timeout,
        region_server: cli.region_server,
        artifacts: cli.artifacts.unwrap_or_else(|| chaos::world::default_artifacts("chaos")),
    };
    if cli.plan_only {
        print!("{}", config.plan());
        return ExitCode::SUCCESS;
    }
    let started = Instant::now();
    let progress = move |line: &str| println!("[{:6.1}s] {line}", started.elapsed().as_secs_f64());
    match run(&config, &progress).await {
        Ok(report) => {
            print!("{report}");
            if report.passed() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
        }
        Err(error) => {
            eprintln!("chaos: the run could not be made: {error:#}");
            eprintln!("chaos: replay with --seed {}", config.seed);
            ExitCode::from(2)
        }
    }
}
