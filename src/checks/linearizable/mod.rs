//! Linearizability of the whole recorded client history, against etcd's key-value model with
//! revisions, across restores.
//!
//! etcd orders every write by its revision, and a read answers for one revision (its header's).
//! So instead of searching all orders as a generic checker (porcupine) must, this check takes
//! the order etcd itself reported and verifies it, which is exact and linear after a sort:
//! - **values**: every value read was written by some operation, at the `mod_revision` the
//!   read reports, and no value was written twice;
//! - **state**: a read at revision H sees, for its key, exactly the newest write at or below
//!   H (a compare-and-swap likewise finds the key at the revision it expected, or not);
//! - **real time**: there are points, one per operation and inside its call/return interval,
//!   that increase along the revision order (writes at their revision, linearizable reads just
//!   after the write of their revision). A greedy pass placing each point as early as
//!   possible finds them if they exist.
//!
//! Operations that timed out may or may not have happened: one that a read later observed is
//! placed at the revision it was observed at (with no return time); one nobody observed is left
//! out. Serializable reads are checked for state at their (possibly old) revision, not for real
//! time. At a restore, the new cluster starts from the restored snapshot's revision in the
//! epoch it was cut in: writes after that revision are rolled back (counted: the RPO), and a
//! read that sees one afterwards is a violation. The check has a time budget; a history it
//! cannot finish is "unknown", never a pass.

mod describe;
mod history;

use crate::record::{
    HistoryLine, HistoryOp, LeaseHistoryRecord, LinearizabilityRecord, LinearizableOutcome,
    Outcome, Request, RestoreMark, Violation, ViolationOp, WatchDelivery, WatchHistoryRecord,
};
use describe::{describe, describe_watch, event_text};
use history::{each_line, History};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// At most this many violations are kept.
const KEEP: usize = 20;

/// Reads `history.jsonl` and checks it within `budget`.
pub fn check_file(path: &std::path::Path, budget: Duration) -> LinearizabilityRecord {
    let started = Instant::now();
    // Each line goes straight to its kind's list: the file is never held twice.
    let mut history = History::default();
    match each_line(path, |l| history.push(l)) {
        Ok(()) => check_history(history, budget, started),
        Err(why) => LinearizabilityRecord::unknown(why),
    }
}

/// The lines of a history file; an unreadable line is an error naming it.
pub fn read(path: &std::path::Path) -> Result<Vec<HistoryLine>, String> {
    let mut out = Vec::new();
    each_line(path, |l| out.push(l))?;
    Ok(out)
}

/// A write placed in the order: a put (with its value) or a delete, at `rev` in `epoch`.
#[derive(Debug, Clone)]
struct Write {
    rev: i64,
    epoch: u64,
    op: usize,
    value: Option<String>,
}

/// What the history says of one lease.
#[derive(Debug, Default)]
struct LeaseFacts {
    /// The grant: (called at, TTL in seconds, epoch).
    granted: Option<(u64, i64, u64)>,
    /// Keep-alives answered with a TTL: (called at, TTL in seconds).
    renewed: Vec<(u64, i64)>,
    /// The first call of a revoke that was acknowledged or may have happened.
    revoke_call: Option<u64>,
    /// The first call of a revoke that timed out.
    unknown_revoke_call: Option<u64>,
}

impl LeaseFacts {
    /// The earliest the lease can have expired, as seen at `at_us`: its TTL counted from the
    /// grant's call or the latest keep-alive called before `at_us`, whichever is later.
    fn earliest_expiry(&self, at_us: u64) -> Option<u64> {
        let (call, ttl, _) = self.granted?;
        let end = |c: u64, ttl: i64| c + ttl.max(0) as u64 * 1_000_000;
        Some(
            self.renewed
                .iter()
                .filter(|(c, _)| *c < at_us)
                .map(|&(c, t)| end(c, t))
                .fold(end(call, ttl), u64::max),
        )
    }
}

/// Why a leased key may be gone without a delete in the history.
enum Gone {
    /// Its lease can have expired.
    Expired(i64),
    /// A revoke of it timed out, and may have happened.
    MaybeRevoked,
}

/// What one watch stream delivered.
struct Stream<'a> {
    epoch: u64,
    from: i64,
    last: i64,
    /// A delivery of the stream, to name in a violation.
    delivery: usize,
    delivered: HashSet<(i64, &'a str)>,
}

struct Checker<'a> {
    ops: &'a [HistoryOp],
    watches: &'a [WatchDelivery],
    /// Keys the workload's requests name: the only ones whose watch events are checked.
    keys: HashSet<&'a str>,
    leases: HashMap<i64, LeaseFacts>,
    /// Per key, the first call of a delete that timed out.
    unknown_deletes: HashMap<&'a str, u64>,
    /// Leases whose expiry the history shows.
    expired: HashSet<i64>,
    watch: WatchHistoryRecord,
    /// Per epoch after the first: (the epoch its snapshot was cut in, the snapshot's revision).
    base: HashMap<u64, (u64, i64)>,
    restore_at: HashMap<u64, u64>,
    /// Per key, per epoch: writes in revision order.
    writes: HashMap<&'a str, HashMap<u64, Vec<Write>>>,
    violations: Vec<Violation>,
    found: usize,
    started: Instant,
    budget: Duration,
}

/// Checks a history; see the module's documentation.
pub fn check(lines: Vec<HistoryLine>, budget: Duration) -> LinearizabilityRecord {
    let started = Instant::now();
    let mut history = History::default();
    for l in lines {
        history.push(l);
    }
    check_history(history, budget, started)
}

fn check_history(history: History, budget: Duration, started: Instant) -> LinearizabilityRecord {
    let History {
        ops,
        restores,
        watches,
    } = history;
    let mut unknown_deletes: HashMap<&str, u64> = HashMap::new();
    for o in &ops {
        if let (Request::Delete { key }, Outcome::Unknown { .. }) = (&o.request, &o.outcome) {
            let first = unknown_deletes.entry(key).or_insert(o.call_us);
            *first = (*first).min(o.call_us);
        }
    }
    let mut c = Checker {
        ops: &ops,
        watches: &watches,
        keys: ops
            .iter()
            .filter(|o| !matches!(o.request, Request::List { .. }))
            .map(|o| o.request.key())
            .filter(|k| !k.is_empty())
            .collect(),
        leases: lease_facts(&ops),
        unknown_deletes,
        expired: HashSet::new(),
        watch: WatchHistoryRecord::default(),
        base: restores
            .iter()
            .map(|r| (r.epoch, (r.from_epoch, r.revision)))
            .collect(),
        restore_at: restores.iter().map(|r| (r.epoch, r.at_us)).collect(),
        writes: HashMap::new(),
        violations: Vec::new(),
        found: 0,
        started,
        budget,
    };
    let across = |o: &HistoryOp| {
        restores
            .iter()
            .any(|r| r.at_us > o.call_us && r.at_us <= o.return_us && r.epoch > o.epoch)
    };
    let across_restore = ops.iter().filter(|o| across(o)).count() as u64;
    let indeterminate = ops
        .iter()
        .filter(|o| matches!(o.outcome, Outcome::Unknown { .. }))
        .count() as u64;
    let checked = ops
        .iter()
        .filter(|o| {
            !across(o)
                && matches!(
                    o.outcome,
                    Outcome::Wrote { .. } | Outcome::Read { .. } | Outcome::Listed { .. }
                )
        })
        .count() as u64;
    let outcome = match c.run(&across) {
        Err(why) => LinearizableOutcome::Unknown { why },
        Ok(()) if c.found == 0 => LinearizableOutcome::Linearizable,
        Ok(()) => LinearizableOutcome::Violated,
    };
    let (rolled_back, rolled_back_writes) = c.rolled_back(&restores);
    let leases = c.lease_record();
    LinearizabilityRecord {
        outcome,
        operations: ops.len() as u64,
        checked,
        indeterminate,
        across_restore,
        rolled_back,
        rolled_back_writes,
        violations_found: c.found as u64,
        violations: c.violations,
        watch: c.watch,
        leases,
        elapsed_ms: started.elapsed().as_millis() as u64,
    }
}

