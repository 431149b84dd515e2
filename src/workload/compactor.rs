//! Compaction during traffic, where a watch is about to open: each round puts a key, deletes
//! it (revision D), compacts the history at D on one member (the delete is then the newest
//! revision unless the traffic wrote since), and opens a watch there from D. The writes are
//! operations of the history like any worker's; what the watch delivers is a stream of the
//! history opened from D, so the watch pass holds it to every write from D on, the delete at D
//! first (etcd#18089 dropped it). With `compact-physical: false` the round ends when etcd has
//! scheduled the compaction: the backend is compacted in the background, where a crash can
//! interrupt it (etcd#17780). A step that reads at a revision it chose holds the compactions
//! (`Workload::hold_compaction`) while it reads.

use super::{Sent, Shared};
use crate::record::{HistoryLine, OpKind, Outcome, Request, WatchDelivery};
use etcd_client::{Client, CompactionOptions, WatchOptions};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// The compactor's watch streams are numbered from here (the workload's watchers count from 0
/// and from each member's `(index + 1) << 32`).
const STREAMS_FROM: u64 = 1 << 48;
/// How long the watch opened at the compaction may wait for its first events.
const WATCH_FOR: Duration = Duration::from_secs(2);

pub(super) struct Compactor {
    pub s: Arc<Shared>,
    /// Its number among the workload's clients (after the workers).
    pub worker: usize,
    pub recording: Arc<super::watcher::Recording>,
}

impl Compactor {
    pub async fn run(
        self,
        clients: watch::Receiver<Vec<Client>>,
        stop: CancellationToken,
        every: Duration,
    ) {
        // The first round one period in, after the watchers have opened.
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        for round in 0u64.. {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            let list = clients.borrow().clone();
            let member = round as usize % list.len().max(1);
            let Some(client) = list.get(member).cloned() else {
                continue;
            };
            // A write in flight when the workload stops is recorded as the workers' are: the
            // round is not dropped mid-call.
            self.round(client, member, round, &stop).await;
            if stop.is_cancelled() {
                return;
            }
        }
    }

    /// One round; it ends early when a write or the compaction does not succeed.
    async fn round(&self, client: Client, member: usize, round: u64, stop: &CancellationToken) {
        let key = format!("{}compact/{round:08}", self.s.plan.key_prefix);
        let value = |n: u32| format!("compact-{round}-{n}");
        let put = |n| Request::Put {
            key: key.clone(),
            value: value(n),
            lease: None,
        };
        let requests = [
            (OpKind::Put, put(1)),
            (OpKind::Delete, Request::Delete { key: key.clone() }),
        ];
        let mut revisions = Vec::new();
        for (kind, request) in requests {
            match self.write(&client, member, kind, request, stop).await {
                Some(r) => revisions.push(r),
                None => return,
            }
        }
        let deleted_at = revisions[1];
        let physical = self.s.plan.compact_physical;
        let held = tokio::select! {
            _ = stop.cancelled() => return,
            held = self.s.compaction.lock() => held,
        };
        let mut c = client.clone();
        let compacted = tokio::time::timeout(
            self.s.plan.timeout.max(Duration::from_secs(2)),
            c.compact(
                deleted_at,
                physical.then(|| CompactionOptions::new().with_physical()),
            ),
        );
        // Without `physical` etcd answers once the compaction is scheduled: a watch opened now
        // would race the backend's compaction, so there is none.
        let compacted = tokio::select! {
            _ = stop.cancelled() => return,
            c = compacted => c,
        };
        drop(held);
        if !matches!(compacted, Ok(Ok(_))) || !physical {
            return;
        }
        tokio::select! {
            _ = stop.cancelled() => {}
            _ = self.watch_from(client, member, deleted_at) => {}
        }
    }

    /// A write of the round, recorded as the workers' are; its revision when acknowledged.
    async fn write(
        &self,
        client: &Client,
        member: usize,
        kind: OpKind,
        request: Request,
        stop: &CancellationToken,
    ) -> Option<i64> {
        let s = &self.s;
        let sent = Sent {
            worker: self.worker,
            member,
            epoch: s.epoch.load(Ordering::SeqCst),
            floor: s.completed.floor(),
            call_us: s.t0.elapsed().as_micros() as u64,
            kind,
            seq: None,
        };
        let mut revision = None;
        let seen = |_: &Request, outcome: &Outcome| {
            if let Outcome::Wrote { revision: r } = outcome {
                revision = Some(*r);
            }
        };
        let ok = s.call(&sent, client.clone(), request, stop, seen).await?;
        ok.then_some(revision).flatten()
    }

    /// A watch on every key from `from`, until its first answer with events (or its time runs
    /// out): the delete at `from` first, or whatever the traffic wrote since if it was dropped.
    /// What it delivered of the workload's keys goes to the history as one stream.
    async fn watch_from(&self, mut client: Client, member: usize, from: i64) {
        let stream = STREAMS_FROM + from as u64;
        let epoch = self.s.epoch.load(Ordering::SeqCst);
        let options = WatchOptions::new()
            .with_all_keys()
            .with_start_revision(from);
        let deadline = tokio::time::Instant::now() + WATCH_FOR;
        let opened = tokio::time::timeout_at(deadline, client.watch(vec![0u8], Some(options)));
        let Ok(Ok(mut answers)) = opened.await else {
            return;
        };
        let r = &self.recording;
        loop {
            let Ok(Ok(Some(resp))) = tokio::time::timeout_at(deadline, answers.message()).await
            else {
                return;
            };
            if resp.compact_revision() > 0 || resp.canceled() {
                return;
            }
            let mut events = Vec::new();
            let done = !resp.events().is_empty();
            for e in resp.events() {
                let Some(kv) = e.kv() else { continue };
                if r.prefixes
                    .iter()
                    .any(|p| kv.key().starts_with(p.as_bytes()))
                {
                    events.push(super::watcher::event_of(e.event_type(), kv));
                }
            }
            if !events.is_empty() {
                (r.send)(HistoryLine::Watch(WatchDelivery {
                    at_us: r.t0.elapsed().as_micros() as u64,
                    member: member as u32,
                    epoch,
                    stream,
                    from,
                    events,
                }));
            }
            if done {
                return;
            }
        }
    }
}
