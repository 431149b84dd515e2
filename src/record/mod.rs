//! The evidence a drill produces: every serialisable fact, and `RunReport`, the shape of
//! `report.json`. Steps, backups, checks and the workload produce these; events carry them;
//! `report` only reads them. This module imports nothing above the plan.

mod alerts;
mod fault;
mod history;
mod integrity;
mod recovery;
mod schema;
mod setup;
mod upgrade;
mod workload;

pub use alerts::*;
pub use fault::*;
pub use history::*;
pub use integrity::*;
pub use recovery::*;
pub use schema::schema;
pub use setup::*;
pub use upgrade::*;
pub use workload::*;

use crate::plan::ClusterPlan;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// 2: one RPO (top-level `rpo`; no copies under `restore` and `verification`), `steps[].failure`,
/// and the verdict `environment-failed`. Version 1 reports still read (`report`, `compare`).
pub const SCHEMA_VERSION: u32 = 2;

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
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
    /// Rolling upgrades, in order.
    #[serde(default)]
    pub upgrades: Vec<UpgradeRecord>,
    pub backups: Option<BackupLog>,
    /// Where the run's certificates are, for a TLS cluster. Paths only, never key material.
    pub tls: Option<TlsInfo>,
    pub workload: Option<WorkloadReport>,
    pub gates: Vec<GateVerdict>,
    pub verdict: Verdict,
    pub error: Option<String>,
    /// The link to the previous run of this scenario and the key that signs this run's
    /// manifest: what makes a folder of months an unbroken, attributable record.
    #[serde(default)]
    pub evidence: Option<EvidenceInfo>,
    /// An alert drill: what the monitoring raised and how fast.
    #[serde(default)]
    pub alerts: Option<AlertsRecord>,
    /// A known-bug drill: whether this run's etcd carries the bug, and whether it was caught.
    #[serde(default)]
    pub known_bug: Option<KnownBugRecord>,
}

/// A known-bug drill's finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct KnownBugRecord {
    /// etcd's issue number.
    pub issue: u32,
    /// The etcd the drill ran.
    pub etcd_version: String,
    /// Whether that version carries the bug (it is below the fix of its line).
    pub affected: bool,
    /// The first release of each line with the fix.
    pub fixed_in: Vec<String>,
    /// The violation that catches the bug.
    pub fails_with: String,
    /// How many violations of that kind the check found (of those it listed, when it found
    /// others too).
    pub found: u64,
    /// The first of them, as the check named it: the key, why, the operations and deliveries
    /// (with their revisions and members).
    pub first: Option<Violation>,
}

impl KnownBugRecord {
    /// `caught`, `not reproduced in this run` (an affected version that passed), `passed`
    /// (a fixed version without the violation) or `false alarm` (a fixed version with it).
    pub fn outcome(&self) -> &'static str {
        match (self.affected, self.found > 0) {
            (true, true) => "caught",
            (true, false) => "not reproduced in this run",
            (false, false) => "passed",
            (false, true) => "false alarm",
        }
    }
}

/// How this run's evidence is tied to the runs before it and to whoever signed it. Only public
/// facts: a key id, never a key.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EvidenceInfo {
    /// The previous run of the same scenario, when there was one.
    pub previous: Option<ChainLink>,
    /// The minisign key id (16 hex digits) that signs `MANIFEST.sha256`, when signed.
    pub signed_by_key_id: Option<String>,
}

/// One link of the chain across runs: which run came before and the SHA-256 of its
/// `MANIFEST.sha256` as it was when this run started. A month removed or rewritten later no
/// longer matches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ChainLink {
    pub run_id: String,
    pub started_at: String,
    pub manifest_sha256: String,
    /// When the last passing run of this scenario finished (the previous run's own finish when
    /// it passed), for "no successful drill in 35 days".
    pub last_passed_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ScenarioInfo {
    pub name: String,
    pub description: Option<String>,
    pub path: PathBuf,
    pub sha256: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct Environment {
    pub docker: Option<String>,
    pub image: Option<ImageInfo>,
    pub etcd_version: Option<String>,
    /// Each member's etcd version, as the first health check saw it.
    #[serde(default)]
    pub member_versions: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum StepStatus {
    Passed,
    Failed,
    NotRun,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct StepRecord {
    pub index: usize,
    pub step: String,
    pub status: StepStatus,
    pub started_at: Option<String>,
    pub started_ms: Option<u64>,
    pub duration_ms: Option<u64>,
    pub error: Option<String>,
    /// What kind of failure stopped the step, when it failed.
    #[serde(default)]
    pub failure: Option<FailureKind>,
}

/// What stopped a step: the layer that failed, kept from the error to the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum FailureKind {
    /// The step's deadline passed.
    Deadline,
    /// etcd refused or did not answer (health, reads, writes, membership).
    Cluster,
    /// A snapshot could not be streamed, or its file could not be read (by
    /// `etcdutl snapshot status` or the harness's reader).
    Snapshot,
    /// `etcdutl snapshot restore` or starting the restored members failed.
    Restore,
    /// Docker refused or failed an operation.
    Sandbox,
    /// A fault could not be injected, proven or healed.
    Fault,
    /// The backup store failed, or every candidate backup was refused.
    Backup,
    /// What the step needs was not there (a named snapshot, an open fault).
    Precondition,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Passed,
    GateFailed,
    DrillFailed,
    /// The sandbox or the cluster could not be set up: no step ran.
    EnvironmentFailed,
    Interrupted,
}

impl Verdict {
    /// The verdict in a word or two, upper case, as chat messages and the history table show
    /// it.
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Passed => "PASSED",
            Verdict::GateFailed => "GATE FAILED",
            Verdict::DrillFailed => "DRILL FAILED",
            Verdict::EnvironmentFailed => "ENVIRONMENT FAILED",
            Verdict::Interrupted => "INTERRUPTED",
        }
    }

    pub fn exit_code(self) -> i32 {
        use crate::exit_codes::*;
        match self {
            Verdict::Passed => PASSED,
            Verdict::GateFailed => GATE_FAILED,
            Verdict::DrillFailed => DRILL_FAILED,
            Verdict::EnvironmentFailed => ENVIRONMENT,
            Verdict::Interrupted => INTERRUPTED,
        }
    }
}
