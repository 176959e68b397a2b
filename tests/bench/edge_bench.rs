//! End-to-end benchmarks of the edge (run by `scripts/bench-edge.sh`):
//!
//! - `overhead`: what a request pays going through the Rust edge in workerd,
//!   against a plain JavaScript pass-through worker in front of the same origin
//!   in the same run (latency added, workerd CPU per request, and their ratio).
//! - `failover`: errors and added latency when the fastest region dies or stops
//!   answering under load, side by side with nginx and HAProxy in front of the
//!   same regions.
//!
//! Figures are printed, never asserted: these are shared two-core machines.

mod cpu;
mod peers;

use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use local_world::paths::{default_log_base, fresh_dir};
use local_world::{EchoOrigin, Fault, FaultProxy, WranglerDev, WranglerOptions, loopback_client};
use serde_json::json;
use system_tests::load::{Load, LoadReport, LoadSpec, Sample, percentile_ms};

const ORIGIN_HEADER: &str = "x-origin-region";
const PASSTHROUGH: &str = "tools/local-world/fixtures/passthrough-worker/wrangler.toml";

#[derive(Parser)]
#[command(about = "End-to-end benchmarks of the edge worker")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Latency and CPU the Rust edge adds, against a JS pass-through worker.
    Overhead {
        /// Requests per target (sequential, interleaved between targets).
        #[arg(long, default_value_t = 400)]
        requests: u32,
        /// Processing time of the origin.
        #[arg(long, default_value_t = 20)]
        origin_delay_ms: u64,
        /// Extra top-level EDGE_CONFIG fields (JSON object), e.g. '{"share":{"enabled":false}}'.
        #[arg(long, default_value = "{}")]
        edge_config: String,
    },
    /// A region kill and a black hole under load: the edge, nginx and HAProxy side by side.
    Failover {
        /// Concurrent clients per proxy.
        #[arg(long, default_value_t = 3)]
        concurrency: usize,
        /// Load before the fault.
        #[arg(long, default_value_t = 4)]
        before_s: u64,
        /// Load after the fault.
        #[arg(long, default_value_t = 8)]
        after_s: u64,
        /// Also list every request slower than 150 ms (time from the fault, latency, region).
        #[arg(long)]
        detail: bool,
    },
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Overhead {
            requests,
            origin_delay_ms,
            edge_config,
        } => overhead(requests, origin_delay_ms, &edge_config).await,
        Command::Failover {
            concurrency,
            before_s,
            after_s,
            detail,
        } => failover(concurrency, before_s, after_s, detail).await,
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

fn quantile(values: &mut [f64], q: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    if values.is_empty() {
        return f64::NAN;
    }
    values[((values.len() - 1) as f64 * q).round() as usize]
}

async fn timed_get(client: &reqwest::Client, url: &str) -> anyhow::Result<f64> {
    let t0 = Instant::now();
    let response = client
        .get(url)
        .timeout(Duration::from_secs(10))
        .send()
        .await?;
    let status = response.status();
    response.bytes().await?;
    anyhow::ensure!(status.is_success(), "{url} answered {status}");
    Ok(ms(t0.elapsed()))
}

/// The Rust edge with the root `wrangler.toml`, or (`with_assets: false`) the
/// same configuration without the static-assets layer in front of the worker.
async fn start_rust_edge(
    config: serde_json::Value,
    with_assets: bool,
) -> anyhow::Result<WranglerDev> {
    let options = if with_assets {
        WranglerOptions::default()
    } else {
        WranglerOptions::with_config(system_tests::edge::derived_wrangler_config(None)?)
    };
    let options = options
        .var("EDGE_CONFIG", config.to_string())
        .ready_when_ok("/_edge/status");
    Ok(WranglerDev::start(options).await?)
}

