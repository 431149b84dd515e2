//! The run report: what a drill proved, built from the runner's events by `Recorder`, written
//! as `reports/<run-id>/report.json` and rendered by the renderers beside this file.

pub mod artifacts;
pub mod compare;
mod document;
mod gates;
pub mod html;
pub mod junit;
pub mod manifest;
pub mod markdown;
pub mod read;
mod recorder;
pub mod stats;
pub mod summary;
pub mod svg;
pub mod table;

pub use gates::{evaluate, GateVerdict};
pub use recorder::Recorder;

use crate::image::ImageInfo;
use crate::plan::ClusterPlan;
use crate::seed::{SeedCheck, SeedStats};
use crate::workload::WorkloadLog;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunReport {
    pub schema_version: u32,
    pub tool: Tool,
    pub run_id: String,
    pub scenario: ScenarioInfo,
    pub environment: Environment,
    pub cluster: ClusterPlan,
    pub rng_seed: Option<u64>,
    pub started_at: String,
    pub finished_at: String,
    pub duration_ms: u64,
    pub steps: Vec<StepRecord>,
    pub seed: Option<SeedStats>,
    pub snapshots: Vec<SnapshotRecord>,
    pub disaster: Option<DisasterRecord>,
    pub restore: Option<RestoreRecord>,
    pub rpo: Option<Rpo>,
    pub verification: Option<VerifyRecord>,
    pub faults: Vec<FaultRecord>,
    pub backups: Option<crate::backup::schedule::BackupLog>,
    /// Where the run's certificates are, for a TLS cluster. Paths only, never key material.
    pub tls: Option<crate::tls::TlsInfo>,
    pub workload: Option<WorkloadReport>,
    pub gates: Vec<GateVerdict>,
    pub verdict: Verdict,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScenarioInfo {
    pub name: String,
    pub description: Option<String>,
    pub path: PathBuf,
    pub sha256: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Environment {
    pub docker: Option<String>,
    pub image: Option<ImageInfo>,
    pub etcd_version: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepStatus {
    Passed,
    Failed,
    NotRun,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepRecord {
    pub index: usize,
    pub step: String,
    pub status: StepStatus,
    pub started_at: Option<String>,
    pub started_ms: Option<u64>,
    pub duration_ms: Option<u64>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SnapshotRecord {
    pub name: String,
    pub file: PathBuf,
    pub size_bytes: u64,
    /// SHA-256 of the whole file, trailer included.
    pub sha256: String,
    /// From `etcdutl snapshot status`.
    pub revision: i64,
    pub total_keys: u64,
    pub etcd_hash: u64,
    /// When the stream started: the moment the snapshot captures.
    pub taken_at: String,
    pub taken_at_ms: u64,
    pub duration_ms: u64,
    pub mb_per_sec: f64,
    /// Digest of every key/value at `revision`, read from the live cluster before any disaster.
    pub keyspace_sha256: String,
    pub keyspace_keys: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DisasterRecord {
    pub started_ms: u64,
    pub ended_ms: u64,
    pub ended_at: String,
    pub destroyed_containers: Vec<String>,
    pub destroyed_volumes: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Phase {
    pub name: String,
    pub duration_ms: u64,
    /// Since the end of the disaster.
    pub at_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RestoreRecord {
    pub snapshot: String,
    /// Stored backups refused before this one (bad size, hash or trailer), newest first.
    pub refused: Vec<crate::backup::Refusal>,
    pub snapshot_revision: i64,
    pub cluster_token: String,
    pub phases: Vec<Phase>,
    /// Disaster end → first successful quorum write on the restored cluster.
    pub rto_first_write_ms: u64,
    /// When the RTO clock started (ms since the run started): the end of the disaster, or the
    /// start of a restore from an external file.
    pub rto_from_ms: u64,
    pub leader: Option<String>,
    /// What the restore gave up, before verification counts the lost writes (none for a
    /// drill that started from an external file).
    pub rpo: Option<Rpo>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
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
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MemberHash {
    pub member: String,
    pub hash: u32,
    pub revision: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DigestCheck {
    pub snapshot: String,
    pub revision: i64,
    pub expected_sha256: String,
    pub actual_sha256: String,
    pub expected_keys: u64,
    pub actual_keys: u64,
    pub equal: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VerifyRecord {
    /// Disaster end → verification finished, when a restore happened.
    pub rto_verified_ms: Option<u64>,
    pub seed: Option<SeedCheck>,
    pub hashkv: Vec<MemberHash>,
    pub hashkv_equal: bool,
    /// Where the members part, when HashKV differs.
    #[serde(default)]
    pub divergence: Option<crate::checks::divergence::Divergence>,
    pub snapshot_digest: Option<DigestCheck>,
    /// What a restored external snapshot holds.
    pub keyspace: Option<KeyspaceSummary>,
    pub rpo: Option<Rpo>,
    /// Acknowledged writes missing that no restore rolled back.
    pub durability: Option<Durability>,
    pub passed: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyspaceSummary {
    pub revision: i64,
    pub keys: u64,
    pub per_prefix: std::collections::BTreeMap<String, u64>,
}

/// The durability checker: every acknowledged put is readable after recovery, unless a restore
/// rolled it back (then it counts in the RPO).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Durability {
    pub checked: u64,
    pub lost: u64,
    pub examples: Vec<String>,
}

/// The background workload: its totals, per-phase latency and its timeline.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkloadReport {
    pub config: Option<crate::plan::WorkloadPlan>,
    #[serde(flatten)]
    pub log: WorkloadLog,
    pub phases: Vec<stats::PhaseStats>,
    pub timeline: Vec<stats::Bucket>,
}

/// One fault: what was hit, the proof it took effect, and what it cost.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FaultRecord {
    pub name: String,
    pub fault: String,
    pub target: String,
    pub members: Vec<String>,
    pub injected_at: String,
    pub injected_ms: u64,
    pub healed_ms: Option<u64>,
    /// When the cluster was healthy again (every member answering, one leader, a write).
    pub recovered_ms: Option<u64>,
    pub leader_before: Option<String>,
    pub leader_after: Option<String>,
    /// From injection to the first status naming a leader other than `leader_before`.
    pub new_leader_after_ms: Option<u64>,
    pub proof: Vec<String>,
    /// What etcd did with a corrupted member.
    pub reaction: Option<String>,
    /// Client-visible unavailability seen by the background writer around the fault: the
    /// longest window from the last success before a failure to the first success after it.
    pub unavailable_ms: Option<u64>,
    pub failed_writes: u64,
    pub lost_acknowledged_writes: Option<u64>,
    pub hashkv_equal: Option<bool>,
    /// Where the members part, when HashKV differs after recovery.
    #[serde(default)]
    pub divergence: Option<crate::checks::divergence::Divergence>,
    pub health: Vec<HealthSample>,
}

impl VerifyRecord {
    /// The integrity checks in one line (the gate's "actual", the terminal summary).
    pub fn summary(&self) -> String {
        let verdict = |ok: bool| if ok { "equal" } else { "DIFFERS" };
        let mut parts = Vec::new();
        if let Some(s) = &self.seed {
            let intact = s.expected.saturating_sub(s.missing + s.wrong_value);
            parts.push(format!("{intact} of {} seeded keys intact", s.expected));
        }
        if let Some(d) = &self.snapshot_digest {
            parts.push(format!(
                "digest at revision {} {}",
                d.revision,
                verdict(d.equal)
            ));
        }
        parts.push(format!(
            "HashKV {} on {} members",
            verdict(self.hashkv_equal),
            self.hashkv.len()
        ));
        if let Some(d) = &self.divergence {
            parts.push(d.summary());
        }
        parts.join(", ")
    }
}

impl FaultRecord {
    /// What the fault cost, in a few short phrases (terminal, table, Markdown).
    pub fn summary(&self) -> Vec<String> {
        let mut parts = vec![format!("on {}", self.members.join(","))];
        if let Some(ms) = self.new_leader_after_ms {
            parts.push(format!(
                "new leader {} after {ms} ms",
                self.leader_after.as_deref().unwrap_or("?")
            ));
        }
        if let Some(u) = self.unavailable_ms {
            parts.push(format!(
                "writes unavailable {u} ms ({} failed)",
                self.failed_writes
            ));
        }
        if let (Some(h), Some(rec)) = (self.healed_ms, self.recovered_ms) {
            parts.push(format!("healthy {} ms after heal", rec.saturating_sub(h)));
        }
        if let Some(l) = self.lost_acknowledged_writes {
            parts.push(format!("{l} acknowledged writes lost"));
        }
        if let Some(eq) = self.hashkv_equal {
            parts.push(format!("HashKV {}", if eq { "equal" } else { "DIFFERS" }));
        }
        if let Some(d) = &self.divergence {
            parts.push(d.summary());
        }
        if let Some(reaction) = &self.reaction {
            parts.push(reaction.clone());
        }
        if self.healed_ms.is_none() {
            parts.extend(self.proof.iter().cloned());
            parts.push("not healed (still in effect, or the cluster was torn down)".into());
        }
        parts
    }
}

/// One member's health at one moment, sampled every 250 ms while a fault is in effect.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HealthSample {
    pub at_ms: u64,
    pub member: String,
    pub up: bool,
    pub leader: Option<String>,
    pub raft_term: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Passed,
    GateFailed,
    DrillFailed,
    Interrupted,
}

impl Verdict {
    pub fn exit_code(self) -> i32 {
        use crate::exit_codes::*;
        match self {
            Verdict::Passed => PASSED,
            Verdict::GateFailed => GATE_FAILED,
            Verdict::DrillFailed => DRILL_FAILED,
            Verdict::Interrupted => INTERRUPTED,
        }
    }
}
