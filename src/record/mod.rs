//! The evidence a drill produces: every serialisable fact, and `RunReport`, the shape of
//! `report.json`. Steps, backups, checks and the workload produce these; events carry them;
//! `report` only reads them. This module imports nothing above the plan.

mod fault;
mod integrity;
mod recovery;
mod setup;
mod workload;

pub use fault::*;
pub use integrity::*;
pub use recovery::*;
pub use setup::*;
pub use workload::*;

use crate::plan::ClusterPlan;
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
    pub backups: Option<BackupLog>,
    /// Where the run's certificates are, for a TLS cluster. Paths only, never key material.
    pub tls: Option<TlsInfo>,
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
