//! `bench-load` (scripts/bench-load.sh): sync rounds through the edge and
//! straight to a region on loopback (edits/s, p50/p99, errors), optionally raw
//! HTTP with wrk, then a soak through the edge sampling every region server's
//! resident memory. Prints figures; asserts nothing about speed.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use chaos::load::{LoadResult, LoadSpec, rss_kib, run};
use chaos::sync_client::{Endpoint, dev_token};
use chaos::world::{RunWorld, default_artifacts};
use clap::Parser;
use local_world::{World, loopback_client};

#[derive(Parser)]
#[command(name = "bench-load", about = "Load and soak of the whole system on loopback: figures, no assertions.")]
struct Cli {
    /// Concurrent writers of the throughput phases.
    #[arg(long, default_value_t = 16)]
    workers: usize,
    /// Documents per writer.
    #[arg(long, default_value_t = 20)]
    docs_per_worker: usize,
    /// Length of each throughput phase.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10s")]
    phase: Duration,
    /// Length of the soak through the edge (0s skips it).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "5m")]
    soak: Duration,
    /// Concurrent writers of the soak.
    #[arg(long, default_value_t = 8)]
    soak_workers: usize,
    /// Documents per soak writer (the soak touches workers x this many).
    #[arg(long, default_value_t = 100)]
    soak_docs_per_worker: usize,
    /// Memory sample interval during the soak.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "5s")]
    sample_every: Duration,
    /// Skip the wrk phase even when wrk is installed.
    #[arg(long)]
    skip_wrk: bool,
    /// The region server binary [default: the release build in $CARGO_TARGET_DIR].
    #[arg(long)]
    region_server: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match bench(&cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("bench-load: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn bench(cli: &Cli) -> anyhow::Result<()> {
    let started = Instant::now();
    let progress = move |line: &str| eprintln!("[{:6.1}s] {line}", started.elapsed().as_secs_f64());
    let binary = cli
        .region_server
        .clone()
        .unwrap_or_else(|| local_world::paths::target_dir().join("release/region-server"));
    anyhow::ensure!(binary.is_file(), "{} is missing: cargo build --release -p region-server", binary.display());
    let run_world = RunWorld::start(&default_artifacts("bench-load"), "load", Some(binary), &progress).await?;
    let result = phases(cli, &run_world, &progress).await;
    run_world.stop(false).await?;
    result
}

async fn phases(cli: &Cli, run_world: &RunWorld, progress: &(dyn Fn(&str) + Sync)) -> anyhow::Result<()> {
    let world = &run_world.world;
    let http = loopback_client();
    let region = world.region_ids().into_iter().next().context("no region")?;
    let region_url = world.region_url(&region)?;
    let token = dev_token(&http, &region_url, "bench-load", &["load-*"], &["load-*"], Duration::from_secs(86_400)).await?;
    let endpoint = |base: &str| Endpoint { http: http.clone(), base: base.to_owned(), token: token.clone(), timeout: Duration::from_secs(30) };
    let spec = LoadSpec {
        workers: cli.workers,
        docs_per_worker: cli.docs_per_worker,
        duration: cli.phase,
        max_edits_per_worker: 1_000_000,
    };
    println!(
        "EdgeSync load: {} writers x {} documents, {:.0} s per phase; one edit per round, latency = edit -> acknowledged (durable)",
        cli.workers,
        cli.docs_per_worker,
        cli.phase.as_secs_f64()
    );
    println!("\n1. Sync rounds, same work each:");
    progress("direct to a region");
    let direct = run(&endpoint(&region_url), spec, "load-direct").await;
    println!("  {}", direct.line(&format!("straight to region {region}")));
    progress("through the edge");
    let edge_url = run_world.edge_url()?;
    let through_edge = run(&endpoint(&edge_url), spec, "load-edge").await;
    println!("  {}", through_edge.line("through the edge (wrangler dev)"));
    println!(
        "  edge / direct: {:.2}x the throughput, p50 +{:.2} ms",
        through_edge.per_second() / direct.per_second().max(1e-9),
        through_edge.percentile_ms(0.5) - direct.percentile_ms(0.5)
    );
    println!("  (the edge reaches {region} through a fault proxy adding its simulated 10 ms one way; direct has no proxy)");
    print_errors(&[&direct, &through_edge]);

    if !cli.skip_wrk && which("wrk") {
        println!("\n2. Raw HTTP with wrk (an empty sync batch: protocol and proxy overhead only, 10 s, 2 threads, 32 connections):");
        for (label, base) in [(format!("straight to region {region}"), region_url.clone()), ("through the edge".into(), edge_url.clone())] {
            progress(&format!("wrk {label}"));
            println!("  {label:<40} {}", wrk_empty_batch(&base, &token).await?);
        }
    }

    if !cli.soak.is_zero() {
        soak(cli, world, &endpoint(&edge_url), progress).await?;
    }
    Ok(())
}

fn print_errors(results: &[&LoadResult]) {
    for sample in results.iter().flat_map(|r| r.error_samples.iter()).take(5) {
        println!("    error: {sample}");
    }
}

fn which(program: &str) -> bool {
    std::process::Command::new(program).arg("--version").output().is_ok()
}

/// `wrk` POSTing an empty batch (`EDGS`, version 1, request, 0 entries).
async fn wrk_empty_batch(base: &str, token: &str) -> anyhow::Result<String> {
    let script = std::env::temp_dir().join(format!("edgesync-wrk-{}.lua", std::process::id()));
    std::fs::write(
        &script,
        format!(
            "wrk.method = \"POST\"\nwrk.body = \"EDGS\\1\\1\\0\"\nwrk.headers[\"content-type\"] = \"application/x-edgesync-batch\"\n\
             wrk.headers[\"authorization\"] = \"Bearer {token}\"\nwrk.headers[\"idempotency-key\"] = \"wrk\"\n"
        ),
    )?;
    let output = tokio::process::Command::new("wrk")
        .args(["-t2", "-c32", "-d10s", "--latency", "-s"])
        .arg(&script)
        .arg(format!("{base}/v1/sync"))
        .output()
        .await
        .context("running wrk")?;
    let _ = std::fs::remove_file(&script);
    let text = String::from_utf8_lossy(&output.stdout);
    let field = |prefix: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(prefix))
            .map(|l| l.trim().split_whitespace().last().unwrap_or_default().to_owned())
            .unwrap_or_else(|| "?".into())
    };
    let errors: u64 = text
        .lines()
        .filter(|l| l.contains("Non-2xx") || l.contains("Socket errors"))
        .flat_map(|l| l.split(|c: char| !c.is_ascii_digit()).filter_map(|n| n.parse::<u64>().ok()))
        .sum();
    Ok(format!(
        "{:>10} req/s   p50 {:>8}   p99 {:>8}   (errors: {errors})",
        field("Requests/sec:"),
        field("50%"),
        field("99%")
    ))
}

