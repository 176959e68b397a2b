//! FaultProxy over real sockets on 127.0.0.1, against a TCP echo server.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use local_world::{Fault, FaultProxy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::timeout;

/// Upper bound for every step that is expected to complete.
const STEP: Duration = Duration::from_secs(5);
/// How long a test waits to show that something does NOT happen.
const QUIET: Duration = Duration::from_millis(300);

/// Echoes every byte back; closes its write side on EOF.
async fn echo_server() -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let (mut read, mut write) = stream.split();
                let _ = tokio::io::copy(&mut read, &mut write).await;
                let _ = write.shutdown().await;
            });
        }
    });
    (addr, task)
}

async fn proxy_to_echo() -> (FaultProxy, JoinHandle<()>) {
    let (echo, task) = echo_server().await;
    let proxy = FaultProxy::start("127.0.0.1:0".parse().unwrap(), echo)
        .await
        .unwrap();
    (proxy, task)
}

async fn round_trip(stream: &mut TcpStream, message: &[u8]) -> std::io::Result<Vec<u8>> {
    stream.write_all(message).await?;
    let mut reply = vec![0u8; message.len()];
    stream.read_exact(&mut reply).await?;
    Ok(reply)
}

#[tokio::test]
async fn pass_forwards_both_ways_and_counts() {
    let (proxy, _echo) = proxy_to_echo().await;
    let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
    let reply = timeout(STEP, round_trip(&mut stream, b"hello"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reply, b"hello");

    // Half-close passes through: the echo server sees EOF and closes too.
    stream.shutdown().await.unwrap();
    let mut rest = Vec::new();
    timeout(STEP, stream.read_to_end(&mut rest))
        .await
        .unwrap()
        .unwrap();
    assert!(rest.is_empty());

    let stats = proxy.stats();
    assert_eq!(stats.connections_accepted, 1);
    assert_eq!(stats.bytes_to_upstream, 5);
    assert_eq!(stats.bytes_to_client, 5);
}

#[tokio::test]
async fn large_transfer_arrives_intact_under_latency() {
    let (proxy, _echo) = proxy_to_echo().await;
    proxy.set_latency(Duration::from_millis(5));
    let payload: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let stream = TcpStream::connect(proxy.addr()).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    let sent = payload.clone();
    let writer = tokio::spawn(async move {
        write.write_all(&sent).await.unwrap();
        write.shutdown().await.unwrap();
    });
    let mut received = Vec::new();
    timeout(Duration::from_secs(30), read.read_to_end(&mut received))
        .await
        .unwrap()
        .unwrap();
    writer.await.unwrap();
    assert!(received == payload, "echoed bytes differ");
}

#[tokio::test]
async fn latency_applies_in_each_direction() {
    let (proxy, _echo) = proxy_to_echo().await;
    let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
    round_trip(&mut stream, b"warm").await.unwrap();

    proxy.set_latency(Duration::from_millis(150));
    assert_eq!(proxy.latency(), Duration::from_millis(150));
    let started = Instant::now();
    timeout(STEP, round_trip(&mut stream, b"slow"))
        .await
        .unwrap()
        .unwrap();
    // Both directions pay the one-way latency (a lower bound cannot be flaky).
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );

    proxy.set_latency(Duration::ZERO);
    let reply = timeout(STEP, round_trip(&mut stream, b"fast"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reply, b"fast");
}

#[tokio::test]
async fn black_hole_holds_new_connections_until_restored() {
    let (proxy, _echo) = proxy_to_echo().await;
    proxy.set_fault(Fault::BlackHole);
    let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
    stream.write_all(b"anyone?").await.unwrap();
    let mut reply = [0u8; 7];
    // Nothing comes back: the client only gets its own timeout.
    assert!(timeout(QUIET, stream.read_exact(&mut reply)).await.is_err());
    assert_eq!(
        proxy.stats().bytes_to_upstream,
        0,
        "no byte may pass a black hole"
    );

    // Lifting the fault delivers what was held, like TCP retransmission.
    proxy.set_fault(Fault::Pass);
    timeout(STEP, stream.read_exact(&mut reply))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&reply, b"anyone?");
}

