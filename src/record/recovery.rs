//! Recovery evidence: snapshots, the disaster, the restore and its RTO phases, the RPO, and
//! the scheduled backups a restore can take.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct SnapshotRecord {
    pub name: String,
    pub file: PathBuf,
    pub size_bytes: u64,
    /// SHA-256 of the whole file, trailer included.
    pub sha256: String,
    /// As `etcdutl snapshot status` says it (for a snapshot step's file, read by the harness,
    /// which gives the same figures).
    pub revision: i64,
    pub total_keys: u64,
    pub etcd_hash: u64,
    /// When the stream started: the moment the snapshot captures.
    pub taken_at: String,
    pub taken_at_ms: u64,
    pub duration_ms: u64,
    pub mb_per_sec: f64,
    /// Digest of every key/value at `revision`, read from the live cluster before any disaster
    /// (empty when etcd's HashKV stands for it, and for a snapshot from outside).
    pub keyspace_sha256: String,
    pub keyspace_keys: u64,
    /// etcd's HashKV at `revision`, computed from the snapshot file (as etcd computes it), or
    /// asked of the member that streamed it where the file cannot say: taken instead of the
    /// digest when every restore of the snapshot is a plain one (same version, revisions kept),
    /// where the restored members' HashKV must equal it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hashkv: Option<SnapshotHashKv>,
    /// The seed checked in the file's rows in the pass that computed `hashkv` (the last write
    /// of a key stands): what `verify` reports for members restored from it, whose HashKV at
    /// `revision` must equal `hashkv` (and the restore checks the file's SHA-256 first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<super::SeedCheck>,
}

/// A member's HashKV at a snapshot's revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SnapshotHashKv {
    pub member: String,
    pub hash: u32,
    /// The revision the member had compacted to: the hash covers the revisions after it.
    pub compact_revision: i64,
}

impl SnapshotHashKv {
    /// The `member` of a HashKV computed from the snapshot file itself.
    pub const FROM_FILE: &'static str = "the snapshot file";
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct DisasterRecord {
    pub started_ms: u64,
    pub ended_ms: u64,
    pub ended_at: String,
    pub destroyed_containers: Vec<String>,
    pub destroyed_volumes: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Phase {
    pub name: String,
    pub duration_ms: u64,
    /// Since the end of the disaster.
    pub at_ms: u64,
}

/// The RTO phase in which etcdutl restores a quorum's data dirs at once; its name goes on with
/// " (Q of N)". Readers find the phase by this prefix.
pub const RESTORE_FILES_PHASE: &str = "restore a quorum's files";

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct RestoreRecord {
    pub snapshot: String,
    /// Stored backups refused before this one (bad size, hash or trailer), newest first.
    pub refused: Vec<Refusal>,
    pub snapshot_revision: i64,
    pub cluster_token: String,
    pub phases: Vec<Phase>,
    /// Disaster end → first successful quorum write on the restored cluster.
    pub rto_first_write_ms: u64,
    /// When the RTO clock started (ms since the run started): the end of the disaster, or the
    /// start of a restore from an external file.
    pub rto_from_ms: u64,
    pub leader: Option<String>,
    /// How the snapshot reached the etcdutl containers: "read-only bind mount" or "tar
    /// streamed from disk" (never through the harness's memory).
    #[serde(default)]
    pub snapshot_delivery: String,
    /// How many members ran `etcdutl snapshot restore` at once.
    #[serde(default)]
    pub members_at_once: u32,
    /// Disaster end → every member serving. A quorum starts first (the RTO); the other members
    /// start after the first write and load their db while the cluster already serves.
    #[serde(default)]
    pub all_members_serving_ms: Option<u64>,
    /// The image the restored cluster runs (another etcd version than before: a cross-version
    /// restore).
    #[serde(default)]
    pub image: Option<String>,
    /// `--bump-revision` (with `--mark-compacted`): Kubernetes' restore procedure.
    #[serde(default)]
    pub bump_revision: Option<u64>,
    /// The etcd version the restored cluster's members reported.
    #[serde(default)]
    pub etcd_version: Option<String>,
    /// A restore from a full plus deltas: what was replayed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay: Option<ReplayRecord>,
    /// A restore from a store the drill did not fill (`verify-backup`, `restore: { store }`):
    /// what the store held and which backup was taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored: Option<StoredBackup>,
    /// A point-in-time restore over this run's backups (`restore: { backup, before }`): the
    /// point, the revision just before the step it names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub point: Option<Box<PointInTime>>,
}

/// The point a point-in-time restore returned to, and whether the chain reached it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct PointInTime {
    /// The `delete-prefix` step's name.
    pub before: String,
    /// The revision just before that step: the keyspace the restore must give back.
    pub revision: i64,
    /// Keys held at that revision (read from the cluster when the step ran).
    pub keyspace_keys: u64,
    /// The keys that step deleted, and under which prefix.
    pub deleted_keys: i64,
    pub prefix: String,
    /// Whether the restored cluster holds exactly that revision (else the chain fell short and
    /// `replay.stopped` says where).
    pub reached: bool,
}

/// A store's backups as a restore found them: how many, the newest and its age (freshness),
/// the one taken, and the objects that are no backup.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct StoredBackup {
    /// Where (never a credential).
    pub store: String,
    /// When the store was listed: ages count to this time.
    pub listed_at: String,
    /// Backups found (fulls and deltas).
    pub backups: u64,
    pub fulls: u64,
    /// The newest backup, full or delta, and how old it was.
    pub newest: Option<String>,
    pub newest_taken_at: Option<String>,
    pub newest_age_ms: Option<u64>,
    /// The full restored (its deltas are in `replay`).
    pub picked: Option<String>,
    pub picked_taken_at: Option<String>,
    pub picked_age_ms: Option<u64>,
    /// The stored object's size (compressed or encrypted as stored).
    pub picked_size_bytes: Option<u64>,
    /// Whose naming it follows: etcd-drill, k3s, time-in-name, object-time.
    pub layout: Option<String>,
    /// plain, gzip, zstd or zip; and whether age-encrypted.
    pub packing: Option<String>,
    /// Where its time came from: its name, or the store's modification time.
    pub time_from: Option<String>,
    /// A point-in-time restore: the revision the replay stopped at.
    pub until_revision: Option<i64>,
    /// What falling back cost: how much older the backup restored is than the one refused.
    #[serde(default)]
    pub fallback_cost: Option<String>,
    /// Where the chain stopped short (a damaged or foreign delta, a gap, a point in time it
    /// does not reach).
    #[serde(default)]
    pub chain_stopped: Option<String>,
    /// Objects that are no backup, and why each was left out.
    pub ignored: Vec<Refusal>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Rpo {
    pub snapshot: String,
    pub snapshot_revision: i64,
    /// Disaster − snapshot time.
    pub time_gap_ms: u64,
    pub last_acknowledged_revision: Option<i64>,
    /// Last acknowledged revision before the disaster − snapshot revision.
    pub revision_gap: Option<i64>,
    pub acknowledged_before_disaster: Option<u64>,
    pub lost_acknowledged_writes: Option<u64>,
    pub lost_examples: Vec<String>,
    /// For a restore from a chain: the same figures had only the full been restored, from the
    /// same acknowledgements (what the deltas saved).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fulls_only: Option<FullsOnly>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FullsOnly {
    pub snapshot: String,
    pub snapshot_revision: i64,
    pub time_gap_ms: u64,
    pub revision_gap: Option<i64>,
    pub lost_acknowledged_writes: Option<u64>,
}

/// A stored backup the restore would not use, and why.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
pub struct Refusal {
    pub name: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, JsonSchema)]
