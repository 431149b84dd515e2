//! State: a read at revision H sees, for its key, exactly the newest write at or below H (a
//! listed page likewise, for every key of its range), and a compare-and-swap finds the key at
//! the revision it expected, or not.

use super::findings::{Budget, Findings};
use super::model::{Gone, Model, Write};
use crate::record::{HistoryOp, ListedKv, Outcome, Request};
use std::collections::HashSet;

/// Reads see the newest write at their revision; a compare-and-swap finds what it expected.
pub(super) fn check(model: &Model, budget: &Budget) -> Findings {
    Findings::collect(|found| {
        for (i, o) in model.ops.iter().enumerate() {
            budget.check(i)?;
            if model.across_restore(o) {
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
                    check_read(
                        model,
                        found,
                        i,
                        key,
                        *revision,
                        value.as_deref(),
                        *mod_revision,
                    );
                    if let Request::Update { expect, .. } = &o.request {
                        if expect == mod_revision {
                            found.violation(
                                model,
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
                ) => check_page(
                    model,
                    found,
                    i,
                    (start.as_str(), end.as_str()),
                    *revision,
                    kvs,
                    *more,
                ),
                (Request::Update { expect, .. }, Outcome::Wrote { revision }) => {
                    check_swap(model, found, i, *expect, *revision)
                }
                _ => {}
            }
        }
        Ok(())
    })
}

/// A listed page holds every key of its range at its revision: those listed as read, and the
/// history's keys inside the range but not listed as absent.
fn check_page(
    model: &Model,
    found: &mut Findings,
    i: usize,
    (start, end): (&str, &str),
    revision: i64,
    kvs: &[ListedKv],
    more: bool,
) {
    for kv in kvs {
        check_read(
            model,
            found,
            i,
            &kv.key,
            revision,
            Some(&kv.value),
            kv.mod_revision,
        );
    }
    // Keys of the history inside the page's range but not listed were absent.
    let covered_to = match (more, kvs.last()) {
        (true, Some(last)) => last.key.as_str(),
        _ => end,
    };
    let listed: HashSet<&str> = kvs.iter().map(|kv| kv.key.as_str()).collect();
    let mut absent: Vec<&str> = model
        .writes
        .keys()
        .copied()
        .filter(|k| {
            *k >= start && (*k < covered_to || (more && *k == covered_to)) && !listed.contains(k)
        })
        .collect();
    absent.sort_unstable();
    for k in absent {
        check_read(model, found, i, k, revision, None, 0);
    }
}

/// An update whose compare held found the key at the revision it expected.
fn check_swap(model: &Model, found: &mut Findings, i: usize, expect: i64, revision: i64) {
    let o = &model.ops[i];
    let key = o.request.key();
    let before = model.latest(key, o.epoch, revision - 1);
    let had = match before {
        Some(w) if w.value.is_some() => w.rev,
        _ => 0,
    };
    // Created over a key a timed-out delete may have removed: allowed.
    let maybe_deleted = expect == 0 && had != 0 && model.unknown_delete_by(key, o.return_us);
    if had != expect && !maybe_deleted {
        let mut involved = vec![i];
        involved.extend(before.map(|w| w.op));
        found.violation(
            model,
            "compare-and-swap",
            key,
            format!("succeeded expecting mod_revision {expect}, but the key was at {had} before revision {revision}"),
            &involved,
        );
    }
}

/// Operation `i` read `value` (with `mod_revision` `m`), or nothing, for `key` at revision `h`.
fn check_read(
    model: &Model,
    found: &mut Findings,
    i: usize,
    key: &str,
    h: i64,
    value: Option<&str>,
    m: i64,
) {
    let o = &model.ops[i];
    let expected = model.latest(key, o.epoch, h);
    let ok = match (expected, value) {
        (Some(w), Some(v)) => w.value.as_deref() == Some(v) && w.rev == m,
        (Some(w), None) => w.value.is_none(),
        (None, None) => true,
        (None, Some(_)) => false,
    };
    if ok {
        return;
    }
    // A leased key read as gone: its lease may have expired (or a timed-out revoke done it).
    // A read of nothing may also be a delete that timed out but happened.
    if value.is_none() {
        match model.may_be_gone(expected.map(|w| w.op), key, o.return_us) {
            Some(Gone::Expired(lease)) => {
                found.expired.insert(lease);
                return;
            }
            Some(Gone::MaybeRevoked | Gone::MaybeDeleted) => return,
            None => {}
        }
    }
    // What it saw, if a write of this history made it.
    let observed = value.and_then(|v| {
        model.writes.get(key).and_then(|per| {
            per.values()
                .flatten()
                .find(|w| w.value.as_deref() == Some(v))
        })
    });
    let mut involved = vec![i];
    involved.extend(expected.map(|w| w.op));
    involved.extend(observed.map(|w| w.op));
    involved.dedup();
    let (kind, why) = misread(model, o, key, (h, value, m), expected, observed);
    found.violation(model, kind, key, why, &involved);
}

/// What a read that did not see the newest write at its revision did wrong: (`h`, `value`,
/// `m`) are its revision, the value it saw and that value's `mod_revision`; `expected` is the
/// newest write, `observed` the write it saw if the history holds one.
fn misread(
    model: &Model,
    o: &HistoryOp,
    key: &str,
    (h, value, m): (i64, Option<&str>, i64),
    expected: Option<&Write>,
    observed: Option<&Write>,
) -> (&'static str, String) {
    let rolled_back = observed.is_some_and(|w| {
        w.epoch != o.epoch
            && model
                .latest(key, o.epoch, w.rev)
                .is_none_or(|l| l.op != w.op)
    });
    let revoked = expected.is_some_and(|w| {
        w.value.is_none() && matches!(model.ops[w.op].request, Request::LeaseRevoke { .. })
    }) && value.is_some();
    if revoked {
        (
            "revoked-lease-key-read",
            format!("at revision {h} the key's lease was revoked (its key deleted), but the read still saw it"),
        )
    } else if rolled_back {
        (
            "rolled-back-read",
            "read a write that the restore rolled back".to_string(),
        )
    } else if let Some(w) = expected.filter(|w| observed.is_none_or(|x| x.rev < w.rev)) {
        let acked = matches!(model.ops[w.op].outcome, Outcome::Wrote { .. });
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
                match expected {
                    Some(w) => format!("revision {}", w.rev),
                    None => "nothing".into(),
                }
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use crate::record::{HistoryLine, LinearizableOutcome, Outcome, Request, RestoreMark};

    #[test]
    fn a_read_without_a_write_its_revision_holds_is_a_lost_write() {
        let mut h = clean();
        h.op(2, 31, 33, get("/o"), read(6, Some("a"), 5));
        assert_eq!(kinds(&h.check()), ["lost-write"]);
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
}
