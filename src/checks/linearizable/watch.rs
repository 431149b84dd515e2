//! Watch: what the watch delivered of the workload's keys. Each event is the write the order
//! holds at its revision (its value, or a delete), arrives after that write was called, in
//! revision order; a stream misses none of the history's writes between the revision it was
//! opened from and the last it delivered. A delete the history does not hold is a lease that
//! expired (never before its TTL) or a delete that timed out.

use super::describe::event_text;
use super::findings::{Budget, Findings};
use super::model::{Gone, Model};
use crate::checks::watch::Placed;
use crate::record::{Request, StreamOrder, WatchEvent, WatchHistoryRecord};
use std::collections::{HashMap, HashSet};

/// What one watch stream delivered.
struct Stream<'a> {
    epoch: u64,
    from: i64,
    /// Where the stream stands, placed as the online continuity check places events.
    order: StreamOrder,
    /// A delivery of the stream, to name in a violation.
    delivery: usize,
    delivered: HashSet<(i64, &'a str)>,
}

/// Checks every delivery, then what each stream missed; with the streams and events counted.
pub(super) fn check(model: &Model, budget: &Budget) -> (Findings, WatchHistoryRecord) {
    let mut counts = WatchHistoryRecord::default();
    let found = Findings::collect(|found| {
        let mut streams: HashMap<u64, Stream> = HashMap::new();
        for (d, delivery) in model.watches.iter().enumerate() {
            budget.check(d)?;
            let stream = streams.entry(delivery.stream).or_insert_with(|| Stream {
                epoch: delivery.epoch,
                from: delivery.from,
                order: StreamOrder::default(),
                delivery: d,
                delivered: HashSet::new(),
            });
            deliver(model, found, &mut counts, stream, d);
        }
        let mut streams: Vec<Stream> = streams.into_values().collect();
        streams.sort_by_key(|s| s.delivery);
        counts.streams = streams.len() as u64;
        missed_events(model, budget, found, &streams)
    });
    (found, counts)
}

/// The events of delivery `d`, in its stream.
fn deliver<'a>(
    model: &Model<'a>,
    found: &mut Findings,
    counts: &mut WatchHistoryRecord,
    stream: &mut Stream<'a>,
    d: usize,
) {
    let watches = model.watches;
    let mut order_broken = None;
    let mut before_start = false;
    for e in &watches[d].events {
        counts.events += 1;
        // Once a delivery: the first event below where the stream was opened from.
        if e.revision < stream.from && !before_start {
            before_start = true;
            found.violation_seen(
                model,
                "watch-before-start",
                &e.key,
                format!(
                    "the stream opened from revision {} on member {} delivered revision {}",
                    stream.from,
                    watches[d].member + 1,
                    e.revision
                ),
                &[],
                Some((d, event_text(e))),
            );
        }
        let placed = stream.order.place(e.revision, e.key.as_bytes());
        if let (Placed::Back { from }, None) = (placed, order_broken) {
            order_broken = Some((e, from));
        }
        let key = e.key.as_str();
        if !model.keys.contains(key) {
            continue;
        }
        counts.checked += 1;
        // A repeat of the last revision, or of one further back.
        if !stream.delivered.insert((e.revision, key)) {
            found.violation_seen(
                model,
                "watch-out-of-order",
                key,
                format!(
                    "the stream delivered revision {} of this key twice",
                    e.revision
                ),
                &[],
                Some((d, event_text(e))),
            );
            continue;
        }
        check_event(model, found, d, e);
    }
    if let Some((e, last)) = order_broken {
        found.violation_seen(
            model,
            "watch-out-of-order",
            &e.key,
            format!(
                "the stream delivered revision {} after revision {last}",
                e.revision
            ),
            &[],
            Some((d, event_text(e))),
        );
    }
}

/// Event `e` of delivery `d` is the write the order holds at its revision, delivered after
/// that write was called.
fn check_event(model: &Model, found: &mut Findings, d: usize, e: &WatchEvent) {
    let delivery = &model.watches[d];
    let key = e.key.as_str();
    match model.latest(key, delivery.epoch, e.revision) {
        Some(w) if w.rev == e.revision => {
            if w.value != e.value {
                found.violation_seen(
                    model,
                    "watch-wrong-event",
                    key,
                    format!(
                        "at revision {} the key's write is {}, but the watch delivered {}",
                        e.revision,
                        w.value
                            .as_ref()
                            .map_or("a delete".to_string(), |v| format!("{v:?}")),
                        e.value
                            .as_ref()
                            .map_or("a delete".to_string(), |v| format!("{v:?}")),
                    ),
                    &[w.op],
                    Some((d, event_text(e))),
                );
            } else if model.ops[w.op].call_us > delivery.at_us {
                found.violation_seen(
                    model,
                    "watch-before-write",
                    key,
                    "the watch delivered this write before it was called".into(),
                    &[w.op],
                    Some((d, event_text(e))),
                );
            }
        }
        before => unplaced_event(model, found, d, e, before.map(|w| w.op)),
    }
}

