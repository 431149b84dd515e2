//! The background workload: sequenced puts (and, if the scenario asks, linearizable and
//! serializable gets) at a fixed rate through the whole drill. Every acknowledged put is kept
//! with its revision (RPO and durability), every operation with its latency (the timeline and
//! per-phase percentiles), and every linearizable answer is checked: its revision may not be
//! below one an earlier, completed operation already saw (outside a restore).

mod history;
mod watcher;

use crate::plan::WorkloadPlan;
use crate::record::{
    Ack, HistoryLine, HistoryOp, Op, OpKind, Outcome, Regression, Request, RestoreMark,
    RevisionsAcrossRestore, Window, WorkloadLog,
};
use etcd_client::{Client, Compare, CompareOp, GetOptions, Txn, TxnOp, TxnOpResponse};
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
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
    /// Where every operation is recorded (`history.jsonl`), or why it cannot be.
    history: Result<history::HistoryWriter, String>,
    next_id: AtomicU64,
}

/// The objects updates, deletes and object reads share.
pub const OBJECTS_PREFIX: &str = "/drill/objects/";

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
        let recording = watcher::Recording {
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
        };
        let (watch_log, watcher) =
            watcher::spawn(rx, epoch_rx, start_revision, stop.clone(), recording);
        tasks.push(watcher);
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

fn pick(plan: &WorkloadPlan, rng: &mut impl Rng) -> OpKind {
    let m = &plan.mix;
    let weights = [
        (OpKind::Put, m.put),
        (OpKind::LinearizableGet, m.linearizable_get),
        (OpKind::SerializableGet, m.serializable_get),
        (OpKind::Update, m.update),
        (OpKind::Delete, m.delete),
        (OpKind::ObjectGet, m.object_get),
        (OpKind::Lease, m.lease),
        (OpKind::List, m.list),
    ];
    let total: u32 = weights.iter().map(|(_, w)| w).sum();
    let mut r = rng.random_range(0..total.max(1));
    for (kind, w) in weights {
        if r < w {
            return kind;
        }
        r -= w;
    }
    OpKind::Put
}

