//! Revisions never go back: a linearizable answer may not carry a revision below one that an
//! operation completed before it started already saw (outside a restore, which starts a new
//! epoch). The workload feeds every answer through `RevisionFloor`.

use crate::record::{Outcome, Request};
use std::sync::atomic::{AtomicI64, Ordering};

/// The revision an answer puts the client at, when the answer is linearizable: a write's, a
/// linearizable read's (its header), a list's at the head. None for a serializable read (it
/// may lag), a page pinned to an earlier revision (the past, by design), a lease answer (no
/// revision) and a failure. The online floor and the history's real-time pass both ask it.
pub fn established(request: &Request, outcome: &Outcome) -> Option<i64> {
    match (request, outcome) {
        (
            Request::Get {
                serializable: true, ..
            },
            _,
        ) => None,
        (_, Outcome::Wrote { revision } | Outcome::Read { revision, .. }) => Some(*revision),
        (Request::List { revision: 0, .. }, Outcome::Listed { revision, .. }) => Some(*revision),
        _ => None,
    }
}

/// The revisions-never-go-back checker. An operation takes the floor when it starts (the
/// highest revision any already-completed linearizable operation saw); when it completes with
/// a lower revision, a client has seen time go backwards. Operations running concurrently may
/// legitimately finish in either order, so only what completed before the start counts.
#[derive(Default)]
pub struct RevisionFloor(AtomicI64);

impl RevisionFloor {
    pub fn floor(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }

    /// Records a completed operation; returns whether it regressed below `floor`.
    pub fn complete(&self, floor: i64, got: i64) -> bool {
        self.0.fetch_max(got, Ordering::SeqCst);
        got < floor
    }

    /// A restore starts a new epoch.
    pub fn reset(&self) {
        self.0.store(0, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_older_than_a_completed_one_is_a_regression_but_concurrency_is_not() {
        let f = RevisionFloor::default();
        let a = f.floor(); // op A starts
        let b = f.floor(); // op B starts, concurrently
        assert!(!f.complete(a, 10)); // A sees 10
        assert!(!f.complete(b, 9), "B started before A completed: 9 is fine");
        let c = f.floor(); // op C starts after A completed
        assert_eq!(c, 10);
        assert!(
            f.complete(c, 8),
            "C saw revision 8 after 10 was seen: a regression"
        );
        f.reset();
        assert!(
            !f.complete(f.floor(), 3),
            "after a restore the epoch starts over"
        );
    }
}
