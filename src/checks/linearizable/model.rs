//! The model the passes check against, derived once from the history and then only read:
//! etcd's key-value state as the order of writes per key and epoch (a revoke's deletes
//! included), who wrote each value and where it was first seen, each lease's facts, and the
//! restore each epoch starts from.

use super::history::History;
use crate::record::{
    HistoryOp, ListedKv, Outcome, Request, RestoreMark, WatchDelivery, WatchEvent,
};
use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

/// A write placed in the order: a put (with its value) or a delete, at `rev` in `epoch`.
#[derive(Debug, Clone)]
pub(super) struct Write {
    pub(super) rev: i64,
    pub(super) epoch: u64,
    pub(super) op: usize,
    pub(super) value: Option<String>,
}

/// What the history says of one lease.
#[derive(Debug, Default)]
pub(super) struct LeaseFacts {
    /// The grant: (called at, TTL in seconds, epoch).
    pub(super) granted: Option<(u64, i64, u64)>,
    /// Keep-alives answered with a TTL: (called at, TTL in seconds).
    pub(super) renewed: Vec<(u64, i64)>,
    /// The first call of a revoke that was acknowledged or may have happened.
    pub(super) revoke_call: Option<u64>,
    /// The first call of a revoke that timed out.
    pub(super) unknown_revoke_call: Option<u64>,
}

impl LeaseFacts {
    /// The earliest the lease can have expired, as seen at `at_us`: its TTL counted from the
    /// grant's call or the latest keep-alive called before `at_us`, whichever is later.
    pub(super) fn earliest_expiry(&self, at_us: u64) -> Option<u64> {
        let (call, ttl, _) = self.granted?;
        let end = |c: u64, ttl: i64| c + ttl.max(0) as u64 * 1_000_000;
        Some(
            self.renewed
                .iter()
                .filter(|(c, _)| *c < at_us)
                .map(|&(c, t)| end(c, t))
                .fold(end(call, ttl), u64::max),
        )
    }
}

/// Why a key may be gone without a delete in the history.
pub(super) enum Gone {
    /// Its lease can have expired.
    Expired(i64),
    /// A revoke of its lease timed out, and may have happened.
    MaybeRevoked,
    /// A delete of it timed out, and may have happened.
    MaybeDeleted,
}

/// A value seen by a read (a get, a failed compare, a listed page) or delivered by the watch,
/// with the revision it was seen at.
pub(super) struct Sighting<'a> {
    pub(super) key: &'a str,
    pub(super) value: &'a str,
    /// The read's `mod_revision`, or the event's revision.
    pub(super) revision: i64,
    pub(super) by: By<'a>,
}

/// Who saw a value.
#[derive(Clone, Copy)]
pub(super) enum By<'a> {
    /// The operation at this index.
    Op(usize),
    /// The watch delivery at this index, in this event.
    Watch(usize, &'a WatchEvent),
}

/// What the history says of one value of one key.
pub(super) struct Value {
    /// The last operation that wrote it.
    pub(super) writer: usize,
    /// Where it was first seen: the revision, and the operation that saw it (for a watch
    /// event, its writer).
    pub(super) seen: Option<(i64, usize)>,
}

/// A value written again: (key, value, the operation that wrote it before, the one that wrote
/// it again).
pub(super) type Rewrite<'a> = (&'a str, &'a str, usize, usize);

/// Who wrote each value and where each was first seen: what places a timed-out write that a
/// read saw, and what the values pass checks. As large as the history's writes, and needed by
/// no other pass: kept apart from the model, to be dropped after that pass.
pub(super) struct Values<'a> {
    /// Each value some operation wrote, by (key, value).
    pub(super) by_value: HashMap<(&'a str, &'a str), Value>,
    /// Values written again, in the history's order.
    pub(super) rewrites: Vec<Rewrite<'a>>,
}

