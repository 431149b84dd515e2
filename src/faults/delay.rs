//! Delay and jitter on a member's peer links without the kernel's netem qdisc: a small proxy,
//! the way etcd's functional tester puts one on the peer port, but living in the member's own
//! network namespace so no traffic leaves the run's Docker network.
//!
//! - A thread of the harness enters the member's network namespace (`setns`) and runs the
//!   proxy there, on its own single-threaded runtime: every socket it opens is the member's.
//! - A NAT rule in that namespace redirects the member's new connections to peer ports (2380)
//!   to the proxy; the proxy reads the original destination (`SO_ORIGINAL_DST`) and connects
//!   there itself, its packets marked so the rule lets them through. The member's existing peer
//!   connections are destroyed (`ss -K`), so etcd re-dials them through the proxy.
//! - What a peer sends back is held for `delay ± jitter` (order kept, end of stream included);
//!   what the member sends goes straight through. Every round trip between the member and a
//!   peer gets longer by the delay; the proxy's source address stays the member's own, so TLS
//!   peers with certificate checks accept it.
//! - Proof: a request to a peer's port, timed from inside the namespace before and during the
//!   fault (the median of a few), must be slower by at least half the delay.

use super::netns::Netns;
use super::FaultError;
use rand::{Rng, SeedableRng};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The proxy's own upstream packets carry this mark: the redirect rule skips them.
pub const MARK: u32 = 0x2380;
const PEER_PORT: u16 = 2380;
const CONNECT_DEADLINE: Duration = Duration::from_secs(5);

/// How long to hold each chunk: `base` plus a uniform draw in ±`jitter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delay {
    pub base: Duration,
    pub jitter: Duration,
}

impl Delay {
    fn sample(&self, rng: &mut impl Rng) -> Duration {
        if self.jitter.is_zero() {
            return self.base;
        }
        let j = self.jitter.as_micros() as i64;
        let us = self.base.as_micros() as i64 + rng.random_range(-j..=j);
        Duration::from_micros(us.max(0) as u64)
    }
}

/// What the proxy did, for the proof.
#[derive(Debug, Default)]
pub struct Counters {
    pub connections: AtomicU64,
    pub bytes_held: AtomicU64,
    pub failed_connects: AtomicU64,
}

impl Counters {
    /// For the proof: what the proxy carried, and the peer connections it could not open.
    pub fn describe(&self) -> String {
        let failed = self.failed_connects.load(Ordering::Relaxed);
        format!(
            "the delay proxy carried {} peer connection(s) and held back {} bytes{}",
            self.connections.load(Ordering::Relaxed),
            self.bytes_held.load(Ordering::Relaxed),
            if failed > 0 {
                format!("; {failed} connection(s) to a peer could not be opened")
            } else {
                String::new()
            }
        )
    }
}

/// Where an accepted connection is forwarded.
#[derive(Debug, Clone, Copy)]
pub enum Upstream {
    /// Where the member meant to go, read from the redirect (`SO_ORIGINAL_DST`).
    OriginalDst,
    /// A fixed address (tests on loopback, where nothing is redirected).
    Fixed(SocketAddr),
}

/// A running proxy. It stops when `stop` is called or when it is dropped; stopping closes every
/// connection it carries.
#[derive(Debug)]
pub struct Proxy {
    pub port: u16,
    pub counters: Arc<Counters>,
    cancel: CancellationToken,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    /// Starts a proxy listening on every address of the namespace of process `netns` (or of
    /// this process, with `None`).
    pub async fn start(
        netns: Option<u32>,
        upstream: Upstream,
        delay: Delay,
        seed: u64,
    ) -> Result<Proxy, FaultError> {
        let cancel = CancellationToken::new();
        let counters = Arc::new(Counters::default());
        let (ready, port) = tokio::sync::oneshot::channel::<Result<u16, String>>();
        let (stop, stats) = (cancel.clone(), counters.clone());
        let thread = spawn("etcd-drill-delay", move || {
            let rt = match enter(netns).and_then(|_| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| e.to_string())
            }) {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready.send(Err(e));
                    return;
                }
            };
            rt.block_on(serve(ready, 0, upstream, delay, seed, stats, stop));
            // Dropping the runtime here ends every relay and closes its sockets.
        })?;
        let what = format!("delay proxy in the network namespace of pid {netns:?}");
        let port = answer(port, CONNECT_DEADLINE, what).await?;
        Ok(Proxy {
            port,
            counters,
            cancel,
            thread: Some(thread),
        })
    }

    /// Stops the proxy and waits for its thread.
    pub async fn stop(mut self) {
        self.cancel.cancel();
        if let Some(t) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// Moves the calling thread into the network namespace of process `pid`.
fn enter(pid: Option<u32>) -> Result<(), String> {
    pid.map_or(Ok(()), crate::sandbox::enter_netns)
}

async fn serve(
    ready: tokio::sync::oneshot::Sender<Result<u16, String>>,
    port: u16,
    upstream: Upstream,
    delay: Delay,
    seed: u64,
    counters: Arc<Counters>,
    stop: CancellationToken,
) {
    let listener = match TcpListener::bind(("0.0.0.0", port)).await {
        Ok(l) => l,
        Err(e) => {
            let _ = ready.send(Err(format!("cannot listen: {e}")));
            return;
        }
    };
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    if ready.send(Ok(port)).is_err() {
        return;
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            accepted = listener.accept() => {
                if let Ok((down, _)) = accepted {
                    let seed = rng.random();
                    tokio::spawn(relay(down, upstream, delay, seed, counters.clone()));
                }
            }
        }
    }
}