#[tokio::test]
async fn black_hole_freezes_existing_connections() {
    let (proxy, _echo) = proxy_to_echo().await;
    let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
    round_trip(&mut stream, b"before").await.unwrap();

    proxy.set_fault(Fault::BlackHole);
    assert!(
        timeout(QUIET, round_trip(&mut stream, b"during"))
            .await
            .is_err()
    );

    proxy.set_fault(Fault::Pass);
    let mut reply = [0u8; 6];
    timeout(STEP, stream.read_exact(&mut reply))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&reply, b"during");
    let reply = timeout(STEP, round_trip(&mut stream, b"after"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reply, b"after");
}

/// A refused or reset connection must fail with an error, never a clean EOF.
async fn expect_reset(stream: &mut TcpStream) {
    let mut buf = [0u8; 16];
    let outcome = timeout(STEP, async {
        // The kernel reports a received RST once: to whichever call comes first.
        stream.write_all(b"ping").await?;
        stream.read(&mut buf).await
    })
    .await
    .expect("a reset connection must fail fast, not hang");
    match outcome {
        Err(error) => assert!(
            matches!(
                error.kind(),
                ErrorKind::ConnectionReset | ErrorKind::BrokenPipe
            ),
            "{error}"
        ),
        Ok(n) => panic!("expected a reset, read {n} bytes (0 = clean close)"),
    }
}

#[tokio::test]
async fn refuse_resets_new_connections_at_once() {
    let (proxy, _echo) = proxy_to_echo().await;
    proxy.set_fault(Fault::Refuse);
    let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
    expect_reset(&mut stream).await;
    assert_eq!(proxy.stats().connections_refused, 1);
    assert_eq!(proxy.stats().bytes_to_upstream, 0);

    proxy.set_fault(Fault::Pass);
    let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
    let reply = timeout(STEP, round_trip(&mut stream, b"back"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reply, b"back");
}

#[tokio::test]
async fn refuse_resets_existing_and_black_holed_connections() {
    let (proxy, _echo) = proxy_to_echo().await;
    let mut open = TcpStream::connect(proxy.addr()).await.unwrap();
    round_trip(&mut open, b"hi").await.unwrap();
    proxy.set_fault(Fault::BlackHole);
    let mut held = TcpStream::connect(proxy.addr()).await.unwrap();
    // Let the proxy accept the held connection before the fault changes.
    tokio::time::sleep(Duration::from_millis(50)).await;

    proxy.set_fault(Fault::Refuse);
    expect_reset(&mut open).await;
    expect_reset(&mut held).await;
    assert_eq!(proxy.stats().connections_reset, 2);
}

#[tokio::test]
async fn dead_upstream_resets_the_client() {
    // A port nothing listens on: bind, note it, close.
    let dead = {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap()
    };
    let proxy = FaultProxy::start("127.0.0.1:0".parse().unwrap(), dead)
        .await
        .unwrap();
    let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
    expect_reset(&mut stream).await;
    assert_eq!(proxy.stats().upstream_connect_failures, 1);
}

#[tokio::test]
async fn dropping_the_proxy_closes_port_and_connections() {
    let (proxy, _echo) = proxy_to_echo().await;
    let addr = proxy.addr();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    round_trip(&mut stream, b"x").await.unwrap();
    drop(proxy);

    let mut buf = [0u8; 1];
    let read = timeout(STEP, stream.read(&mut buf))
        .await
        .expect("connection must close");
    assert!(matches!(read, Ok(0) | Err(_)));
    let connect = timeout(STEP, TcpStream::connect(addr)).await.unwrap();
    assert_eq!(connect.unwrap_err().kind(), ErrorKind::ConnectionRefused);
}

#[tokio::test]
async fn open_connections_are_counted() {
    let (proxy, _echo) = proxy_to_echo().await;
    let mut a = TcpStream::connect(proxy.addr()).await.unwrap();
    let mut b = TcpStream::connect(proxy.addr()).await.unwrap();
    round_trip(&mut a, b"a").await.unwrap();
    round_trip(&mut b, b"b").await.unwrap();
    assert_eq!(proxy.stats().connections_open, 2);
    drop(a);
    drop(b);
    let deadline = Instant::now() + STEP;
    while proxy.stats().connections_open != 0 {
        assert!(
            Instant::now() < deadline,
            "connections never closed: {:?}",
            proxy.stats()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
