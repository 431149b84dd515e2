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
mod findings;
mod history;
mod leases;
mod model;
mod realtime;
mod state;
mod values;
mod watch;

use crate::record::{
    HistoryLine, HistoryOp, LinearizabilityRecord, LinearizableOutcome, Outcome, ViolationOp,
    WatchHistoryRecord,
};
use findings::{Budget, Findings, KEEP};
use history::{each_line, History};
use model::Model;
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
    let model = Model::new(&history);
    let budget = Budget::new(started, budget, model.ops.len());
    let (found, watch) = run(&model, &budget);
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
fn run(model: &Model, budget: &Budget) -> (Findings, WatchHistoryRecord) {
    let mut found = Findings::default();
    let mut watched = WatchHistoryRecord::default();
    found.then(|| values::check(model, budget));
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
    use super::*;
    use crate::record::{Request, RestoreMark, WatchDelivery};

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
