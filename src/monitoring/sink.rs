//! The webhook receiver Alertmanager notifies: a thread of the harness inside Alertmanager's
//! network namespace, listening on its 127.0.0.1 (no address outside the container is used,
//! and nothing leaves the run's network). Each request is kept with when it arrived.

use super::config::SINK_PORT;
use super::Received;
use crate::events::Clock;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub struct Sink {
    received: Arc<Mutex<Vec<Received>>>,
    stop: CancellationToken,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sink {
    /// Listens in the network namespace of process `pid` (Alertmanager's).
    pub async fn start(pid: u32, clock: Clock) -> Result<Sink, String> {
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = CancellationToken::new();
        let (ready, listening) = tokio::sync::oneshot::channel::<Result<(), String>>();
        let (keep, cancel) = (received.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("etcd-drill-alert-sink".into())
            .spawn(move || {
                let rt = crate::sandbox::enter_netns(pid).and_then(|()| {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|e| e.to_string())
                });
                match rt {
                    Ok(rt) => rt.block_on(serve(ready, keep, clock, cancel)),
                    Err(e) => {
                        let _ = ready.send(Err(e));
                    }
                }
            })
            .map_err(|e| e.to_string())?;
        let sink = Sink {
            received,
            stop,
            thread: Some(thread),
        };
        match tokio::time::timeout(Duration::from_secs(10), listening).await {
            Ok(Ok(Ok(()))) => Ok(sink),
            Ok(Ok(Err(e))) => Err(format!("the alert receiver could not listen: {e}")),
            _ => Err("the alert receiver did not start within 10s".into()),
        }
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Stops listening; every notification received.
    pub async fn stop(mut self) -> Vec<Received> {
        self.stop.cancel();
        if let Some(t) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
        self.received()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn serve(
    ready: tokio::sync::oneshot::Sender<Result<(), String>>,
    keep: Arc<Mutex<Vec<Received>>>,
    clock: Clock,
    stop: CancellationToken,
) {
    let listener = match TcpListener::bind(("127.0.0.1", SINK_PORT)).await {
        Ok(l) => l,
        Err(e) => {
            let _ = ready.send(Err(e.to_string()));
            return;
        }
    };
    let _ = ready.send(Ok(()));
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => return,
            a = listener.accept() => a,
        };
        let Ok((stream, _)) = accepted else { continue };
        let (keep, stop) = (keep.clone(), stop.clone());
        tokio::spawn(async move {
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = connection(stream, keep, clock) => {}
            }
        });
    }
}

/// HTTP/1.1 requests on one connection, each answered 200 and its body kept.
async fn connection(
    stream: tokio::net::TcpStream,
    keep: Arc<Mutex<Vec<Received>>>,
    clock: Clock,
) -> std::io::Result<()> {
    let mut stream = BufReader::new(stream);
    loop {
        let mut length = 0usize;
        let mut line = String::new();
        loop {
            line.clear();
            if stream.read_line(&mut line).await? == 0 {
                return Ok(());
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((k, v)) = header.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0u8; length.min(16 << 20)];
        stream.read_exact(&mut body).await?;
        let at_ms = clock.ms();
        if let Ok(mut k) = keep.lock() {
            k.push(Received { at_ms, body });
        }
        stream
            .get_mut()
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            .await?;
    }
}
