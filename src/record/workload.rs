//! What clients saw: the background workload's operations and acknowledgements, windows of
//! unavailability, revision regressions, watch continuity, and per-phase latency.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};

/// The background workload: its totals, per-phase latency and its timeline.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct WorkloadReport {
    pub config: Option<crate::plan::WorkloadPlan>,
    #[serde(flatten)]
    pub log: WorkloadLog,
    pub phases: Vec<PhaseStats>,
    pub timeline: Vec<Bucket>,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, JsonSchema)]
pub struct Ack {
    pub seq: u64,
    pub revision: i64,
    /// Milliseconds since the run started, when the acknowledgement arrived.
    pub at_ms: u64,
}

#[derive(
    Debug,
    Clone,
    Copy,
    Serialize,
    serde::Deserialize,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum OpKind {
    Put,
    LinearizableGet,
    SerializableGet,
    /// A compare-and-swap update of an object.
    Update,
    /// A delete of an object.
    Delete,
    /// A linearizable read of an object.
    ObjectGet,
    /// A step of a lease's life: grant, a put attached to it, revoke.
    Lease,
    /// A page of a list of the objects.
    List,
}

/// One operation as the client saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Op {
    pub kind: OpKind,
    /// When it completed, ms since the run started.
    pub at_ms: u64,
    pub latency_us: u64,
    pub ok: bool,
}

/// From the last success before a failure to the first success after it.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq, JsonSchema)]
pub struct Window {
    pub from_ms: u64,
    pub to_ms: Option<u64>,
    pub failed_writes: u64,
}

/// A linearizable answer older than what a completed operation had already seen.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq, JsonSchema)]
pub struct Regression {
    pub at_ms: u64,
    pub kind: OpKind,
    pub seen_before: i64,
    pub got: i64,
}

#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, JsonSchema)]
pub struct WorkloadLog {
    pub attempts: u64,
    #[serde(skip)]
    pub acks: Vec<Ack>,
    #[serde(skip)]
    pub ops: Vec<Op>,
    pub acknowledged: u64,
    pub failures: BTreeMap<String, u64>,
    pub unavailability: Vec<Window>,
    pub revision_regressions: Vec<Regression>,
    /// What clients saw of revisions across each restore: whether the first answer after it
    /// carried a revision below the highest seen before (a client caching revisions sees time
    /// go back; Kubernetes' restore procedure bumps revisions to prevent it).
    #[serde(default)]
    pub across_restores: Vec<RevisionsAcrossRestore>,
    /// The watch-continuity checker's findings.
    pub watch: WatchLog,
    /// The linearizability check of the whole recorded history (`history.jsonl`).
    #[serde(default)]
    pub linearizability: Option<super::LinearizabilityRecord>,
    #[serde(skip)]
    pub(crate) last_success_ms: Option<u64>,
}

/// Writes unavailable during a span of the run (a fault, an upgrade): the longest window that
/// overlaps it (a window still open counts up to `to_ms`), and the failed writes of every
/// overlapping window. One computation for every step that reports unavailability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Unavailable {
    pub longest_ms: Option<u64>,
    pub failed_writes: u64,
}

impl WorkloadLog {
    pub fn unavailable_between(&self, from_ms: u64, to_ms: u64) -> Unavailable {
        let windows: Vec<&Window> = self
            .unavailability
            .iter()
            .filter(|x| x.from_ms <= to_ms && x.to_ms.unwrap_or(to_ms) >= from_ms)
            .collect();
        Unavailable {
            longest_ms: windows
                .iter()
                .map(|x| x.to_ms.unwrap_or(to_ms).saturating_sub(x.from_ms))
                .max(),
            failed_writes: windows.iter().map(|x| x.failed_writes).sum(),
        }
    }
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq, JsonSchema)]
pub struct Jump {
    pub from: i64,
    pub to: i64,
}

/// Revisions on either side of a restore, as the workload's clients saw them.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq, JsonSchema)]
pub struct RevisionsAcrossRestore {
    /// The highest revision a linearizable operation completed with before the restore.
    pub highest_before: i64,
    /// The revision of the first linearizable operation started after it.
    pub first_after: i64,
}

impl RevisionsAcrossRestore {
    pub fn went_back(&self) -> bool {
        self.first_after < self.highest_before
    }
}

/// What a watching client saw when the cluster came back from a snapshot.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq, JsonSchema)]
pub struct RestoreView {
    /// The last revision the watcher had seen before the cluster went away.
    pub last_seen: i64,
    /// The revision the restored cluster reported when the watch resumed.
    pub cluster_revision: i64,
    /// New writes at revisions cluster_revision+1..=last_seen are never delivered to a client
    /// that resumes its watch where it left off.
    pub invisible_revisions: i64,
    /// The compaction revision the resumed watch was told of (a restore with
    /// `--mark-compacted`): the client knows to re-list instead of silently missing events.
    #[serde(default)]
    pub compacted: Option<i64>,
}

impl RestoreView {
    /// The resumed watch will silently miss events: revisions went back and nobody said so.
    pub fn misses_silently(&self) -> bool {
        self.invisible_revisions > 0 && self.compacted.is_none()
    }
}

#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, JsonSchema)]
pub struct WatchLog {
    pub events: u64,
    pub first_revision: Option<i64>,
    pub last_revision: i64,
    pub gaps: Vec<Jump>,
    pub backwards: Vec<Jump>,
    pub duplicates: u64,
    pub reconnects: u64,
    pub compacted: Vec<i64>,
    pub restores: Vec<RestoreView>,
    /// The cluster epoch (restores so far) the watcher last got an answer in.
    #[serde(skip)]
    pub epoch: u64,
    /// The workload compacts during its traffic (`compact-every`): a compaction that passed
    /// the watcher's position while it was away is the drill's, and the watcher re-lists.
    #[serde(skip)]
    pub compactions_expected: bool,
    /// Where the current stream stands (`checks::watch` places each event with it).
    #[serde(skip)]
    pub(crate) order: StreamOrder,
}

/// The order of one watch stream so far: the highest revision it delivered and the keys it
/// delivered at that revision. The online continuity check and the history's watch pass both
/// place every event with it (`checks::watch`).
#[derive(Debug, Clone, Default)]
pub struct StreamOrder {
    pub(crate) last: i64,
    pub(crate) keys_at_last: HashSet<Vec<u8>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct PhaseStats {
    pub name: String,
    pub from_ms: u64,
    pub to_ms: u64,
    pub count: u64,
    pub errors: u64,
    pub ops_per_sec: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct Bucket {
    pub at_ms: u64,
    pub ok: u64,
    pub errors: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

#[cfg(test)]
mod unavailable_tests {
    use super::*;

    #[test]
    fn the_longest_overlapping_window_counts_and_an_open_one_runs_to_the_end() {
        let w = |from_ms, to_ms, failed_writes| Window {
            from_ms,
            to_ms,
            failed_writes,
        };
        let log = WorkloadLog {
            unavailability: vec![
                w(100, Some(300), 2),
                w(1000, Some(1800), 5),
                w(5000, None, 1),
            ],
            ..Default::default()
        };
        let u = log.unavailable_between(200, 2000);
        assert_eq!(
            u,
            Unavailable {
                longest_ms: Some(800),
                failed_writes: 7
            }
        );
        assert_eq!(log.unavailable_between(4000, 5600).longest_ms, Some(600));
        assert_eq!(log.unavailable_between(2000, 4000), Unavailable::default());
    }
}