/// The history's facts, for the passes to read: built once, so that every pass checks against
/// the same order and none can change it for the next.
pub(super) struct Model<'a> {
    pub(super) ops: &'a [HistoryOp],
    pub(super) watches: &'a [WatchDelivery],
    restores: &'a [RestoreMark],
    /// Keys the workload's requests name: the only ones whose watch events are checked.
    pub(super) keys: HashSet<&'a str>,
    pub(super) leases: HashMap<i64, LeaseFacts>,
    /// Per key, the first call of a delete that timed out.
    unknown_deletes: HashMap<&'a str, u64>,
    /// Per epoch after the first: (the epoch its snapshot was cut in, the snapshot's revision).
    pub(super) base: HashMap<u64, (u64, i64)>,
    pub(super) restore_at: HashMap<u64, u64>,
    /// Per key, per epoch: writes in revision order.
    pub(super) writes: HashMap<&'a str, HashMap<u64, Vec<Write>>>,
}

impl<'a> Model<'a> {
    pub(super) fn new(history: &'a History) -> (Model<'a>, Values<'a>) {
        let (ops, restores) = (&history.ops[..], &history.restores[..]);
        let keys: HashSet<&str> = ops
            .iter()
            .filter(|o| !matches!(o.request, Request::List { .. }))
            .map(|o| o.request.key())
            .filter(|k| !k.is_empty())
            .collect();
        let values = Values::new(ops, sightings(ops, &history.watches, &keys));
        let mut model = Model {
            ops,
            watches: &history.watches,
            restores,
            keys,
            leases: lease_facts(ops),
            unknown_deletes: unknown_deletes(ops),
            base: restores
                .iter()
                .map(|r| (r.epoch, (r.from_epoch, r.revision)))
                .collect(),
            restore_at: restores.iter().map(|r| (r.epoch, r.at_us)).collect(),
            writes: HashMap::new(),
        };
        model.writes = model.placed_writes(&values);
        for (key, w) in model.revoke_deletes() {
            let list = model
                .writes
                .entry(key)
                .or_default()
                .entry(w.epoch)
                .or_default();
            list.push(w);
            list.sort_by_key(|w| w.rev);
        }
        (model, values)
    }

    /// Every value an operation read (gets, failed compares, lists), then every value the
    /// watch delivered of the workload's keys.
    pub(super) fn sightings(&self) -> impl Iterator<Item = Sighting<'a>> + '_ {
        sightings(self.ops, self.watches, &self.keys)
    }