async fn overhead(requests: u32, origin_delay_ms: u64, edge_config: &str) -> anyhow::Result<()> {
    let origin = EchoOrigin::start("127.0.0.1:0".parse()?, "us-east").await?;
    origin.set_delay(Duration::from_millis(origin_delay_ms));
    let mut config: serde_json::Value = serde_json::from_str(edge_config)?;
    anyhow::ensure!(config.is_object(), "--edge-config must be a JSON object");
    config["regions"] = json!([{"id": "us-east", "origin": origin.url()}]);
    let rust = start_rust_edge(config.clone(), false).await?;
    let rust_assets = start_rust_edge(config, true).await?;
    let js =
        WranglerDev::start(WranglerOptions::with_config(PASSTHROUGH).var("ORIGIN", origin.url()))
            .await?;
    let client = loopback_client();
    let path = "/v1/docs/bench/sync?round=1";
    let targets = [
        ("origin directly", origin.url()),
        ("JS pass-through worker", js.url()),
        ("Rust edge worker", rust.url()),
        ("Rust edge worker + static assets layer", rust_assets.url()),
    ];

    // Warm up every path (isolates, connections, the edge's probes).
    for _ in 0..30 {
        for (_, base) in &targets {
            timed_get(&client, &format!("{base}{path}")).await?;
        }
    }
    // Interleaved, in an order that rotates every round, so that drift on a
    // shared machine and any effect of going first hit every target alike.
    let mut latencies: Vec<Vec<f64>> = vec![Vec::new(); targets.len()];
    for round in 0..requests as usize {
        for k in 0..targets.len() {
            let i = (round + k) % targets.len();
            latencies[i].push(timed_get(&client, &format!("{}{path}", targets[i].1)).await?);
        }
    }
    let cpu = workerd_cpu(&client, &[&js, &rust, &rust_assets], path, requests).await?;

    println!(
        "\n## Overhead: {requests} sequential GETs per target, origin processing {origin_delay_ms} ms\n"
    );
    println!("| target | p50 ms | p90 ms | p99 ms | added p50 ms | workerd CPU per request ms |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    let direct = median(&mut latencies[0].clone());
    let mut added = Vec::new();
    for (i, (name, _)) in targets.iter().enumerate() {
        let (p50, p90, p99) = (
            median(&mut latencies[i]),
            quantile(&mut latencies[i], 0.9),
            quantile(&mut latencies[i], 0.99),
        );
        added.push(p50 - direct);
        let cpu_ms = match i {
            0 => "-".to_owned(),
            _ => format!("{:.2}", cpu.per_request[i - 1]),
        };
        println!(
            "| {name} | {p50:.2} | {p90:.2} | {p99:.2} | {:.2} | {cpu_ms} |",
            p50 - direct
        );
    }
    println!(
        "\nlatency added by the Rust edge / by the JS pass-through: {:.2}x (target <= 1.1x)",
        added[2] / added[1]
    );
    println!(
        "  (through the root wrangler.toml, whose [assets] layer sees every request first: {:.2}x)",
        added[3] / added[1]
    );
    println!(
        "workerd CPU the Rust edge spends per request beyond the JS pass-through: {:.2} ms (median of {} paired blocks; target < 1 ms)",
        cpu.rust_minus_js, cpu.blocks
    );
    Ok(())
}

struct CpuFigures {
    /// Median workerd CPU per request, per worker, in milliseconds.
    per_request: Vec<f64>,
    /// Median over blocks of (Rust edge − JS pass-through) per request.
    rust_minus_js: f64,
    blocks: usize,
}

/// workerd CPU per request of each worker (JS pass-through first, then the
/// Rust edge): blocks of sequential requests, alternating between the workers
/// so that load from elsewhere on the machine hits them alike, and medians
/// over the blocks. Includes the edge's background work (probes, sharing).
async fn workerd_cpu(
    client: &reqwest::Client,
    workers: &[&WranglerDev],
    path: &str,
    requests: u32,
) -> anyhow::Result<CpuFigures> {
    const BLOCK: u32 = 50;
    let blocks = (requests / BLOCK).max(3) as usize;
    let mut pids = Vec::new();
    for w in workers {
        let found = cpu::descendants_named(w.process().pid(), "workerd");
        anyhow::ensure!(
            !found.is_empty(),
            "no workerd process under wrangler {}",
            w.process().pid()
        );
        pids.push(found);
    }
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); workers.len()];
    for round in 0..blocks {
        for k in 0..workers.len() {
            let i = (round + k) % workers.len();
            let before = cpu::cpu_time(&pids[i]);
            for _ in 0..BLOCK {
                timed_get(client, &format!("{}{path}", workers[i].url())).await?;
            }
            let spent = cpu::cpu_time(&pids[i]).saturating_sub(before);
            samples[i].push(ms(spent) / f64::from(BLOCK));
        }
    }
    let mut differences: Vec<f64> = samples[1]
        .iter()
        .zip(&samples[0])
        .map(|(rust, js)| rust - js)
        .collect();
    Ok(CpuFigures {
        per_request: samples.iter_mut().map(|s| median(s)).collect(),
        rust_minus_js: median(&mut differences),
        blocks,
    })
}

struct Region {
    name: &'static str,
    _origin: EchoOrigin,
    proxy: FaultProxy,
}

async fn regions() -> anyhow::Result<Vec<Region>> {
    let mut out = Vec::new();
    for (name, one_way_ms) in [("us-east", 5), ("us-west", 25), ("eu-west", 50)] {
        let origin = EchoOrigin::start("127.0.0.1:0".parse()?, name).await?;
        let proxy = FaultProxy::start("127.0.0.1:0".parse()?, origin.addr()).await?;
        proxy.set_latency(Duration::from_millis(one_way_ms));
        out.push(Region {
            name,
            _origin: origin,
            proxy,
        });
    }
    Ok(out)
}

struct PeerRun {
    name: &'static str,
    report: LoadReport,
    fault_at: Duration,
}

