//! The watching client: a watch on every key, through the whole drill, following the members
//! the workload follows and re-opening where it left off. What it sees goes to
//! `checks::watch`'s continuity check, and every delivered event to the history, where the
//! linearizability check compares it with the write at its revision.

use crate::record::{HistoryLine, WatchDelivery, WatchEvent, WatchLog};
use etcd_client::{Client, EventType, WatchOptions};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Where the watcher records what it was delivered: a line of the history, and the run's start
/// its times count from.
pub struct Recording {
    pub send: Box<dyn Fn(HistoryLine) + Send + Sync>,
    pub t0: Instant,
    /// Only events of keys under these prefixes (the workload's) are recorded.
    pub prefixes: Vec<String>,
}

/// Where a watcher starts and whom it asks.
#[derive(Debug, Clone, Copy)]
pub struct Start {
    pub revision: i64,
    /// The member (index of the clients) it stays on; none: it moves on to the next member
    /// when a stream ends.
    pub pinned: Option<usize>,
    /// Its streams are numbered from this + 1 (the history tells streams apart by number).
    pub streams_from: u64,
    /// The workload compacts during its traffic: a compaction notice is not a gap.
    pub compactions_expected: bool,
}

/// What the history keeps of a delivered event: the key, its revision, its value (none for a
/// delete).
pub(super) fn event_of(kind: EventType, kv: &etcd_client::KeyValue) -> WatchEvent {
    WatchEvent {
        key: String::from_utf8_lossy(kv.key()).into_owned(),
        revision: kv.mod_revision(),
        value: (kind == EventType::Put).then(|| String::from_utf8_lossy(kv.value()).into_owned()),
    }
}

/// Runs a watcher on every key from `start.revision` until `stop`, following the current
/// clients; `epoch` changes when the cluster was restored.
pub fn spawn(
    clients: watch::Receiver<Vec<Client>>,
    epoch: watch::Receiver<u64>,
    start: Start,
    stop: CancellationToken,
    recording: Arc<Recording>,
) -> (Arc<Mutex<WatchLog>>, tokio::task::JoinHandle<()>) {
    let log = Arc::new(Mutex::new(WatchLog {
        compactions_expected: start.compactions_expected,
        ..WatchLog::default()
    }));
    let task = tokio::spawn(run(clients, epoch, start, stop, log.clone(), recording));
    (log, task)
}

async fn run(
    clients: watch::Receiver<Vec<Client>>,
    epoch: watch::Receiver<u64>,
    start: Start,
    stop: CancellationToken,
    log: Arc<Mutex<WatchLog>>,
    recording: Arc<Recording>,
) {
    let mut next = start.revision;
    let mut member = start.pinned.unwrap_or(0);
    let mut seen_epoch = *epoch.borrow();
    let mut stream_no = start.streams_from;
    loop {
        if stop.is_cancelled() {
            return;
        }
        let list = clients.borrow().clone();
        let index = member % list.len().max(1);
        let Some(mut client) = list.get(index).cloned() else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let options = WatchOptions::new()
            .with_all_keys()
            .with_start_revision(next);
        let opened = tokio::select! {
            _ = stop.cancelled() => return,
            r = tokio::time::timeout(Duration::from_secs(2), client.watch(vec![0u8], Some(options))) => r,
        };
        let Ok(Ok(mut stream)) = opened else {
            member += usize::from(start.pinned.is_none());
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        // Until its first event, a watch reopened on a restored cluster is "just restored".
        let mut restored = *epoch.borrow() != seen_epoch;
        let mut first = true;
        seen_epoch = *epoch.borrow();
        stream_no += 1;
        let from = next;
        loop {
            let msg = tokio::select! {
                _ = stop.cancelled() => return,
                m = stream.message() => m,
            };
            let Ok(Some(resp)) = msg else { break };
            let Ok(mut l) = log.lock() else { return };
            if first && restored {
                l.observe_restore(resp.header().map(|h| h.revision()).unwrap_or(0));
            }
            first = false;
            l.epoch = seen_epoch;
            if resp.compact_revision() > 0 {
                // Re-list and watch on from the compaction, as Kubernetes' clients do.
                l.observe_compaction(resp.compact_revision(), restored);
                next = resp.compact_revision();
                break;
            }
            let mut delivered = Vec::with_capacity(resp.events().len());
            for event in resp.events() {
                if let Some(kv) = event.kv() {
                    l.observe(kv.mod_revision(), kv.key());
                    restored = false;
                    let ours = recording
                        .prefixes
                        .iter()
                        .any(|p| kv.key().starts_with(p.as_bytes()));
                    if !ours {
                        continue;
                    }
                    delivered.push(event_of(event.event_type(), kv));
                }
            }
            if !delivered.is_empty() {
                (recording.send)(HistoryLine::Watch(WatchDelivery {
                    at_us: recording.t0.elapsed().as_micros() as u64,
                    member: index as u32,
                    epoch: seen_epoch,
                    stream: stream_no,
                    from,
                    events: delivered,
                }));
            }
            next = l.last_revision.max(next - 1) + 1;
            if resp.canceled() {
                break;
            }
        }
        if let Ok(mut l) = log.lock() {
            l.reconnects += 1;
        }
        member += usize::from(start.pinned.is_none());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