    /// Every write with a known revision, per key and epoch, in revision order.
    fn placed_writes(&self, values: &Values) -> HashMap<&'a str, HashMap<u64, Vec<Write>>> {
        let mut writes: HashMap<&'a str, HashMap<u64, Vec<Write>>> = HashMap::new();
        for (i, o) in self.ops.iter().enumerate() {
            if matches!(
                o.request,
                Request::LeaseGrant { .. }
                    | Request::LeaseRevoke { .. }
                    | Request::LeaseKeepAlive { .. }
            ) {
                // A revoke writes the deletes of its keys (`revoke_deletes`), nothing of its own.
                continue;
            }
            let rev = match (&o.outcome, o.request.value()) {
                (Outcome::Wrote { revision }, _) => *revision,
                // A write that may have happened, and did: a read saw its value.
                (Outcome::Unknown { .. }, Some(v)) => {
                    match values
                        .by_value
                        .get(&(o.request.key(), v))
                        .and_then(|f| f.seen)
                    {
                        Some((m, _)) => m,
                        None => continue,
                    }
                }
                _ => continue,
            };
            writes
                .entry(o.request.key())
                .or_default()
                .entry(o.epoch)
                .or_default()
                .push(Write {
                    rev,
                    epoch: o.epoch,
                    op: i,
                    value: o.request.value().map(str::to_string),
                });
        }
        for list in writes.values_mut().flat_map(|per| per.values_mut()) {
            list.sort_by_key(|w| w.rev);
        }
        writes
    }

    /// A revoke that took effect at revision r deletes, at r, every key whose newest write
    /// before r is a put attached to that lease.
    fn revoke_deletes(&self) -> Vec<(&'a str, Write)> {
        let ops = self.ops;
        let mut added = Vec::new();
        for (i, o) in ops.iter().enumerate() {
            let (Request::LeaseRevoke { lease }, Outcome::Wrote { revision }) =
                (&o.request, &o.outcome)
            else {
                continue;
            };
            let mut keys: Vec<&str> = ops
                .iter()
                .filter(|p| matches!(p.request, Request::Put { lease: Some(l), .. } if l == *lease))
                .map(|p| p.request.key())
                .collect();
            keys.sort_unstable();
            keys.dedup();
            for key in keys {
                let attached = self.latest(key, o.epoch, revision - 1).is_some_and(|w| {
                    matches!(ops[w.op].request, Request::Put { lease: Some(l), .. } if l == *lease)
                });
                if attached {
                    added.push((
                        key,
                        Write {
                            rev: *revision,
                            epoch: o.epoch,
                            op: i,
                            value: None,
                        },
                    ));
                }
            }
        }
        added
    }

    /// The newest write of `key` at or below `rev` that the cluster of `epoch` holds: its own,
    /// else what the restored snapshot carried over from the epoch it was cut in.
    pub(super) fn latest(&self, key: &str, epoch: u64, rev: i64) -> Option<&Write> {
        let per = self.writes.get(key)?;
        let (mut e, mut bound) = (epoch, rev);
        loop {
            if let Some(list) = per.get(&e) {
                let n = list.partition_point(|w| w.rev <= bound);
                if n > 0 {
                    return Some(&list[n - 1]);
                }
            }
            let (from, s) = *self.base.get(&e)?;
            e = from;
            bound = bound.min(s);
        }
    }

    /// Why `key`, whose newest write is `before` (if the order holds one), may be gone at
    /// `at_us` without a delete the history places: a put's lease can have expired or been
    /// revoked by a revoke that timed out, or a delete of the key timed out.
    pub(super) fn may_be_gone(&self, before: Option<usize>, key: &str, at_us: u64) -> Option<Gone> {
        before
            .and_then(|put| self.lease_may_be_gone(put, at_us))
            .or_else(|| {
                self.unknown_delete_by(key, at_us)
                    .then_some(Gone::MaybeDeleted)
            })
    }

    /// Whether the key of this put may be gone at `at_us` without a delete the history
    /// places: its lease can have expired (its TTL counted from the grant or the latest
    /// keep-alive), or a revoke of it that timed out may have happened.
    fn lease_may_be_gone(&self, put: usize, at_us: u64) -> Option<Gone> {
        let Request::Put {
            lease: Some(lease), ..
        } = self.ops[put].request
        else {
            return None;
        };
        let facts = self.leases.get(&lease)?;
        if facts.unknown_revoke_call.is_some_and(|c| c < at_us) {
            return Some(Gone::MaybeRevoked);
        }
        facts
            .earliest_expiry(at_us)
            .filter(|t| *t <= at_us)
            .map(|_| Gone::Expired(lease))
    }

    /// A delete of `key` that timed out was called before `at_us`.
    pub(super) fn unknown_delete_by(&self, key: &str, at_us: u64) -> bool {
        self.unknown_deletes.get(key).is_some_and(|c| *c < at_us)
    }

    /// Whether a restore happened while the operation was in flight: it belongs to neither
    /// cluster's order.
    pub(super) fn across_restore(&self, o: &HistoryOp) -> bool {
        self.restores
            .iter()
            .any(|r| r.at_us > o.call_us && r.at_us <= o.return_us && r.epoch > o.epoch)
    }

    /// Acknowledged writes of each restored-from epoch above the restored revision.
    pub(super) fn rolled_back(&self) -> Vec<&'a HistoryOp> {
        self.restores
            .iter()
            .flat_map(|r| {
                self.ops.iter().filter(move |o| {
                    o.epoch == r.from_epoch
                        && matches!(o.outcome, Outcome::Wrote { revision } if revision > r.revision)
                })
            })
            .collect()
    }
}

