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
