//! The background workload: sequenced puts (and, if the scenario asks, linearizable and
//! serializable gets) at a fixed rate through the whole drill. Every acknowledged put is kept
//! with its revision (RPO and durability), every operation with its latency (the timeline and
//! per-phase percentiles), and every linearizable answer is checked: its revision may not be
//! below one an earlier, completed operation already saw (outside a restore).

mod client;
mod compactor;
mod history;
mod traffic;
mod watcher;

pub use traffic::{key, LEASES_PREFIX, OBJECTS_PREFIX};

use crate::plan::WorkloadPlan;
use crate::record::{
    Ack, HistoryLine, HistoryOp, Op, OpKind, Outcome, Regression, Request, RestoreMark,
    RevisionsAcrossRestore, Window, WorkloadLog,
};
use etcd_client::Client;
use rand::SeedableRng;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

impl WorkloadLog {
    /// A linearizable operation succeeded (puts and linearizable gets decide availability).
    fn success(&mut self, op: Op) {
        self.attempts += 1;
        self.ops.push(op);
        // A serializable read can be served by a member cut off from the quorum: it says
        // nothing about whether the cluster is available; a lease step fails when its lease
        // expired, which says nothing either.
        if matches!(op.kind, OpKind::SerializableGet | OpKind::Lease) {
            return;
        }
        if let Some(w) = self.unavailability.last_mut().filter(|w| w.to_ms.is_none()) {
            w.to_ms = Some(op.at_ms);
        }
        self.last_success_ms = Some(op.at_ms);
    }

    fn ack(&mut self, op: Op, ack: Ack) {
        self.success(op);
        self.acknowledged += 1;
        self.acks.push(ack);
    }

    fn failure(&mut self, op: Op, kind: String) {
        self.attempts += 1;
        self.ops.push(op);
        *self.failures.entry(kind).or_default() += 1;
        if matches!(op.kind, OpKind::SerializableGet | OpKind::Lease) {
            return;
        }
        match self.unavailability.last_mut().filter(|w| w.to_ms.is_none()) {
            Some(w) => w.failed_writes += 1,
            None => self.unavailability.push(Window {
                from_ms: self.last_success_ms.unwrap_or(op.at_ms),
                to_ms: None,
                failed_writes: 1,
            }),
        }
    }
}

/// One client per member. Each worker sticks to one member and moves to the next when an
/// operation fails, as etcd's own client fails over.
pub type Clients = Vec<Client>;

/// What the workers share.
struct Shared {
    plan: WorkloadPlan,
    log: Mutex<WorkloadLog>,
    seq: AtomicU64,
    /// Highest revision of any completed linearizable operation in this epoch.
    completed: crate::checks::revision_order::RevisionFloor,
    /// A restore starts a new epoch: revisions may go back once.
    epoch: AtomicU64,
    /// The highest revision seen before the last restore, until the first linearizable answer
    /// after it is compared with it (0: nothing pending).
    before_restore: std::sync::atomic::AtomicI64,
    t0: Instant,
    /// Where every operation is recorded (`history.jsonl`), or why it cannot be.
    history: Result<history::HistoryWriter, String>,
    next_id: AtomicU64,
    /// Held by the compactor while it compacts, and by a step that reads the keyspace at a
    /// revision it chose: no compaction passes that revision while it reads.
    compaction: Arc<tokio::sync::Mutex<()>>,
}

/// The outcome's error of an operation still in flight when the workload stopped.
const STOPPED: &str = "workload stopped";

/// The snapshot a restore brought back: its revision and when it was cut (ms since the run's
/// start), so the history knows which cluster's writes it holds.
#[derive(Debug, Clone, Copy)]
pub struct Restored {
    pub revision: i64,
    pub cut_at_ms: u64,
}

pub struct Workload {
    shared: Arc<Shared>,
    clients: watch::Sender<Clients>,
    epoch: watch::Sender<u64>,
    watch_log: Arc<Mutex<crate::record::WatchLog>>,
    stop: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// (µs since the run's start, epoch) of each restore.
    marks: Mutex<Vec<(u64, u64)>>,
}

