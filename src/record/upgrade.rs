//! Upgrade evidence: a rolling upgrade, member by member, and what each step cost.

use super::MemberHash;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A rolling upgrade of the whole cluster to another etcd version.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct UpgradeRecord {
    /// The version the members reported before.
    pub from: String,
    pub to: String,
    pub image: String,
    /// In the order they were upgraded: followers first, the leader last.
    pub members: Vec<MemberUpgrade>,
    /// The cluster version etcd reported once every member ran `to` (`/version`'s
    /// `etcdcluster`); `None` where it could not be read (a TLS cluster).
    pub cluster_version: Option<String>,
    pub hashkv: Vec<MemberHash>,
    pub hashkv_equal: bool,
    /// Acknowledged writes missing after the upgrade (must be 0).
    pub lost_acknowledged_writes: Option<u64>,
}

/// One member's turn.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct MemberUpgrade {
    pub member: String,
    pub was_leader: bool,
    /// When it was stopped (ms since the run started).
    pub stopped_ms: u64,
    /// When it answered again on the new version and the cluster was stable.
    pub serving_ms: u64,
    /// The version it reported once back.
    pub version: String,
    /// The leader once it was back.
    pub leader_after: Option<String>,
    /// The longest window without a successful write while it was down (the workload's).
    pub unavailable_ms: Option<u64>,
}
