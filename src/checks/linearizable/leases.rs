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
