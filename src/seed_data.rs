//! Deterministic seeding: key i and its value derive from the RNG seed alone, so a verifier can
//! regenerate any key without storing it. Loaded in transactions of up to `batch` puts (etcd's
//! `--max-txn-ops` is 128) with `concurrency` transactions in flight.

use crate::cluster::{within, ClusterError};
use crate::plan::SeedPlan;
use crate::record::{SeedCheck, SeedStats};
use etcd_client::{Client, Txn, TxnOp};
use futures_util::{stream, StreamExt, TryStreamExt};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::{Duration, Instant};

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

pub fn key(plan: &SeedPlan, i: u64) -> String {
    format!("{}{i:010}", plan.key_prefix)
}

/// Value of key i: printable, `value_size` bytes, from ChaCha8 stream i of the RNG seed.
pub fn value(plan: &SeedPlan, i: u64) -> Vec<u8> {
    let mut rng = ChaCha8Rng::seed_from_u64(plan.rng_seed);
    rng.set_stream(i);
    let mut v = vec![0u8; plan.value_size as usize];
    rng.fill_bytes(&mut v);
    for b in &mut v {
        *b = ALPHABET[(*b & 63) as usize];
    }
    v
}

/// Loads the seed. `progress` is called with the number of keys written so far.
pub async fn load(
    client: &Client,
    plan: &SeedPlan,
    progress: &(dyn Fn(u64) + Send + Sync),
) -> Result<SeedStats, ClusterError> {
    let start = Instant::now();
    let batches = plan.keys.div_ceil(plan.batch as u64);
    let done = std::sync::atomic::AtomicU64::new(0);
    let max_rev = std::sync::atomic::AtomicI64::new(0);
    stream::iter(0..batches)
        .map(|b| {
            let from = b * plan.batch as u64;
            let to = (from + plan.batch as u64).min(plan.keys);
            let ops: Vec<TxnOp> = (from..to)
                .map(|i| TxnOp::put(key(plan, i), value(plan, i), None))
                .collect();
            let c = client.clone();
            let (done, max_rev) = (&done, &max_rev);
            async move {
                let resp = txn_with_retries(c, ops).await?;
                if let Some(h) = resp.header() {
                    max_rev.fetch_max(h.revision(), std::sync::atomic::Ordering::Relaxed);
                }
                let n =
                    done.fetch_add(to - from, std::sync::atomic::Ordering::Relaxed) + (to - from);
                progress(n);
                Ok::<_, ClusterError>(())
            }
        })
        .buffer_unordered(plan.concurrency as usize)
        .try_collect::<()>()
        .await?;
    let took = start.elapsed();
    let secs = took.as_secs_f64().max(1e-9);
    let bytes = plan.keys * (plan.value_size as u64 + key(plan, 0).len() as u64);
    Ok(SeedStats {
        keys: plan.keys,
        value_size: plan.value_size,
        bytes,
        transactions: batches,
        duration_ms: took.as_millis() as u64,
        keys_per_sec: plan.keys as f64 / secs,
        mb_per_sec: bytes as f64 / 1e6 / secs,
        revision: max_rev.into_inner(),
    })
}

/// The deadline of one seed transaction. Writing a multi-GiB db on this machine's disk stalled
/// commits past 5 s (every in-flight transaction at once, at about 2.7 million keys).
pub const TXN: Duration = Duration::from_secs(30);

/// How often a seed transaction is tried before the seed fails.
const TRIES: u32 = 6;

/// One seed transaction, tried again when it times out, the harness's deadline or etcd's own
/// ("request timed out"), after a pause that doubles from 2 s (so a disk that fell behind
/// catches up): the puts are idempotent (same keys, same values), so trying again is safe.
/// Any other error is returned at once.
async fn txn_with_retries(
    c: Client,
    ops: Vec<TxnOp>,
) -> Result<etcd_client::TxnResponse, ClusterError> {
    let mut tries = 0;
    loop {
        tries += 1;
        let mut c = c.clone();
        let attempt = within(
            "seed txn",
            "the cluster",
            TXN,
            c.txn(Txn::new().and_then(ops.clone())),
        )
        .await;
        match attempt {
            Err(e) if tries < TRIES && timed_out(&e) => {
                tracing::warn!("seed txn timed out (try {tries} of {TRIES}): {e}");
                tokio::time::sleep(Duration::from_secs(1 << tries)).await;
            }
            other => return other,
        }
    }
}

