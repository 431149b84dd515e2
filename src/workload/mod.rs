//! The background workload: sequenced puts (and, if the scenario asks, linearizable and
//! serializable gets) at a fixed rate through the whole drill. Every acknowledged put is kept
//! with its revision (RPO and durability), every operation with its latency (the timeline and
//! per-phase percentiles), and every linearizable answer is checked: its revision may not be
//! below one an earlier, completed operation already saw (outside a restore).

mod watcher;

use crate::plan::WorkloadPlan;
use crate::record::{Ack, Op, OpKind, Regression, RevisionsAcrossRestore, Window, WorkloadLog};
use etcd_client::{Client, GetOptions};
use rand::{Rng, SeedableRng};
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
        // nothing about whether the cluster is available.
        if op.kind == OpKind::SerializableGet {
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
        if op.kind == OpKind::SerializableGet {
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

pub fn key(plan: &WorkloadPlan, seq: u64) -> String {
    format!("{}{seq:012}", plan.key_prefix)
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
}

pub struct Workload {
    shared: Arc<Shared>,
    clients: watch::Sender<Clients>,
    epoch: watch::Sender<u64>,
    watch_log: Arc<Mutex<crate::record::WatchLog>>,
    stop: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Workload {
    /// Starts `concurrency` workers at once. `t0` is the run's start, for timestamps.
    pub fn start(
        plan: WorkloadPlan,
        clients: Clients,
        t0: Instant,
        seed: u64,
        start_revision: i64,
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
        let (watch_log, watcher) = watcher::spawn(rx, epoch_rx, start_revision, stop.clone());
        tasks.push(watcher);
        Workload {
            shared,
            clients: tx,
            epoch,
            watch_log,
            stop,
            tasks,
        }
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

    pub fn plan(&self) -> &WorkloadPlan {
        &self.shared.plan
    }

    /// Points the workers at the members' current endpoints (after a restart). `restored`: the
    /// cluster was restored from a snapshot, so revisions legitimately went back.
    pub fn set_clients(&self, clients: Clients, restored: bool) {
        if restored {
            self.shared.epoch.fetch_add(1, Ordering::SeqCst);
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

    pub async fn stop(mut self) -> WorkloadLog {
        self.stop.cancel();
        for t in std::mem::take(&mut self.tasks) {
            let _ = t.await;
        }
        self.log()
    }
}

fn pick(plan: &WorkloadPlan, rng: &mut impl Rng) -> OpKind {
    let total = plan.mix.put + plan.mix.linearizable_get + plan.mix.serializable_get;
    let r = rng.random_range(0..total.max(1));
    if r < plan.mix.put {
        OpKind::Put
    } else if r < plan.mix.put + plan.mix.linearizable_get {
        OpKind::LinearizableGet
    } else {
        OpKind::SerializableGet
    }
}

async fn worker(
    s: Arc<Shared>,
    rx: watch::Receiver<Clients>,
    stop: CancellationToken,
    mut rng: rand_chacha::ChaCha8Rng,
    index: usize,
) {
    let per_worker = s.plan.rate as f64 / s.plan.concurrency as f64;
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / per_worker));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut current = index;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let clients = rx.borrow().clone();
        let Some(client) = clients.get(current % clients.len().max(1)).cloned() else {
            continue;
        };
        let kind = pick(&s.plan, &mut rng);
        let epoch = s.epoch.load(Ordering::SeqCst);
        let floor = s.completed.floor();
        let started = Instant::now();
        let result = tokio::select! {
            _ = stop.cancelled() => return,
            r = tokio::time::timeout(s.plan.timeout, run_op(&s, client, kind, &mut rng)) => r,
        };
        let latency_us = started.elapsed().as_micros() as u64;
        let Ok(mut log) = s.log.lock() else { return };
        // Stamped under the lock, so the log's times never go backwards between workers.
        let op = Op {
            kind,
            at_ms: s.t0.elapsed().as_millis() as u64,
            latency_us,
            ok: matches!(result, Ok(Ok(_))),
        };
        match result {
            Ok(Ok((revision, seq))) => {
                let checked =
                    kind != OpKind::SerializableGet && epoch == s.epoch.load(Ordering::SeqCst);
                let before = if checked {
                    s.before_restore.swap(0, Ordering::SeqCst)
                } else {
                    0
                };
                if before > 0 {
                    log.across_restores.push(RevisionsAcrossRestore {
                        highest_before: before,
                        first_after: revision,
                    });
                }
                if checked && s.completed.complete(floor, revision) {
                    log.revision_regressions.push(Regression {
                        at_ms: op.at_ms,
                        kind,
                        seen_before: floor,
                        got: revision,
                    });
                }
                match seq {
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
            }
            Ok(Err(e)) => {
                log.failure(op, error_kind(&e));
                current += 1;
            }
            Err(_) => {
                log.failure(op, "timeout".into());
                current += 1;
            }
        }
    }
}

/// Runs one operation; returns the revision it saw and, for a put, its sequence number.
async fn run_op(
    s: &Shared,
    mut client: Client,
    kind: OpKind,
    rng: &mut rand_chacha::ChaCha8Rng,
) -> Result<(i64, Option<u64>), etcd_client::Error> {
    match kind {
        OpKind::Put => {
            let seq = s.seq.fetch_add(1, Ordering::SeqCst);
            let resp = client.put(key(&s.plan, seq), seq.to_string(), None).await?;
            Ok((resp.header().map(|h| h.revision()).unwrap_or(0), Some(seq)))
        }
        OpKind::LinearizableGet | OpKind::SerializableGet => {
            let written = s.seq.load(Ordering::SeqCst);
            let lo = written.saturating_sub(s.plan.read_range);
            let target = if written == 0 {
                0
            } else {
                rng.random_range(lo..written)
            };
            let options =
                (kind == OpKind::SerializableGet).then(|| GetOptions::new().with_serializable());
            let resp = client.get(key(&s.plan, target), options).await?;
            Ok((resp.header().map(|h| h.revision()).unwrap_or(0), None))
        }
    }
}

/// A short, stable name for an error, to count failures by kind.
fn error_kind(e: &etcd_client::Error) -> String {
    match e {
        etcd_client::Error::GRpcStatus(s) => format!("grpc {:?}", s.code()),
        etcd_client::Error::TransportError(_) => "transport".into(),
        other => {
            let s = other.to_string();
            s.split(':').next().unwrap_or("error").to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
