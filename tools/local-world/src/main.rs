//! `local-world`: one command for the whole local EdgeSync world (three
//! regions behind simulated networks, the edge in workerd, chaos controls).

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use clap::{Args, Parser, Subcommand};
use local_world::paths::{loopback, repo_root};
use local_world::world::{EdgeSpec, RegionBackend, World, WorldConfig};
use local_world::{EchoOrigin, control};
use tokio::signal::unix::{Signal, SignalKind, signal};

#[derive(Parser)]
#[command(
    name = "local-world",
    about = "Starts the whole local EdgeSync world: three region servers (us-east, us-west, \
             eu-west) behind simulated networks, the edge worker in workerd (wrangler dev) \
             serving the demo page, and the chaos control API. Ctrl-C stops everything.",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Args)]
struct RunArgs {
    /// Port of the edge on 127.0.0.1; the demo page is served there.
    #[arg(long, default_value_t = 8787)]
    edge_port: u16,
    /// Port of the chaos control API on 127.0.0.1 (only loopback, only the demo page).
    #[arg(long, default_value_t = 8790)]
    control_port: u16,
    /// Where the regions keep their data and every process writes its log
    /// [default: <repository>/data].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Delete the regions' stored documents before starting.
    #[arg(long)]
    fresh: bool,
    /// One more page origin allowed to call the control API (for example a
    /// Vite dev server, http://127.0.0.1:5173). Repeatable.
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    allow_origins: Vec<String>,
    /// Run echo origins instead of region servers (exercises the edge and the
    /// chaos controls without documents).
    #[arg(long)]
    echo_regions: bool,
    /// Start the regions and controls only, no edge (for working on the edge
    /// worker with its own wrangler dev).
    #[arg(long)]
    no_edge: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Runs one echo origin: answers every request with JSON naming its region
    /// (what `--echo-regions` starts per region).
    EchoOrigin {
        /// The region name it reports.
        #[arg(long)]
        region: String,
        /// Address to listen on.
        #[arg(long)]
        listen: SocketAddr,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::EchoOrigin { region, listen }) => run_echo_origin(region, listen).await,
        None => run_world(cli.run).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("local-world: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// SIGINT and SIGTERM, caught from the moment this is built (handlers are
/// installed at once, not on the first poll) so no signal kills us unhandled.
struct ShutdownSignals {
    interrupt: Signal,
    terminate: Signal,
}

impl ShutdownSignals {
    fn install() -> anyhow::Result<Self> {
        Ok(ShutdownSignals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    /// Resolves on the first SIGINT or SIGTERM.
    async fn requested(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}

async fn run_echo_origin(region: String, listen: SocketAddr) -> anyhow::Result<()> {
    let mut shutdown = ShutdownSignals::install()?;
    let origin = EchoOrigin::start(listen, region)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    tracing::info!(addr = %origin.addr(), "echo origin ready");
    shutdown.requested().await;
    Ok(())
}

/// Fails early, with a useful message, instead of after minutes of building.
fn ensure_port_free(port: u16, what: &str) -> anyhow::Result<()> {
    TcpListener::bind(loopback(port)).map(drop).map_err(|e| {
        anyhow::anyhow!("port {port} for the {what} is not free ({e}); is another local-world running? (--help shows the port flags)")
    })
}

async fn run_world(args: RunArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let progress = move |line: &str| println!("[{:6.1}s] {line}", started.elapsed().as_secs_f64());
    if !args.no_edge {
        ensure_port_free(args.edge_port, "edge")?;
    }
    ensure_port_free(args.control_port, "control API")?;

    let backend = if args.echo_regions {
        RegionBackend::echo_origin(std::env::current_exe()?)
    } else {
        RegionBackend::region_server()?
    };
    let mut config = WorldConfig::new(
        backend,
        args.data_dir.unwrap_or_else(|| repo_root().join("data")),
    );
    config.fresh = args.fresh;
    config.edge = (!args.no_edge).then(|| EdgeSpec {
        port: Some(args.edge_port),
        ..EdgeSpec::default()
    });

    // Signals are caught from here on, so a Ctrl-C during the start stops the
    // children instead of orphaning them.
    let mut shutdown = ShutdownSignals::install()?;
    let world = tokio::select! {
        world = World::start_with_progress(config, &progress) => Arc::new(world?),
        () = shutdown.requested() => {
            progress("interrupted while starting; stopped what had started");
            return Ok(());
        }
    };

    // The page is served by the edge, whether or not this world started it.
    let edge_url = format!("http://127.0.0.1:{}", args.edge_port);
    let mut page_origins = vec![
        edge_url.clone(),
        format!("http://localhost:{}", args.edge_port),
    ];
    page_origins.extend(args.allow_origins);
    let control_addr = loopback(args.control_port);
    let control_server = control::serve(Arc::clone(&world), control_addr, &page_origins).await?;
    let control_url = control_server.url();
    progress(&format!("chaos controls at {control_url}/control/state"));
    for region in world.state().regions {
        progress(&format!(
            "region {} at {} (edge path {} +{} ms one way)",
            region.id, region.url, region.edge.origin, region.edge.latency_ms
        ));
    }
    if args.no_edge {
        let edge_config = world.edge_config(&Default::default());
        println!(
            "\n    No edge started. Run yours with --var EDGE_DEV:1 --var 'EDGE_CONFIG:{edge_config}'\n"
        );
    } else {
        println!("\n    Open {edge_url}/?control={control_url}\n");
    }
    println!("    Ctrl-C stops everything.\n");

    shutdown.requested().await;
    progress("stopping");
    drop(control_server);
    world.stop().await?;
    progress("stopped");
    Ok(())
}
