//! The linearizability check on a real history: `tests/fixtures/history/kubernetes-kill-restore.jsonl`
//! was recorded by a drill (Kubernetes-shaped traffic from 8 clients through a leader kill, a
//! snapshot, a disaster and a restore, etcd 3.5.30, with the watch's deliveries, leases kept
//! alive, revoked and left to expire). Unedited it passes; edited to hold each anomaly Jepsen
//! and etcd's robustness tests look for, it is caught. No Docker needed.

use etcd_drill::checks::linearizable::{check, read};
use etcd_drill::record::{
    HistoryLine, HistoryOp, LinearizabilityRecord, LinearizableOutcome, Outcome, Request,
    WatchDelivery,
};
use std::time::Duration;

fn recorded() -> Vec<HistoryLine> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/history/kubernetes-kill-restore.jsonl");
    read(&path).expect("the recorded history reads")
}

fn checked(h: &[HistoryLine]) -> LinearizabilityRecord {
    check(h.to_vec(), Duration::from_secs(60))
}

fn ops(h: &[HistoryLine]) -> Vec<(usize, &HistoryOp)> {
    h.iter()
        .enumerate()
        .filter_map(|(i, l)| match l {
            HistoryLine::Op(o) => Some((i, o)),
            _ => None,
        })
        .collect()
}

fn op_mut(h: &mut [HistoryLine], i: usize) -> &mut HistoryOp {
    match &mut h[i] {
        HistoryLine::Op(o) => o,
        _ => unreachable!("an operation's line"),
    }
}

/// Acknowledged writes of a key in one epoch, by revision: (revision, value, op).
fn writes<'a>(h: &'a [HistoryLine], key: &str, epoch: u64) -> Vec<(i64, String, &'a HistoryOp)> {
    let mut w: Vec<_> = ops(h)
        .into_iter()
        .filter(|(_, o)| o.request.key() == key && o.epoch == epoch)
        .filter_map(|(_, o)| match (&o.outcome, o.request.value()) {
            (Outcome::Wrote { revision }, Some(v)) => Some((*revision, v.to_string(), o)),
            _ => None,
        })
        .collect();
    w.sort_by_key(|(r, _, _)| *r);
    w
}

/// A linearizable read of an object that saw a value some earlier acknowledged write
/// replaced: (line, the write it saw, the write before that).
fn read_with_an_older_write(
    h: &[HistoryLine],
    epoch: u64,
    seen_returned_before_call: bool,
) -> (usize, (i64, String), (i64, String)) {
    for (i, o) in ops(h) {
        let (
            Request::Get {
                key,
                serializable: false,
            },
            Outcome::Read {
                value: Some(v),
                mod_revision,
                ..
            },
        ) = (&o.request, &o.outcome)
        else {
            continue;
        };
        if o.epoch != epoch || !key.starts_with("/drill/objects/") {
            continue;
        }
        let w = writes(h, key, epoch);
        let Some(at) = w
            .iter()
            .position(|(r, val, _)| r == mod_revision && val == v)
        else {
            continue;
        };
        if at == 0 {
            continue;
        }
        if seen_returned_before_call && w[at].2.return_us >= o.call_us {
            continue;
        }
        return (
            i,
            (w[at].0, w[at].1.clone()),
            (w[at - 1].0, w[at - 1].1.clone()),
        );
    }
    panic!("the recorded history has no such read");
}

/// Makes the read on line `i` see `value` at `mod_revision` (its header revision kept).
fn sees(h: &mut [HistoryLine], i: usize, value: String, at: i64) {
    if let Outcome::Read {
        value: v,
        mod_revision,
        ..
    } = &mut op_mut(h, i).outcome
    {
        *v = Some(value);
        *mod_revision = at;
    }
}

fn kinds(r: &LinearizabilityRecord) -> Vec<String> {
    r.violations.iter().map(|v| v.kind.clone()).collect()
}

#[test]
fn the_recorded_history_is_linearizable_and_counts_what_the_restore_rolled_back() {
    let h = recorded();
    let r = checked(&h);
    assert_eq!(
        r.outcome,
        LinearizableOutcome::Linearizable,
        "{:?}",
        r.violations
    );
    assert!(r.checked > 500, "{}", r.summary());
    assert!(r.rolled_back > 0, "{}", r.summary());
    assert!(h.iter().any(|l| matches!(l, HistoryLine::Restore(_))));
    // The watch's streams before and after the restore, and leases of every fate, are in it.
    assert!(
        r.watch.streams >= 2 && r.watch.checked > 500,
        "{}",
        r.summary()
    );
    let l = &r.leases;
    assert!(
        l.kept_alive > 0 && l.revoked > 0 && l.expired > 0,
        "{}",
        r.summary()
    );
}