impl Workload {
    /// Starts `concurrency` workers at once. `t0` is the run's start, for timestamps.
    pub fn start(
        plan: WorkloadPlan,
        clients: Clients,
        t0: Instant,
        seed: u64,
        start_revision: i64,
        history: &std::path::Path,
    ) -> Workload {
        let (tx, rx) = watch::channel(clients);
        let (epoch, epoch_rx) = watch::channel(0u64);
        let stop = CancellationToken::new();
        let shared = Arc::new(Shared {
            plan: plan.clone(),
            log: Mutex::new(WorkloadLog::default()),
            seq: AtomicU64::new(0),
            completed: crate::checks::revision_order::RevisionFloor::default(),
            epoch: AtomicU64::new(0),
            before_restore: Default::default(),
            t0,
            history: history::HistoryWriter::create(history),
            next_id: AtomicU64::new(0),
            compaction: Arc::default(),
        });
        let mut tasks: Vec<_> = (0..plan.concurrency)
            .map(|w| {
                let rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed.wrapping_add(w as u64));
                tokio::spawn(worker(
                    shared.clone(),
                    rx.clone(),
                    stop.clone(),
                    rng,
                    w as usize,
                ))
            })
            .collect();
        let sink = shared.clone();
        let recording = Arc::new(watcher::Recording {
            send: Box::new(move |line| {
                if let Ok(h) = &sink.history {
                    h.send(line)
                }
            }),
            t0,
            prefixes: vec![
                plan.key_prefix.clone(),
                OBJECTS_PREFIX.into(),
                LEASES_PREFIX.into(),
            ],
        });
        let start = watcher::Start {
            revision: start_revision,
            pinned: None,
            streams_from: 0,
            compactions_expected: plan.compact_every.is_some(),
        };
        let (watch_log, watcher) = watcher::spawn(
            rx.clone(),
            epoch_rx.clone(),
            start,
            stop.clone(),
            recording.clone(),
        );
        tasks.push(watcher);
        if let Some(every) = plan.compact_every {
            let compactor = compactor::Compactor {
                s: shared.clone(),
                worker: plan.concurrency as usize,
                recording: recording.clone(),
            };
            tasks.push(tokio::spawn(compactor.run(rx.clone(), stop.clone(), every)));
        }
        // A watch on each member (from a future revision, or from the first): what it delivers is
        // in the history, checked there (the continuity log is the main watcher's).
        if let Some(ahead) = plan.future_watch {
            for member in 0..rx.borrow().len() {
                let start = watcher::Start {
                    revision: start_revision.saturating_add(ahead as i64),
                    pinned: Some(member),
                    streams_from: (member as u64 + 1) << 32,
                    compactions_expected: plan.compact_every.is_some(),
                };
                let (_, task) = watcher::spawn(
                    rx.clone(),
                    epoch_rx.clone(),
                    start,
                    stop.clone(),
                    recording.clone(),
                );
                tasks.push(task);
            }
        }
        Workload {
            shared,
            clients: tx,
            epoch,
            watch_log,
            stop,
            tasks,
            marks: Mutex::new(Vec::new()),
        }
    }

    /// Holds the workload's compactions (`compact-every`) while the guard lives: a step that
    /// reads the keyspace or hashes it at a revision it chose holds them, or a compaction
    /// past that revision fails its reads. Waits for a compaction being requested.
    pub async fn hold_compaction(&self) -> tokio::sync::OwnedMutexGuard<()> {
        self.shared.compaction.clone().lock_owned().await
    }

    /// Waits (at most `limit`) until the watcher has an answer from the current cluster, so
    /// what it saw across a restore is in the log before anyone reads it.
    pub async fn watch_caught_up(&self, limit: Duration) -> bool {
        let want = *self.epoch.borrow();
        let start = Instant::now();
        while start.elapsed() < limit {
            if self
                .watch_log
                .lock()
                .map(|w| w.epoch >= want)
                .unwrap_or(true)
            {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }

    /// The writes acknowledged since `since_ms` (ms since the run's start) at revisions above
    /// `above`: how many, and the highest revision among them.
    pub fn writes_above(&self, since_ms: u64, above: i64) -> (u64, i64) {
        let Ok(log) = self.shared.log.lock() else {
            return (0, 0);
        };
        log.acks
            .iter()
            .rev()
            .take_while(|a| a.at_ms >= since_ms)
            .filter(|a| a.revision > above)
            .fold((0, 0), |(n, top), a| (n + 1, top.max(a.revision)))
    }

    /// The highest revision the watcher has been delivered.
    pub fn watched_revision(&self) -> i64 {
        self.watch_log.lock().map(|w| w.last_revision).unwrap_or(0)
    }

    pub fn plan(&self) -> &WorkloadPlan {
        &self.shared.plan
    }

    /// Points the workers at the members' current endpoints (after a restart). `restored`: the
    /// cluster was restored from a snapshot, so revisions legitimately went back.
    pub fn set_clients(&self, clients: Clients, restored: Option<Restored>) {
        if let Some(r) = restored {
            let at_us = self.shared.t0.elapsed().as_micros() as u64;
            let from_epoch = self.epoch_at(r.cut_at_ms * 1000);
            let epoch = self.shared.epoch.fetch_add(1, Ordering::SeqCst) + 1;
            if let Ok(mut marks) = self.marks.lock() {
                marks.push((at_us, epoch));
            }
            if let Ok(h) = &self.shared.history {
                h.send(HistoryLine::Restore(RestoreMark {
                    at_us,
                    epoch,
                    revision: r.revision,
                    from_epoch,
                }));
            }
            let before = self.shared.completed.floor();
            self.shared.before_restore.store(before, Ordering::SeqCst);
            self.shared.completed.reset();
            self.epoch.send_modify(|e| *e += 1);
        }
        self.clients.send_replace(clients);
    }

    /// A copy of what has been recorded so far.
    pub fn log(&self) -> WorkloadLog {
        let mut log = self
            .shared
            .log
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default();
        log.watch = self.watch_log.lock().map(|w| w.clone()).unwrap_or_default();
        log
    }

    /// The epoch in effect at `us` (µs since the run's start).
    fn epoch_at(&self, us: u64) -> u64 {
        self.marks
            .lock()
            .map(|m| m.iter().filter(|(at, _)| *at <= us).map(|(_, e)| *e).max())
            .ok()
            .flatten()
            .unwrap_or(0)
    }

    /// Stops the workers and closes the history: what they recorded, and the history file
    /// (or why there is none) for the checker.
    pub async fn stop(mut self) -> (WorkloadLog, Result<std::path::PathBuf, String>) {
        self.stop.cancel();
        for t in std::mem::take(&mut self.tasks) {
            let _ = t.await;
        }
        let log = self.log();
        let shared = self.shared.clone();
        let history = tokio::task::spawn_blocking(move || match &shared.history {
            Ok(h) => h.finish().map(|_| h.path.clone()),
            Err(e) => Err(e.clone()),
        })
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r);
        (log, history)
    }
}

