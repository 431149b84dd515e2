//! Real time: there are points, one per operation and inside its call/return interval, that
//! increase along the revision order (writes at their revision, linearizable reads just after
//! the write of their revision). A greedy pass placing each point as early as possible finds
//! them if they exist.

use super::findings::{Budget, Findings};
use super::model::Model;
use crate::record::{Outcome, Request};
use std::collections::HashSet;

/// One operation in the order: (epoch, revision, 0 write | 1 read, op).
type Item = (u64, i64, u8, usize);

/// Points inside each operation's interval, increasing along the revision order, per epoch.
pub(super) fn check(model: &Model, budget: &Budget) -> Findings {
    Findings::collect(|found| sweep(model, budget, found, &order(model)))
}

/// The placed writes and the linearizable reads, sorted along the revision order.
fn order(model: &Model) -> Vec<Item> {
    let ops = model.ops;
    let mut items: Vec<Item> = Vec::new();
    let mut placed = HashSet::new();
    for per in model.writes.values() {
        for list in per.values() {
            for w in list {
                if !model.across_restore(&ops[w.op]) && placed.insert(w.op) {
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
        // The reads: a write's revision is where the order placed it, above.
        let read = !matches!(o.outcome, Outcome::Wrote { .. });
        match crate::checks::revision_order::established(&o.request, &o.outcome) {
            Some(revision) if read && !model.across_restore(o) => {
                items.push((o.epoch, revision, 1, i));
            }
            _ => {}
        }
    }
    items.sort_unstable();
    items
}

/// Places each operation's point as early as possible along `items`; an operation whose
/// point falls after its return is a violation, with the operation that pushed it there.
fn sweep(
    model: &Model,
    budget: &Budget,
    found: &mut Findings,
    items: &[Item],
) -> Result<(), String> {
    let ops = model.ops;
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
        budget.check(n)?;
        if current_epoch != Some(epoch) {
            current_epoch = Some(epoch);
            p = model.restore_at.get(&epoch).copied().unwrap_or(0);
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
                found.violation(
                    model,
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
                found.violation(
                    model,
                    "real-time-order",
                    o.request.key(),
                    "this read's revision includes a write that was called after the read returned"
                        .into(),
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

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use crate::record::LinearizableOutcome;

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
    fn revisions_against_real_time_are_caught() {
        let mut h = H(Vec::new());
        // The second write was called after the first returned, yet has a lower revision.
        h.op(0, 0, 10, put("/a", "1"), wrote(8))
            .op(1, 20, 30, put("/b", "2"), wrote(7));
        assert_eq!(kinds(&h.check()), ["real-time-order"]);
    }
}
