//! Values: every value read was written by some operation, at the `mod_revision` the read
//! reports, and no value was written twice; likewise every value the watch delivered, at the
//! event's revision.

use super::describe::event_text;
use super::findings::{Budget, Findings};
use super::model::{By, Model, Sighting, Values};
use crate::record::Outcome;

pub(super) fn check(model: &Model, values: &Values, budget: &Budget) -> Findings {
    Findings::collect(|found| {
        for &(key, v, before, i) in &values.rewrites {
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
            check_sighting(model, values, found, &s);
        }
        written_twice_at_one_revision(model, found);
        Ok(())
    })
}

/// A value a read or the watch saw was written, by a write that was not refused, at the
/// revision it was seen at, and seen nowhere else. The two differ only in their words and in
/// who takes part: the reading operation, or the watch delivery.
fn check_sighting(model: &Model, values: &Values, found: &mut Findings, s: &Sighting) {
    let (key, v, at) = (s.key, s.value, s.revision);
    let watched = matches!(s.by, By::Watch(..));
    let Some(value) = values.by_value.get(&(key, v)) else {
        let why = if watched {
            format!("the watch delivered {v:?}, which no operation wrote")
        } else {
            format!("read {v:?}, which no operation wrote")
        };
        report(model, found, s, "unwritten-value", why, &[]);
        return;
    };
    let w = value.writer;
    if let Some((m, j)) = value.seen.filter(|(m, _)| *m != at) {
        let why = if watched {
            format!("{v:?} was read at mod_revision {m} and delivered by the watch at {at}: written twice")
        } else {
            format!("{v:?} was seen at mod_revision {m} and at {at}: written twice")
        };
        report(model, found, s, "duplicated-write", why, &[w, j]);
        // A watch event reports this alone; a read, also against its writer's revision.
        if watched {
            return;
        }
    }
    match &model.ops[w].outcome {
        Outcome::Wrote { revision } if *revision != at => {
            let why = if watched {
                format!(
                    "{v:?} was written at revision {revision} but the watch delivered it at {at}"
                )
            } else {
                format!("{v:?} was written at revision {revision} but read at mod_revision {at}")
            };
            report(model, found, s, "duplicated-write", why, &[w]);
        }
        Outcome::Failed { .. } => {
            let why = if watched {
                format!("the watch delivered {v:?} although its write was refused")
            } else {
                format!("{v:?} was read although its write was refused")
            };
            report(model, found, s, "failed-write-took-effect", why, &[w]);
        }
        _ => {}
    }
}

/// A violation that sighting `s` takes part in, after the operations `ops`: the reading
/// operation, or the watch delivery and its event.
fn report(
    model: &Model,
    found: &mut Findings,
    s: &Sighting,
    kind: &str,
    why: String,
    ops: &[usize],
) {
    match s.by {
        By::Op(i) => found.violation(model, kind, s.key, why, &[ops, &[i]].concat()),
        By::Watch(d, e) => {
            found.violation_seen(model, kind, s.key, why, ops, Some((d, event_text(e))))
        }
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

#[cfg(test)]
mod tests {
    use super::super::testkit::*;

    #[test]
    fn a_value_seen_at_two_revisions_was_written_twice() {
        let mut h = clean();
        h.op(2, 31, 33, get("/o"), read(6, Some("b"), 9));
        assert!(kinds(&h.check()).contains(&"duplicated-write"));
    }

    #[test]
    fn a_value_nobody_wrote_is_caught() {
        let mut h = clean();
        h.op(2, 31, 33, get("/o"), read(6, Some("zz"), 6));
        assert!(kinds(&h.check()).contains(&"unwritten-value"));
    }
}