/// Whether an error is a deadline, the harness's or the client's, judged by its gRPC status
/// code: DEADLINE_EXCEEDED (the call's deadline), CANCELLED (tonic's own timeout, "Timeout
/// expired") and UNAVAILABLE (etcd's "request timed out", and a member that cannot be reached
/// for a moment: both pass when the disk catches up).
fn timed_out(e: &ClusterError) -> bool {
    const CANCELLED: i32 = 1;
    const DEADLINE_EXCEEDED: i32 = 4;
    const UNAVAILABLE: i32 = 14;
    match e {
        ClusterError::Timeout { .. } => true,
        ClusterError::Etcd {
            source: etcd_client::Error::GRpcStatus(status),
            ..
        } => [CANCELLED, DEADLINE_EXCEEDED, UNAVAILABLE].contains(&i32::from(status.code())),
        _ => false,
    }
}

/// Compares what a cluster holds under the seed prefix with what the seed says it should hold.
pub async fn check(
    client: &Client,
    plan: &SeedPlan,
    done: &std::sync::atomic::AtomicU64,
) -> Result<SeedCheck, ClusterError> {
    let prefix = plan.key_prefix.as_bytes();
    let mut tally = Tally::new(plan);
    let end = crate::keyspace::prefix_end(prefix);
    crate::keyspace::scan(client, prefix, &end, 0, |k, v| {
        done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tally.visit(k, v);
    })
    .await?;
    Ok(tally.finish())
}

/// The seed check fed one pair at a time, so a pass that reads the whole keyspace for another
/// reason (the digest) checks the seed too, or fed every write in order (a snapshot file's
/// rows), where the last write of a key stands. Keys outside the seed's prefix are ignored.
/// Holds one byte of state per seeded key, not the keys.
pub struct Tally<'a> {
    plan: &'a SeedPlan,
    /// Each seeded key's state: `ABSENT`, `RIGHT` or `WRONG` (its value).
    state: Vec<u8>,
}

const ABSENT: u8 = 0;
const RIGHT: u8 = 1;
const WRONG: u8 = 2;

impl<'a> Tally<'a> {
    pub fn new(plan: &'a SeedPlan) -> Self {
        Tally {
            plan,
            state: vec![ABSENT; plan.keys as usize],
        }
    }

    /// A key as a read found it.
    pub fn visit(&mut self, k: &[u8], v: &[u8]) {
        self.replay(k, Some(v));
    }

    /// A write of a key (a delete: `None`), in the order they happened: the last one stands.
    pub fn replay(&mut self, k: &[u8], v: Option<&[u8]>) {
        let Some(index) = k.strip_prefix(self.plan.key_prefix.as_bytes()) else {
            return;
        };
        let idx = std::str::from_utf8(index)
            .ok()
            .and_then(|s| s.parse::<u64>().ok());
        let Some(i) = idx.filter(|i| *i < self.plan.keys) else {
            return;
        };
        self.state[i as usize] = match v {
            None => ABSENT,
            Some(v) if v == value(self.plan, i).as_slice() => RIGHT,
            Some(_) => WRONG,
        };
    }