/// Every value an operation read (gets, failed compares, lists), then every value the watch
/// delivered of `keys`.
fn sightings<'a, 'k>(
    ops: &'a [HistoryOp],
    watches: &'a [WatchDelivery],
    keys: &'k HashSet<&'a str>,
) -> impl Iterator<Item = Sighting<'a>> + 'k
where
    'a: 'k,
{
    let read = ops.iter().enumerate().flat_map(|(i, o)| {
        let none: &[ListedKv] = &[];
        let (one, page) = match &o.outcome {
            Outcome::Read {
                value: Some(v),
                mod_revision,
                ..
            } => (Some((o.request.key(), v.as_str(), *mod_revision)), none),
            Outcome::Listed { kvs, .. } => (None, &kvs[..]),
            _ => (None, none),
        };
        let page = page
            .iter()
            .map(|kv| (kv.key.as_str(), kv.value.as_str(), kv.mod_revision));
        one.into_iter()
            .chain(page)
            .map(move |(key, value, revision)| Sighting {
                key,
                value,
                revision,
                by: By::Op(i),
            })
    });
    // What the watch delivered of the workload's keys is observed too: a put event names
    // the write of its value, at its revision.
    let watched = watches.iter().enumerate().flat_map(move |(d, delivery)| {
        delivery.events.iter().filter_map(move |e| match &e.value {
            Some(v) if keys.contains(e.key.as_str()) => Some(Sighting {
                key: &e.key,
                value: v,
                revision: e.revision,
                by: By::Watch(d, e),
            }),
            _ => None,
        })
    });
    read.chain(watched)
}

impl<'a> Values<'a> {
    fn new(ops: &'a [HistoryOp], sightings: impl Iterator<Item = Sighting<'a>>) -> Values<'a> {
        let mut values: HashMap<(&str, &str), Value> = HashMap::new();
        let mut rewrites = Vec::new();
        for (i, o) in ops.iter().enumerate() {
            let Some(v) = o.request.value() else {
                continue;
            };
            let key = o.request.key();
            match values.entry((key, v)) {
                Entry::Occupied(mut e) => {
                    rewrites.push((key, v, e.get().writer, i));
                    e.get_mut().writer = i;
                }
                Entry::Vacant(e) => {
                    e.insert(Value {
                        writer: i,
                        seen: None,
                    });
                }
            }
        }
        for s in sightings {
            let Some(f) = values.get_mut(&(s.key, s.value)) else {
                continue;
            };
            let by = match s.by {
                By::Op(i) => i,
                By::Watch(..) => f.writer,
            };
            f.seen.get_or_insert((s.revision, by));
        }
        Values {
            by_value: values,
            rewrites,
        }
    }
}

/// Per key, the first call of a delete that timed out.
fn unknown_deletes(ops: &[HistoryOp]) -> HashMap<&str, u64> {
    let mut first_calls: HashMap<&str, u64> = HashMap::new();
    for o in ops {
        if let (Request::Delete { key }, Outcome::Unknown { .. }) = (&o.request, &o.outcome) {
            let first = first_calls.entry(key).or_insert(o.call_us);
            *first = (*first).min(o.call_us);
        }
    }
    first_calls
}

/// Each lease's grant, keep-alives and revokes.
fn lease_facts(ops: &[HistoryOp]) -> HashMap<i64, LeaseFacts> {
    let mut facts: HashMap<i64, LeaseFacts> = HashMap::new();
    for o in ops {
        match (&o.request, &o.outcome) {
            (Request::LeaseGrant { .. }, Outcome::Granted { lease, ttl }) => {
                facts.entry(*lease).or_default().granted = Some((o.call_us, *ttl, o.epoch));
            }
            (Request::LeaseKeepAlive { lease }, Outcome::KeptAlive { ttl }) if *ttl > 0 => {
                facts
                    .entry(*lease)
                    .or_default()
                    .renewed
                    .push((o.call_us, *ttl));
            }
            (Request::LeaseRevoke { lease }, outcome) => {
                let f = facts.entry(*lease).or_default();
                let first = |at: Option<u64>| Some(at.map_or(o.call_us, |a| a.min(o.call_us)));
                match outcome {
                    Outcome::Wrote { .. } => f.revoke_call = first(f.revoke_call),
                    Outcome::Unknown { .. } => {
                        f.revoke_call = first(f.revoke_call);
                        f.unknown_revoke_call = first(f.unknown_revoke_call);
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    facts
}
