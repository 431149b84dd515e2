//! What a worker sends next, and nothing else: the operation's kind from the plan's mix, its
//! request (sequenced puts, reads of recent keys, compare-and-swap updates of shared objects,
//! deletes, lease lives, paged lists), all from the worker's own seeded generator and what it
//! learned from earlier answers. Pure: no etcd, no clock.

use crate::plan::WorkloadPlan;
use crate::record::{OpKind, Outcome, Request};
use rand::Rng;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// The objects updates, deletes and object reads share.
pub const OBJECTS_PREFIX: &str = "/drill/objects/";

pub fn key(plan: &WorkloadPlan, seq: u64) -> String {
    format!("{}{seq:012}", plan.key_prefix)
}

/// One worker's traffic: its generator, what it learned of the objects, its lease's life and
/// its list in progress.
pub(super) struct Traffic {
    index: usize,
    rng: rand_chacha::ChaCha8Rng,
    /// What this worker last saw of each object's mod_revision: an informer's cache.
    cache: HashMap<String, i64>,
    /// Values this worker wrote: each is unique, so a read tells which write it saw.
    written: u64,
    lease: LeaseLife,
    /// A list in progress: the first page's revision and where the next page starts.
    listing: Option<(i64, String)>,
}

impl Traffic {
    pub(super) fn new(index: usize, rng: rand_chacha::ChaCha8Rng) -> Traffic {
        Traffic {
            index,
            rng,
            cache: HashMap::new(),
            written: 0,
            lease: LeaseLife::default(),
            listing: None,
        }
    }

    /// The next operation: its kind, its request and, for a put of the sequence, its number
    /// (`next_seq` is shared by every worker).
    pub(super) fn next(
        &mut self,
        plan: &WorkloadPlan,
        next_seq: &AtomicU64,
    ) -> (OpKind, Request, Option<u64>) {
        let kind = pick(plan, &mut self.rng);
        let (request, seq) = match kind {
            OpKind::Lease => (
                self.lease
                    .next(self.index, &mut self.written, &mut self.rng),
                None,
            ),
            OpKind::List => (list_page(&self.listing), None),
            _ => request(
                plan,
                next_seq,
                kind,
                &mut self.rng,
                self.index,
                &self.cache,
                &mut self.written,
            ),
        };
        (kind, request, seq)
    }

    /// What an answer taught: an object's revision, the lease's state, the list's next page.
    pub(super) fn learn(&mut self, request: &Request, outcome: &Outcome) {
        remember(&mut self.cache, request, outcome);
        self.lease.learn(request, outcome);
        if let Request::List { .. } = request {
            self.listing = match outcome {
                Outcome::Listed {
                    revision,
                    kvs,
                    more: true,
                } => kvs.last().map(|kv| (*revision, format!("{}\0", kv.key))),
                _ => None,
            };
        }
    }
}

fn pick(plan: &WorkloadPlan, rng: &mut impl Rng) -> OpKind {
    let m = &plan.mix;
    let weights = [
        (OpKind::Put, m.put),
        (OpKind::LinearizableGet, m.linearizable_get),
        (OpKind::SerializableGet, m.serializable_get),
        (OpKind::Update, m.update),
        (OpKind::Delete, m.delete),
        (OpKind::ObjectGet, m.object_get),
        (OpKind::Lease, m.lease),
        (OpKind::List, m.list),
    ];
    let total: u32 = weights.iter().map(|(_, w)| w).sum();
    let mut r = rng.random_range(0..total.max(1));
    for (kind, w) in weights {
        if r < w {
            return kind;
        }
        r -= w;
    }
    OpKind::Put
}

/// The request of one operation of `kind`, and for a put of the sequence its number. Values are
/// unique (a worker's own counter), so a read tells which write it saw.
fn request(
    plan: &WorkloadPlan,
    next_seq: &AtomicU64,
    kind: OpKind,
    rng: &mut rand_chacha::ChaCha8Rng,
    worker: usize,
    cache: &HashMap<String, i64>,
    written: &mut u64,
) -> (Request, Option<u64>) {
    let object = |rng: &mut rand_chacha::ChaCha8Rng| {
        format!(
            "{OBJECTS_PREFIX}{:03}",
            rng.random_range(0..plan.objects.max(1))
        )
    };
    let mut value = || {
        *written += 1;
        format!("w{worker}-{written}")
    };
    match kind {
        OpKind::Put => {
            let seq = next_seq.fetch_add(1, Ordering::SeqCst);
            (
                Request::Put {
                    key: key(plan, seq),
                    value: seq.to_string(),
                    lease: None,
                },
                Some(seq),
            )
        }
        OpKind::LinearizableGet | OpKind::SerializableGet => {
            let written = next_seq.load(Ordering::SeqCst);
            let lo = written.saturating_sub(plan.read_range);
            let target = if written == 0 {
                0
            } else {
                rng.random_range(lo..written)
            };
            (
                Request::Get {
                    key: key(plan, target),
                    serializable: kind == OpKind::SerializableGet,
                },
                None,
            )
        }
        OpKind::ObjectGet => (
            Request::Get {
                key: object(rng),
                serializable: false,
            },
            None,
        ),
        OpKind::Delete => (Request::Delete { key: object(rng) }, None),
        // Lease steps come from the worker's `LeaseLife`, list pages from its list.
        OpKind::Lease => (Request::LeaseGrant { ttl: LEASE_TTL }, None),
        OpKind::List => (list_page(&None), None),
        OpKind::Update => {
            let key = object(rng);
            let expect = cache.get(&key).copied().unwrap_or(0);
            (
                Request::Update {
                    key,
                    expect,
                    value: value(),
                },
                None,
            )
        }
    }
}