/// Load through the edge for `cli.soak`, sampling every region server's RSS.
async fn soak(cli: &Cli, world: &World, endpoint: &Endpoint, progress: &(dyn Fn(&str) + Sync)) -> anyhow::Result<()> {
    println!(
        "\n3. Soak through the edge: {:.0} s, {} writers x {} documents; region server RSS (MiB) every {:.0} s:",
        cli.soak.as_secs_f64(),
        cli.soak_workers,
        cli.soak_docs_per_worker,
        cli.sample_every.as_secs_f64()
    );
    progress("soak");
    let pids: BTreeMap<String, u32> = world
        .region_ids()
        .into_iter()
        .filter_map(|id| Some((id.clone(), world.region_status(&id).ok()?.pid?)))
        .collect();
    let spec = LoadSpec {
        workers: cli.soak_workers,
        docs_per_worker: cli.soak_docs_per_worker,
        duration: cli.soak,
        max_edits_per_worker: 100_000_000,
    };
    let soak_endpoint = endpoint.clone();
    let load = tokio::spawn(async move { run(&soak_endpoint, spec, "load-soak").await });
    let started = Instant::now();
    let mut samples: BTreeMap<String, Vec<(Duration, u64)>> = BTreeMap::new();
    let header: Vec<String> = pids.keys().map(|id| format!("{id:>10}")).collect();
    println!("  {:>8} {}", "time", header.join(" "));
    while started.elapsed() < cli.soak + cli.sample_every {
        let at = started.elapsed();
        let mut row = Vec::new();
        for (id, pid) in &pids {
            let kib = rss_kib(*pid).unwrap_or(0);
            samples.entry(id.clone()).or_default().push((at, kib));
            row.push(format!("{:>10.1}", kib as f64 / 1024.0));
        }
        println!("  {:>7.0}s {}", at.as_secs_f64(), row.join(" "));
        if load.is_finished() {
            break;
        }
        tokio::time::sleep(cli.sample_every).await;
    }
    let result = load.await.context("the soak load panicked")?;
    println!("  {}", result.line("soak through the edge"));
    print_errors(&[&result]);
    for (id, points) in &samples {
        println!("  {}", memory_summary(id, points));
    }
    Ok(())
}

/// RSS at the start, after the first fifth (warm-up), at the end, the maximum, and the growth
/// over the second half (a leak keeps growing there; a cache filling up does not).
fn memory_summary(id: &str, points: &[(Duration, u64)]) -> String {
    let mib = |kib: u64| kib as f64 / 1024.0;
    let at = |fraction: f64| points[((points.len() - 1) as f64 * fraction) as usize].1;
    if points.len() < 2 {
        return format!("{id}: too few samples");
    }
    let (warm, half, end) = (at(0.2), at(0.5), at(1.0));
    let max = points.iter().map(|p| p.1).max().unwrap_or(0);
    format!(
        "{id:<8} RSS start {:.1} MiB, after warm-up {:.1} MiB, end {:.1} MiB, max {:.1} MiB; growth over the second half {:+.1} MiB ({:+.1}%)",
        mib(points[0].1),
        mib(warm),
        mib(end),
        mib(max),
        mib(end) - mib(half),
        (end as f64 - half as f64) / (half as f64).max(1.0) * 100.0
    )
}
