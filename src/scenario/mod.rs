//! The scenario file's serde model: typed, kebab-case, unknown keys rejected. No logic here;
//! `crate::plan` validates it and resolves defaults. Every key is documented in
//! scenarios/README.md.

mod backup;
pub mod duration;
mod load;
mod monitoring;

pub use backup::{BackupPick, Damage, DamageWhich, StoreChoice, StoreSpec};
pub use load::{load, load_str, Problem, ScenarioError, ScenarioFile};
pub use monitoring::{AlertExpect, AlertmanagerSpec, AlertsExpected, MonitoringSpec};

use serde::Deserialize;
use serde_saphyr::{Location, Spanned};
use std::time::Duration;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Scenario {
    pub name: Spanned<String>,
    #[serde(default)]
    pub description: Option<String>,
    pub cluster: ClusterSpec,
    #[serde(default)]
    pub seed: Option<SeedSpec>,
    #[serde(default)]
    pub workload: Option<WorkloadSpec>,
    pub steps: Steps,
    #[serde(default)]
    pub expect: Option<Spanned<Expectations>>,
    #[serde(default)]
    pub notify: Option<NotifySpec>,
    #[serde(default)]
    pub backup: Option<Spanned<BackupSpec>>,
    /// Prometheus and Alertmanager beside the members: an alert drill.
    #[serde(default)]
    pub monitoring: Option<Spanned<MonitoringSpec>>,
    /// The etcd bug the drill reproduces (a scenario of `scenarios/known-bugs/`).
    #[serde(default)]
    pub known_bug: Option<Spanned<KnownBugSpec>>,
}

/// The step list, with where it was written: an empty list is said at `steps`.
#[derive(Debug)]
pub struct Steps {
    pub list: Vec<Spanned<Step>>,
    pub at: Location,
}

impl<'de> Deserialize<'de> for Steps {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Spanned::<Vec<Spanned<Step>>>::deserialize(d)?;
        Ok(Steps {
            list: s.value,
            at: s.referenced,
        })
    }
}

impl std::ops::Deref for Steps {
    type Target = Vec<Spanned<Step>>;
    fn deref(&self) -> &Self::Target {
        &self.list
    }
}