async fn relay(
    down: TcpStream,
    upstream: Upstream,
    delay: Delay,
    seed: u64,
    counters: Arc<Counters>,
) {
    let up = async {
        let (to, mark) = match upstream {
            Upstream::Fixed(a) => (a, false),
            Upstream::OriginalDst => {
                let a = socket2::SockRef::from(&down).original_dst_v4()?;
                let a = a
                    .as_socket()
                    .ok_or_else(|| std::io::Error::other("original destination is not IP"))?;
                (a, true)
            }
        };
        let sock = TcpSocket::new_v4()?;
        if mark {
            socket2::SockRef::from(&sock).set_mark(MARK)?;
        }
        match tokio::time::timeout(CONNECT_DEADLINE, sock.connect(to)).await {
            Ok(r) => r,
            Err(_) => Err(std::io::Error::other("connect timed out")),
        }
    };
    let up = match up.await {
        Ok(s) => s,
        Err(_) => {
            counters.failed_connects.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    counters.connections.fetch_add(1, Ordering::Relaxed);
    let _ = (down.set_nodelay(true), up.set_nodelay(true));
    let (down_r, down_w) = down.into_split();
    let (up_r, up_w) = up.into_split();
    tokio::join!(
        straight(down_r, up_w),
        held(up_r, down_w, delay, seed, &counters)
    );
}

/// The member's side: copied as it comes.
async fn straight(mut from: OwnedReadHalf, mut to: OwnedWriteHalf) {
    let _ = tokio::io::copy(&mut from, &mut to).await;
    let _ = to.shutdown().await;
}

/// The peer's side: each chunk written `delay` after it was read, in order. The end of the
/// stream is held too, so a peer that answers by closing is delayed like one that writes.
async fn held(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    delay: Delay,
    seed: u64,
    counters: &Counters,
) {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(Instant, Vec<u8>)>(1024);
    let read = async move {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut last = Instant::now();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = from.read(&mut buf).await.unwrap_or(0);
            let due = (Instant::now() + delay.sample(&mut rng)).max(last);
            last = due;
            if tx.send((due, buf[..n].to_vec())).await.is_err() || n == 0 {
                return;
            }
        }
    };
    let write = async move {
        while let Some((due, chunk)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            if chunk.is_empty() || to.write_all(&chunk).await.is_err() {
                break;
            }
            counters
                .bytes_held
                .fetch_add(chunk.len() as u64, Ordering::Relaxed);
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(read, write);
}

/// The NAT rule that sends the member's new peer connections to the proxy on `port`.
fn redirect_rule(op: &str, port: u16) -> Vec<String> {
    let mark = format!("0x{MARK:x}");
    let (peer, port) = (PEER_PORT.to_string(), port.to_string());
    [
        "iptables",
        "-t",
        "nat",
        op,
        "OUTPUT",
        "-p",
        "tcp",
        "--dport",
        &peer,
        "-m",
        "mark",
        "!",
        "--mark",
        &mark,
        "-j",
        "REDIRECT",
        "--to-ports",
        &port,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Makes etcd drop its peer connections so that it re-dials them (through the proxy, or
/// straight again).
fn redial() -> Vec<String> {
    ["ss", "-K", "-t", "-n", "dport = :2380"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// The port the proxy listens on inside a member's namespace when it runs in a helper
/// container (a thread of the harness takes any free port).
pub const HELPER_PORT: u16 = 23_800;

/// What a proxy in a helper container prints once it listens.
pub const READY: &str = "@@etcd-drill-delay-proxy listening";

/// What a proxy in a helper container prints when it stops: its counters.
const COUNTERS: &str = "@@etcd-drill-delay-proxy counters";

/// What the round-trip probe in a helper container prints: the median in microseconds.
const ROUND_TRIP: &str = "@@etcd-drill-round-trip-us";

/// A delay proxy in front of one member's peer links, wherever it runs.
#[derive(Debug)]
pub enum Placed {
    /// A thread of the harness in the member's namespace (the host way).
    Thread(Proxy),
    /// etcd-drill itself in a helper container joined to the namespace (the helper way).
    Helper { container: String },
}

impl Placed {
    /// Where the proxy runs, for the proof.
    pub fn describe(&self) -> &'static str {
        match self {
            Placed::Thread(_) => "the proxy a thread of the harness in the member's namespace",
            Placed::Helper { .. } => {
                "the proxy etcd-drill's own image in a helper container in the member's namespace"
            }
        }
    }
}

/// Puts a proxy in front of the member's peer connections: start it, redirect, and make etcd
/// re-dial its peers through it. From the host, a thread of the harness enters the namespace;
/// through helpers, etcd-drill's own image runs the proxy in a container that joins it.
pub async fn install(ns: &Netns, delay: Delay, seed: u64) -> Result<Placed, FaultError> {
    let (placed, port) = match ns.host_pid() {
        Some(pid) => {
            let proxy = Proxy::start(Some(pid), Upstream::OriginalDst, delay, seed).await?;
            let port = proxy.port;
            (Placed::Thread(proxy), port)
        }
        None => {
            let args = [
                "delay-proxy".to_string(),
                format!("--port={HELPER_PORT}"),
                format!("--delay-us={}", delay.base.as_micros()),
                format!("--jitter-us={}", delay.jitter.as_micros()),
                format!("--seed={seed}"),
            ];
            let container = ns.start_harness("delay", &args, READY).await?;
            (Placed::Helper { container }, HELPER_PORT)
        }
    };
    if let Err(e) = ns.batch(&[redirect_rule("-I", port), redial()]).await {
        // Without the proxy behind it the rule would cut the member off: take both away.
        let _ = remove(ns, placed).await;
        return Err(e);
    }
    Ok(placed)
}

/// Takes the proxy away: the rule first (new connections go straight again), then the proxy
/// (the connections it carries close and etcd re-dials them directly). Returns what the proxy
/// carried, for the proof.
pub async fn remove(ns: &Netns, placed: Placed) -> Result<String, FaultError> {
    let port = match &placed {
        Placed::Thread(p) => p.port,
        Placed::Helper { .. } => HELPER_PORT,
    };
    let removed = ns.batch(&[redirect_rule("-D", port)]).await;
    let carried = match placed {
        Placed::Thread(proxy) => {
            let said = proxy.counters.describe();
            proxy.stop().await;
            said
        }
        Placed::Helper { container } => {
            let out = ns.stop_harness(&container).await?;
            counters_from(&out)
                .map(|c| c.describe())
                .unwrap_or_else(|| "the delay proxy did not report what it carried".into())
        }
    };
    removed.map(|_| carried)
}

/// The counters a proxy in a helper container printed when it stopped.
fn counters_from(out: &str) -> Option<Counters> {
    let line = out.lines().rev().find(|l| l.starts_with(COUNTERS))?;
    let c = Counters::default();
    for word in line[COUNTERS.len()..].split_whitespace() {
        let (k, v) = word.split_once('=')?;
        let v: u64 = v.parse().ok()?;
        match k {
            "connections" => c.connections.store(v, Ordering::Relaxed),
            "bytes_held" => c.bytes_held.store(v, Ordering::Relaxed),
            "failed_connects" => c.failed_connects.store(v, Ordering::Relaxed),
            _ => return None,
        }
    }
    Some(c)
}

/// The median time from sending a request to a peer's port to the first sign of its answer
/// (bytes, or the connection closing), timed from inside the member's namespace: by a thread
/// that enters it from the host, or by etcd-drill itself in a helper container.
pub async fn round_trip(ns: &Netns, peer: SocketAddr) -> Result<Duration, FaultError> {
    let Some(pid) = ns.host_pid() else {
        let out = ns
            .run_harness("probe", &["round-trip".to_string(), peer.to_string()])
            .await?;
        let us = out
            .lines()
            .find_map(|l| l.strip_prefix(ROUND_TRIP))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .ok_or_else(|| FaultError::Command {
                line: format!("etcd-drill round-trip {peer}"),
                error: format!("no {ROUND_TRIP} line in its output: {}", out.trim()),
            })?;
        return Ok(Duration::from_micros(us));
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    spawn("etcd-drill-probe", move || {
        let _ = tx.send(enter(Some(pid)).and_then(|_| time_requests(peer, 5)));
    })?;
    let what = format!("round trip to {peer} from the network namespace of pid {pid}");
    answer(rx, Duration::from_secs(60), what).await
}

/// `etcd-drill round-trip PEER` in a helper container: times the requests here (the
/// container's network namespace is the member's) and prints the median.
pub async fn round_trip_here(peer: SocketAddr) -> Result<(), String> {
    let median = tokio::task::spawn_blocking(move || time_requests(peer, 5))
        .await
        .map_err(|e| e.to_string())??;
    println!("{ROUND_TRIP} {}", median.as_micros());
    Ok(())
}

/// `etcd-drill delay-proxy` in a helper container: the proxy on `port` in this (the member's)
/// network namespace until SIGTERM, then its counters on stdout.
pub async fn serve_here(port: u16, delay: Delay, seed: u64) -> Result<(), String> {
    {
        let cancel = CancellationToken::new();
        let counters = Arc::new(Counters::default());
        let (ready, bound) = tokio::sync::oneshot::channel();
        let server = tokio::spawn(serve(
            ready,
            port,
            Upstream::OriginalDst,
            delay,
            seed,
            counters.clone(),
            cancel.clone(),
        ));
        let port = bound
            .await
            .map_err(|_| "the proxy ended before listening".to_string())??;
        println!("{READY} on {port}");
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| e.to_string())?;
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        cancel.cancel();
        let _ = server.await;
        println!(
            "{COUNTERS} connections={} bytes_held={} failed_connects={}",
            counters.connections.load(Ordering::Relaxed),
            counters.bytes_held.load(Ordering::Relaxed),
            counters.failed_connects.load(Ordering::Relaxed)
        );
        Ok(())
    }
}

/// A thread of its own: `setns` changes the namespace of the calling thread only, so work in a
/// member's namespace never runs on a runtime's shared threads.
fn spawn(
    name: &str,
    f: impl FnOnce() + Send + 'static,
) -> Result<std::thread::JoinHandle<()>, FaultError> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .map_err(|e| FaultError::Command {
            line: name.into(),
            error: e.to_string(),
        })
}

/// What such a thread sends back, within `deadline`; `what` names it in errors.
async fn answer<T>(
    rx: tokio::sync::oneshot::Receiver<Result<T, String>>,
    deadline: Duration,
    what: String,
) -> Result<T, FaultError> {
    let failed = |error: String| FaultError::Command {
        line: what.clone(),
        error,
    };
    tokio::time::timeout(deadline, rx)
        .await
        .map_err(|_| failed(format!("no answer within {deadline:?}")))?
        .map_err(|_| failed("its thread ended without answering".into()))?
        .map_err(failed)
}

/// Blocking: `n` timed requests, the median.
fn time_requests(peer: SocketAddr, n: usize) -> Result<Duration, String> {
    use std::io::{Read, Write};
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let mut s = std::net::TcpStream::connect_timeout(&peer, CONNECT_DEADLINE)
            .map_err(|e| format!("connect: {e}"))?;
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        let _ = s.set_nodelay(true);
        let started = std::time::Instant::now();
        s.write_all(b"GET /version HTTP/1.0\r\n\r\n")
            .map_err(|e| format!("write: {e}"))?;
        let mut byte = [0u8; 1];
        match s.read(&mut byte) {
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err("no answer within 10s".into())
            }
            _ => times.push(started.elapsed()),
        }
    }
    times.sort();
    Ok(times[times.len() / 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server that answers every request line with "ok" and closes.
    async fn answering_server() -> SocketAddr {
        let l = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 64];
                    let _ = s.read(&mut buf).await;
                    let _ = s.write_all(b"ok").await;
                });
            }
        });
        addr
    }

    async fn timed_request(to: SocketAddr) -> (Duration, Vec<u8>) {
        let mut s = TcpStream::connect(to).await.unwrap();
        let t = std::time::Instant::now();
        s.write_all(b"ping\n").await.unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        (t.elapsed(), got)
    }

    #[tokio::test]
    async fn answers_come_back_late_by_the_delay_and_intact() {
        let server = answering_server().await;
        let (direct, _) = timed_request(server).await;
        let delay = Delay {
            base: Duration::from_millis(150),
            jitter: Duration::ZERO,
        };
        let proxy = Proxy::start(None, Upstream::Fixed(server), delay, 7)
            .await
            .unwrap();
        let via: SocketAddr = ([127, 0, 0, 1], proxy.port).into();
        let (slow, got) = timed_request(via).await;
        assert_eq!(got, b"ok");
        assert!(slow >= Duration::from_millis(150), "{slow:?}");
        assert!(slow < direct + Duration::from_millis(1000), "{slow:?}");
        assert_eq!(proxy.counters.connections.load(Ordering::Relaxed), 1);
        assert_eq!(proxy.counters.bytes_held.load(Ordering::Relaxed), 2);
        assert_eq!(
            proxy.counters.describe(),
            "the delay proxy carried 1 peer connection(s) and held back 2 bytes"
        );
        proxy.stop().await;
        assert!(
            TcpStream::connect(via).await.is_err(),
            "stopped proxy still listens"
        );
    }

    #[tokio::test]
    async fn a_peer_that_cannot_be_reached_is_counted() {
        // A port nothing listens on: bind, note it, close.
        let closed = TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        let delay = Delay {
            base: Duration::from_millis(10),
            jitter: Duration::ZERO,
        };
        let proxy = Proxy::start(None, Upstream::Fixed(closed), delay, 1)
            .await
            .unwrap();
        let mut s = TcpStream::connect(("127.0.0.1", proxy.port)).await.unwrap();
        let mut got = Vec::new();
        let _ = s.read_to_end(&mut got).await;
        assert!(got.is_empty());
        assert_eq!(proxy.counters.failed_connects.load(Ordering::Relaxed), 1);
        assert!(proxy
            .counters
            .describe()
            .ends_with("1 connection(s) to a peer could not be opened"));
    }

    #[tokio::test]
    async fn jitter_keeps_order_and_stays_within_its_bounds() {
        let delay = Delay {
            base: Duration::from_millis(50),
            jitter: Duration::from_millis(20),
        };
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let samples: Vec<Duration> = (0..1000).map(|_| delay.sample(&mut rng)).collect();
        assert!(samples.iter().all(|d| *d >= Duration::from_millis(30)));
        assert!(samples.iter().all(|d| *d <= Duration::from_millis(70)));
        assert!(samples.iter().any(|d| *d < Duration::from_millis(40)));
        assert!(samples.iter().any(|d| *d > Duration::from_millis(60)));

        // A stream of numbered lines through a jittery proxy arrives whole and in order.
        let l = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let server = l.local_addr().unwrap();
        let sent: Vec<u8> = (0..2000)
            .flat_map(|i| format!("{i}\n").into_bytes())
            .collect();
        let body = sent.clone();
        tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            for chunk in body.chunks(97) {
                s.write_all(chunk).await.unwrap();
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        });
        let proxy = Proxy::start(None, Upstream::Fixed(server), delay, 3)
            .await
            .unwrap();
        let mut s = TcpStream::connect(("127.0.0.1", proxy.port)).await.unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, sent);
    }

    #[test]
    fn the_redirect_rule_skips_the_proxys_own_packets() {
        let r = redirect_rule("-I", 41000).join(" ");
        assert_eq!(
            r,
            "iptables -t nat -I OUTPUT -p tcp --dport 2380 -m mark ! --mark 0x2380 -j REDIRECT --to-ports 41000"
        );
    }

    #[test]
    fn a_helpers_counters_line_reads_back() {
        let out = format!(
            "{READY} on 23800\n{COUNTERS} connections=2 bytes_held=1234 failed_connects=0\n"
        );
        let c = counters_from(&out).expect("counters");
        assert_eq!(
            c.describe(),
            "the delay proxy carried 2 peer connection(s) and held back 1234 bytes"
        );
        assert!(counters_from(&format!("{READY} on 23800\n")).is_none());
    }
}
