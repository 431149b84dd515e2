//! The linearizability check on a real history: `tests/fixtures/history/kubernetes-kill-restore.jsonl`
//! was recorded by a drill (Kubernetes-shaped traffic from 8 clients through a leader kill, a
//! snapshot, a disaster and a restore, etcd 3.5.30). Unedited it passes; edited to hold each
//! anomaly Jepsen and etcd's robustness tests look for, it is caught. No Docker needed.

use etcd_drill::checks::linearizable::{check, read};
use etcd_drill::record::{
    HistoryLine, HistoryOp, LinearizabilityRecord, LinearizableOutcome, Outcome, Request,
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
