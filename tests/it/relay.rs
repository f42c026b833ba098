//! A TCP relay in front of a DC's LDAPS port, to make a DC slow, let it die mid-operation or
//! hang (connections stay open, nothing comes back) without touching the shared lab, or to
//! put it a network's distance away ([`with_latency`]: this machine's kernel has no `netem`
//! qdisc, so the delay is added here, in user space). TLS passes through untouched (the DC's
//! certificate is for its IP, so the relay listens on the same address, another port).
//!
//! The benchmarks include this file too (`bench/lookup.rs`).

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct Relay {
    pub url: String,
    /// Bytes relayed from the DC so far.
    pub from_dc: Arc<AtomicU64>,
    /// Connections accepted so far.
    pub connections: Arc<AtomicU64>,
    kill: watch::Sender<bool>,
    frozen: watch::Sender<bool>,
    /// [`with_latency`]'s runtime of its own; shut down with the relay.
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl Relay {
    /// The DC "dies": every relayed connection is cut and new ones are refused.
    pub fn kill(&self) {
        let _ = self.kill.send(true);
    }

    /// The DC "hangs": connections, old and new, stay open, but nothing more comes back from
    /// the DC (a TLS handshake through the relay hangs too).
    pub fn freeze(&self) {
        let _ = self.frozen.send(true);
    }

    /// The DC answers again: what it held back flows on.
    pub fn thaw(&self) {
        let _ = self.frozen.send(false);
    }
}

/// Relay `ip`:<free port> → `ip`:636. `delay` slows each chunk from the DC; `die_after`
/// kills the relay once that many bytes came from the DC.
pub async fn start(ip: &str, delay: Option<Duration>, die_after: Option<u64>) -> Relay {
    listen(ip, delay, die_after, None).await
}

/// Relay `ip`:<free port> → `ip`:636 with `round_trip` added to every round trip, like a
/// network link's propagation delay: what the DC sends is held for it on the way back (one
/// wait per round trip, so that the waits' own lateness is paid once). Bytes that follow one
/// another are not held up by each other (pipelined requests each pay the delay once), and
/// their order is kept.
///
/// It runs on a runtime and a thread of its own, as a network runs beside the hosts: on the
/// caller's runtime, what the DC sent would wait to be read until that runtime's tasks (the
/// portal's, the load generator's) let it run, a delay that grows with the caller's own work
/// and that no network adds (BENCHMARKS.md, sessions 24 and 25).
pub async fn with_latency(ip: &str, round_trip: Duration) -> Relay {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("relay")
        .enable_all()
        .build()
        .unwrap();
    let ip = ip.to_string();
    let mut relay = runtime
        .spawn(async move { listen(&ip, None, None, Some(round_trip)).await })
        .await
        .unwrap();
    relay.runtime = Some(runtime);
    relay
}

async fn listen(
    ip: &str,
    delay: Option<Duration>,
    die_after: Option<u64>,
    latency: Option<Duration>,
) -> Relay {
    let listener = TcpListener::bind(format!("{ip}:0")).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let target: SocketAddr = format!("{ip}:636").parse().unwrap();
    let (kill, killed) = watch::channel(false);
    let (frozen, is_frozen) = watch::channel(false);
    let from_dc = Arc::new(AtomicU64::new(0));
    let connections = Arc::new(AtomicU64::new(0));
    let (counter, killer, accepted) = (from_dc.clone(), kill.clone(), connections.clone());
    tokio::spawn(async move {
        let mut stop = killed.clone();
        loop {
            let (client, _) = tokio::select! {
                a = listener.accept() => match a { Ok(a) => a, Err(_) => return },
                _ = stop.changed() => return, // dropping the listener refuses new connections
            };
            accepted.fetch_add(1, Ordering::SeqCst);
            let Ok(server) = TcpStream::connect(target).await else {
                continue;
            };
            let (counter, killer, stop) = (counter.clone(), killer.clone(), killed.clone());
            if let Some(round_trip) = latency {
                // Each held chunk goes out when due: Nagle's algorithm would hold a small
                // one back until the previous was acknowledged, a delay the link does not have.
                let _ = (client.set_nodelay(true), server.set_nodelay(true));
                tokio::spawn(distant(client, server, round_trip, stop));
                continue;
            }
            let link = Link {
                delay,
                die_after,
                counter,
                killer,
                stop,
                frozen: is_frozen.clone(),
            };
            tokio::spawn(pipe(client, server, link));
        }
    });
    Relay {
        url: format!("ldaps://{addr}"),
        from_dc,
        connections,
        kill,
        frozen,
        runtime: None,
    }
}

/// One connection a network's distance away: what the DC sends is held for `round_trip`.
async fn distant(
    client: TcpStream,
    server: TcpStream,
    round_trip: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let (mut cr, cw) = client.into_split();
    let (sr, mut sw) = server.into_split();
    tokio::select! {
        _ = tokio::io::copy(&mut cr, &mut sw) => {},
        _ = held(sr, cw, round_trip) => {},
        _ = stop.wait_for(|k| *k) => {},
    }
}

/// Copy `from` to `to`, each chunk written `delay` after it was read. The writes wait on an
/// OS thread of their own: tokio's timers fire on millisecond ticks, late by up to 2 ms (the
/// tick, then the driver's own wake-up), which would add itself to every round trip measured.
async fn held(mut from: impl AsyncRead + Unpin, to: OwnedWriteHalf, delay: Duration) {
    let (tx, rx) = std::sync::mpsc::channel::<(std::time::Instant, Vec<u8>)>();
    let runtime = tokio::runtime::Handle::current();
    let writer = std::thread::spawn(move || {
        let mut to = to;
        while let Ok((due, bytes)) = rx.recv() {
            let wait = due.saturating_duration_since(std::time::Instant::now());
            #[allow(clippy::disallowed_methods)] // blocking is the point: this thread only waits
            std::thread::sleep(wait);
            if runtime.block_on(to.write_all(&bytes)).is_err() {
                break;
            }
        }
    });
    let mut buf = vec![0u8; 16 * 1024];
    while let Ok(n @ 1..) = from.read(&mut buf).await {
        if tx
            .send((std::time::Instant::now() + delay, buf[..n].to_vec()))
            .is_err()
        {
            break;
        }
    }
    drop(tx);
    let _ = tokio::task::spawn_blocking(move || writer.join()).await;
}

/// What one relayed connection obeys.
struct Link {
    delay: Option<Duration>,
    die_after: Option<u64>,
    counter: Arc<AtomicU64>,
    killer: watch::Sender<bool>,
    stop: watch::Receiver<bool>,
    frozen: watch::Receiver<bool>,
}

async fn pipe(client: TcpStream, server: TcpStream, link: Link) {
    let Link {
        delay,
        die_after,
        counter,
        killer,
        mut stop,
        mut frozen,
    } = link;
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let up = async {
        let mut buf = vec![0u8; 16 * 1024];
        while let Ok(n @ 1..) = cr.read(&mut buf).await {
            if sw.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
    };
    let down = async {
        let mut buf = vec![0u8; 16 * 1024];
        while let Ok(n @ 1..) = sr.read(&mut buf).await {
            if let Some(d) = delay {
                tokio::time::sleep(d).await;
            }
            // While frozen, hold what the DC sent (and read nothing more from it).
            if frozen.wait_for(|f| !*f).await.is_err() {
                break;
            }
            let total = counter.fetch_add(n as u64, Ordering::SeqCst) + n as u64;
            if die_after.is_some_and(|limit| total >= limit) {
                let _ = killer.send(true);
                break;
            }
            if cw.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
    };
    tokio::select! {
        _ = up => {},
        _ = down => {},
        _ = stop.wait_for(|k| *k) => {},
    }
}
