//! What a pass reports, and the time budget passes run under.

use super::describe::{describe, describe_watch};
use super::model::Model;
use crate::record::{Violation, ViolationOp};
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// At most this many violations are kept.
pub(super) const KEEP: usize = 20;

/// The check's time budget, counted from when the history started to be read.
pub(super) struct Budget {
    started: Instant,
    budget: Duration,
    ops: usize,
}

impl Budget {
    pub(super) fn new(started: Instant, budget: Duration, ops: usize) -> Budget {
        Budget {
            started,
            budget,
            ops,
        }
    }

    /// An error once the budget is spent, looked at every 1024 steps of a pass's loop.
    pub(super) fn check(&self, done: usize) -> Result<(), String> {
        if done % 1024 == 0 && self.started.elapsed() > self.budget {
            return Err(format!(
                "the check did not finish within {:?} ({done} of {} operations)",
                self.budget, self.ops
            ));
        }
        Ok(())
    }
}

/// What passes found: the first `KEEP` violations described, all of them counted, the leases
/// seen to expire, and why a pass stopped short if it did (the budget ran out). A pass that
/// stops keeps what it found so far.
#[derive(Default)]
pub(super) struct Findings {
    pub(super) violations: Vec<Violation>,
    pub(super) found: usize,
    /// Leases whose expiry the history shows.
    pub(super) expired: HashSet<i64>,
    pub(super) stopped: Option<String>,
}

impl Findings {
    /// Runs a pass that adds to fresh findings and stops at its first error.
    pub(super) fn collect(pass: impl FnOnce(&mut Findings) -> Result<(), String>) -> Findings {
        let mut found = Findings::default();
        if let Err(why) = pass(&mut found) {
            found.stopped = Some(why);
        }
        found
    }

    /// Runs the next pass unless one before it stopped, and adds what it found: the passes'
    /// violations in the order they ran, so the kept ones are the first found.
    pub(super) fn then(&mut self, next: impl FnOnce() -> Findings) {
        if self.stopped.is_some() {
            return;
        }
        let next = next();
        self.found += next.found;
        let room = KEEP.saturating_sub(self.violations.len());
        self.violations
            .extend(next.violations.into_iter().take(room));
        self.expired.extend(next.expired);
        self.stopped = next.stopped;
    }

    pub(super) fn violation(
        &mut self,
        model: &Model,
        kind: &str,
        key: &str,
        why: String,
        ops: &[usize],
    ) {
        self.violation_seen(model, kind, key, why, ops, None);
    }

    /// A violation that a watch delivery (`seen`: the delivery, what it delivered) takes part in.
    pub(super) fn violation_seen(
        &mut self,
        model: &Model,
        kind: &str,
        key: &str,
        why: String,
        ops: &[usize],
        seen: Option<(usize, String)>,
    ) {
        self.found += 1;
        if self.violations.len() < KEEP {
            let mut described: Vec<ViolationOp> =
                ops.iter().map(|i| describe(&model.ops[*i])).collect();
            described.extend(seen.map(|(d, what)| describe_watch(&model.watches[d], &what)));
            self.violations.push(Violation {
                kind: kind.into(),
                key: key.into(),
                why,
                ops: described,
            });
        }
    }
}