async fn worker(
    s: Arc<Shared>,
    rx: watch::Receiver<Clients>,
    stop: CancellationToken,
    rng: rand_chacha::ChaCha8Rng,
    index: usize,
) {
    let per_worker = s.plan.rate as f64 / s.plan.concurrency as f64;
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / per_worker));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut current = index;
    let mut traffic = traffic::Traffic::new(index, rng);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let clients = rx.borrow().clone();
        let member = current % clients.len().max(1);
        let Some(client) = clients.get(member).cloned() else {
            continue;
        };
        let (kind, request, seq) = traffic.next(&s.plan, &s.seq);
        // Read after the clients: an operation never goes to a restored cluster under the
        // epoch of the one before.
        let sent = Sent {
            worker: index,
            member,
            epoch: s.epoch.load(Ordering::SeqCst),
            floor: s.completed.floor(),
            call_us: s.t0.elapsed().as_micros() as u64,
            kind,
            seq,
        };
        let learn = |request: &Request, outcome: &Outcome| traffic.learn(request, outcome);
        match s.call(&sent, client, request, &stop, learn).await {
            None => return,
            // A failed operation moves the worker to the next member, as etcd's client fails
            // over.
            Some(false) => current += 1,
            Some(true) => {}
        }
    }
}

/// An operation as it was sent: by which worker, to which member, in which epoch, above
/// which revision floor, when.
struct Sent {
    worker: usize,
    member: usize,
    epoch: u64,
    /// The highest revision a completed linearizable operation had seen when this one left.
    floor: i64,
    call_us: u64,
    kind: OpKind,
    /// For a put of the sequence, its number.
    seq: Option<u64>,
}