/// Each lease's grant, keep-alives and revokes.
fn lease_facts(ops: &[HistoryOp]) -> HashMap<i64, LeaseFacts> {
    let mut facts: HashMap<i64, LeaseFacts> = HashMap::new();
    for o in ops {
        match (&o.request, &o.outcome) {
            (Request::LeaseGrant { .. }, Outcome::Granted { lease, ttl }) => {
                facts.entry(*lease).or_default().granted = Some((o.call_us, *ttl, o.epoch));
            }
            (Request::LeaseKeepAlive { lease }, Outcome::KeptAlive { ttl }) if *ttl > 0 => {
                facts
                    .entry(*lease)
                    .or_default()
                    .renewed
                    .push((o.call_us, *ttl));
            }
            (Request::LeaseRevoke { lease }, outcome) => {
                let f = facts.entry(*lease).or_default();
                let first = |at: Option<u64>| Some(at.map_or(o.call_us, |a| a.min(o.call_us)));
                match outcome {
                    Outcome::Wrote { .. } => f.revoke_call = first(f.revoke_call),
                    Outcome::Unknown { .. } => {
                        f.revoke_call = first(f.revoke_call);
                        f.unknown_revoke_call = first(f.unknown_revoke_call);
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    facts
}

impl<'a> Checker<'a> {
    fn violation(&mut self, kind: &str, key: &str, why: String, ops: &[usize]) {
        self.violation_seen(kind, key, why, ops, None);
    }

    /// A violation that a watch delivery (`seen`: the delivery, what it delivered) takes part in.
    fn violation_seen(
        &mut self,
        kind: &str,
        key: &str,
        why: String,
        ops: &[usize],
        seen: Option<(usize, String)>,
    ) {
        self.found += 1;
        if self.violations.len() < KEEP {
            let mut described: Vec<ViolationOp> =
                ops.iter().map(|i| describe(&self.ops[*i])).collect();
            described.extend(seen.map(|(d, what)| describe_watch(&self.watches[d], &what)));
            self.violations.push(Violation {
                kind: kind.into(),
                key: key.into(),
                why,
                ops: described,
            });
        }
    }

    fn in_budget(&self, done: usize) -> Result<(), String> {
        if done % 1024 == 0 && self.started.elapsed() > self.budget {
            return Err(format!(
                "the check did not finish within {:?} ({done} of {} operations)",
                self.budget,
                self.ops.len()
            ));
        }
        Ok(())
    }

    fn run(&mut self, across: &dyn Fn(&HistoryOp) -> bool) -> Result<(), String> {
        self.place_writes()?;
        self.check_state(across)?;
        self.check_keep_alives();
        self.check_watch()?;
        self.check_real_time(across)
    }

    /// Every write with a known revision, per key and epoch; values checked on the way.
    fn place_writes(&mut self) -> Result<(), String> {
        let ops = self.ops;
        // Who wrote each value, and at which mod_revision reads saw it.
        let mut writer: HashMap<(&str, &str), usize> = HashMap::new();
        for (i, o) in ops.iter().enumerate() {
            if let Some(v) = o.request.value() {
                if let Some(first) = writer.insert((o.request.key(), v), i) {
                    self.violation(
                        "duplicated-write",
                        o.request.key(),
                        format!("two operations wrote the same value {v:?}"),
                        &[first, i],
                    );
                }
            }
        }
        let mut seen_at: HashMap<(&str, &str), (i64, usize)> = HashMap::new();
        // Every (key, value, mod_revision) an operation read: gets, failed compares, lists.
        let seen = ops.iter().enumerate().flat_map(|(i, o)| {
            let one: Vec<(usize, &str, &String, &i64)> = match &o.outcome {
                Outcome::Read {
                    value: Some(v),
                    mod_revision,
                    ..
                } => vec![(i, o.request.key(), v, mod_revision)],
                Outcome::Listed { kvs, .. } => kvs
                    .iter()
                    .map(|kv| (i, kv.key.as_str(), &kv.value, &kv.mod_revision))
                    .collect(),
                _ => Vec::new(),
            };
            one
        });
        for (n, (i, key, v, mod_revision)) in seen.enumerate() {
            self.in_budget(n)?;
            let Some(&w) = writer.get(&(key, v.as_str())) else {
                self.violation(
                    "unwritten-value",
                    key,
                    format!("read {v:?}, which no operation wrote"),
                    &[i],
                );
                continue;
            };
            match seen_at.get(&(key, v.as_str())) {
                Some((m, j)) if m != mod_revision => {
                    let j = *j;
                    self.violation(
                        "duplicated-write",
                        key,
                        format!("{v:?} was seen at mod_revision {m} and at {mod_revision}: written twice"),
                        &[w, j, i],
                    );
                }
                Some(_) => {}
                None => {
                    seen_at.insert((key, v.as_str()), (*mod_revision, i));
                }
            }
            match &ops[w].outcome {
                Outcome::Wrote { revision } if revision != mod_revision => self.violation(
                    "duplicated-write",
                    key,
                    format!("{v:?} was written at revision {revision} but read at mod_revision {mod_revision}"),
                    &[w, i],
                ),
                Outcome::Failed { .. } => self.violation(
                    "failed-write-took-effect",
                    key,
                    format!("{v:?} was read although its write was refused"),
                    &[w, i],
                ),
                _ => {}
            }
        }
        // What the watch delivered of the workload's keys is observed too: a put event names
        // the write of its value, at its revision.
        let watches = self.watches;
        for (d, delivery) in watches.iter().enumerate() {
            self.in_budget(d)?;
            for e in &delivery.events {
                let (Some(v), true) = (&e.value, self.keys.contains(e.key.as_str())) else {
                    continue;
                };
                let key = e.key.as_str();
                let seen = Some((d, event_text(e)));
                let Some(&w) = writer.get(&(key, v.as_str())) else {
                    self.violation_seen(
                        "unwritten-value",
                        key,
                        format!("the watch delivered {v:?}, which no operation wrote"),
                        &[],
                        seen,
                    );
                    continue;
                };
                match seen_at.get(&(key, v.as_str())) {
                    Some((m, j)) if *m != e.revision => {
                        let j = *j;
                        self.violation_seen(
                            "duplicated-write",
                            key,
                            format!("{v:?} was read at mod_revision {m} and delivered by the watch at {}: written twice", e.revision),
                            &[w, j],
                            seen,
                        );
                        continue;
                    }
                    Some(_) => {}
                    None => {
                        seen_at.insert((key, v.as_str()), (e.revision, w));
                    }
                }
                match &ops[w].outcome {
                    Outcome::Wrote { revision } if *revision != e.revision => self.violation_seen(
                        "duplicated-write",
                        key,
                        format!("{v:?} was written at revision {revision} but the watch delivered it at {}", e.revision),
                        &[w],
                        seen,
                    ),
                    Outcome::Failed { .. } => self.violation_seen(
                        "failed-write-took-effect",
                        key,
                        format!("the watch delivered {v:?} although its write was refused"),
                        &[w],
                        seen,
                    ),
                    _ => {}
                }
            }
        }
        for (i, o) in ops.iter().enumerate() {
            if matches!(
                o.request,
                Request::LeaseGrant { .. }
                    | Request::LeaseRevoke { .. }
                    | Request::LeaseKeepAlive { .. }
            ) {
                // A revoke writes the deletes of its keys (`revoke_deletes`), nothing of its own.
                continue;
            }
            let rev = match (&o.outcome, o.request.value()) {
                (Outcome::Wrote { revision }, _) => *revision,
                // A write that may have happened, and did: a read saw its value.
                (Outcome::Unknown { .. }, Some(v)) => match seen_at.get(&(o.request.key(), v)) {
                    Some((m, _)) => *m,
                    None => continue,
                },
                _ => continue,
            };
            self.writes
                .entry(o.request.key())
                .or_default()
                .entry(o.epoch)
                .or_default()
                .push(Write {
                    rev,
                    epoch: o.epoch,
                    op: i,
                    value: o.request.value().map(str::to_string),
                });
        }
        self.revoke_deletes();
        let mut twice = Vec::new();
        for (key, epochs) in &mut self.writes {
            for list in epochs.values_mut() {
                list.sort_by_key(|w| w.rev);
                for pair in list.windows(2) {
                    if pair[0].rev == pair[1].rev {
                        twice.push((key.to_string(), pair[0].rev, pair[0].op, pair[1].op));
                    }
                }
            }
        }
        for (key, rev, a, b) in twice {
            self.violation(
                "duplicated-write",
                &key,
                format!("two writes of this key at revision {rev}"),
                &[a, b],
            );
        }
        Ok(())
    }

    /// A revoke that took effect at revision r deletes, at r, every key whose newest write
    /// before r is a put attached to that lease.
    fn revoke_deletes(&mut self) {
        let ops = self.ops;
        for list in self.writes.values_mut().flat_map(|per| per.values_mut()) {
            list.sort_by_key(|w| w.rev);
        }
        let mut added = Vec::new();
        for (i, o) in ops.iter().enumerate() {
            let (Request::LeaseRevoke { lease }, Outcome::Wrote { revision }) =
                (&o.request, &o.outcome)
            else {
                continue;
            };
            let mut keys: Vec<&str> = ops
                .iter()
                .filter(|p| matches!(p.request, Request::Put { lease: Some(l), .. } if l == *lease))
                .map(|p| p.request.key())
                .collect();
            keys.sort_unstable();
            keys.dedup();
            for key in keys {
                let attached = self.latest(key, o.epoch, revision - 1).is_some_and(|w| {
                    matches!(ops[w.op].request, Request::Put { lease: Some(l), .. } if l == *lease)
                });
                if attached {
                    added.push((
                        key,
                        Write {
                            rev: *revision,
                            epoch: o.epoch,
                            op: i,
                            value: None,
                        },
                    ));
                }
            }
        }
        for (key, w) in added {
            let list = self
                .writes
                .entry(key)
                .or_default()
                .entry(w.epoch)
                .or_default();
            list.push(w);
            list.sort_by_key(|w| w.rev);
        }
    }

    /// Whether the key of this put may be gone at `at_us` without a delete the history
    /// places: its lease can have expired (its TTL counted from the grant or the latest
    /// keep-alive), or a revoke of it that timed out may have happened.
    fn lease_may_be_gone(&self, put: usize, at_us: u64) -> Option<Gone> {
        let Request::Put {
            lease: Some(lease), ..
        } = self.ops[put].request
        else {
            return None;
        };
        let facts = self.leases.get(&lease)?;
        if facts.unknown_revoke_call.is_some_and(|c| c < at_us) {
            return Some(Gone::MaybeRevoked);
        }
        facts
            .earliest_expiry(at_us)
            .filter(|t| *t <= at_us)
            .map(|_| Gone::Expired(lease))
    }

    /// The newest write of `key` at or below `rev` that the cluster of `epoch` holds: its own,
    /// else what the restored snapshot carried over from the epoch it was cut in.
    fn latest(&self, key: &str, epoch: u64, rev: i64) -> Option<&Write> {
        let per = self.writes.get(key)?;
        let (mut e, mut bound) = (epoch, rev);
        loop {
            if let Some(list) = per.get(&e) {
                let n = list.partition_point(|w| w.rev <= bound);
                if n > 0 {
                    return Some(&list[n - 1]);
                }
            }
            let (from, s) = *self.base.get(&e)?;
            e = from;
            bound = bound.min(s);
        }
    }

    /// Reads see the newest write at their revision; a compare-and-swap finds what it expected.
    fn check_state(&mut self, across: &dyn Fn(&HistoryOp) -> bool) -> Result<(), String> {
        let ops = self.ops;
        for (i, o) in ops.iter().enumerate() {
            self.in_budget(i)?;
            if across(o) {
                continue;
            }
            let key = o.request.key();
            match (&o.request, &o.outcome) {
                (
                    _,
                    Outcome::Read {
                        revision,
                        value,
                        mod_revision,
                    },
                ) => {
                    self.check_read(i, key, *revision, value.as_deref(), *mod_revision);
                    if let Request::Update { expect, .. } = &o.request {
                        if expect == mod_revision {
                            self.violation(
                                "compare-and-swap",
                                key,
                                format!("the compare failed although the key was at mod_revision {expect}, as expected"),
                                &[i],
                            );
                        }
                    }
                }
                (
                    Request::List { start, end, .. },
                    Outcome::Listed {
                        revision,
                        kvs,
                        more,
                    },
                ) => {
                    for kv in kvs {
                        self.check_read(i, &kv.key, *revision, Some(&kv.value), kv.mod_revision);
                    }
                    // Keys of the history inside the page's range but not listed were absent.
                    let covered_to = match (more, kvs.last()) {
                        (true, Some(last)) => last.key.as_str(),
                        _ => end.as_str(),
                    };
                    let listed: std::collections::HashSet<&str> =
                        kvs.iter().map(|kv| kv.key.as_str()).collect();
                    let mut absent: Vec<&str> = self
                        .writes
                        .keys()
                        .copied()
                        .filter(|k| {
                            *k >= start.as_str()
                                && (*k < covered_to || (*more && *k == covered_to))
                                && !listed.contains(k)
                        })
                        .collect();
                    absent.sort_unstable();
                    for k in absent {
                        self.check_read(i, k, *revision, None, 0);
                    }
                }
                (Request::Update { expect, .. }, Outcome::Wrote { revision }) => {
                    let before = self.latest(key, o.epoch, revision - 1).cloned();
                    let had = match &before {
                        Some(w) if w.value.is_some() => w.rev,
                        _ => 0,
                    };
                    // Created over a key a timed-out delete may have removed: allowed.
                    let maybe_deleted =
                        *expect == 0 && had != 0 && self.unknown_delete_by(key, o.return_us);
                    if had != *expect && !maybe_deleted {
                        let mut involved = vec![i];
                        involved.extend(before.as_ref().map(|w| w.op));
                        self.violation(
                            "compare-and-swap",
                            key,
                            format!("succeeded expecting mod_revision {expect}, but the key was at {had} before revision {revision}"),
                            &involved,
                        );
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn check_read(&mut self, i: usize, key: &str, h: i64, value: Option<&str>, m: i64) {
        let o = &self.ops[i];
        let expected = self.latest(key, o.epoch, h).cloned();
        let ok = match (&expected, value) {
            (Some(w), Some(v)) => w.value.as_deref() == Some(v) && w.rev == m,
            (Some(w), None) => w.value.is_none(),
            (None, None) => true,
            (None, Some(_)) => false,
        };
        if ok {
            return;
        }
        // A leased key read as gone: its lease may have expired (or a timed-out revoke done it).
        if let (Some(w), None) = (&expected, value) {
            if w.value.is_some() {
                match self.lease_may_be_gone(w.op, o.return_us) {
                    Some(Gone::Expired(lease)) => {
                        self.expired.insert(lease);
                        return;
                    }
                    Some(Gone::MaybeRevoked) => return,
                    None => {}
                }
            }
        }
        // What it saw, if a write of this history made it.
        let observed = value.and_then(|v| {
            self.writes.get(key).and_then(|per| {
                per.values()
                    .flatten()
                    .find(|w| w.value.as_deref() == Some(v))
                    .cloned()
            })
        });
        let mut involved = vec![i];
        involved.extend(expected.as_ref().map(|w| w.op));
        involved.extend(observed.as_ref().map(|w| w.op));
        involved.dedup();
        let rolled_back = observed.as_ref().is_some_and(|w| {
            w.epoch != o.epoch
                && self
                    .latest(key, o.epoch, w.rev)
                    .is_none_or(|l| l.op != w.op)
        });
        let revoked = expected.as_ref().is_some_and(|w| {
            w.value.is_none() && matches!(self.ops[w.op].request, Request::LeaseRevoke { .. })
        }) && value.is_some();
        let (kind, why) = if revoked {
            (
                "revoked-lease-key-read",
                format!("at revision {h} the key's lease was revoked (its key deleted), but the read still saw it"),
            )
        } else if rolled_back {
            (
                "rolled-back-read",
                "read a write that the restore rolled back".to_string(),
            )
        } else if let Some(w) = expected
            .as_ref()
            .filter(|w| observed.as_ref().is_none_or(|x| x.rev < w.rev))
        {
            let acked = matches!(self.ops[w.op].outcome, Outcome::Wrote { .. });
            (
                if acked { "lost-write" } else { "stale-read" },
                format!(
                    "at revision {h} the key's newest write is revision {}, but the read saw {}",
                    w.rev,
                    match value {
                        Some(_) => format!("mod_revision {m}"),
                        None => "nothing".into(),
                    }
                ),
            )
        } else {
            (
                "stale-read",
                format!(
                    "at revision {h} the key held {}, but the read saw mod_revision {m}",
                    match &expected {
                        Some(w) => format!("revision {}", w.rev),
                        None => "nothing".into(),
                    }
                ),
            )
        };
        // A read of nothing may be a delete that timed out but happened.
        if value.is_none() && self.unknown_delete_by(key, o.return_us) {
            return;
        }
        self.violation(kind, key, why, &involved);
    }

    /// A delete of `key` that timed out was called before `at_us`.
    fn unknown_delete_by(&self, key: &str, at_us: u64) -> bool {
        self.unknown_deletes.get(key).is_some_and(|c| *c < at_us)
    }

    /// A keep-alive that found its lease gone: the lease expired, which may not happen before
    /// its TTL has run from the grant or the last keep-alive (in the cluster that granted it).
    fn check_keep_alives(&mut self) {
        let ops = self.ops;
        for (i, o) in ops.iter().enumerate() {
            let (Request::LeaseKeepAlive { lease }, Outcome::KeptAlive { ttl: 0 }) =
                (&o.request, &o.outcome)
            else {
                continue;
            };
            let Some(facts) = self.leases.get(lease) else {
                continue;
            };
            if facts.revoke_call.is_some_and(|c| c < o.return_us) {
                continue;
            }
            let Some((grant_call, _, epoch)) = facts.granted else {
                continue;
            };
            match facts.earliest_expiry(o.call_us) {
                Some(t) if t > o.return_us && epoch == o.epoch => {
                    let grant = ops.iter().position(|g| {
                        matches!(g.outcome, Outcome::Granted { lease: l, .. } if l == *lease)
                            && g.call_us == grant_call
                    });
                    let mut involved: Vec<usize> = grant.into_iter().collect();
                    involved.push(i);
                    self.violation(
                        "lease-expired-early",
                        "",
                        format!(
                            "lease {lease:x} was gone {} ms before its TTL could run out",
                            (t - o.return_us) / 1000
                        ),
                        &involved,
                    );
                }
                _ => {
                    self.expired.insert(*lease);
                }
            }
        }
    }

    /// What the watch delivered of the workload's keys: each event is the write the order
    /// holds at its revision (its value, or a delete), arrives after that write was called,
    /// in revision order; a stream misses none of the history's writes between the revision
    /// it was opened from and the last it delivered. A delete the history does not hold is a
    /// lease that expired (never before its TTL) or a delete that timed out.
    fn check_watch(&mut self) -> Result<(), String> {
        let (ops, watches) = (self.ops, self.watches);
        let mut streams: HashMap<u64, Stream<'a>> = HashMap::new();
        for (d, delivery) in watches.iter().enumerate() {
            self.in_budget(d)?;
            let stream = streams.entry(delivery.stream).or_insert_with(|| Stream {
                epoch: delivery.epoch,
                from: delivery.from,
                last: 0,
                delivery: d,
                delivered: HashSet::new(),
            });
            let mut order_broken = None;
            for e in &delivery.events {
                self.watch.events += 1;
                if e.revision < stream.last && order_broken.is_none() {
                    order_broken = Some((e, stream.last));
                }
                stream.last = stream.last.max(e.revision);
                let key = e.key.as_str();
                if !self.keys.contains(key) {
                    continue;
                }
                self.watch.checked += 1;
                let fresh = stream.delivered.insert((e.revision, key));
                let seen = Some((d, event_text(e)));
                if !fresh {
                    self.violation_seen(
                        "watch-out-of-order",
                        key,
                        format!(
                            "the stream delivered revision {} of this key twice",
                            e.revision
                        ),
                        &[],
                        seen,
                    );
                    continue;
                }
                let model = self.latest(key, delivery.epoch, e.revision).cloned();
                match model {
                    Some(w) if w.rev == e.revision => {
                        if w.value != e.value {
                            self.violation_seen(
                                "watch-wrong-event",
                                key,
                                format!(
                                    "at revision {} the key's write is {}, but the watch delivered {}",
                                    e.revision,
                                    w.value.as_ref().map_or("a delete".to_string(), |v| format!("{v:?}")),
                                    e.value.as_ref().map_or("a delete".to_string(), |v| format!("{v:?}")),
                                ),
                                &[w.op],
                                seen,
                            );
                        } else if ops[w.op].call_us > delivery.at_us {
                            self.violation_seen(
                                "watch-before-write",
                                key,
                                "the watch delivered this write before it was called".into(),
                                &[w.op],
                                seen,
                            );
                        }
                    }
                    before => self.unplaced_event(d, e, before.map(|w| w.op)),
                }
            }
            if let Some((e, last)) = order_broken {
                self.violation_seen(
                    "watch-out-of-order",
                    &e.key,
                    format!(
                        "the stream delivered revision {} after revision {last}",
                        e.revision
                    ),
                    &[],
                    Some((d, event_text(e))),
                );
            }
        }
        let mut streams: Vec<Stream> = streams.into_values().collect();
        streams.sort_by_key(|s| s.delivery);
        self.watch.streams = streams.len() as u64;
        self.missed_events(&streams)
    }

    /// An event at a revision where the order holds no write of its key.
    fn unplaced_event(&mut self, d: usize, e: &crate::record::WatchEvent, before: Option<usize>) {
        let ops = self.ops;
        let delivery = &self.watches[d];
        let seen = Some((d, event_text(e)));
        if e.value.is_some() {
            // Its value's writer is in another cluster's order (rolled back by a restore), or
            // the value was already reported (unwritten, or written at another revision).
            let rolled_back = self
                .writes
                .get(e.key.as_str())
                .into_iter()
                .flat_map(|per| per.values().flatten())
                .find(|w| w.value == e.value && w.rev == e.revision)
                .map(|w| w.op);
            if let Some(w) = rolled_back {
                self.violation_seen(
                    "rolled-back-read",
                    &e.key,
                    "the watch delivered a write that the restore rolled back".into(),
                    &[w],
                    seen,
                );
            }
            return;
        }
        // A delete nobody acknowledged.
        if let Some(put) = before {
            match self.lease_may_be_gone(put, delivery.at_us) {
                Some(Gone::Expired(lease)) => {
                    self.expired.insert(lease);
                    return;
                }
                Some(Gone::MaybeRevoked) => return,
                None => {}
            }
        }
        if self.unknown_delete_by(&e.key, delivery.at_us) {
            return;
        }
        let leased = before.and_then(|p| match ops[p].request {
            Request::Put { lease: Some(l), .. } => Some(l),
            _ => None,
        });
        let same_cluster = leased
            .and_then(|l| self.leases.get(&l))
            .and_then(|f| f.granted)
            .is_some_and(|(_, _, epoch)| epoch == delivery.epoch);
        match leased {
            Some(lease) if same_cluster => self.violation_seen(
                "lease-expired-early",
                &e.key,
                format!("the watch delivered the delete of a key of lease {lease:x} before the lease's TTL could run out"),
                &before.into_iter().collect::<Vec<_>>(),
                seen,
            ),
            // A lease granted before a restore lives on in the restored cluster with a fresh
            // TTL: nothing to compare.
            Some(_) => {}
            None => self.violation_seen(
                "watch-phantom-delete",
                &e.key,
                "the watch delivered a delete that no operation made".into(),
                &before.into_iter().collect::<Vec<_>>(),
                seen,
            ),
        }
    }

    /// Each stream delivers every write of the order between the revision it was opened from
    /// and the last it delivered, in its cluster (and what that cluster's snapshot carried
    /// over).
    fn missed_events(&mut self, streams: &[Stream]) -> Result<(), String> {
        let mut by_epoch: HashMap<u64, Vec<(i64, &'a str, usize)>> = HashMap::new();
        for (key, per) in &self.writes {
            for (epoch, list) in per {
                let v = by_epoch.entry(*epoch).or_default();
                v.extend(list.iter().map(|w| (w.rev, *key, w.op)));
            }
        }
        for v in by_epoch.values_mut() {
            v.sort_unstable();
        }
        let mut n = 0usize;
        for s in streams {
            let (mut epoch, lo, mut hi) = (s.epoch, s.from, s.last);
            loop {
                if let Some(list) = by_epoch.get(&epoch) {
                    let start = list.partition_point(|w| w.0 < lo);
                    for &(rev, key, op) in list[start..].iter().take_while(|w| w.0 <= hi) {
                        n += 1;
                        self.in_budget(n)?;
                        if !s.delivered.contains(&(rev, key)) {
                            self.violation_seen(
                                "watch-missed-event",
                                key,
                                format!(
                                    "the stream opened from revision {} delivered up to {} but not this write at revision {rev}",
                                    s.from, s.last
                                ),
                                &[op],
                                Some((s.delivery, format!("events up to revision {}", s.last))),
                            );
                        }
                    }
                }
                let Some(&(from, cut)) = self.base.get(&epoch) else {
                    break;
                };
                epoch = from;
                hi = hi.min(cut);
            }
        }
        Ok(())
    }

    /// The leases of the history, counted.
    fn lease_record(&self) -> LeaseHistoryRecord {
        let count =
            |f: &dyn Fn(&HistoryOp) -> bool| self.ops.iter().filter(|o| f(o)).count() as u64;
        LeaseHistoryRecord {
            granted: count(&|o| matches!(o.outcome, Outcome::Granted { .. })),
            kept_alive: count(&|o| matches!(o.outcome, Outcome::KeptAlive { ttl } if ttl > 0)),
            revoked: count(&|o| {
                matches!(
                    (&o.request, &o.outcome),
                    (Request::LeaseRevoke { .. }, Outcome::Wrote { .. })
                )
            }),
            expired: self.expired.len() as u64,
        }
    }

    /// Points inside each operation's interval, increasing along the revision order, per epoch.
    fn check_real_time(&mut self, across: &dyn Fn(&HistoryOp) -> bool) -> Result<(), String> {
        let ops = self.ops;
        // (epoch, revision, 0 write | 1 read, op, call, return)
        let mut items: Vec<(u64, i64, u8, usize)> = Vec::new();
        let mut placed = std::collections::HashSet::new();
        for per in self.writes.values() {
            for list in per.values() {
                for w in list {
                    if !across(&ops[w.op]) && placed.insert(w.op) {
                        // A revoke may have deleted nothing (its keys expired): it stands
                        // where it read, beside the reads of its revision.
                        let kind = match ops[w.op].request {
                            Request::LeaseRevoke { .. } => 1,
                            _ => 0,
                        };
                        items.push((w.epoch, w.rev, kind, w.op));
                    }
                }
            }
        }
        for (i, o) in ops.iter().enumerate() {
            let linearizable = !matches!(
                o.request,
                Request::Get {
                    serializable: true,
                    ..
                }
            );
            let at = match (&o.request, &o.outcome) {
                (_, Outcome::Read { revision, .. }) => Some(*revision),
                // A page pinned to an earlier revision reads the past: no real-time bound.
                (Request::List { revision: 0, .. }, Outcome::Listed { revision, .. }) => {
                    Some(*revision)
                }
                _ => None,
            };
            if let Some(revision) = at {
                if linearizable && !across(o) {
                    items.push((o.epoch, revision, 1, i));
                }
            }
        }
        items.sort_unstable();
        let ret = |i: usize| match ops[i].outcome {
            Outcome::Unknown { .. } => u64::MAX,
            _ => ops[i].return_us,
        };
        let mut current_epoch = None;
        // The latest point so far and the operation that set it; the latest read point since
        // the last write and its operation.
        let (mut p, mut p_op) = (0u64, None::<usize>);
        let (mut reads, mut reads_op) = (0u64, None::<usize>);
        for (n, &(epoch, _, kind, i)) in items.iter().enumerate() {
            self.in_budget(n)?;
            if current_epoch != Some(epoch) {
                current_epoch = Some(epoch);
                p = self.restore_at.get(&epoch).copied().unwrap_or(0);
                p_op = None;
                reads = 0;
                reads_op = None;
            }
            let o = &ops[i];
            if kind == 0 {
                let (lower, by) = if reads > p {
                    (reads, reads_op)
                } else {
                    (p, p_op)
                };
                let point = lower.max(o.call_us);
                if point > ret(i) {
                    let by = by.unwrap_or(i);
                    let stale = matches!(ops[by].outcome, Outcome::Read { .. });
                    self.violation(
                        if stale { "stale-read" } else { "real-time-order" },
                        o.request.key(),
                        if stale {
                            "a read at a revision below this write's was called after the write returned: it missed a completed write".to_string()
                        } else {
                            "this write's revision is above a write that was called after it returned".to_string()
                        },
                        &[by, i],
                    );
                    // Go on from where it ended, to find the next violation.
                    p = ret(i);
                } else {
                    p = point;
                }
                p_op = Some(i);
                reads = 0;
                reads_op = None;
            } else {
                let point = p.max(o.call_us);
                if point > ret(i) {
                    self.violation(
                        "real-time-order",
                        o.request.key(),
                        "this read's revision includes a write that was called after the read returned".into(),
                        &[p_op.unwrap_or(i), i],
                    );
                } else if point > reads {
                    reads = point;
                    reads_op = Some(i);
                }
            }
        }
        Ok(())
    }

    /// Acknowledged writes of each restored-from epoch above the restored revision: how many,
    /// and the first of them.
    fn rolled_back(&self, restores: &[RestoreMark]) -> (u64, Vec<ViolationOp>) {
        let mut lost: Vec<&HistoryOp> = restores
            .iter()
            .flat_map(|r| {
                self.ops.iter().filter(move |o| {
                    o.epoch == r.from_epoch
                        && matches!(o.outcome, Outcome::Wrote { revision } if revision > r.revision)
                })
            })
            .collect();
        lost.sort_by_key(|o| (o.return_us, o.id));
        let first = lost.iter().take(KEEP).map(|o| describe(o)).collect();
        (lost.len() as u64, first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small history builder: operations with call/return in ms.
    struct H(Vec<HistoryLine>);

    impl H {
        fn op(
            &mut self,
            client: u32,
            call: u64,
            ret: u64,
            request: Request,
            outcome: Outcome,
        ) -> &mut Self {
            self.op_in(0, client, call, ret, request, outcome)
        }
        fn op_in(
            &mut self,
            epoch: u64,
            client: u32,
            call: u64,
            ret: u64,
            request: Request,
            outcome: Outcome,
        ) -> &mut Self {
            let id = self.0.len() as u64;
            self.0.push(HistoryLine::Op(HistoryOp {
                id,
                client,
                member: 0,
                epoch,
                call_us: call * 1000,
                return_us: ret * 1000,
                request,
                outcome,
            }));
            self
        }
        /// A watch delivery at `at` ms of (key, revision, value or a delete).
        fn watch(
            &mut self,
            stream: u64,
            from: i64,
            at: u64,
            events: &[(&str, i64, Option<&str>)],
        ) -> &mut Self {
            self.0.push(HistoryLine::Watch(WatchDelivery {
                at_us: at * 1000,
                member: 0,
                epoch: 0,
                stream,
                from,
                events: events
                    .iter()
                    .map(|(k, r, v)| crate::record::WatchEvent {
                        key: k.to_string(),
                        revision: *r,
                        value: v.map(str::to_string),
                    })
                    .collect(),
            }));
            self
        }
        fn check(&self) -> LinearizabilityRecord {
            check(self.0.clone(), Duration::from_secs(10))
        }
    }

    fn put(k: &str, v: &str) -> Request {
        Request::Put {
            key: k.into(),
            value: v.into(),
            lease: None,
        }
    }
    fn get(k: &str) -> Request {
        Request::Get {
            key: k.into(),
            serializable: false,
        }
    }
    fn update(k: &str, expect: i64, v: &str) -> Request {
        Request::Update {
            key: k.into(),
            expect,
            value: v.into(),
        }
    }
    fn wrote(revision: i64) -> Outcome {
        Outcome::Wrote { revision }
    }
    fn read(revision: i64, v: Option<&str>, m: i64) -> Outcome {
        Outcome::Read {
            revision,
            value: v.map(str::to_string),
            mod_revision: m,
        }
    }
    fn kinds(r: &LinearizabilityRecord) -> Vec<&str> {
        r.violations.iter().map(|v| v.kind.as_str()).collect()
    }

    /// Two clients, an object updated by compare-and-swap and read back: a correct history.
    fn clean() -> H {
        let mut h = H(Vec::new());
        h.op(0, 0, 10, put("/o", "a"), wrote(5))
            .op(1, 12, 20, get("/o"), read(5, Some("a"), 5))
            .op(0, 21, 30, update("/o", 5, "b"), wrote(6))
            .op(1, 22, 35, get("/o"), read(6, Some("b"), 6))
            .op(1, 36, 40, update("/o", 5, "c"), read(6, Some("b"), 6))
            .op(0, 41, 50, Request::Delete { key: "/o".into() }, wrote(7))
            .op(1, 51, 55, get("/o"), read(7, None, 0));
        h
    }

    #[test]
    fn a_correct_history_is_linearizable() {
        let r = clean().check();
        assert_eq!(
            r.outcome,
            LinearizableOutcome::Linearizable,
            "{:?}",
            r.violations
        );
        assert_eq!((r.operations, r.checked), (7, 7));
    }

    #[test]
    fn a_read_that_missed_a_completed_write_is_a_stale_read() {
        let mut h = clean();
        // Called after the update to "b" (revision 6) returned, it reads "a" at revision 5.
        h.op(2, 31, 33, get("/o"), read(5, Some("a"), 5));
        let r = h.check();
        assert_eq!(r.outcome, LinearizableOutcome::Violated);
        assert_eq!(kinds(&r), ["stale-read"], "{:?}", r.violations);
        assert_eq!(r.violations[0].ops.len(), 2);
    }

    #[test]
    fn a_read_without_a_write_its_revision_holds_is_a_lost_write() {
        let mut h = clean();
        h.op(2, 31, 33, get("/o"), read(6, Some("a"), 5));
        assert_eq!(kinds(&h.check()), ["lost-write"]);
    }

    #[test]
    fn a_value_seen_at_two_revisions_was_written_twice() {
        let mut h = clean();
        h.op(2, 31, 33, get("/o"), read(6, Some("b"), 9));
        assert!(kinds(&h.check()).contains(&"duplicated-write"));
    }

    #[test]
    fn two_updates_that_both_expected_one_revision_are_a_compare_and_swap_violation() {
        let mut h = H(Vec::new());
        h.op(0, 0, 10, put("/o", "a"), wrote(5))
            .op(0, 11, 20, update("/o", 5, "b"), wrote(6))
            .op(1, 12, 25, update("/o", 5, "c"), wrote(7));
        let r = h.check();
        assert_eq!(kinds(&r), ["compare-and-swap"], "{:?}", r.violations);
    }

    #[test]
    fn a_value_nobody_wrote_is_caught() {
        let mut h = clean();
        h.op(2, 31, 33, get("/o"), read(6, Some("zz"), 6));
        assert!(kinds(&h.check()).contains(&"unwritten-value"));
    }

    #[test]
    fn revisions_against_real_time_are_caught() {
        let mut h = H(Vec::new());
        // The second write was called after the first returned, yet has a lower revision.
        h.op(0, 0, 10, put("/a", "1"), wrote(8))
            .op(1, 20, 30, put("/b", "2"), wrote(7));
        assert_eq!(kinds(&h.check()), ["real-time-order"]);
    }

    #[test]
    fn a_timed_out_write_may_have_happened_or_not() {
        let mut h = H(Vec::new());
        let unknown = Outcome::Unknown {
            error: "timeout".into(),
        };
        h.op(0, 0, 10, put("/o", "a"), wrote(5))
            .op(0, 11, 500, put("/o", "b"), unknown.clone())
            .op(1, 20, 30, get("/o"), read(5, Some("a"), 5))
            // Seen later: it happened, at revision 6, after the first read.
            .op(1, 40, 50, get("/o"), read(6, Some("b"), 6))
            // Another that nobody saw: left out.
            .op(0, 600, 700, put("/o", "c"), unknown);
        let r = h.check();
        assert_eq!(
            r.outcome,
            LinearizableOutcome::Linearizable,
            "{:?}",
            r.violations
        );
        assert_eq!(r.indeterminate, 2);
    }

    #[test]
    fn after_a_restore_a_rolled_back_write_may_not_be_read() {
        let mut h = clean();
        // Restored at 100 ms to revision 6 of epoch 0: the delete (revision 7) is rolled back.
        h.0.push(HistoryLine::Restore(RestoreMark {
            at_us: 100_000,
            epoch: 1,
            revision: 6,
            from_epoch: 0,
        }));
        h.op_in(1, 2, 110, 120, get("/o"), read(20, Some("b"), 6));
        let r = h.check();
        assert_eq!(
            r.outcome,
            LinearizableOutcome::Linearizable,
            "{:?}",
            r.violations
        );
        assert_eq!(r.rolled_back, 1);
        // Reading the rolled-back state (the key deleted) after the restore is a violation.
        h.op_in(1, 2, 130, 140, get("/o"), read(21, None, 0));
        // And so is a write of epoch 0 after the restored revision, read in epoch 1.
        h.op(3, 60, 70, put("/p", "late"), wrote(8));
        h.op_in(1, 3, 150, 160, get("/p"), read(21, Some("late"), 8));
        let r = h.check();
        assert_eq!(
            kinds(&r),
            ["lost-write", "rolled-back-read"],
            "{:?}",
            r.violations
        );
    }

    #[test]
    fn a_revoked_leases_key_may_not_be_read_and_an_expired_ones_may_be_gone() {
        let leased = |k: &str, v: &str, l: i64| Request::Put {
            key: k.into(),
            value: v.into(),
            lease: Some(l),
        };
        let mut h = H(Vec::new());
        h.op(
            0,
            0,
            10,
            Request::LeaseGrant { ttl: 3 },
            Outcome::Granted { lease: 7, ttl: 3 },
        )
        .op(0, 11, 20, leased("/l/a", "a", 7), wrote(5))
        .op(0, 21, 30, Request::LeaseRevoke { lease: 7 }, wrote(6))
        .op(1, 31, 40, get("/l/a"), read(6, None, 0))
        // Another lease, never revoked: its key may be gone once its 3 s have passed...
        .op(
            2,
            0,
            10,
            Request::LeaseGrant { ttl: 3 },
            Outcome::Granted { lease: 8, ttl: 3 },
        )
        .op(2, 41, 50, leased("/l/b", "b", 8), wrote(7))
        .op(1, 3100, 3110, get("/l/b"), read(7, None, 0));
        let r = h.check();
        assert_eq!(
            r.outcome,
            LinearizableOutcome::Linearizable,
            "{:?}",
            r.violations
        );
        // ...but not before, and the revoked one may not be seen after the revoke returned.
        h.op(1, 60, 70, get("/l/b"), read(7, None, 0)).op(
            3,
            80,
            90,
            get("/l/a"),
            read(7, Some("a"), 5),
        );
        assert_eq!(kinds(&h.check()), ["lost-write", "revoked-lease-key-read"]);
    }

    #[test]
    fn a_create_over_a_key_a_timed_out_delete_may_have_removed_is_allowed() {
        let mut h = H(Vec::new());
        h.op(0, 0, 10, put("/o", "a"), wrote(5))
            .op(
                1,
                11,
                300,
                Request::Delete { key: "/o".into() },
                Outcome::Unknown {
                    error: "timeout".into(),
                },
            )
            .op(0, 20, 30, update("/o", 0, "b"), wrote(7))
            .op(0, 31, 40, get("/o"), read(7, Some("b"), 7));
        let r = h.check();
        assert_eq!(
            r.outcome,
            LinearizableOutcome::Linearizable,
            "{:?}",
            r.violations
        );
        // Without the delete, the same create is a compare-and-swap violation.
        h.0.remove(1);
        assert_eq!(kinds(&h.check()), ["compare-and-swap"]);
    }

    #[test]
    fn a_listed_page_sees_every_key_of_its_range_at_its_revision() {
        let list = |start: &str, revision| Request::List {
            start: start.into(),
            end: "/p".into(),
            limit: 2,
            revision,
        };
        let kv = |k: &str, v: &str, m| crate::record::ListedKv {
            key: k.into(),
            value: v.into(),
            mod_revision: m,
        };
        let mut h = H(Vec::new());
        h.op(0, 0, 10, put("/o/a", "a"), wrote(5))
            .op(0, 11, 20, put("/o/b", "b"), wrote(6))
            .op(0, 21, 30, put("/o/c", "c"), wrote(7))
            .op(
                1,
                31,
                40,
                list("/o/", 0),
                Outcome::Listed {
                    revision: 7,
                    kvs: vec![kv("/o/a", "a", 5), kv("/o/b", "b", 6)],
                    more: true,
                },
            )
            // The second page, pinned at the first's revision, after a later write.
            .op(0, 41, 50, put("/o/d", "d"), wrote(8))
            .op(
                1,
                51,
                60,
                list("/o/b\0", 7),
                Outcome::Listed {
                    revision: 7,
                    kvs: vec![kv("/o/c", "c", 7)],
                    more: false,
                },
            );
        let r = h.check();
        assert_eq!(
            r.outcome,
            LinearizableOutcome::Linearizable,
            "{:?}",
            r.violations
        );
        // A page that skips a key its range holds lost a write.
        h.op(
            2,
            61,
            70,
            list("/o/", 0),
            Outcome::Listed {
                revision: 8,
                kvs: vec![kv("/o/a", "a", 5), kv("/o/c", "c", 7)],
                more: true,
            },
        );
        assert_eq!(kinds(&h.check()), ["lost-write"]);
    }

    #[test]
    fn a_history_that_cannot_be_checked_in_time_is_unknown() {
        let mut h = H(Vec::new());
        for i in 0..5000u64 {
            h.op(
                0,
                i * 10,
                i * 10 + 5,
                put(&format!("/k{i}"), "v"),
                wrote(i as i64 + 1),
            );
        }
        let r = check(h.0.clone(), Duration::ZERO);
        assert!(
            matches!(r.outcome, LinearizableOutcome::Unknown { .. }),
            "{:?}",
            r.outcome
        );
        assert!(r.summary().starts_with("unknown: the check did not finish"));
    }

    /// `clean()`'s writes as a watch delivers them, in one stream from revision 1.
    fn watched() -> H {
        let mut h = clean();
        h.watch(1, 1, 11, &[("/o", 5, Some("a"))])
            .watch(1, 1, 31, &[("/o", 6, Some("b"))])
            .watch(1, 1, 52, &[("/o", 7, None)]);
        h
    }

    #[test]
    fn a_watch_that_delivers_every_write_in_order_passes() {
        let r = watched().check();
        assert_eq!(
            r.outcome,
            LinearizableOutcome::Linearizable,
            "{:?}",
            r.violations
        );
        assert_eq!(
            (r.watch.streams, r.watch.events, r.watch.checked),
            (1, 3, 3)
        );
        // Keys the workload never named (the seed's, a fault's filler) are delivered, not checked.
        let mut h = watched();
        h.watch(1, 1, 60, &[("/seed/1", 8, Some("x"))]);
        let r = h.check();
        assert_eq!(
            (r.watch.events, r.watch.checked, r.violations_found),
            (4, 3, 0)
        );
    }

    #[test]
    fn a_watch_event_unlike_the_write_at_its_revision_is_caught() {
        let mut h = clean();
        h.watch(1, 1, 11, &[("/o", 5, Some("a"))])
            .watch(1, 1, 31, &[("/o", 6, None)])
            .watch(1, 1, 52, &[("/o", 7, None)]);
        assert_eq!(kinds(&h.check()), ["watch-wrong-event"]);
    }

    #[test]
    fn a_watch_that_skips_a_write_it_passed_missed_an_event() {
        let mut h = clean();
        h.watch(1, 1, 11, &[("/o", 5, Some("a"))])
            .watch(1, 1, 52, &[("/o", 7, None)]);
        let r = h.check();
        assert_eq!(kinds(&r), ["watch-missed-event"]);
        assert!(
            r.violations[0].why.contains("revision 6"),
            "{:?}",
            r.violations
        );
        // A stream that stopped before revision 6 owes nothing; the next one resumes from 6.
        let mut h = clean();
        h.watch(1, 1, 11, &[("/o", 5, Some("a"))]).watch(
            2,
            6,
            52,
            &[("/o", 6, Some("b")), ("/o", 7, None)],
        );
        assert_eq!(h.check().violations_found, 0);
    }

    #[test]
    fn a_watch_that_goes_back_or_repeats_is_out_of_order() {
        let mut h = clean();
        h.watch(1, 1, 31, &[("/o", 6, Some("b"))])
            .watch(1, 1, 32, &[("/o", 5, Some("a"))])
            .watch(1, 1, 52, &[("/o", 7, None)]);
        assert_eq!(kinds(&h.check()), ["watch-out-of-order"]);
        let mut h = watched();
        h.watch(1, 1, 53, &[("/o", 7, None)]);
        assert_eq!(kinds(&h.check()), ["watch-out-of-order"]);
    }

    #[test]
    fn a_watch_event_before_its_write_was_called_is_caught() {
        let mut h = clean();
        // "b" was written by an update called at 21 ms.
        h.watch(1, 1, 11, &[("/o", 5, Some("a"))])
            .watch(1, 1, 15, &[("/o", 6, Some("b"))])
            .watch(1, 1, 52, &[("/o", 7, None)]);
        assert_eq!(kinds(&h.check()), ["watch-before-write"]);
    }

    #[test]
    fn a_watched_delete_nobody_made_is_a_phantom() {
        let mut h = watched();
        h.op(0, 60, 70, put("/p", "p"), wrote(8))
            .watch(1, 1, 65, &[("/p", 8, Some("p"))])
            .watch(1, 1, 80, &[("/p", 9, None)]);
        assert_eq!(kinds(&h.check()), ["watch-phantom-delete"]);
        // Unless a delete of it timed out.
        h.op(
            1,
            71,
            75,
            Request::Delete { key: "/p".into() },
            Outcome::Unknown {
                error: "timeout".into(),
            },
        );
        assert_eq!(h.check().violations_found, 0);
    }

    /// Lease 7 (3 s) granted at 0 ms, its key put at revision 5, watched.
    fn leased() -> H {
        let mut h = H(Vec::new());
        h.op(
            0,
            0,
            10,
            Request::LeaseGrant { ttl: 3 },
            Outcome::Granted { lease: 7, ttl: 3 },
        )
        .op(
            0,
            11,
            20,
            Request::Put {
                key: "/l/a".into(),
                value: "a".into(),
                lease: Some(7),
            },
            wrote(5),
        )
        .watch(1, 1, 15, &[("/l/a", 5, Some("a"))]);
        h
    }

    #[test]
    fn a_lease_seen_to_expire_after_its_ttl_is_counted_and_before_it_is_caught() {
        let mut h = leased();
        h.watch(1, 1, 3100, &[("/l/a", 6, None)]);
        let r = h.check();
        assert_eq!(r.violations_found, 0, "{:?}", r.violations);
        assert_eq!((r.leases.granted, r.leases.expired), (1, 1));
        let mut h = leased();
        h.watch(1, 1, 1000, &[("/l/a", 6, None)]);
        assert_eq!(kinds(&h.check()), ["lease-expired-early"]);
    }

    #[test]
    fn a_keep_alive_moves_the_earliest_expiry() {
        let keep = |h: &mut H, at: u64, ttl: i64| {
            h.op(
                1,
                at,
                at + 5,
                Request::LeaseKeepAlive { lease: 7 },
                Outcome::KeptAlive { ttl },
            );
        };
        // Kept alive at 2 s: the key may not go at 3.1 s, but may at 5.1 s.
        let mut h = leased();
        keep(&mut h, 2000, 3);
        h.watch(1, 1, 3100, &[("/l/a", 6, None)]);
        assert_eq!(kinds(&h.check()), ["lease-expired-early"]);
        let mut h = leased();
        keep(&mut h, 2000, 3);
        h.watch(1, 1, 5100, &[("/l/a", 6, None)]);
        let r = h.check();
        assert_eq!(
            (r.violations_found, r.leases.kept_alive, r.leases.expired),
            (0, 1, 1)
        );
        // A keep-alive that finds the lease gone: too early at 1 s, an expiry at 3.5 s.
        let mut h = leased();
        keep(&mut h, 1000, 0);
        assert_eq!(kinds(&h.check()), ["lease-expired-early"]);
        let mut h = leased();
        keep(&mut h, 3500, 0);
        let r = h.check();
        assert_eq!((r.violations_found, r.leases.expired), (0, 1));
    }
}
