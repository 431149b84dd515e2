//! Leases: a lease may not expire before its TTL has run, and the leases of the history are
//! counted, with those whose expiry the history shows.

use super::findings::Findings;
use super::model::Model;
use crate::record::{HistoryOp, LeaseHistoryRecord, Outcome, Request};
use std::collections::HashSet;

/// A keep-alive that found its lease gone: the lease expired, which may not happen before
/// its TTL has run from the grant or the last keep-alive (in the cluster that granted it).
pub(super) fn check_keep_alives(model: &Model) -> Findings {
    let ops = model.ops;
    let mut found = Findings::default();
    for (i, o) in ops.iter().enumerate() {
        let (Request::LeaseKeepAlive { lease }, Outcome::KeptAlive { ttl: 0 }) =
            (&o.request, &o.outcome)
        else {
            continue;
        };
        let Some(facts) = model.leases.get(lease) else {
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
                found.violation(
                    model,
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
                found.expired.insert(*lease);
            }
        }
    }
    found
}

/// The leases of the history, counted; `expired`: those whose expiry the passes saw.
pub(super) fn record(model: &Model, expired: &HashSet<i64>) -> LeaseHistoryRecord {
    let count = |f: &dyn Fn(&HistoryOp) -> bool| model.ops.iter().filter(|o| f(o)).count() as u64;
    LeaseHistoryRecord {
        granted: count(&|o| matches!(o.outcome, Outcome::Granted { .. })),
        kept_alive: count(&|o| matches!(o.outcome, Outcome::KeptAlive { ttl } if ttl > 0)),
        revoked: count(&|o| {
            matches!(
                (&o.request, &o.outcome),
                (Request::LeaseRevoke { .. }, Outcome::Wrote { .. })
            )
        }),
        expired: expired.len() as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use crate::record::{LinearizableOutcome, Outcome, Request};

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