/// Where to POST the run's summary when it ends. `ETCD_DRILL_WEBHOOK_URL` does the same.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct NotifySpec {
    pub webhook: Spanned<String>,
    #[serde(default)]
    pub on: Option<NotifyOn>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NotifyOn {
    Always,
    Failure,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ClusterSpec {
    pub members: Spanned<u32>,
    /// An etcd release etcd-drill builds an image of (`3.5.30`); the default is the newest.
    #[serde(default)]
    pub version: Option<Spanned<String>>,
    /// Any image instead (pulled if the engine lacks it); not with `version`.
    #[serde(default)]
    pub image: Option<Spanned<String>>,
    /// Members on another version than `version` (a mixed-version cluster):
    /// `{ etcd-3: 3.4.23 }`.
    #[serde(default)]
    pub member_versions: Option<Spanned<std::collections::BTreeMap<String, String>>>,
    #[serde(default)]
    pub etcd: Option<Spanned<EtcdFlags>>,
    /// Client and peer mTLS with a CA and certificates made for the run.
    #[serde(default)]
    pub tls: Option<bool>,
}

/// etcd flags the scenario may tune; everything else is set by the harness.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct EtcdFlags {
    #[serde(default, with = "crate::scenario::duration::option")]
    pub heartbeat_interval: Option<Duration>,
    #[serde(default, with = "crate::scenario::duration::option")]
    pub election_timeout: Option<Duration>,
    #[serde(default)]
    pub quota_backend_bytes: Option<Spanned<u64>>,
    #[serde(default)]
    pub snapshot_count: Option<u64>,
    /// etcd's `--pre-vote` (off by default in 3.5): a rejoining member cannot force an election.
    #[serde(default)]
    pub pre_vote: Option<bool>,
    /// Members started with etcd's `--unsafe-no-fsync` (3.5 and later): etcd acknowledges
    /// writes it never fsynced. Only as the control of a power-loss drill, which must then
    /// show what it costs.
    #[serde(default)]
    pub unsafe_no_fsync: Vec<Spanned<String>>,
    /// etcd's `--backend-batch-interval`: how long etcd may hold applied writes in its
    /// backend's open transaction before committing them (100ms by default).
    #[serde(default, with = "crate::scenario::duration::option")]
    pub backend_batch_interval: Option<Duration>,
    /// etcd's `--experimental-compaction-batch-limit`: how many revisions a compaction
    /// deletes per committed batch (1000 by default).
    #[serde(default)]
    pub compaction_batch_limit: Option<Spanned<u32>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SeedSpec {
    pub keys: Spanned<u64>,
    #[serde(default)]
    pub value_size: Option<Spanned<u32>>,
    #[serde(default)]
    pub key_prefix: Option<Spanned<String>>,
    #[serde(default)]
    pub rng_seed: Option<u64>,
    /// Operations per transaction (etcd's default `--max-txn-ops` is 128).
    #[serde(default)]
    pub batch: Option<Spanned<u32>>,
    /// Transactions in flight at once.
    #[serde(default)]
    pub concurrency: Option<Spanned<u32>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct WorkloadSpec {
    /// Operations per second, all kinds together.
    pub rate: Spanned<u32>,
    #[serde(default)]
    pub key_prefix: Option<Spanned<String>>,
    /// Deadline of one operation; an operation slower than this counts as failed.
    #[serde(default, with = "crate::scenario::duration::option")]
    pub timeout: Option<Duration>,
    /// Operations in flight at once (each worker gets rate / concurrency).
    #[serde(default)]
    pub concurrency: Option<Spanned<u32>>,
    #[serde(default)]
    pub mix: Option<Spanned<Mix>>,
    /// Gets read one of the last `read-range` keys written (default 1000).
    #[serde(default)]
    pub read_range: Option<u64>,
    /// A traffic shape in place of `mix`: `plain` (puts, the default), `kubernetes`
    /// (compare-and-swap updates of a few objects, reads of them, deletes, puts),
    /// `write-heavy`, `read-heavy`.
    #[serde(default)]
    pub profile: Option<Spanned<String>>,
    /// How many objects updates, deletes and object reads work on (default 16).
    #[serde(default)]
    pub objects: Option<u32>,
    /// Also keeps a watch open on each member from a revision this far ahead of the
    /// workload's first: a watch on a future revision, which must deliver nothing below it.
    #[serde(default)]
    pub future_watch: Option<Spanned<u64>>,
    /// Also keeps a watch open on each member from the workload's first revision, each staying
    /// on its member (a member that falls behind and catches up is watched through it).
    #[serde(default)]
    pub watch_each_member: bool,
    /// Compacts the history this often during the traffic, each time at the revision of a
    /// delete, and opens a watch at that revision: it must deliver the delete.
    #[serde(default, with = "crate::scenario::duration::option")]
    pub compact_every: Option<Duration>,
    /// `false`: each compaction returns once etcd has scheduled it (the backend is compacted in
    /// the background, and no watch is opened at its revision: it would race the compaction).
    /// `true`, the default: it waits for the backend, then opens the watch.
    #[serde(default)]
    pub compact_physical: Option<Spanned<bool>>,
}

/// Relative weights of the operations the workload issues, e.g. `{ put: 1, linearizable-get: 2,
/// serializable-get: 1 }`. The scenario writes them kebab-case, the report snake_case; either
/// reads back.
#[derive(
    Debug, Clone, Copy, Default, Deserialize, serde::Serialize, schemars::JsonSchema, PartialEq,
)]
#[serde(deny_unknown_fields)]
pub struct Mix {
    #[serde(default)]
    pub put: u32,
    #[serde(default, alias = "linearizable-get")]
    pub linearizable_get: u32,
    #[serde(default, alias = "serializable-get")]
    pub serializable_get: u32,
    /// Compare-and-swap updates of objects (Kubernetes' optimistic concurrency).
    #[serde(default)]
    pub update: u32,
    /// Deletes of objects.
    #[serde(default)]
    pub delete: u32,
    /// Linearizable reads of objects.
    #[serde(default, alias = "object-get")]
    pub object_get: u32,
    /// Steps of short leases' lives: grant (3 s), two puts attached, then a revoke or expiry.
    #[serde(default)]
    pub lease: u32,
    /// Pages of a list of the objects (5 keys a page, later pages at the first page's revision).
    #[serde(default)]
    pub list: u32,
}

