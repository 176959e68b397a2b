//! Region server (issue 3): durable automerge documents per region, stateless sync
//! rounds over HTTP, access control, and active-active replication between regions.
//!
//! - [`store`]: durable storage behind a trait (SQLite in WAL mode by default).
//! - [`writer`]: group commit of every write.
//! - [`docs`]: the in-memory document cache and the "answer only when durable" rule.
//! - [`http`]: the HTTP API of PROTOCOL.md.
//! - [`replication`]: push-on-change plus anti-entropy to peer regions.

pub mod auth;
pub mod config;
pub mod docs;
pub mod http;
pub mod metrics;
pub mod replication;
pub mod store;
pub mod writer;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::auth::Authenticator;
use crate::config::Config;
use crate::docs::DocService;
use crate::metrics::Metrics;
use crate::replication::{Replication, ReplicationSettings};
use crate::store::{SqliteStore, Store};
use crate::writer::Writer;

const COMPACTION_INTERVAL: Duration = Duration::from_secs(10);
const COMPACTION_BATCH: usize = 32;

/// Runs a region until `shutdown` resolves, then finishes in-flight requests
/// (within the configured grace), stops replication and flushes storage.
pub async fn run(config: Config, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    config.validate().map_err(anyhow::Error::msg)?;
    let metrics = Arc::new(Metrics::new(&config.region));
    let db_path = config.database_path();
    let store: Arc<dyn Store> = Arc::new(
        tokio::task::spawn_blocking(move || SqliteStore::open(&db_path))
            .await?
            .with_context(|| format!("cannot open the database in {}", config.data_dir.display()))?,
    );
    let (writer, writer_handle) = Writer::start(store.clone(), metrics.clone());
    let docs = DocService::new(store.clone(), writer_handle, config.cache_docs, metrics.clone())?;
    let auth = Arc::new(Authenticator::from_config(&config)?);
    let replication = Replication::new(
        docs.clone(),
        &config.peers,
        metrics.clone(),
        ReplicationSettings {
            anti_entropy: config.anti_entropy_interval(),
            max_backoff: Duration::from_millis(config.peer_max_backoff_ms),
            request_timeout: Duration::from_millis(config.peer_timeout_ms),
        },
    );
    let stop = CancellationToken::new();
    let app = Arc::new(http::App {
        region: config.region.clone(),
        docs: docs.clone(),
        auth: Authenticator::from_config(&config)?,
        metrics: metrics.clone(),
        replication: replication.clone(),
        shutdown: stop.clone(),
    });
    let cors = http::cors_layer(config.dev, &config.cors_origins)?;
    let router = http::router(app, config.max_body_bytes, config.dev, cors);
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let local = listener.local_addr()?;
    tracing::info!(
        region = %config.region,
        listen = %local,
        peers = ?config.peers.iter().map(|p| format!("{}={}", p.name, p.url)).collect::<Vec<_>>(),
        dev = config.dev,
        "region server ready"
    );
    if config.dev {
        tracing::warn!("development mode: tokens use the public secret \"{}\"", config::DEV_SECRET);
    }

    let mut background = replication.start(auth, stop.clone());
    background.push(tokio::spawn(compact_forever(docs.clone(), config.compact_after_changes, stop.clone())));

    let signal_stop = stop.clone();
    let serve = axum::serve(listener, router).with_graceful_shutdown(async move {
        shutdown.await;
        tracing::info!("shutting down: finishing in-flight requests");
        signal_stop.cancel();
    });
    let serve = tokio::spawn(async move { serve.await });
    // Wait for the signal, then give in-flight requests the grace period.
    stop.cancelled().await;
    match tokio::time::timeout(Duration::from_millis(config.shutdown_grace_ms), serve).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => tracing::error!(error = %e, "server error"),
        Ok(Err(e)) => tracing::error!(error = %e, "server task failed"),
        Err(_) => tracing::warn!("grace period over; dropping remaining requests"),
    }
    for task in background {
        let _ = task.await;
    }
    drop(replication);
    drop(docs);
    // Every writer handle is gone now: the writer commits what is queued and exits.
    tokio::task::spawn_blocking(move || writer.join()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Background compaction: documents with many change rows become one snapshot.
async fn compact_forever(docs: Arc<DocService>, min_rows: u64, stop: CancellationToken) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(COMPACTION_INTERVAL) => {}
            _ = stop.cancelled() => return,
        }
        let store = docs.store().clone();
        let candidates = match tokio::task::spawn_blocking(move || store.docs_to_compact(min_rows, COMPACTION_BATCH)).await {
            Ok(Ok(candidates)) => candidates,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cannot list documents to compact");
                continue;
            }
            Err(_) => continue,
        };
        for doc in candidates {
            if stop.is_cancelled() {
                return;
            }
            if let Err(e) = docs.compact(&doc).await {
                tracing::warn!(%doc, error = %e, "compaction failed");
            }
        }
    }
}
