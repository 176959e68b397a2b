//! Region server benchmark (scripts/bench-region.sh). Prints, from one run on this
//! machine:
//! 1. sync rounds/s and p50/p99 latency for small edits to many documents, for a
//!    region server and for an automerge-repo sync server (Node) doing the same work;
//! 2. replication lag while three regions replicate under that load;
//! 3. the time three regions take to converge after a partition heals.
//!
//! Every load loop is bounded by a count and a time; only 127.0.0.1 is used.

mod edgesync;
mod load;
mod partition;
mod procs;
mod repo;

use std::time::{Duration, Instant};

use clap::Parser;
use load::{ms, Budget, ClientDoc, Measured};

#[derive(Parser, Debug)]
#[command(about = "EdgeSync region server benchmark")]
struct Args {
    /// Documents edited (spread over the workers).
    #[arg(long, default_value_t = 2000)]
    docs: usize,
    /// Concurrent clients.
    #[arg(long, default_value_t = 32)]
    workers: usize,
    /// Measured seconds per server.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Upper bound on edits per worker.
    #[arg(long, default_value_t = 100_000)]
    max_edits_per_worker: u64,
    /// Documents written in every region during the partition.
    #[arg(long, default_value_t = 50)]
    partition_docs: usize,
    /// How long the partition lasts, in ms.
    #[arg(long, default_value_t = 3000)]
    partition_ms: u64,
    /// Skip the automerge-repo comparison.
    #[arg(long)]
    skip_node: bool,
    // `cargo bench` passes --bench; accept and ignore it.
    #[arg(long, hide = true)]
    bench: bool,
}

fn split_docs(args: &Args, id: impl Fn(usize) -> String) -> Vec<Vec<(String, ClientDoc)>> {
    let mut per_worker: Vec<Vec<(String, ClientDoc)>> = (0..args.workers).map(|_| Vec::new()).collect();
    for i in 0..args.docs {
        per_worker[i % args.workers].push((id(i), ClientDoc::new(i as u64)));
    }
    per_worker
}

fn budget(args: &Args) -> Budget {
    Budget { deadline: Instant::now() + Duration::from_secs(args.seconds), max_edits_per_worker: args.max_edits_per_worker }
}

/// Runs every worker's measured loop concurrently under one budget.
async fn measure<W, Fut>(args: &Args, workers: Vec<W>, run: impl Fn(W, Budget) -> Fut) -> Measured
where
    Fut: std::future::Future<Output = Measured> + Send + 'static,
{
    let budget = budget(args);
    let started = Instant::now();
    let parts = futures_util::future::join_all(workers.into_iter().map(|w| tokio::spawn(run(w, budget)))).await;
    let elapsed = started.elapsed();
    Measured::merge(parts.into_iter().filter_map(Result::ok).collect(), elapsed)
}

async fn load_region(args: &Args, base: &str, prefix: &str) -> anyhow::Result<Measured> {
    let token = edgesync::token(base).await?;
    let http = reqwest::Client::builder().pool_max_idle_per_host(args.workers).build()?;
    let mut workers: Vec<_> = split_docs(args, |i| format!("{prefix}-{i}"))
        .into_iter()
        .map(|docs| edgesync::Worker { http: http.clone(), base: base.to_owned(), token: token.clone(), docs })
        .collect();
    futures_util::future::try_join_all(workers.iter_mut().map(|w| w.warm_up())).await?;
    Ok(measure(args, workers, edgesync::Worker::run).await)
}

async fn load_repo(args: &Args, url: &str) -> anyhow::Result<Measured> {
    let mut workers = Vec::new();
    for (w, docs) in split_docs(args, |_| repo::new_document_id()).into_iter().enumerate() {
        workers.push(repo::Worker::connect(url, w, docs).await?);
    }
    let warm_deadline = Instant::now() + Duration::from_secs(120);
    futures_util::future::try_join_all(workers.iter_mut().map(|w| w.warm_up(warm_deadline))).await?;
    Ok(measure(args, workers, repo::Worker::run).await)
}

fn print_load(name: &str, m: &Measured) {
    println!(
        "  {name:<34} {:>9.0} rounds/s   p50 {:>7.2} ms   p99 {:>7.2} ms   ({} edits, {} errors, {:.1} s)",
        m.rounds_per_second(),
        ms(m.percentile(0.50)),
        ms(m.percentile(0.99)),
        m.latencies.len(),
        m.errors,
        m.elapsed.as_secs_f64()
    );
}

/// Lag samples from the loaded region's status endpoint.
#[derive(Default)]
struct LagSamples {
    lag_s: Vec<f64>,
    docs_behind: Vec<u64>,
}

