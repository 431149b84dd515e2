//! Watch continuity: a watcher on the whole keyspace, running through the drill, must see every
//! revision once, in order: no gap, no duplicate, never backwards. A restore to an older
//! revision is not a crash: it is reported as what a client sees (the cluster's revision went
//! back, and the revisions between it and what the client had seen are never delivered).

use etcd_client::{Client, WatchOptions};
use serde::Serialize;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Jump {
    pub from: i64,
    pub to: i64,
}

/// What a watching client saw when the cluster came back from a snapshot.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct RestoreView {
    /// The last revision the watcher had seen before the cluster went away.
    pub last_seen: i64,
    /// The revision the restored cluster reported when the watch resumed.
    pub cluster_revision: i64,
    /// New writes at revisions cluster_revision+1..=last_seen are never delivered to a client
    /// that resumes its watch where it left off.
    pub invisible_revisions: i64,
}

#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct WatchLog {
    pub events: u64,
    pub first_revision: Option<i64>,
    pub last_revision: i64,
    pub gaps: Vec<Jump>,
    pub backwards: Vec<Jump>,
    pub duplicates: u64,
    pub reconnects: u64,
    pub compacted: Vec<i64>,
    pub restores: Vec<RestoreView>,
    /// The cluster epoch (restores so far) the watcher last got an answer in.
    #[serde(skip)]
    pub epoch: u64,
    #[serde(skip)]
    keys_at_last: HashSet<Vec<u8>>,
}

impl WatchLog {
    /// One event, in the order the stream delivered it.
    pub fn observe(&mut self, revision: i64, key: &[u8]) {
        self.events += 1;
        self.first_revision.get_or_insert(revision);
        let last = self.last_revision;
        if revision < last {
            self.backwards.push(Jump {
                from: last,
                to: revision,
            });
        } else if revision == last {
            if !self.keys_at_last.insert(key.to_vec()) {
                self.duplicates += 1;
            }
        } else {
            if last > 0 && revision > last + 1 {
                self.gaps.push(Jump {
                    from: last,
                    to: revision,
                });
            }
            self.last_revision = revision;
            self.keys_at_last.clear();
            self.keys_at_last.insert(key.to_vec());
        }
    }

    /// The watch resumed on a restored cluster whose revision is `cluster_revision`.
    pub fn observe_restore(&mut self, cluster_revision: i64) {
        if cluster_revision < self.last_revision {
            self.restores.push(RestoreView {
                last_seen: self.last_revision,
                cluster_revision,
                invisible_revisions: self.last_revision - cluster_revision,
            });
        }
    }

    pub fn passed(&self) -> bool {
        self.gaps.is_empty() && self.backwards.is_empty() && self.duplicates == 0
    }
}

/// Runs a watcher on every key from `start_revision` until `stop`, following the current
/// clients; `epoch` changes when the cluster was restored.
pub fn spawn(
    clients: watch::Receiver<Vec<Client>>,
    epoch: watch::Receiver<u64>,
    start_revision: i64,
    stop: CancellationToken,
) -> (Arc<Mutex<WatchLog>>, tokio::task::JoinHandle<()>) {
    let log = Arc::new(Mutex::new(WatchLog::default()));
    let task = tokio::spawn(run(clients, epoch, start_revision, stop, log.clone()));
    (log, task)
}

async fn run(
    clients: watch::Receiver<Vec<Client>>,
    epoch: watch::Receiver<u64>,
    start_revision: i64,
    stop: CancellationToken,
    log: Arc<Mutex<WatchLog>>,
) {
    let mut next = start_revision;
    let mut member = 0usize;
    let mut seen_epoch = *epoch.borrow();
    loop {
        if stop.is_cancelled() {
            return;
        }
        let list = clients.borrow().clone();
        let Some(mut client) = list.get(member % list.len().max(1)).cloned() else {
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
            member += 1;
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let restored = *epoch.borrow() != seen_epoch;
        seen_epoch = *epoch.borrow();
        let mut first = true;
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
            l.epoch = seen_epoch;
            first = false;
            if resp.compact_revision() > 0 {
                l.compacted.push(resp.compact_revision());
            }
            for event in resp.events() {
                if let Some(kv) = event.kv() {
                    l.observe(kv.mod_revision(), kv.key());
                }
            }
            next = l.last_revision.max(next - 1) + 1;
            if resp.canceled() {
                break;
            }
        }
        if let Ok(mut l) = log.lock() {
            l.reconnects += 1;
        }
        member += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(events: &[(i64, &str)]) -> WatchLog {
        let mut l = WatchLog::default();
        for (r, k) in events {
            l.observe(*r, k.as_bytes());
        }
        l
    }

    #[test]
    fn a_clean_stream_with_transactions_passes() {
        let l = feed(&[(5, "a"), (6, "b"), (6, "c"), (7, "a")]);
        assert!(l.passed(), "{l:?}");
        assert_eq!(l.events, 4);
    }

    #[test]
    fn a_missing_revision_is_a_gap() {
        let l = feed(&[(5, "a"), (6, "b"), (8, "c")]);
        assert_eq!(l.gaps, vec![Jump { from: 6, to: 8 }]);
        assert!(!l.passed());
    }

    #[test]
    fn an_event_delivered_twice_is_a_duplicate() {
        let l = feed(&[(5, "a"), (6, "b"), (6, "b")]);
        assert_eq!(l.duplicates, 1);
        assert!(!l.passed());
    }

    #[test]
    fn going_back_is_caught() {
        let l = feed(&[(5, "a"), (6, "b"), (4, "c")]);
        assert_eq!(l.backwards, vec![Jump { from: 6, to: 4 }]);
        assert!(!l.passed());
    }

    #[test]
    fn a_restore_is_reported_not_failed() {
        let mut l = feed(&[(5, "a"), (6, "b"), (7, "c")]);
        l.observe_restore(4);
        assert_eq!(
            l.restores,
            vec![RestoreView {
                last_seen: 7,
                cluster_revision: 4,
                invisible_revisions: 3
            }]
        );
        l.observe(8, b"d");
        assert!(l.passed());
    }
}
