//! The drill's budget, estimated before anything starts: the disk it writes (volumes,
//! snapshots, a fault's scratch copy) and the memory its seed needs.

use super::{Plan, Scratch, SeedPlan, StepKind};

/// What a drill writes to disk, estimated before anything starts: the members' volumes (every
/// member, once per generation: the first cluster and each restore) and the snapshot files.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footprint {
    /// An estimate of one member's db.
    pub db: u64,
    pub volumes: u64,
    pub snapshots: u64,
    /// The largest file a fault passes through this machine's temp dir (a `corrupt` fault's
    /// copy of a member's db, or of its newest WAL segment), one at a time.
    pub scratch: u64,
    /// The kind of fault that copies it.
    pub scratch_for: &'static str,
}

impl Plan {
    /// The disk this drill needs, from its seed (etcd's db holds about 1.4 × the keys and
    /// values); `None` without a seed (nothing large is written).
    pub fn footprint(&self) -> Option<Footprint> {
        let seed = self.seed.as_ref()?;
        let filled = self
            .steps
            .iter()
            .filter_map(|s| match &s.kind {
                StepKind::Fault(f) => f.action.needs().fills_db,
                _ => None,
            })
            .max()
            .unwrap_or(0);
        let db = db_estimate(seed_payload(seed)).max(filled);
        let count = |f: fn(&StepKind) -> bool| self.steps.iter().filter(|s| f(&s.kind)).count();
        let restores = count(|k| matches!(k, StepKind::Restore { .. }));
        let snapshots = count(|k| matches!(k, StepKind::Snapshot { .. }));
        let members = u64::from(self.cluster.members);
        let (scratch, scratch_for) = self
            .steps
            .iter()
            .filter_map(|s| match &s.kind {
                StepKind::Fault(f) => match f.action.needs().scratch {
                    Scratch::None => None,
                    Scratch::MemberDb => Some((db, f.action.verb())),
                    Scratch::Bytes(n) => Some((n, f.action.verb())),
                },
                _ => None,
            })
            .max()
            .unwrap_or((0, ""));
        Some(Footprint {
            db,
            volumes: db * members * (1 + restores as u64),
            snapshots: db * snapshots as u64,
            scratch,
            scratch_for,
        })
    }
}

/// etcd's `--snapshot-count` when it is not set: the raft entries a member keeps in memory
/// between two of its raft snapshots.
pub const ETCD_DEFAULT_SNAPSHOT_COUNT: u64 = 100_000;

/// Entries etcd keeps after each raft snapshot, for slow followers to catch up from.
const CATCH_UP_ENTRIES: u64 = 5_000;

/// A member's memory per byte of raft entries it holds: measured at 2.7 on etcd 3.5.30 (7.6 GB
/// of RSS with about 2.8 GB of seed transactions in its log).
const MEMORY_PER_ENTRY_BYTE: f64 = 2.7;

impl Plan {
    /// The memory each member needs while the seed loads: etcd keeps every raft entry since its
    /// last raft snapshot (up to `snapshot-count`, plus 5,000) in memory, and each seed
    /// transaction is one entry of `batch` puts. `None` without a seed.
    pub fn seed_memory_per_member(&self) -> Option<u64> {
        let seed = self.seed.as_ref()?;
        let batch = u64::from(seed.batch.max(1));
        let transactions = seed.keys.div_ceil(batch);
        let key = seed.key_prefix.len() as u64 + 12;
        // A put in a transaction: its key and value, and about 16 bytes of framing.
        let entry = batch * (key + u64::from(seed.value_size) + 16);
        let count = self
            .cluster
            .snapshot_count
            .unwrap_or(ETCD_DEFAULT_SNAPSHOT_COUNT);
        let kept = transactions.min(count + CATCH_UP_ENTRIES);
        Some((kept as f64 * entry as f64 * MEMORY_PER_ENTRY_BYTE) as u64)
    }

    /// The largest `snapshot-count` whose seed fits in `memory` across the members, if any.
    pub fn snapshot_count_for(&self, memory: u64) -> Option<u64> {
        let seed = self.seed.as_ref()?;
        let batch = u64::from(seed.batch.max(1));
        let key = seed.key_prefix.len() as u64 + 12;
        let entry = batch * (key + u64::from(seed.value_size) + 16);
        let per_member = memory / u64::from(self.cluster.members.max(1));
        let entries = (per_member as f64 / MEMORY_PER_ENTRY_BYTE / entry.max(1) as f64) as u64;
        entries.checked_sub(CATCH_UP_ENTRIES).filter(|n| *n >= 1)
    }
}

/// etcd 3.5's backend quota when `--quota-backend-bytes` is not set: 2 GiB.
pub const ETCD_DEFAULT_QUOTA: u64 = 2 << 30;

/// The bytes of keys and values a seed writes.
pub fn seed_payload(seed: &SeedPlan) -> u64 {
    let key = seed.key_prefix.len() as u64 + 12;
    seed.keys.saturating_mul(key + u64::from(seed.value_size))
}

/// etcd's db for `payload` bytes of keys and values: about 1.4 × (1,000,000 keys of 1000 B
/// made a 1.38 GB snapshot).
pub fn db_estimate(payload: u64) -> u64 {
    payload.saturating_mul(14) / 10
}