/// Keys a page of a list holds at most.
const PAGE: i64 = 5;

/// The next page of a list of the objects: the first (at the latest revision), or the one
/// after `listing`'s last key at its first page's revision.
fn list_page(listing: &Option<(i64, String)>) -> Request {
    let end = crate::keyspace::prefix_end(OBJECTS_PREFIX.as_bytes());
    let end = String::from_utf8_lossy(&end).into_owned();
    match listing {
        None => Request::List {
            start: OBJECTS_PREFIX.into(),
            end,
            limit: PAGE,
            revision: 0,
        },
        Some((revision, from)) => Request::List {
            start: from.clone(),
            end,
            limit: PAGE,
            revision: *revision,
        },
    }
}

/// Leases live this long unless revoked (etcd may grant more: its minimum is 1.5 election
/// timeouts).
const LEASE_TTL: i64 = 3;

/// Keys attached to leases live under this prefix.
pub const LEASES_PREFIX: &str = "/drill/leases/";

/// A worker's lease, step by step: grant, two puts attached to it, then, at random, a revoke,
/// a keep-alive, or nothing; then a read of one of its keys (gone after a revoke; there after a
/// keep-alive; maybe gone after the TTL) and a new grant. A lease kept alive or left alone
/// expires, which the watch delivers as deletes of its keys.
#[derive(Default)]
struct LeaseLife {
    lease: Option<i64>,
    keys: Vec<String>,
    read_next: Option<String>,
}

impl LeaseLife {
    fn next(&mut self, worker: usize, written: &mut u64, rng: &mut impl Rng) -> Request {
        if let Some(key) = self.read_next.take() {
            return Request::Get {
                key,
                serializable: false,
            };
        }
        match self.lease {
            None => Request::LeaseGrant { ttl: LEASE_TTL },
            Some(lease) if self.keys.len() < 2 => {
                *written += 1;
                let key = format!("{LEASES_PREFIX}w{worker}-{written}");
                self.keys.push(key.clone());
                Request::Put {
                    key,
                    value: format!("w{worker}-{written}"),
                    lease: Some(lease),
                }
            }
            Some(lease) => {
                self.lease = None;
                self.read_next = self.keys.first().cloned();
                match rng.random_range(0..3) {
                    0 => Request::LeaseRevoke { lease },
                    1 => Request::LeaseKeepAlive { lease },
                    // Left to expire: read its key now, while it should still be there.
                    _ => Request::Get {
                        key: self.read_next.take().unwrap_or_default(),
                        serializable: false,
                    },
                }
            }
        }
    }

    fn learn(&mut self, request: &Request, outcome: &Outcome) {
        match (request, outcome) {
            (Request::LeaseGrant { .. }, Outcome::Granted { lease, .. }) => {
                self.lease = Some(*lease);
                self.keys.clear();
            }
            // A put that failed: the lease may be gone; start again.
            (Request::Put { lease: Some(_), .. }, Outcome::Wrote { .. }) => {}
            (Request::Put { lease: Some(_), .. }, _) => self.lease = None,
            _ => {}
        }
    }
}

/// Keeps the worker's view of an object's mod_revision up to date with what it learned.
fn remember(cache: &mut HashMap<String, i64>, request: &Request, outcome: &Outcome) {
    if !request.key().starts_with(OBJECTS_PREFIX) {
        return;
    }
    let seen = match (request, outcome) {
        (Request::Delete { .. }, Outcome::Wrote { .. }) => 0,
        (_, Outcome::Wrote { revision }) => *revision,
        (_, Outcome::Read { mod_revision, .. }) => *mod_revision,
        _ => return,
    };
    cache.insert(request.key().to_string(), seen);
}