pub struct BackupRecord {
    pub name: String,
    /// The stored object's size (the ciphertext's, when encrypted).
    pub size_bytes: u64,
    /// The snapshot's SHA-256 (the plaintext's, when encrypted).
    pub sha256: String,
    /// Encrypted at rest (age): the stored ciphertext's SHA-256.
    #[serde(default)]
    pub ciphertext_sha256: Option<String>,
    pub revision: i64,
    pub taken_at: String,
    pub taken_at_ms: u64,
    pub keyspace_sha256: String,
    pub keyspace_keys: u64,
    /// An incremental backup: the changes after its full (through earlier deltas). Its
    /// `revision` is the last it holds; `keyspace_sha256` the keyspace at that revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta: Option<DeltaOf>,
}

/// What a delta extends and holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DeltaOf {
    /// The full backup the chain starts from.
    pub base: String,
    pub first_revision: i64,
    pub events: u64,
}

/// A restore from a chain: the deltas replayed after the full, and where the chain stopped.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct ReplayRecord {
    pub deltas: Vec<String>,
    pub revisions: u64,
    pub events: u64,
    /// The full's revision and the last replayed one (the original cluster's).
    pub from_revision: i64,
    pub to_revision: i64,
    /// The restored cluster's revision after the replay: equal to `to_revision` (plus any
    /// bump) when every revision replayed as one.
    pub reached_revision: i64,
    pub duration_ms: u64,
    /// Why the chain was not replayed to its end (a missing or damaged delta, a gap), and the
    /// deltas left out because of it. The writes they held are in the RPO.
    #[serde(default)]
    pub stopped: Option<String>,
    #[serde(default)]
    pub not_replayed: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, JsonSchema)]
pub struct BackupLog {
    pub store: String,
    pub taken: Vec<BackupRecord>,
    /// (ms since start, why) of every scheduled snapshot that could not be made.
    pub failures: Vec<(u64, String)>,
    /// Objects removed by the retention policy, with the rule that removed them.
    pub deleted: Vec<(String, String)>,
    /// What the store held when the drill ended.
    pub remaining: Vec<String>,
    /// Objects a `damage-backup` step broke, and how.
    #[serde(default)]
    pub damaged: Vec<(String, String)>,
}

impl BackupRecord {
    /// The record as a snapshot a restore can use (digest and recorded hash included).
    pub fn as_snapshot(&self, file: PathBuf) -> SnapshotRecord {
        SnapshotRecord {
            name: self.name.clone(),
            file,
            size_bytes: self.size_bytes,
            sha256: self.sha256.clone(),
            revision: self.revision,
            total_keys: 0,
            etcd_hash: 0,
            taken_at: self.taken_at.clone(),
            taken_at_ms: self.taken_at_ms,
            duration_ms: 0,
            mb_per_sec: 0.0,
            keyspace_sha256: self.keyspace_sha256.clone(),
            keyspace_keys: self.keyspace_keys,
            hashkv: None,
            seed: None,
        }
    }
}