/// Every kind of violation the linearizability check names (a known bug's `fails-with`).
pub const VIOLATION_KINDS: &[&str] = &[
    "stale-read",
    "lost-write",
    "duplicated-write",
    "compare-and-swap",
    "rolled-back-read",
    "revoked-lease-key-read",
    "real-time-order",
    "unwritten-value",
    "failed-write-took-effect",
    "lease-expired-early",
    "watch-wrong-event",
    "watch-missed-event",
    "watch-out-of-order",
    "watch-before-write",
    "watch-phantom-delete",
    "watch-before-start",
];

/// `fails-with: durability`: acknowledged writes the `verify` step cannot read back.
pub const FAILS_WITH_DURABILITY: &str = "durability";
/// `fails-with: hashkv`: members whose HashKV differs after a fault's recovery or at the end.
pub const FAILS_WITH_HASHKV: &str = "hashkv";

/// A known etcd bug the drill reproduces: on a version that carries it, the drill must catch
/// it with the named violation; on a fixed one, pass.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct KnownBugSpec {
    /// The etcd issue's number (github.com/etcd-io/etcd/issues/N).
    pub issue: Spanned<u32>,
    /// The first release of each line with the fix, e.g. `[3.4.38, 3.5.22]`. A version below
    /// it on its line carries the bug; a line not listed is taken as never affected.
    pub fixed_in: Vec<Spanned<String>>,
    /// The first release that carried it, when the bug is younger than the lines listed.
    #[serde(default)]
    pub introduced_in: Option<Spanned<String>>,
    /// The violation the linearizability check names when it catches the bug.
    pub fails_with: Spanned<String>,
}

/// One step of the drill. Externally tagged: the key names the step.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub enum Step {
    WaitHealthy(WaitHealthyStep),
    Seed(SeedStep),
    Snapshot(SnapshotStep),
    Disaster(DisasterStep),
    Restore(Box<RestoreStep>),
    Verify(VerifyStep),
    Sleep(SleepStep),
    /// Waits until the workload has `count` more writes acknowledged (and watched): after a
    /// snapshot, writes that a restore from it must lose, whatever the machine's speed.
    WaitWrites(WaitWritesStep),
    /// Waits until the backup schedule has stored `fulls` full backups and its current chain
    /// `deltas` incremental ones: a drill that needs two backups has them, however slow the
    /// machine cuts them.
    WaitBackups(WaitBackupsStep),
    /// An operator's mistake: every key under `prefix` deleted at once. The revision just
    /// before it is a point a restore can return to (`restore: { backup, before: NAME }`).
    DeletePrefix(DeletePrefixStep),
    Kill(FaultSpec),
    Stop(FaultSpec),
    Pause(FaultSpec),
    Partition(FaultSpec),
    SlowNetwork(SlowNetworkSpec),
    Corrupt(CorruptSpec),
    Heal(HealStep),
    DamageBackup(DamageBackupStep),
    /// Single-member restore: the member loses its disk; it is removed from the cluster, added
    /// back and started on an empty data dir, re-syncing from the leader (etcd's runtime
    /// reconfiguration procedure).
    ReplaceMember(FaultSpec),
    /// A rolling upgrade to another etcd version, one member at a time (followers first, the
    /// leader last), each stopped and started on the new version with its data.
    Upgrade(UpgradeStep),
    /// Every fsync on the target held `delay ± jitter` (the disk layer).
    SlowDisk(SlowDiskSpec),
    /// The target's fsyncs, or its writes, fail with EIO (the disk layer).
    DiskError(DiskErrorSpec),
    /// The target's data directory answers ENOSPC once `room-bytes` more are written.
    DiskFull(DiskFullSpec),
    /// A power cut on the target: every write it had not fsynced is lost, then it restarts.
    PowerLoss(FaultSpec),
    /// Defragments the targets' databases one at a time, under load: each one's blocked time.
    Defrag(FaultSpec),
    /// Compacts the keyspace to the current revision, under load.
    Compact(CompactSpec),
    /// The database filled to `quota-backend-bytes`: the NOSPACE alarm, writes refused; healed
    /// by the operator's runbook (compact, defragment each member, disarm), timed.
    Nospace(NospaceSpec),
}

