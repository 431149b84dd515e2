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

use crate::record::{
    HistoryLine, HistoryOp, LinearizabilityRecord, LinearizableOutcome, Outcome, Request,
    RestoreMark, Violation, ViolationOp,
};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// At most this many violations are kept.
const KEEP: usize = 20;

/// Reads `history.jsonl` and checks it within `budget`.
pub fn check_file(path: &std::path::Path, budget: Duration) -> LinearizabilityRecord {
    match read(path) {
        Ok(lines) => check(lines, budget),
        Err(why) => LinearizabilityRecord {
            outcome: LinearizableOutcome::Unknown { why },
            operations: 0,
            checked: 0,
            indeterminate: 0,
            across_restore: 0,
            rolled_back: 0,
            violations_found: 0,
            violations: Vec::new(),
            elapsed_ms: 0,
        },
    }
}

/// The lines of a history file; an unreadable line is an error naming it.
pub fn read(path: &std::path::Path) -> Result<Vec<HistoryLine>, String> {
    use std::io::BufRead;
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| format!("{}: {e}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        out.push(
            serde_json::from_str(&line)
                .map_err(|e| format!("{}:{}: {e}", path.display(), i + 1))?,
        );
    }
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

struct Checker<'a> {
    ops: &'a [HistoryOp],
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
    let mut ops = Vec::new();
    let mut restores: Vec<RestoreMark> = Vec::new();
    for l in lines {
        match l {
            HistoryLine::Op(o) => ops.push(o),
            HistoryLine::Restore(r) => restores.push(r),
        }
    }
    let mut c = Checker {
        ops: &ops,
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
        .filter(|o| !across(o) && matches!(o.outcome, Outcome::Wrote { .. } | Outcome::Read { .. }))
        .count() as u64;
    let outcome = match c.run(&across) {
        Err(why) => LinearizableOutcome::Unknown { why },
        Ok(()) if c.found == 0 => LinearizableOutcome::Linearizable,
        Ok(()) => LinearizableOutcome::Violated,
    };
    let rolled_back = c.rolled_back(&restores);
    LinearizabilityRecord {
        outcome,
        operations: ops.len() as u64,
        checked,
        indeterminate,
        across_restore,
        rolled_back,
        violations_found: c.found as u64,
        violations: c.violations,
        elapsed_ms: started.elapsed().as_millis() as u64,
    }
}

fn describe(o: &HistoryOp) -> ViolationOp {
    let req = match &o.request {
        Request::Put {
            key,
            value,
            lease: None,
        } => format!("put {key} = {value:?}"),
        Request::Put {
            key,
            value,
            lease: Some(l),
        } => format!("put {key} = {value:?} with lease {l:x}"),
        Request::LeaseGrant { ttl } => format!("grant a lease of {ttl} s"),
        Request::LeaseRevoke { lease } => format!("revoke lease {lease:x}"),
        Request::Get { key, serializable } => {
            format!(
                "get {key}{}",
                if *serializable { " (serializable)" } else { "" }
            )
        }
        Request::Delete { key } => format!("delete {key}"),
        Request::Update { key, expect, value } => {
            format!("update {key} = {value:?} if mod_revision {expect}")
        }
    };
    let out = match &o.outcome {
        Outcome::Wrote { revision } => format!("wrote at revision {revision}"),
        Outcome::Read {
            revision,
            value: Some(v),
            mod_revision,
        } => format!("read {v:?} (mod_revision {mod_revision}) at revision {revision}"),
        Outcome::Read { revision, .. } => format!("read nothing at revision {revision}"),
        Outcome::Granted { lease, ttl } => format!("granted lease {lease:x} for {ttl} s"),
        Outcome::Failed { error } => format!("failed: {error}"),
        Outcome::Unknown { error } => format!("unknown: {error}"),
    };
    ViolationOp {
        id: o.id,
        client: o.client,
        call_us: o.call_us,
        return_us: o.return_us,
        text: format!("{req} → {out}"),
    }
}

impl<'a> Checker<'a> {
    fn violation(&mut self, kind: &str, key: &str, why: String, ops: &[usize]) {
        self.found += 1;
        if self.violations.len() < KEEP {
            self.violations.push(Violation {
                kind: kind.into(),
                key: key.into(),
                why,
                ops: ops.iter().map(|i| describe(&self.ops[*i])).collect(),
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
        for (i, o) in ops.iter().enumerate() {
            self.in_budget(i)?;
            let Outcome::Read {
                value: Some(v),
                mod_revision,
                ..
            } = &o.outcome
            else {
                continue;
            };
            let key = o.request.key();
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
        for (i, o) in ops.iter().enumerate() {
            if matches!(
                o.request,
                Request::LeaseGrant { .. } | Request::LeaseRevoke { .. }
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

    /// Whether the key of this put may be gone without a recorded delete: its lease may have
    /// expired by `at_us` (granted `ttl` before, no keep-alive), or a revoke of it that timed
    /// out may have happened.
    fn lease_may_be_gone(&self, put: usize, at_us: u64) -> bool {
        let Request::Put {
            lease: Some(lease), ..
        } = self.ops[put].request
        else {
            return false;
        };
        self.ops.iter().any(|o| match (&o.request, &o.outcome) {
            (Request::LeaseGrant { .. }, Outcome::Granted { lease: l, ttl }) => {
                *l == lease && o.call_us + (*ttl).max(0) as u64 * 1_000_000 <= at_us
            }
            (Request::LeaseRevoke { lease: l }, Outcome::Unknown { .. }) => {
                *l == lease && o.call_us < at_us
            }
            _ => false,
        })
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
                (Request::Update { expect, .. }, Outcome::Wrote { revision }) => {
                    let before = self.latest(key, o.epoch, revision - 1).cloned();
                    let had = match &before {
                        Some(w) if w.value.is_some() => w.rev,
                        _ => 0,
                    };
                    if had != *expect {
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
            if w.value.is_some() && self.lease_may_be_gone(w.op, o.return_us) {
                return;
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
        if value.is_none() && self.unknown_delete_before(key, o) {
            return;
        }
        self.violation(kind, key, why, &involved);
    }

    fn unknown_delete_before(&self, key: &str, read: &HistoryOp) -> bool {
        self.ops.iter().any(|d| {
            matches!(d.request, Request::Delete { .. })
                && d.request.key() == key
                && matches!(d.outcome, Outcome::Unknown { .. })
                && d.call_us < read.return_us
        })
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
            if let Outcome::Read { revision, .. } = o.outcome {
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

    /// Acknowledged writes of each restored-from epoch above the restored revision.
    fn rolled_back(&self, restores: &[RestoreMark]) -> u64 {
        restores
            .iter()
            .map(|r| {
                self.ops
                    .iter()
                    .filter(|o| {
                        o.epoch == r.from_epoch
                            && matches!(o.outcome, Outcome::Wrote { revision } if revision > r.revision)
                    })
                    .count() as u64
            })
            .sum()
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
}
