//! Fault evidence: what was hit, the proof it took effect, what it cost, and member health
//! sampled while it held.

use super::Divergence;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One fault: what was hit, the proof it took effect, and what it cost.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
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
    pub divergence: Option<Divergence>,
    pub health: Vec<HealthSample>,
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
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct HealthSample {
    pub at_ms: u64,
    pub member: String,
    pub up: bool,
    pub leader: Option<String>,
    pub raft_term: Option<u64>,
}