/// Every fault kind, once: its variant of `Step` and its module, the same name in
/// `plan::faults` (what it is: its options, their checks, its needs) and in `faults` (what it
/// does: inject, prove, heal). Adding a kind: its `Step` variant (and spec) here, a line in
/// this list, `src/plan/faults/<module>.rs` and `src/faults/<module>.rs`. `$then` is a macro in
/// scope where this one is invoked; it gets the list.
macro_rules! fault_kinds {
    ($then:ident) => {
        $then! {
            Kill kill,
            Stop stop,
            Pause pause,
            Partition partition,
            SlowNetwork slow,
            Corrupt corrupt,
            ReplaceMember replace,
            SlowDisk slow_disk,
            DiskError disk_error,
            DiskFull disk_full,
            PowerLoss power_loss,
            Defrag defrag,
            Compact compact,
            Nospace nospace,
        }
    };
}

/// The fault steps as one pattern: `fault_kinds!(fault_step)`.
macro_rules! fault_step {
    ($($kind:ident $module:ident,)*) => {
        $($crate::scenario::Step::$kind(_))|*
    };
}

pub(crate) use {fault_kinds, fault_step};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct UpgradeStep {
    /// The etcd version to upgrade to.
    pub to: Spanned<String>,
    #[serde(default, with = "crate::scenario::duration::option")]
    pub timeout: Option<Duration>,
}

/// Damage a stored backup: the newest, or the one named.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DamageBackupStep {
    pub how: Damage,
    #[serde(default)]
    pub name: Option<String>,
    /// Which backup, when none is named: `newest` (default), `newest-full`, `newest-delta` or
    /// `middle-delta` (a link inside the newest chain: what breaks it).
    #[serde(default)]
    pub which: Option<Spanned<crate::scenario::DamageWhich>>,
}

/// Scheduled snapshots during the drill, kept in a store under a retention policy.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct BackupSpec {
    /// How often a full snapshot is taken (`full-every` says the same).
    #[serde(with = "crate::scenario::duration", alias = "full-every")]
    pub every: Duration,
    /// Between fulls, an incremental backup this often: every change since the previous link
    /// (from etcd's watch), replayed after the full by a restore.
    #[serde(default, with = "crate::scenario::duration::option")]
    pub delta_every: Option<Duration>,
    #[serde(default)]
    pub keep_last: Option<Spanned<u32>>,
    #[serde(default, with = "crate::scenario::duration::option")]
    pub max_age: Option<Duration>,
    /// Default: `{ local: { dir: backups } }` inside the run's folder.
    #[serde(default)]
    pub store: Option<StoreSpec>,
    /// Encrypt each backup before it leaves the harness: `{ recipients: [age1…] }`.
    #[serde(default)]
    pub encrypt: Option<Spanned<EncryptSpec>>,
}

/// Encryption at rest with age: the X25519 public keys backups are encrypted to. Restores
/// decrypt with `run --identity FILE` (or `ETCD_DRILL_AGE_IDENTITY`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct EncryptSpec {
    pub recipients: Vec<String>,
}

/// Which members a fault hits. `leader`, `follower` (one), `random` (one, from the scenario's
/// RNG seed), `minority`, `majority`, `all`, or `{ member: etcd-2 }`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub enum Target {
    Leader,
    Follower,
    Random,
    Minority,
    Majority,
    All,
    Member(String),
}

/// kill, stop, pause, partition: inject, hold, heal.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FaultSpec {
    pub target: Spanned<Target>,
    /// `partition` only: keep the member cut off until this has happened. `raft-snapshot`: the
    /// harness writes until the leader has compacted its raft log past the member, so that on
    /// healing it can only catch up by installing a snapshot from the leader.
    #[serde(default)]
    pub until: Option<Spanned<Until>>,
    /// How long the fault lasts before it is healed. Without `hold`, a fault with a `name`
    /// stays until a `heal` step names it; one without a name is healed at once.
    #[serde(default, with = "crate::scenario::duration::option")]
    pub hold: Option<Duration>,
    #[serde(default)]
    pub name: Option<Spanned<String>>,
    #[serde(default, with = "crate::scenario::duration::option")]
    pub timeout: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Until {
    RaftSnapshot,
}

