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
//!
//! The facts every pass needs (the order of writes per key and epoch, the leases, the
//! restores) are derived once, in `model`, and only read after: each pass (`values`, `state`,
//! `leases`, `watch`, `realtime`) reads them and returns what it found, so that no pass can
//! change what the next one checks against.

mod describe;
mod findings;
mod history;
mod leases;
mod model;
mod realtime;
mod state;
#[cfg(test)]
mod testkit;
mod values;
mod watch;

use crate::record::{
    HistoryLine, HistoryOp, LinearizabilityRecord, LinearizableOutcome, Outcome, ViolationOp,
    WatchHistoryRecord,
};
use findings::{Budget, Findings, KEEP};
use history::{each_line, History};
use model::{Model, Values};
use std::time::{Duration, Instant};

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
    let (model, values) = Model::new(&history);
    let budget = Budget::new(started, budget, model.ops.len());
    let (found, watch) = run(&model, values, &budget);
    let ops = model.ops;
    let across_restore = ops.iter().filter(|o| model.across_restore(o)).count() as u64;
    let indeterminate = ops
        .iter()
        .filter(|o| matches!(o.outcome, Outcome::Unknown { .. }))
        .count() as u64;
    let checked = ops
        .iter()
        .filter(|o| {
            !model.across_restore(o)
                && matches!(
                    o.outcome,
                    Outcome::Wrote { .. } | Outcome::Read { .. } | Outcome::Listed { .. }
                )
        })
        .count() as u64;
    let outcome = match found.stopped {
        Some(why) => LinearizableOutcome::Unknown { why },
        None if found.found == 0 => LinearizableOutcome::Linearizable,
        None => LinearizableOutcome::Violated,
    };
    let (rolled_back, rolled_back_writes) = rolled_back(&model);
    LinearizabilityRecord {
        outcome,
        operations: ops.len() as u64,
        checked,
        indeterminate,
        across_restore,
        rolled_back,
        rolled_back_writes,
        violations_found: found.found as u64,
        violations: found.violations,
        watch,
        leases: leases::record(&model, &found.expired),
        elapsed_ms: started.elapsed().as_millis() as u64,
    }
}

/// The passes, in order, each reading the model and returning what it found; the first that
/// runs out of budget ends the check.
fn run(model: &Model, values: Values, budget: &Budget) -> (Findings, WatchHistoryRecord) {
    let mut found = Findings::default();
    let mut watched = WatchHistoryRecord::default();
    found.then(|| values::check(model, &values, budget));
    drop(values);
    found.then(|| state::check(model, budget));
    found.then(|| leases::check_keep_alives(model));
    found.then(|| {
        let (found, counts) = watch::check(model, budget);
        watched = counts;
        found
    });
    found.then(|| realtime::check(model, budget));
    (found, watched)
}

/// Acknowledged writes of each restored-from epoch above the restored revision: how many,
/// and the first of them.
fn rolled_back(model: &Model) -> (u64, Vec<ViolationOp>) {
    let mut lost: Vec<&HistoryOp> = model.rolled_back();
    lost.sort_by_key(|o| (o.return_us, o.id));
    let first = lost
        .iter()
        .take(KEEP)
        .map(|o| describe::describe(o))
        .collect();
    (lost.len() as u64, first)
}

#[cfg(test)]
mod tests {
    use super::check;
    use super::testkit::*;
    use crate::record::{LinearizableOutcome, Outcome};
    use std::time::Duration;

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