async fn sample_lag(url: String, stop: tokio_util::sync::CancellationToken) -> LagSamples {
    let http = reqwest::Client::new();
    let mut samples = LagSamples::default();
    while !stop.is_cancelled() {
        if let Ok(response) = http.get(format!("{url}/v1/status")).timeout(Duration::from_secs(2)).send().await
            && let Ok(status) = response.json::<serde_json::Value>().await
            && let Some(peers) = status["peers"].as_array()
        {
            let lag = peers.iter().filter_map(|p| p["lag_seconds"].as_f64()).fold(0.0, f64::max);
            let behind = peers.iter().filter_map(|p| p["docs_behind"].as_u64()).max().unwrap_or(0);
            samples.lag_s.push(lag);
            samples.docs_behind.push(behind);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    samples
}

fn quantile(values: &[f64], p: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Three regions replicating; load on the first one.
async fn replication_under_load(args: &Args, dir: &std::path::Path) -> anyhow::Result<()> {
    let names = ["us", "eu", "ap"];
    let ports: Vec<u16> = names.iter().map(|_| procs::free_port()).collect();
    let urls: Vec<String> = ports.iter().map(|p| format!("http://127.0.0.1:{p}")).collect();
    let mut regions = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let peers: Vec<(String, String)> =
            names.iter().enumerate().filter(|(j, _)| *j != i).map(|(j, n)| (n.to_string(), urls[j].clone())).collect();
        regions.push(procs::region(name, ports[i], &dir.join(format!("repl-{name}")), &peers, &[]).await?);
    }
    let stop = tokio_util::sync::CancellationToken::new();
    let sampler = tokio::spawn(sample_lag(urls[0].clone(), stop.clone()));
    let measured = load_region(args, &urls[0], "repl").await?;
    let load_ended = Instant::now();
    // Drain: until every peer has confirmed everything (bounded).
    let http = reqwest::Client::new();
    let mut drained = None;
    while load_ended.elapsed() < Duration::from_secs(120) {
        let status: serde_json::Value = http.get(format!("{}/v1/status", urls[0])).send().await?.json().await?;
        let behind: u64 = status["peers"].as_array().map_or(0, |p| p.iter().filter_map(|x| x["docs_behind"].as_u64()).sum());
        if behind == 0 {
            drained = Some(load_ended.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.cancel();
    let samples = sampler.await?;
    print_load("region server, 3 regions replicating", &measured);
    println!(
        "  replication lag under that load     p50 {:.3} s   p99 {:.3} s   max {:.3} s   max docs behind {}",
        quantile(&samples.lag_s, 0.5),
        quantile(&samples.lag_s, 0.99),
        samples.lag_s.iter().copied().fold(0.0, f64::max),
        samples.docs_behind.iter().max().copied().unwrap_or(0),
    );
    match drained {
        Some(d) => println!("  peers caught up {:.3} s after the load stopped", d.as_secs_f64()),
        None => println!("  peers had NOT caught up 120 s after the load stopped"),
    }
    drop(regions);
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = tempfile::tempdir()?;
    println!(
        "EdgeSync region benchmark: {} documents, {} concurrent clients, {} s per server, small edits (one key put per edit)",
        args.docs, args.workers, args.seconds
    );

    println!("\n1. Sync rounds (edit -> acknowledged), one server each, same work:");
    let region_port = procs::free_port();
    let region = procs::region("bench", region_port, &dir.path().join("solo"), &[], &[]).await?;
    let ours = load_region(&args, &format!("http://127.0.0.1:{region_port}"), "solo").await?;
    drop(region);
    print_load("region server (SQLite, durable acks)", &ours);
    if args.skip_node {
        println!("  automerge-repo: skipped (--skip-node)");
    } else {
        let node_port = procs::free_port();
        let node = procs::automerge_repo(node_port, &dir.path().join("node")).await?;
        let theirs = load_repo(&args, &format!("ws://127.0.0.1:{node_port}")).await?;
        drop(node);
        print_load("automerge-repo 2.5 (Node, nodefs)", &theirs);
        println!(
            "  ratio: {:.2}x the rounds/s of automerge-repo (target: at least 3x); p50 latency {:.2}x lower",
            ours.rounds_per_second() / theirs.rounds_per_second().max(1e-9),
            ms(theirs.percentile(0.5)) / ms(ours.percentile(0.5)).max(1e-9),
        );
    }

    println!("\n2. Replication lag under load (load on one of three regions):");
    replication_under_load(&args, dir.path()).await?;

    println!("\n3. Convergence after a partition heals (3 regions, every link through a fault proxy):");
    let world = partition::Partitioned::start(dir.path()).await?;
    for fault in [local_world::Fault::Refuse, local_world::Fault::BlackHole] {
        let took = world.heal_time(fault, args.partition_docs, Duration::from_millis(args.partition_ms)).await?;
        println!(
            "  {fault:?} partition of {} ms, {} documents written in all 3 regions: identical heads {:.3} s after healing (target: < 1 s)",
            args.partition_ms,
            args.partition_docs,
            took.as_secs_f64()
        );
    }
    Ok(())
}