/// A slow network on the target's peer traffic (port 2380), inside its network namespace.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SlowNetworkSpec {
    pub target: Spanned<Target>,
    /// Share of peer packets dropped, 0 < p ≤ 100 (iptables statistic match).
    #[serde(default)]
    pub loss_percent: Option<Spanned<f64>>,
    /// Peer bandwidth limit (htb class on the peer port).
    #[serde(default)]
    pub bandwidth_kbit: Option<Spanned<u32>>,
    /// Added to every round trip with a peer (a proxy in the member's namespace).
    #[serde(default, with = "crate::scenario::duration::option")]
    pub delay: Option<Duration>,
    #[serde(default, with = "crate::scenario::duration::option")]
    pub jitter: Option<Duration>,
    #[serde(default, with = "crate::scenario::duration::option")]
    pub hold: Option<Duration>,
    #[serde(default)]
    pub name: Option<Spanned<String>>,
    #[serde(default, with = "crate::scenario::duration::option")]
    pub timeout: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CorruptWhat {
    /// Flip bytes in the member's bbolt file, member/snap/db.
    Db,
    /// Garble the newest WAL file.
    Wal,
    /// Start the member on an empty data dir.
    Wipe,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Recover {
    /// Remove the member from the cluster and add it back with an empty data dir, so it
    /// re-syncs from the leader (what an operator does).
    ReAdd,
    /// Leave it broken: a later disaster + restore recovers the cluster.
    None,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CorruptSpec {
    pub target: Spanned<Target>,
    pub what: CorruptWhat,
    #[serde(default)]
    pub recover: Option<Recover>,
    /// How long to watch etcd's reaction after starting the corrupted member.
    #[serde(default, with = "crate::scenario::duration::option")]
    pub observe: Option<Duration>,
    #[serde(default, with = "crate::scenario::duration::option")]
    pub timeout: Option<Duration>,
}

/// `slow-disk`: fsync latency on the target's data directory.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SlowDiskSpec {
    pub target: Spanned<Target>,
    /// Added to every fsync and fdatasync (1ms to 10s).
    #[serde(with = "crate::scenario::duration")]
    pub delay: Duration,
    /// A uniform draw in ±jitter added to each (at most the delay).
    #[serde(default, with = "crate::scenario::duration::option")]
    pub jitter: Option<Duration>,
    #[serde(default, with = "crate::scenario::duration::option")]
    pub hold: Option<Duration>,
    #[serde(default)]
    pub name: Option<Spanned<String>>,
    #[serde(default, with = "crate::scenario::duration::option")]
    pub timeout: Option<Duration>,
}

/// The calls a `disk-error` fails.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DiskCall {
    /// fsync and fdatasync (etcd exits on a failed one).
    #[default]
    Fsync,
    /// write.
    Write,
}

/// How a member whose disk failed comes back when the fault heals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DiskRecover {
    /// Started again on its data, the disk sound again.
    #[default]
    Restart,
    /// Replaced: removed from the cluster, added back on an empty volume (a new disk), re-synced
    /// from the leader.
    Replace,
}

/// `disk-error`: EIO from the target's disk.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DiskErrorSpec {
    pub target: Spanned<Target>,
    /// `fsync` (default) or `write`.
    #[serde(default)]
    pub on: DiskCall,
    /// `restart` (default) or `replace`.
    #[serde(default)]
    pub recover: Option<Spanned<DiskRecover>>,
    #[serde(default, with = "crate::scenario::duration::option")]
    pub hold: Option<Duration>,
    #[serde(default)]
    pub name: Option<Spanned<String>>,
    #[serde(default, with = "crate::scenario::duration::option")]
    pub timeout: Option<Duration>,
}