impl Shared {
    /// Sends `request` through `client` under the workload's deadline and accounts for what
    /// came back (`seen` sees it first); whether it succeeded. `None` when `stop` came first:
    /// etcd may have applied the operation, or may yet (a delete the watch then delivers), so
    /// the history keeps it as indeterminate.
    async fn call(
        &self,
        sent: &Sent,
        client: etcd_client::Client,
        request: Request,
        stop: &CancellationToken,
        seen: impl FnOnce(&Request, &Outcome),
    ) -> Option<bool> {
        let started = Instant::now();
        let result = tokio::select! {
            _ = stop.cancelled() => {
                let stopped = Outcome::Unknown {
                    error: STOPPED.into(),
                };
                self.record(sent, request, stopped);
                return None;
            }
            r = tokio::time::timeout(self.plan.timeout, client::execute(client, &request)) => r,
        };
        let latency_us = started.elapsed().as_micros() as u64;
        let outcome = client::outcome(&result);
        seen(&request, &outcome);
        let failed = match &result {
            Ok(Ok(_)) => None,
            Ok(Err(e)) => Some(client::error_kind(e)),
            Err(_) => Some("timeout".to_string()),
        };
        Some(self.account(sent, request, outcome, latency_us, failed))
    }

    /// One operation into the history, returning now.
    fn record(&self, sent: &Sent, request: Request, outcome: Outcome) {
        if let Ok(h) = &self.history {
            h.send(HistoryLine::Op(HistoryOp {
                id: self.next_id.fetch_add(1, Ordering::SeqCst),
                client: sent.worker as u32,
                member: sent.member as u32,
                epoch: sent.epoch,
                call_us: sent.call_us,
                return_us: self.t0.elapsed().as_micros() as u64,
                request,
                outcome,
            }));
        }
    }

