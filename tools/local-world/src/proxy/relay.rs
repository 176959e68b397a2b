//! One proxied connection: waits out a black hole, connects upstream, then runs
//! two delay lines (one per direction) until both sides close or a fault
//! resets the connection.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::{Conditions, Counters, Fault};

/// Bytes read from a socket at a time.
const CHUNK_BYTES: usize = 16 * 1024;
/// Chunks a direction may hold in its delay line (about 1 MiB) before it stops
/// reading, which pushes back on the sender as a slow network would.
const CHUNKS_IN_FLIGHT: usize = 64;

/// Closes `stream` with an RST instead of a FIN, as a dead host's kernel would.
pub(crate) fn reset(stream: TcpStream) {
    if let Err(error) = stream.set_zero_linger() {
        tracing::debug!(%error, "could not set SO_LINGER 0; closing normally");
    }
}

fn reset_halves(read: OwnedReadHalf, write: OwnedWriteHalf) {
    // Reuniting avoids the FIN that dropping a write half sends.
    match read.reunite(write) {
        Ok(stream) => reset(stream),
        Err(error) => tracing::debug!(%error, "halves of different sockets"),
    }
}

/// Resolves when the proxy starts refusing (never, once the proxy is gone:
/// its connection tasks are aborted then anyway).
async fn refused(conditions: &mut watch::Receiver<Conditions>) {
    if conditions
        .wait_for(|c| c.fault == Fault::Refuse)
        .await
        .is_err()
    {
        std::future::pending::<()>().await;
    }
}

async fn wait_while_black_holed(conditions: &mut watch::Receiver<Conditions>) {
    if conditions
        .wait_for(|c| c.fault != Fault::BlackHole)
        .await
        .is_err()
    {
        std::future::pending::<()>().await;
    }
}

pub(crate) async fn serve(
    client: TcpStream,
    upstream_addr: SocketAddr,
    mut conditions: watch::Receiver<Conditions>,
    counters: Arc<Counters>,
) {
    let _open = counters.open_guard();

    // A black-holed connection is held without even connecting upstream.
    wait_while_black_holed(&mut conditions).await;
    if conditions.borrow().fault == Fault::Refuse {
        counters.count_reset();
        reset(client);
        return;
    }

    let connected = tokio::select! {
        result = TcpStream::connect(upstream_addr) => result,
        () = refused(&mut conditions) => {
            counters.count_reset();
            reset(client);
            return;
        }
    };
    let upstream = match connected {
        Ok(upstream) => upstream,
        Err(error) => {
            // The upstream is down: the client must see a dead peer, not a clean close.
            tracing::debug!(%error, %upstream_addr, "upstream connect failed");
            counters.count_upstream_failure();
            counters.count_reset();
            reset(client);
            return;
        }
    };
    // Chunks are already delayed on purpose; Nagle would add its own delay.
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);

    let (mut client_read, mut client_write) = client.into_split();
    let (mut upstream_read, mut upstream_write) = upstream.into_split();
    let (to_upstream, to_client) = (conditions.clone(), conditions.clone());
    let outcome = tokio::select! {
        result = async {
            tokio::try_join!(
                delay_line(&mut client_read, &mut upstream_write, to_upstream, &counters.to_upstream),
                delay_line(&mut upstream_read, &mut client_write, to_client, &counters.to_client),
            )
        } => result.map(|_| ()),
        () = refused(&mut conditions) => Err(io::ErrorKind::ConnectionReset.into()),
    };
    if let Err(error) = outcome {
        // One side failed or the proxy now refuses: the other side sees a reset too.
        tracing::debug!(%error, "proxied connection reset");
        counters.count_reset();
        reset_halves(client_read, client_write);
        reset_halves(upstream_read, upstream_write);
    }
}

struct Chunk {
    due: Instant,
    bytes: Vec<u8>,
}

/// Copies `src` to `dst`, delivering each chunk one-way-latency after it was
/// read and holding it while the proxy is black-holed. The reader and writer run
/// concurrently, so latency delays bytes without cutting throughput.
async fn delay_line(
    src: &mut OwnedReadHalf,
    dst: &mut OwnedWriteHalf,
    conditions: watch::Receiver<Conditions>,
    delivered: &AtomicU64,
) -> io::Result<()> {
    let (line_in, mut line_out) = mpsc::channel::<Chunk>(CHUNKS_IN_FLIGHT);
    let latency = conditions.clone();
    let read = async move {
        let mut buf = vec![0u8; CHUNK_BYTES];
        loop {
            let n = src.read(&mut buf).await?;
            if n == 0 {
                // End of stream: dropping `line_in` tells the writer.
                return Ok::<(), io::Error>(());
            }
            let due = Instant::now() + latency.borrow().one_way_latency;
            let chunk = Chunk {
                due,
                bytes: buf[..n].to_vec(),
            };
            if line_in.send(chunk).await.is_err() {
                return Ok(());
            }
        }
    };
    let mut gate = conditions;
    let write = async move {
        while let Some(chunk) = line_out.recv().await {
            tokio::time::sleep_until(chunk.due).await;
            wait_while_black_holed(&mut gate).await;
            dst.write_all(&chunk.bytes).await?;
            delivered.fetch_add(chunk.bytes.len() as u64, Ordering::Relaxed);
        }
        // Pass the half-close on, after every byte before it.
        dst.shutdown().await
    };
    tokio::try_join!(read, write).map(|_| ())
}