/// `disk-full`: no space left on the target's data directory.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DiskFullSpec {
    pub target: Spanned<Target>,
    /// Bytes that may still be written before ENOSPC (default 0: at once; at most 1 GiB).
    #[serde(default)]
    pub room_bytes: Option<Spanned<u64>>,
    /// `restart` (default) or `replace`.
    #[serde(default)]
    pub recover: Option<Spanned<DiskRecover>>,
    #[serde(default, with = "crate::scenario::duration::option")]
    pub hold: Option<Duration>,
    #[serde(default)]
    pub name: Option<Spanned<String>>,
    #[serde(default, with = "crate::scenario::duration::option")]
    pub timeout: Option<Duration>,
}

/// `compact`: the keyspace compacted to the current revision (cluster-wide).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CompactSpec {
    /// Wait until the compaction is applied to the backend (etcd's `physical`); default true.
    #[serde(default)]
    pub physical: Option<bool>,
    #[serde(default)]
    pub name: Option<Spanned<String>>,
    #[serde(default, with = "crate::scenario::duration::option")]
    pub timeout: Option<Duration>,
}

/// `nospace`: one key rewritten until the database reaches `quota-backend-bytes`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct NospaceSpec {
    /// The size of each rewrite of the key (default 512 KiB; 1 KiB to 1 MiB).
    #[serde(default)]
    pub value_bytes: Option<Spanned<u64>>,
    /// How long writes stay refused before the runbook starts (default: at once).
    #[serde(default, with = "crate::scenario::duration::option")]
    pub hold: Option<Duration>,
    #[serde(default)]
    pub name: Option<Spanned<String>>,
    #[serde(default, with = "crate::scenario::duration::option")]
    pub timeout: Option<Duration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct HealStep {
    pub fault: Spanned<String>,
    #[serde(default, with = "crate::scenario::duration::option")]
    pub timeout: Option<Duration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct WaitHealthyStep {
    #[serde(default, with = "crate::scenario::duration::option")]
    pub timeout: Option<Duration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SeedStep {
    #[serde(default, with = "crate::scenario::duration::option")]
    pub timeout: Option<Duration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SnapshotStep {
    pub name: Spanned<String>,
    #[serde(default, with = "crate::scenario::duration::option")]
    pub timeout: Option<Duration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DisasterStep {
    #[serde(default, with = "crate::scenario::duration::option")]
    pub timeout: Option<Duration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RestoreStep {
    /// A snapshot taken by a `snapshot` step...
    #[serde(default)]
    pub snapshot: Option<Spanned<String>>,
    /// ...or a stored backup from the `backup` schedule.
    #[serde(default)]
    pub backup: Option<Spanned<BackupPick>>,
    /// Refused backups fall back to the next older one.
    #[serde(default)]
    pub fallback: Option<bool>,
    /// With `backup`: a point in time, the revision just before the `delete-prefix` step of
    /// this name: the newest full at or below it, its deltas replayed up to it exactly.
    #[serde(default)]
    pub before: Option<Spanned<String>>,
    /// With incremental backups: replay the full's deltas after it (default true). `false`
    /// restores the full alone.
    #[serde(default)]
    pub deltas: Option<Spanned<bool>>,
    /// ...or a snapshot file from elsewhere (last night's production backup): the drill then
    /// starts with no cluster and this restore builds it.
    #[serde(default)]
    pub file: Option<Spanned<std::path::PathBuf>>,
    /// ...or a backup from a store this drill did not fill (last night's production backups):
    /// the drill then starts with no cluster and this restore builds it.
    #[serde(default)]
    pub store: Option<Spanned<StoreSpec>>,
    /// With `store`: `newest` (default; a delta with its full and chain), `newest-full`, or a
    /// backup's name.
    #[serde(default)]
    pub pick: Option<Spanned<String>>,
    /// With `store`: a point in time, the newest full at or below this revision and its deltas
    /// replayed up to it exactly...
    #[serde(default)]
    pub at_revision: Option<Spanned<i64>>,
    /// ...or the newest full taken at or before this UTC time (RFC 3339) and the deltas taken
    /// by then.
    #[serde(default)]
    pub at: Option<Spanned<String>>,
    /// etcdutl's `--bump-revision`: the restored cluster's revisions start this far above the
    /// snapshot's (Kubernetes' restore procedure; with `mark-compacted: true`).
    #[serde(default)]
    pub bump_revision: Option<Spanned<u64>>,
    /// etcdutl's `--mark-compacted`: watchers resuming from an old revision are told it was
    /// compacted instead of silently missing events. etcdutl requires it with `bump-revision`.
    #[serde(default)]
    pub mark_compacted: Option<Spanned<bool>>,
    /// Restore into a cluster of another etcd version (a cross-version restore).
    #[serde(default)]
    pub version: Option<Spanned<String>>,
    #[serde(default, with = "crate::scenario::duration::option")]
    pub timeout: Option<Duration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct VerifyStep {
    #[serde(default, with = "crate::scenario::duration::option")]
    pub timeout: Option<Duration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DeletePrefixStep {
    /// Every key under it is deleted, in one request.
    pub prefix: Spanned<String>,
    /// The point's name for a restore's `before` (default `delete-prefix-<step number>`).
    #[serde(default)]
    pub name: Option<Spanned<String>>,
    #[serde(default, with = "crate::scenario::duration::option")]
    pub timeout: Option<Duration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct WaitWritesStep {
    /// How many writes, acknowledged at revisions above the cluster's when the step starts.
    pub count: Spanned<u64>,
    #[serde(default, with = "crate::scenario::duration::option")]
    pub timeout: Option<Duration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct WaitBackupsStep {
    /// Full backups stored since the drill started.
    #[serde(default)]
    pub fulls: Option<Spanned<u32>>,
    /// Incremental backups stored after the newest full (the chain a restore replays).
    #[serde(default)]
    pub deltas: Option<Spanned<u32>>,
    #[serde(default, with = "crate::scenario::duration::option")]
    pub timeout: Option<Duration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SleepStep {
    #[serde(with = "crate::scenario::duration")]
    pub duration: Duration,
}

/// Gates: each one present decides the exit code.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Expectations {
    /// Longest allowed time from the end of the disaster to the first quorum write.
    #[serde(default, with = "crate::scenario::duration::option")]
    pub rto: Option<Duration>,
    /// Longest allowed time from the end of the disaster to a verified cluster.
    #[serde(default, with = "crate::scenario::duration::option")]
    pub rto_verified: Option<Duration>,
    /// Longest allowed time between the restored snapshot and the disaster.
    #[serde(default, with = "crate::scenario::duration::option")]
    pub rpo: Option<Duration>,
    #[serde(default)]
    pub max_lost_acknowledged_writes: Option<u64>,
    #[serde(default)]
    pub max_revision_gap: Option<u64>,
    #[serde(default)]
    pub integrity: Option<bool>,
    /// The revision a restored external snapshot must have.
    #[serde(default)]
    pub snapshot_revision: Option<i64>,
    /// How many keys a restored external snapshot must hold at its revision.
    #[serde(default)]
    pub snapshot_keys: Option<u64>,
    /// Prefixes that must hold keys in a restored external snapshot (`/registry/pods/`).
    #[serde(default)]
    pub keys_under: Option<Vec<String>>,
    /// Freshness: the newest backup in a restore's store (full or delta) is at most this old.
    #[serde(default, with = "crate::scenario::duration::option")]
    pub backup_max_age: Option<Duration>,
    /// Clients never see revisions go back across a restore, and a watcher resuming from its
    /// last revision is told of a compaction instead of silently missing events (what
    /// Kubernetes needs; `bump-revision` and `mark-compacted` give it).
    #[serde(default)]
    pub revisions_survive_restore: Option<bool>,
    /// Every client operation of the workload fits one order consistent with real time and
    /// etcd's revisions, across faults and restores (default true with a workload; `false`
    /// reports the check without gating on it).
    #[serde(default)]
    pub linearizable: Option<bool>,
    /// Alerts the drill must raise, each within its time (needs `monitoring`).
    #[serde(default)]
    pub alerts: Option<Spanned<AlertsExpected>>,
    /// No alert fires that `alerts` does not name, nor any before the first fault.
    #[serde(default)]
    pub no_unexpected_alerts: Option<bool>,
}