/// One table row. A request's stall is its latency beyond the median latency
/// once traffic has settled on the next region (from 3 s after the fault): the
/// wait a client paid for the fault itself, not for the next region being
/// farther away.
fn summarize(run: &PeerRun) -> String {
    let settled_from = run.fault_at + Duration::from_secs(3);
    let before: Vec<&Sample> = run
        .report
        .samples
        .iter()
        .filter(|s| s.at < run.fault_at)
        .collect();
    let settled: Vec<&Sample> = run
        .report
        .samples
        .iter()
        .filter(|s| s.at >= settled_from)
        .collect();
    let around: Vec<&Sample> = run
        .report
        .samples
        .iter()
        .filter(|s| s.at + Duration::from_secs(1) >= run.fault_at)
        .collect();
    let p50_before = percentile_ms(before.iter().copied(), 0.5);
    let p50_settled = percentile_ms(settled.iter().copied(), 0.5);
    let stalls: Vec<f64> = around.iter().map(|s| ms(s.latency) - p50_settled).collect();
    let max_stall = stalls.iter().copied().fold(0.0, f64::max);
    let stalled = stalls.iter().filter(|&&d| d > 100.0).count();
    let errors = run.report.failures().len();
    format!(
        "| {} | {} | {errors} | {p50_before:.1} | {p50_settled:.1} | {max_stall:.0} | {stalled} |",
        run.name,
        run.report.samples.len(),
    )
}

async fn failover(
    concurrency: usize,
    before_s: u64,
    after_s: u64,
    detail: bool,
) -> anyhow::Result<()> {
    let regions = regions().await?;
    let addrs: Vec<_> = regions.iter().map(|r| r.proxy.addr()).collect();
    let dir = fresh_dir(&default_log_base(), "edge-bench")?;
    let list: Vec<_> = regions
        .iter()
        .map(|r| json!({"id": r.name, "origin": r.proxy.url()}))
        .collect();
    let edge = start_rust_edge(json!({ "regions": list }), true).await?;
    let nginx = peers::nginx(&dir.join("nginx"), &addrs).await;
    let haproxy = peers::haproxy(&dir.join("haproxy"), &addrs).await;
    let mut targets = vec![("Rust edge (workerd)", edge.url())];
    for peer in [&nginx, &haproxy] {
        match peer {
            Ok(p) => {
                println!("{}: {}", p.name, p.settings);
                targets.push((p.name, p.url.clone()));
            }
            Err(e) => println!("peer not available: {e:#}"),
        }
    }
    println!(
        "Rust edge: EDGE_CONFIG defaults (adaptive per-try timeout, 3 consecutive failures eject, probes every 2 s)"
    );
    let client = loopback_client();
    for (_, url) in &targets {
        // Warm-up: the edge measures every region; connections open.
        for _ in 0..50 {
            timed_get(&client, &format!("{url}/v1/items")).await?;
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    for (fault, label) in [
        (Fault::Refuse, "killed (connections refused)"),
        (Fault::BlackHole, "black-holed (accepts, never answers)"),
    ] {
        let loads: Vec<(&'static str, Load)> = targets
            .iter()
            .map(|(name, url)| {
                let spec = LoadSpec {
                    concurrency,
                    max_requests: 1_000_000,
                    max_duration: Duration::from_secs(before_s + after_s),
                    timeout: Duration::from_secs(30),
                    ..LoadSpec::get(format!("{url}/v1/items"))
                };
                (*name, Load::start(client.clone(), spec, ORIGIN_HEADER))
            })
            .collect();
        tokio::time::sleep(Duration::from_secs(before_s)).await;
        let fault_at: Vec<Duration> = loads.iter().map(|(_, l)| l.elapsed()).collect();
        regions[0].proxy.set_fault(fault);
        let mut runs = Vec::new();
        for ((name, load), at) in loads.into_iter().zip(fault_at) {
            runs.push(PeerRun {
                name,
                report: load.finish().await,
                fault_at: at,
            });
        }
        println!("\n## Fastest region {label} under load ({concurrency} clients per proxy, GET)\n");
        println!(
            "| proxy | requests | errors | p50 before ms | p50 after ms | max stall ms | requests stalled > 100 ms |"
        );
        println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
        for run in &runs {
            println!("{}", summarize(run));
        }
        if detail {
            for run in &runs {
                let slow: Vec<String> = run
                    .report
                    .samples
                    .iter()
                    .filter(|s| ms(s.latency) > 150.0)
                    .map(|s| {
                        format!(
                            "{:+.0}ms:{:.0}ms:{}",
                            ms(s.at) - ms(run.fault_at),
                            ms(s.latency),
                            s.region.as_deref().unwrap_or("-")
                        )
                    })
                    .collect();
                println!("{}: {slow:?}", run.name);
            }
        }
        regions[0].proxy.set_fault(Fault::Pass);
        // Let every proxy readmit the region before the next fault.
        let recover = Load::start(
            client.clone(),
            LoadSpec {
                concurrency: 1,
                max_duration: Duration::from_secs(15),
                pause: Duration::from_millis(50),
                ..LoadSpec::get(format!("{}/v1/items", targets[0].1))
            },
            ORIGIN_HEADER,
        );
        for (_, url) in targets.iter().skip(1) {
            for _ in 0..20 {
                let _ = client
                    .get(format!("{url}/v1/items"))
                    .timeout(Duration::from_secs(5))
                    .send()
                    .await;
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
        recover.finish().await;
    }
    Ok(())
}