/// An event at a revision where the order holds no write of its key.
fn unplaced_event(
    model: &Model,
    found: &mut Findings,
    d: usize,
    e: &WatchEvent,
    before: Option<usize>,
) {
    let delivery = &model.watches[d];
    let seen = Some((d, event_text(e)));
    if e.value.is_some() {
        // Its value's writer is in another cluster's order (rolled back by a restore), or
        // the value was already reported (unwritten, or written at another revision).
        let rolled_back = model
            .writes
            .get(e.key.as_str())
            .into_iter()
            .flat_map(|per| per.values().flatten())
            .find(|w| w.value == e.value && w.rev == e.revision)
            .map(|w| w.op);
        if let Some(w) = rolled_back {
            found.violation_seen(
                model,
                "rolled-back-read",
                &e.key,
                "the watch delivered a write that the restore rolled back".into(),
                &[w],
                seen,
            );
        }
        return;
    }
    // A delete nobody acknowledged.
    match model.may_be_gone(before, &e.key, delivery.at_us) {
        Some(Gone::Expired(lease)) => {
            found.expired.insert(lease);
            return;
        }
        Some(Gone::MaybeRevoked | Gone::MaybeDeleted) => return,
        None => {}
    }
    let leased = before.and_then(|p| match model.ops[p].request {
        Request::Put { lease: Some(l), .. } => Some(l),
        _ => None,
    });
    let same_cluster = leased
        .and_then(|l| model.leases.get(&l))
        .and_then(|f| f.granted)
        .is_some_and(|(_, _, epoch)| epoch == delivery.epoch);
    match leased {
        Some(lease) if same_cluster => found.violation_seen(
            model,
            "lease-expired-early",
            &e.key,
            format!("the watch delivered the delete of a key of lease {lease:x} before the lease's TTL could run out"),
            &before.into_iter().collect::<Vec<_>>(),
            seen,
        ),
        // A lease granted before a restore lives on in the restored cluster with a fresh
        // TTL: nothing to compare.
        Some(_) => {}
        None => found.violation_seen(
            model,
            "watch-phantom-delete",
            &e.key,
            "the watch delivered a delete that no operation made".into(),
            &before.into_iter().collect::<Vec<_>>(),
            seen,
        ),
    }
}

/// Each stream delivers every write of the order between the revision it was opened from
/// and the last it delivered, in its cluster (and what that cluster's snapshot carried
/// over).
fn missed_events(
    model: &Model,
    budget: &Budget,
    found: &mut Findings,
    streams: &[Stream],
) -> Result<(), String> {
    let mut by_epoch: HashMap<u64, Vec<(i64, &str, usize)>> = HashMap::new();
    for (key, per) in &model.writes {
        for (epoch, list) in per {
            let v = by_epoch.entry(*epoch).or_default();
            v.extend(list.iter().map(|w| (w.rev, *key, w.op)));
        }
    }
    for v in by_epoch.values_mut() {
        v.sort_unstable();
    }
    let mut n = 0usize;
    for s in streams {
        let (mut epoch, lo, mut hi) = (s.epoch, s.from, s.order.last());
        loop {
            if let Some(list) = by_epoch.get(&epoch) {
                let start = list.partition_point(|w| w.0 < lo);
                for &(rev, key, op) in list[start..].iter().take_while(|w| w.0 <= hi) {
                    n += 1;
                    budget.check(n)?;
                    if !s.delivered.contains(&(rev, key)) {
                        found.violation_seen(
                            model,
                            "watch-missed-event",
                            key,
                            format!(
                                "the stream opened from revision {} delivered up to {} but not this write at revision {rev}",
                                s.from, s.order.last()
                            ),
                            &[op],
                            Some((s.delivery, format!("events up to revision {}", s.order.last()))),
                        );
                    }
                }
            }
            let Some(&(from, cut)) = model.base.get(&epoch) else {
                break;
            };
            epoch = from;
            hi = hi.min(cut);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use crate::record::{LinearizableOutcome, Outcome, Request};

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
    fn a_watch_that_delivers_below_the_revision_it_was_opened_from_is_caught() {
        // etcd#20221: a watch opened on a future revision, lowered by the member's restore from
        // a raft snapshot, delivers what was written before its start revision.
        let mut h = clean();
        h.watch(1, 7, 31, &[("/o", 6, Some("b"))]);
        let r = h.check();
        assert_eq!(kinds(&r), ["watch-before-start"]);
        assert!(
            r.violations[0].why.contains("opened from revision 7"),
            "{:?}",
            r.violations
        );
        // From the revision it delivers, nothing is wrong.
        let mut h = clean();
        h.watch(1, 6, 31, &[("/o", 6, Some("b"))]);
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
}