/// The watch deliveries, with their line numbers.
fn deliveries(h: &mut [HistoryLine]) -> Vec<(usize, &mut WatchDelivery)> {
    h.iter_mut()
        .enumerate()
        .filter_map(|(i, l)| match l {
            HistoryLine::Watch(d) => Some((i, d)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_watch_event_dropped_from_its_stream_is_caught() {
    let mut h = recorded();
    // An object's put in the middle of the first stream, not its last event.
    let (_, d) = deliveries(&mut h)
        .into_iter()
        .filter(|(_, d)| d.stream == 1)
        .nth(100)
        .expect("a hundred deliveries in the first stream");
    let dropped = d.events.remove(0);
    if d.events.is_empty() {
        d.events.push(etcd_drill::record::WatchEvent {
            key: "/not/the/workloads".into(),
            revision: dropped.revision,
            value: None,
        });
    }
    let r = checked(&h);
    assert_eq!(kinds(&r), ["watch-missed-event"], "{}", r.summary());
    assert!(r.violations[0]
        .why
        .contains(&format!("revision {}", dropped.revision)));
}

#[test]
fn a_watch_event_with_the_value_before_is_caught() {
    let mut h = recorded();
    // An update of an object delivered with the value the object held before it.
    let target = ops(&h).into_iter().find_map(|(_, o)| {
        let w = writes(&h, o.request.key(), 0);
        let at = w.iter().position(|(_, _, x)| x.id == o.id)?;
        (at > 0 && o.request.key().starts_with("/drill/objects/"))
            .then(|| (o.request.key().to_string(), w[at].0, w[at - 1].1.clone()))
    });
    let (key, rev, before) = target.expect("an object written twice");
    let mut edited = false;
    for (_, d) in deliveries(&mut h) {
        for e in &mut d.events {
            if e.key == key && e.revision == rev {
                e.value = Some(before.clone());
                edited = true;
            }
        }
    }
    assert!(edited, "the watch delivered {key} at {rev}");
    let r = checked(&h);
    assert!(
        kinds(&r).contains(&"watch-wrong-event".to_string()),
        "{}",
        r.summary()
    );
}

#[test]
fn a_leased_key_deleted_before_its_lease_could_expire_is_caught() {
    let mut h = recorded();
    // A delete the watch delivered of a key of a lease nobody revoked: the lease expired.
    // Delivered a millisecond after the key was put, it came before the TTL could run out.
    let revoked: Vec<i64> = ops(&h)
        .into_iter()
        .filter_map(|(_, o)| match o.request {
            Request::LeaseRevoke { lease } => Some(lease),
            _ => None,
        })
        .collect();
    let puts: Vec<(String, u64)> = ops(&h)
        .into_iter()
        .filter(|(_, o)| matches!(o.outcome, Outcome::Wrote { .. }))
        .filter(|(_, o)| {
            matches!(o.request, Request::Put { lease: Some(l), .. } if !revoked.contains(&l))
        })
        .map(|(_, o)| (o.request.key().to_string(), o.call_us))
        .collect();
    let mut moved = None;
    for (_, d) in deliveries(&mut h) {
        if moved.is_some() || d.epoch != 0 || d.events.len() != 1 {
            continue;
        }
        let e = &d.events[0];
        if e.value.is_some() {
            continue;
        }
        if let Some((_, call)) = puts.iter().find(|(k, _)| *k == e.key) {
            d.at_us = call + 1000;
            moved = Some(e.key.clone());
        }
    }
    let key = moved.expect("an expired lease's key deleted on its own delivery");
    let r = checked(&h);
    assert_eq!(kinds(&r), ["lease-expired-early"], "{}", r.summary());
    assert_eq!(r.violations[0].key, key);
}

#[test]
fn a_stale_read_is_caught() {
    let mut h = recorded();
    // A read called after the write it saw had returned now sees the write before, at that
    // write's revision: consistent in itself, but it missed a completed write.
    let (i, _, (prev_rev, prev_value)) = read_with_an_older_write(&h, 0, true);
    op_mut(&mut h, i).outcome = Outcome::Read {
        revision: prev_rev,
        value: Some(prev_value),
        mod_revision: prev_rev,
    };
    let r = checked(&h);
    assert_eq!(r.outcome, LinearizableOutcome::Violated);
    assert!(
        kinds(&r).contains(&"stale-read".to_string()),
        "{:?}",
        r.violations
    );
}

#[test]
fn a_lost_write_is_caught() {
    let mut h = recorded();
    // At its own revision the read misses the newest acknowledged write.
    let (i, _, (prev_rev, prev_value)) = read_with_an_older_write(&h, 0, false);
    sees(&mut h, i, prev_value, prev_rev);
    let r = checked(&h);
    assert!(
        kinds(&r).contains(&"lost-write".to_string()),
        "{:?}",
        r.violations
    );
}

#[test]
fn a_duplicated_write_is_caught() {
    let mut h = recorded();
    let (i, (rev, _), _) = read_with_an_older_write(&h, 0, false);
    if let Outcome::Read { mod_revision, .. } = &mut op_mut(&mut h, i).outcome {
        *mod_revision = rev + 1;
    }
    let r = checked(&h);
    assert!(
        kinds(&r).contains(&"duplicated-write".to_string()),
        "{:?}",
        r.violations
    );
}

#[test]
fn a_compare_and_swap_that_succeeded_twice_is_caught() {
    let mut h = recorded();
    // Two successful updates of one object in a row: the second now expected what the first
    // expected, so both succeeded on the same revision.
    let updates: Vec<(usize, String, i64, i64)> = ops(&h)
        .into_iter()
        .filter_map(|(i, o)| match (&o.request, &o.outcome) {
            (Request::Update { key, expect, .. }, Outcome::Wrote { revision }) if o.epoch == 0 => {
                Some((i, key.clone(), *expect, *revision))
            }
            _ => None,
        })
        .collect();
    let (second, first_expect) = updates
        .iter()
        .find_map(|(i, key, expect, _)| {
            updates
                .iter()
                .find(|(_, k, _, rev)| k == key && rev == expect)
                .map(|(_, _, first_expect, _)| (*i, *first_expect))
        })
        .expect("two chained updates in the recorded history");
    if let Request::Update { expect, .. } = &mut op_mut(&mut h, second).request {
        *expect = first_expect;
    }
    let r = checked(&h);
    assert!(
        kinds(&r).contains(&"compare-and-swap".to_string()),
        "{:?}",
        r.violations
    );
}

#[test]
fn a_read_of_the_rolled_back_window_after_the_restore_is_caught() {
    let mut h = recorded();
    let restore = h
        .iter()
        .find_map(|l| match l {
            HistoryLine::Restore(r) => Some(r.clone()),
            _ => None,
        })
        .expect("a restore in the recorded history");
    // A read on the restored cluster now sees a write the restore rolled back.
    let (i, rolled) = ops(&h)
        .into_iter()
        .filter(|(_, o)| o.epoch == restore.epoch)
        .find_map(|(i, o)| {
            let Outcome::Read { .. } = o.outcome else {
                return None;
            };
            writes(&h, o.request.key(), restore.from_epoch)
                .into_iter()
                .find(|(rev, _, _)| *rev > restore.revision)
                .map(|(rev, v, _)| (i, (rev, v)))
        })
        .expect("a read after the restore of a key written after the snapshot");
    sees(&mut h, i, rolled.1, rolled.0);
    let r = checked(&h);
    assert!(
        kinds(&r).contains(&"rolled-back-read".to_string()),
        "{:?}",
        r.violations
    );
}

#[test]
fn a_key_of_a_revoked_lease_read_after_the_revoke_is_caught() {
    let mut h = recorded();
    // A read after an acknowledged revoke found the lease's key gone; now it sees it.
    let (i, put) = ops(&h)
        .into_iter()
        .find_map(|(_, revoke)| {
            let (Request::LeaseRevoke { lease }, Outcome::Wrote { .. }) =
                (&revoke.request, &revoke.outcome)
            else {
                return None;
            };
            let put = ops(&h)
                .into_iter()
                .find_map(|(_, p)| match (&p.request, &p.outcome) {
                    (
                        Request::Put {
                            lease: Some(l),
                            value,
                            ..
                        },
                        Outcome::Wrote { revision },
                    ) if l == lease => {
                        Some((p.request.key().to_string(), value.clone(), *revision))
                    }
                    _ => None,
                })?;
            ops(&h)
                .into_iter()
                .find_map(|(i, r)| match (&r.request, &r.outcome) {
                    (Request::Get { key, .. }, Outcome::Read { value: None, .. })
                        if *key == put.0 && r.call_us > revoke.return_us =>
                    {
                        Some((i, put.clone()))
                    }
                    _ => None,
                })
        })
        .expect("a read after a revoke in the recorded history");
    sees(&mut h, i, put.1, put.2);
    let r = checked(&h);
    assert!(
        kinds(&r).contains(&"revoked-lease-key-read".to_string()),
        "{:?}",
        r.violations
    );
}