    pub fn finish(self) -> SeedCheck {
        let mut result = SeedCheck {
            expected: self.plan.keys,
            ..Default::default()
        };
        let count = |want: u8| self.state.iter().filter(|s| **s == want).count() as u64;
        (result.wrong_value, result.missing) = (count(WRONG), count(ABSENT));
        // The first ten examples: other values first, then missing keys, each in key order.
        for (want, what) in [(WRONG, "has another value"), (ABSENT, "is missing")] {
            let room = 10 - result.examples.len();
            let found = self.state.iter().enumerate().filter(|(_, s)| **s == want);
            for (i, _) in found.take(room) {
                result
                    .examples
                    .push(format!("{} {what}", key(self.plan, i as u64)));
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(seed: u64) -> SeedPlan {
        SeedPlan {
            keys: 10,
            value_size: 32,
            key_prefix: "/s/".into(),
            rng_seed: seed,
            batch: 4,
            concurrency: 2,
        }
    }

    #[test]
    fn values_are_deterministic_per_seed_and_key() {
        assert_eq!(value(&plan(7), 3), value(&plan(7), 3));
        assert_ne!(value(&plan(7), 3), value(&plan(7), 4));
        assert_ne!(value(&plan(7), 3), value(&plan(8), 3));
        assert_eq!(value(&plan(7), 3).len(), 32);
        assert!(value(&plan(7), 3).iter().all(|b| ALPHABET.contains(b)));
    }

    #[test]
    fn replayed_writes_leave_the_last_one_standing() {
        let p = plan(7);
        let mut t = Tally::new(&p);
        for i in 0..10 {
            t.replay(key(&p, i).as_bytes(), Some(&value(&p, i)));
        }
        // 2 overwritten, then put back; 3 deleted; 4 deleted, then put back with another value;
        // 5 overwritten; a key past the seed and one outside its prefix change nothing.
        t.replay(key(&p, 2).as_bytes(), Some(b"x"));
        t.replay(key(&p, 2).as_bytes(), Some(&value(&p, 2)));
        t.replay(key(&p, 3).as_bytes(), None);
        t.replay(key(&p, 4).as_bytes(), None);
        t.replay(key(&p, 4).as_bytes(), Some(b"y"));
        t.replay(key(&p, 5).as_bytes(), Some(b"z"));
        t.replay(key(&p, 10).as_bytes(), None);
        t.replay(b"/elsewhere/0000000001", None);
        let c = t.finish();
        assert_eq!((c.missing, c.wrong_value), (1, 2), "{c:?}");
        assert_eq!(
            c.examples,
            [
                "/s/0000000004 has another value",
                "/s/0000000005 has another value",
                "/s/0000000003 is missing"
            ]
        );
    }

    #[test]
    fn only_deadlines_are_tried_again() {
        let deadline = ClusterError::Timeout {
            op: "seed txn",
            target: "the cluster".into(),
            after: Duration::from_secs(10),
        };
        assert!(timed_out(&deadline));
        let unhealthy = ClusterError::Unhealthy {
            after: Duration::from_secs(1),
            last: "no leader".into(),
        };
        assert!(!timed_out(&unhealthy));
    }

    #[test]
    fn keys_sort_in_index_order() {
        assert!(key(&plan(1), 9) < key(&plan(1), 10));
    }

    #[test]
    fn the_tally_counts_missing_and_altered_keys_and_ignores_others() {
        let plan = plan(7);
        let mut tally = Tally::new(&plan);
        for i in (0..plan.keys).filter(|i| *i != 4) {
            let mut v = value(&plan, i);
            if i == 6 {
                v[0] ^= 1;
            }
            tally.visit(key(&plan, i).as_bytes(), &v);
        }
        tally.visit(b"/other/0000000004", &value(&plan, 4));
        tally.visit(b"/s/not-a-number", b"x");
        let check = tally.finish();
        assert_eq!(
            (check.expected, check.missing, check.wrong_value),
            (10, 1, 1)
        );
        assert!(!check.ok());
        assert_eq!(
            check.examples,
            [
                "/s/0000000006 has another value",
                "/s/0000000004 is missing"
            ]
        );
    }
}

#[cfg(test)]
mod retry_tests {
    use super::*;

    fn grpc(status: tonic::Status) -> ClusterError {
        ClusterError::Etcd {
            op: "txn",
            target: "the cluster".into(),
            source: etcd_client::Error::GRpcStatus(status),
        }
    }

    #[test]
    fn deadlines_and_etcds_request_timeout_are_retried_other_errors_are_not() {
        assert!(timed_out(&grpc(tonic::Status::unavailable(
            "etcdserver: request timed out"
        ))));
        assert!(timed_out(&grpc(tonic::Status::deadline_exceeded(
            "deadline"
        ))));
        assert!(timed_out(&grpc(tonic::Status::cancelled(
            "Timeout expired"
        ))));
        assert!(!timed_out(&grpc(tonic::Status::invalid_argument(
            "etcdserver: too many operations in txn request"
        ))));
        assert!(!timed_out(&grpc(tonic::Status::resource_exhausted(
            "etcdserver: mvcc: database space exceeded"
        ))));
        assert!(timed_out(&ClusterError::Timeout {
            op: "txn",
            target: "the cluster".into(),
            after: Duration::from_secs(30),
        }));
    }
}