    /// Records an operation that returned: its history line, its latency and outcome in the
    /// log, and, when it succeeded, its revision against the order completed operations set
    /// (and, for a put, its acknowledgement). `failed`: its error's kind. Returns whether it
    /// succeeded.
    fn account(
        &self,
        sent: &Sent,
        request: Request,
        outcome: Outcome,
        latency_us: u64,
        failed: Option<String>,
    ) -> bool {
        let Ok(mut log) = self.log.lock() else {
            return false;
        };
        // Stamped under the lock, so the log's times never go backwards between workers.
        let op = Op {
            kind: sent.kind,
            at_ms: self.t0.elapsed().as_millis() as u64,
            latency_us,
            ok: failed.is_none(),
        };
        let established = crate::checks::revision_order::established(&request, &outcome);
        self.record(sent, request, outcome.clone());
        if let Some(why) = failed {
            log.failure(op, why);
            return false;
        }
        // Only a linearizable answer's revision is held to the order (a lease grant carries
        // none; a serializable read may lag; a pinned page reads the past).
        let revision = established.unwrap_or(0);
        let checked = established.is_some() && sent.epoch == self.epoch.load(Ordering::SeqCst);
        let before = if checked {
            self.before_restore.swap(0, Ordering::SeqCst)
        } else {
            0
        };
        if before > 0 {
            log.across_restores.push(RevisionsAcrossRestore {
                highest_before: before,
                first_after: revision,
            });
        }
        if checked && self.completed.complete(sent.floor, revision) {
            log.revision_regressions.push(Regression {
                at_ms: op.at_ms,
                kind: sent.kind,
                seen_before: sent.floor,
                got: revision,
            });
        }
        match sent.seq {
            Some(seq) => log.ack(
                op,
                Ack {
                    seq,
                    revision,
                    at_ms: op.at_ms,
                },
            ),
            None => log.success(op),
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Mix;

    fn op(at_ms: u64, ok: bool) -> Op {
        Op {
            kind: OpKind::Put,
            at_ms,
            latency_us: 1000,
            ok,
        }
    }

    #[test]
    fn a_window_opens_at_the_last_success_and_closes_at_the_next() {
        let mut l = WorkloadLog::default();
        l.ack(
            op(100, true),
            Ack {
                seq: 0,
                revision: 5,
                at_ms: 100,
            },
        );
        l.failure(op(700, false), "timeout".into());
        l.failure(op(1200, false), "timeout".into());
        l.ack(
            op(1500, true),
            Ack {
                seq: 3,
                revision: 6,
                at_ms: 1500,
            },
        );
        l.failure(op(2000, false), "transport".into());
        assert_eq!(
            l.unavailability,
            vec![
                Window {
                    from_ms: 100,
                    to_ms: Some(1500),
                    failed_writes: 2
                },
                Window {
                    from_ms: 1500,
                    to_ms: None,
                    failed_writes: 1
                },
            ]
        );
        assert_eq!(l.attempts, 5);
        assert_eq!(l.acknowledged, 2);
        assert_eq!(l.failures["timeout"], 2);
    }

    #[test]
    fn a_serializable_answer_during_an_outage_does_not_close_the_window() {
        let mut l = WorkloadLog::default();
        l.ack(
            op(100, true),
            Ack {
                seq: 0,
                revision: 5,
                at_ms: 100,
            },
        );
        l.failure(op(200, false), "timeout".into());
        l.success(Op {
            kind: OpKind::SerializableGet,
            at_ms: 300,
            latency_us: 1,
            ok: true,
        });
        l.failure(op(400, false), "timeout".into());
        l.ack(
            op(900, true),
            Ack {
                seq: 3,
                revision: 6,
                at_ms: 900,
            },
        );
        assert_eq!(
            l.unavailability,
            vec![Window {
                from_ms: 100,
                to_ms: Some(900),
                failed_writes: 2
            }]
        );
    }

    #[test]
    fn serializable_failures_do_not_open_windows() {
        let mut l = WorkloadLog::default();
        l.failure(
            Op {
                kind: OpKind::SerializableGet,
                at_ms: 5,
                latency_us: 1,
                ok: false,
            },
            "timeout".into(),
        );
        assert!(l.unavailability.is_empty());
    }

    /// etcd took the connection and never answered: every worker has an operation in flight
    /// when the workload stops, and the history keeps each as indeterminate. A delete dropped
    /// there is one the watch may still deliver, which the checker would call a phantom.
    #[tokio::test]
    async fn operations_in_flight_at_the_stop_stay_in_the_history() {
        let hung = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let url = format!("http://{}", hung.local_addr().unwrap());
        let held = tokio::spawn(async move {
            let mut conns = Vec::new();
            while let Ok((c, _)) = hung.accept().await {
                conns.push(c);
            }
        });
        let client = crate::cluster::connect_with(&[url], Duration::from_secs(60))
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.jsonl");
        let plan = WorkloadPlan {
            rate: 100,
            concurrency: 3,
            mix: Mix {
                delete: 1,
                ..Mix::profile("plain").unwrap()
            },
            read_range: 10,
            key_prefix: "/w/".into(),
            timeout: Duration::from_secs(60),
            profile: "plain".into(),
            objects: 4,
            future_watch: None,
            compact_every: None,
            compact_physical: true,
        };
        let w = Workload::start(plan, vec![client], Instant::now(), 7, 0, &path);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (log, _) = tokio::time::timeout(Duration::from_secs(10), w.stop())
            .await
            .expect("the stop waits for no operation");
        held.abort();
        assert!(log.ops.is_empty(), "no operation returned: {:?}", log.ops);
        let stopped: Vec<HistoryOp> = crate::checks::linearizable::read(&path)
            .unwrap()
            .into_iter()
            .filter_map(|l| match l {
                HistoryLine::Op(o) => Some(o),
                _ => None,
            })
            .collect();
        assert_eq!(stopped.len(), 3, "one per worker: {stopped:?}");
        for o in &stopped {
            assert_eq!(
                o.outcome,
                Outcome::Unknown {
                    error: STOPPED.into()
                }
            );
            assert!(o.call_us <= o.return_us);
        }
    }
}