impl Shared {
    /// One operation into the history, returning now.
    fn record(
        &self,
        client: usize,
        member: usize,
        epoch: u64,
        call_us: u64,
        request: Request,
        outcome: Outcome,
    ) {
        if let Ok(h) = &self.history {
            h.send(HistoryLine::Op(HistoryOp {
                id: self.next_id.fetch_add(1, Ordering::SeqCst),
                client: client as u32,
                member: member as u32,
                epoch,
                call_us,
                return_us: self.t0.elapsed().as_micros() as u64,
                request,
                outcome,
            }));
        }
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
    // What this worker last saw of each object's mod_revision: an informer's cache.
    let mut cache: HashMap<String, i64> = HashMap::new();
    let mut written = 0u64;
    let mut lease = LeaseLife::default();
    // A list in progress: the first page's revision and where the next page starts.
    let mut listing: Option<(i64, String)> = None;
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
        let kind = pick(&s.plan, &mut rng);
        // Read after the clients: an operation never goes to a restored cluster under the
        // epoch of the one before.
        let epoch = s.epoch.load(Ordering::SeqCst);
        let floor = s.completed.floor();
        let (request, seq) = match kind {
            OpKind::Lease => (lease.next(index, &mut written, &mut rng), None),
            OpKind::List => (list_page(&listing), None),
            _ => request(&s, kind, &mut rng, index, &cache, &mut written),
        };
        let call_us = s.t0.elapsed().as_micros() as u64;
        let started = Instant::now();
        let result = tokio::select! {
            _ = stop.cancelled() => {
                // Stopped with this operation in flight: etcd may have applied it, or may yet
                // (a delete the watch then delivers), so the history keeps it as indeterminate.
                let stopped = Outcome::Unknown {
                    error: STOPPED.into(),
                };
                s.record(index, member, epoch, call_us, request, stopped);
                return;
            }
            r = tokio::time::timeout(s.plan.timeout, execute(client, &request)) => r,
        };
        let latency_us = started.elapsed().as_micros() as u64;
        let outcome = match &result {
            Ok(Ok(o)) => o.clone(),
            // etcd refused it (a lease that no longer exists): it did not happen.
            Ok(Err(e)) if error_kind(e) == "grpc NotFound" => Outcome::Failed {
                error: e.to_string(),
            },
            Ok(Err(e)) => Outcome::Unknown {
                error: error_kind(e),
            },
            Err(_) => Outcome::Unknown {
                error: "timeout".into(),
            },
        };
        remember(&mut cache, &request, &outcome);
        lease.learn(&request, &outcome);
        if let Request::List { .. } = request {
            listing = match &outcome {
                Outcome::Listed {
                    revision,
                    kvs,
                    more: true,
                } => kvs.last().map(|kv| (*revision, format!("{}\0", kv.key))),
                _ => None,
            };
        }
        let Ok(mut log) = s.log.lock() else { return };
        // Stamped under the lock, so the log's times never go backwards between workers.
        let op = Op {
            kind,
            at_ms: s.t0.elapsed().as_millis() as u64,
            latency_us,
            ok: matches!(result, Ok(Ok(_))),
        };
        let pinned = matches!(&request, Request::List { revision, .. } if *revision > 0);
        s.record(index, member, epoch, call_us, request, outcome.clone());
        match result {
            Ok(Ok(_)) => {
                // A lease grant carries no revision: nothing to compare.
                let (revision, has_revision) = match outcome {
                    Outcome::Wrote { revision } | Outcome::Read { revision, .. } => {
                        (revision, true)
                    }
                    // A pinned page's revision is in the past by design.
                    Outcome::Listed { revision, .. } if !pinned => (revision, true),
                    _ => (0, false),
                };
                let checked = has_revision
                    && kind != OpKind::SerializableGet
                    && epoch == s.epoch.load(Ordering::SeqCst);
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

/// The request of one operation of `kind`, and for a put of the sequence its number. Values are
/// unique (a worker's own counter), so a read tells which write it saw.
fn request(
    s: &Shared,
    kind: OpKind,
    rng: &mut rand_chacha::ChaCha8Rng,
    worker: usize,
    cache: &HashMap<String, i64>,
    written: &mut u64,
) -> (Request, Option<u64>) {
    let object = |rng: &mut rand_chacha::ChaCha8Rng| {
        format!(
            "{OBJECTS_PREFIX}{:03}",
            rng.random_range(0..s.plan.objects.max(1))
        )
    };
    let mut value = || {
        *written += 1;
        format!("w{worker}-{written}")
    };
    match kind {
        OpKind::Put => {
            let seq = s.seq.fetch_add(1, Ordering::SeqCst);
            (
                Request::Put {
                    key: key(&s.plan, seq),
                    value: seq.to_string(),
                    lease: None,
                },
                Some(seq),
            )
        }
        OpKind::LinearizableGet | OpKind::SerializableGet => {
            let written = s.seq.load(Ordering::SeqCst);
            let lo = written.saturating_sub(s.plan.read_range);
            let target = if written == 0 {
                0
            } else {
                rng.random_range(lo..written)
            };
            (
                Request::Get {
                    key: key(&s.plan, target),
                    serializable: kind == OpKind::SerializableGet,
                },
                None,
            )
        }
        OpKind::ObjectGet => (
            Request::Get {
                key: object(rng),
                serializable: false,
            },
            None,
        ),
        OpKind::Delete => (Request::Delete { key: object(rng) }, None),
        // Lease steps come from the worker's `LeaseLife`, list pages from its list.
        OpKind::Lease => (Request::LeaseGrant { ttl: LEASE_TTL }, None),
        OpKind::List => (list_page(&None), None),
        OpKind::Update => {
            let key = object(rng);
            let expect = cache.get(&key).copied().unwrap_or(0);
            (
                Request::Update {
                    key,
                    expect,
                    value: value(),
                },
                None,
            )
        }
    }
}

/// Keys a page of a list holds at most.
const PAGE: i64 = 5;

/// The next page of a list of the objects: the first (at the latest revision), or the one
/// after `listing`'s last key at its first page's revision.
fn list_page(listing: &Option<(i64, String)>) -> Request {
    let end = crate::keyspace::prefix_end(OBJECTS_PREFIX.as_bytes());
    let end = String::from_utf8_lossy(&end).into_owned();
    match listing {
        None => Request::List {
            start: OBJECTS_PREFIX.into(),
            end,
            limit: PAGE,
            revision: 0,
        },
        Some((revision, from)) => Request::List {
            start: from.clone(),
            end,
            limit: PAGE,
            revision: *revision,
        },
    }
}

/// Leases live this long unless revoked (etcd may grant more: its minimum is 1.5 election
/// timeouts).
const LEASE_TTL: i64 = 3;

/// Keys attached to leases live under this prefix.
pub const LEASES_PREFIX: &str = "/drill/leases/";

/// A worker's lease, step by step: grant, two puts attached to it, then, at random, a revoke,
/// a keep-alive, or nothing; then a read of one of its keys (gone after a revoke; there after a
/// keep-alive; maybe gone after the TTL) and a new grant. A lease kept alive or left alone
/// expires, which the watch delivers as deletes of its keys.
#[derive(Default)]
struct LeaseLife {
    lease: Option<i64>,
    keys: Vec<String>,
    read_next: Option<String>,
}

impl LeaseLife {
    fn next(&mut self, worker: usize, written: &mut u64, rng: &mut impl Rng) -> Request {
        if let Some(key) = self.read_next.take() {
            return Request::Get {
                key,
                serializable: false,
            };
        }
        match self.lease {
            None => Request::LeaseGrant { ttl: LEASE_TTL },
            Some(lease) if self.keys.len() < 2 => {
                *written += 1;
                let key = format!("{LEASES_PREFIX}w{worker}-{written}");
                self.keys.push(key.clone());
                Request::Put {
                    key,
                    value: format!("w{worker}-{written}"),
                    lease: Some(lease),
                }
            }
            Some(lease) => {
                self.lease = None;
                self.read_next = self.keys.first().cloned();
                match rng.random_range(0..3) {
                    0 => Request::LeaseRevoke { lease },
                    1 => Request::LeaseKeepAlive { lease },
                    // Left to expire: read its key now, while it should still be there.
                    _ => Request::Get {
                        key: self.read_next.take().unwrap_or_default(),
                        serializable: false,
                    },
                }
            }
        }
    }

    fn learn(&mut self, request: &Request, outcome: &Outcome) {
        match (request, outcome) {
            (Request::LeaseGrant { .. }, Outcome::Granted { lease, .. }) => {
                self.lease = Some(*lease);
                self.keys.clear();
            }
            // A put that failed: the lease may be gone; start again.
            (Request::Put { lease: Some(_), .. }, Outcome::Wrote { .. }) => {}
            (Request::Put { lease: Some(_), .. }, _) => self.lease = None,
            _ => {}
        }
    }
}

/// Keeps the worker's view of an object's mod_revision up to date with what it learned.
fn remember(cache: &mut HashMap<String, i64>, request: &Request, outcome: &Outcome) {
    if !request.key().starts_with(OBJECTS_PREFIX) {
        return;
    }
    let seen = match (request, outcome) {
        (Request::Delete { .. }, Outcome::Wrote { .. }) => 0,
        (_, Outcome::Wrote { revision }) => *revision,
        (_, Outcome::Read { mod_revision, .. }) => *mod_revision,
        _ => return,
    };
    cache.insert(request.key().to_string(), seen);
}

/// What the key held, from a range response.
fn read_of(revision: i64, kvs: &[etcd_client::KeyValue]) -> Outcome {
    let kv = kvs.first();
    Outcome::Read {
        revision,
        value: kv.map(|kv| String::from_utf8_lossy(kv.value()).into_owned()),
        mod_revision: kv.map(|kv| kv.mod_revision()).unwrap_or(0),
    }
}

/// Runs one request.
async fn execute(mut client: Client, request: &Request) -> Result<Outcome, etcd_client::Error> {
    let rev = |h: Option<&etcd_client::ResponseHeader>| h.map(|h| h.revision()).unwrap_or(0);
    Ok(match request {
        Request::Put { key, value, lease } => {
            let options = lease.map(|l| etcd_client::PutOptions::new().with_lease(l));
            let resp = client.put(key.as_str(), value.as_str(), options).await?;
            Outcome::Wrote {
                revision: rev(resp.header()),
            }
        }
        Request::List {
            start,
            end,
            limit,
            revision,
        } => {
            let mut options = GetOptions::new()
                .with_range(end.as_str())
                .with_limit(*limit);
            if *revision > 0 {
                options = options.with_revision(*revision);
            }
            let resp = client.get(start.as_str(), Some(options)).await?;
            Outcome::Listed {
                // A page at a pinned revision holds that revision's state (the header says
                // the store's current one).
                revision: if *revision > 0 {
                    *revision
                } else {
                    rev(resp.header())
                },
                kvs: resp
                    .kvs()
                    .iter()
                    .map(|kv| crate::record::ListedKv {
                        key: String::from_utf8_lossy(kv.key()).into_owned(),
                        value: String::from_utf8_lossy(kv.value()).into_owned(),
                        mod_revision: kv.mod_revision(),
                    })
                    .collect(),
                more: resp.more(),
            }
        }
        Request::LeaseGrant { ttl } => {
            let resp = client.lease_grant(*ttl, None).await?;
            Outcome::Granted {
                lease: resp.id(),
                ttl: resp.ttl(),
            }
        }
        Request::LeaseKeepAlive { lease } => {
            // Opening the stream sends one keep-alive and takes its answer, refusing a lease
            // that is gone; a second one brings the TTL it starts again from.
            let (mut keeper, mut answers) = match client.lease_keep_alive(*lease).await {
                Err(etcd_client::Error::LeaseKeepAliveError(e)) if e.contains("not found") => {
                    return Ok(Outcome::KeptAlive { ttl: 0 });
                }
                r => r?,
            };
            keeper.keep_alive().await?;
            match answers.message().await? {
                Some(resp) => Outcome::KeptAlive { ttl: resp.ttl() },
                None => Outcome::Unknown {
                    error: "keep-alive stream closed".into(),
                },
            }
        }
        Request::LeaseRevoke { lease } => {
            let resp = client.lease_revoke(*lease).await?;
            Outcome::Wrote {
                revision: rev(resp.header()),
            }
        }
        Request::Get { key, serializable } => {
            let options = serializable.then(|| GetOptions::new().with_serializable());
            let resp = client.get(key.as_str(), options).await?;
            read_of(rev(resp.header()), resp.kvs())
        }
        Request::Delete { key } => {
            let resp = client.delete(key.as_str(), None).await?;
            let revision = rev(resp.header());
            if resp.deleted() > 0 {
                Outcome::Wrote { revision }
            } else {
                read_of(revision, &[])
            }
        }
        Request::Update { key, expect, value } => {
            let txn = Txn::new()
                .when([Compare::mod_revision(
                    key.as_str(),
                    CompareOp::Equal,
                    *expect,
                )])
                .and_then([TxnOp::put(key.as_str(), value.as_str(), None)])
                .or_else([TxnOp::get(key.as_str(), None)]);
            let resp = client.txn(txn).await?;
            let revision = rev(resp.header());
            if resp.succeeded() {
                Outcome::Wrote { revision }
            } else {
                match resp.op_responses().into_iter().next() {
                    Some(TxnOpResponse::Get(g)) => read_of(revision, g.kvs()),
                    _ => read_of(revision, &[]),
                }
            }
        }
    })
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
