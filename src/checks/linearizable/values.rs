//! Values: every value read was written by some operation, at the `mod_revision` the read
//! reports, and no value was written twice; likewise every value the watch delivered, at the
//! event's revision.

use super::describe::event_text;
use super::findings::{Budget, Findings};
use super::model::{By, Model, Sighting};
use crate::record::{Outcome, WatchEvent};

pub(super) fn check(model: &Model, budget: &Budget) -> Findings {
    Findings::collect(|found| {
        for &(key, v, before, i) in &model.rewrites {
            found.violation(
                model,
                "duplicated-write",
                key,
                format!("two operations wrote the same value {v:?}"),
                &[before, i],
            );
        }
        for (n, s) in model.sightings().enumerate() {
            budget.check(n)?;
            match s.by {
                By::Op(i) => read_value(model, found, &s, i),
                By::Watch(d, e) => watched_value(model, found, &s, d, e),
            }
        }
        written_twice_at_one_revision(model, found);
        Ok(())
    })
}

fn read_value(model: &Model, found: &mut Findings, s: &Sighting, i: usize) {
    let (key, v, mod_revision) = (s.key, s.value, s.revision);
    let Some(&w) = model.writer.get(&(key, v)) else {
        found.violation(
            model,
            "unwritten-value",
            key,
            format!("read {v:?}, which no operation wrote"),
            &[i],
        );
        return;
    };
    match model.seen_at.get(&(key, v)) {
        Some(&(m, j)) if m != mod_revision => {
            found.violation(
                model,
                "duplicated-write",
                key,
                format!("{v:?} was seen at mod_revision {m} and at {mod_revision}: written twice"),
                &[w, j, i],
            );
        }
        _ => {}
    }
    match &model.ops[w].outcome {
        Outcome::Wrote { revision } if *revision != mod_revision => found.violation(
            model,
            "duplicated-write",
            key,
            format!(
                "{v:?} was written at revision {revision} but read at mod_revision {mod_revision}"
            ),
            &[w, i],
        ),
        Outcome::Failed { .. } => found.violation(
            model,
            "failed-write-took-effect",
            key,
            format!("{v:?} was read although its write was refused"),
            &[w, i],
        ),
        _ => {}
    }
}

fn watched_value(model: &Model, found: &mut Findings, s: &Sighting, d: usize, e: &WatchEvent) {
    let (key, v) = (s.key, s.value);
    let seen = Some((d, event_text(e)));
    let Some(&w) = model.writer.get(&(key, v)) else {
        found.violation_seen(
            model,
            "unwritten-value",
            key,
            format!("the watch delivered {v:?}, which no operation wrote"),
            &[],
            seen,
        );
        return;
    };
    match model.seen_at.get(&(key, v)) {
        Some(&(m, j)) if m != e.revision => {
            found.violation_seen(
                model,
                "duplicated-write",
                key,
                format!("{v:?} was read at mod_revision {m} and delivered by the watch at {}: written twice", e.revision),
                &[w, j],
                seen,
            );
            return;
        }
        _ => {}
    }
    match &model.ops[w].outcome {
        Outcome::Wrote { revision } if *revision != e.revision => found.violation_seen(
            model,
            "duplicated-write",
            key,
            format!(
                "{v:?} was written at revision {revision} but the watch delivered it at {}",
                e.revision
            ),
            &[w],
            seen,
        ),
        Outcome::Failed { .. } => found.violation_seen(
            model,
            "failed-write-took-effect",
            key,
            format!("the watch delivered {v:?} although its write was refused"),
            &[w],
            seen,
        ),
        _ => {}
    }
}

/// Two writes of one key at one revision (in one epoch).
fn written_twice_at_one_revision(model: &Model, found: &mut Findings) {
    for (key, epochs) in &model.writes {
        for list in epochs.values() {
            for pair in list.windows(2) {
                if pair[0].rev == pair[1].rev {
                    found.violation(
                        model,
                        "duplicated-write",
                        key,
                        format!("two writes of this key at revision {}", pair[0].rev),
                        &[pair[0].op, pair[1].op],
                    );
                }
            }
        }
    }
}
