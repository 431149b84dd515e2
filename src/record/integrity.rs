//! Integrity evidence: seeded keys, the keyspace digest, HashKV per member and, when members
//! part, where; what a restored external snapshot holds; durability of acknowledged writes.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct MemberHash {
    pub member: String,
    pub hash: u32,
    pub revision: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct DigestCheck {
    pub snapshot: String,
    pub revision: i64,
    pub expected_sha256: String,
    pub actual_sha256: String,
    pub expected_keys: u64,
    pub actual_keys: u64,
    pub equal: bool,
}

/// etcd's HashKV at a snapshot's revision: the snapshot file's (or the live member's before the
/// disaster) against the restored members'. It hashes every revision the snapshot holds (keys,
/// values, versions, leases) after the compacted one. In `verify`, one restored member is
/// hashed at it when every member's HashKV at the latest revision is equal (they then hold the
/// same rows), every member when they differ.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct HashKvCheck {
    pub snapshot: String,
    pub revision: i64,
    pub expected: super::SnapshotHashKv,
    pub actual: Vec<super::SnapshotHashKv>,
    /// Members that could not hash that revision (behind it for good, or down), and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unreachable: Vec<String>,
    pub equal: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct VerifyRecord {
    /// Disaster end → verification finished, when a restore happened.
    pub rto_verified_ms: Option<u64>,
    pub seed: Option<SeedCheck>,
    pub hashkv: Vec<MemberHash>,
    pub hashkv_equal: bool,
    /// Where the members part, when HashKV differs.
    #[serde(default)]
    pub divergence: Option<Divergence>,
    pub snapshot_digest: Option<DigestCheck>,
    /// The restored members' HashKV at the snapshot's revision against the live member's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_hashkv: Option<HashKvCheck>,
    /// What a restored external snapshot holds.
    pub keyspace: Option<KeyspaceSummary>,
    /// Acknowledged writes missing that no restore rolled back.
    pub durability: Option<Durability>,
    pub passed: bool,
}

/// What a snapshot holds, for a person: keys and bytes by prefix, grouped down to the depth
/// that fits the keyspace (`/registry/<resource>/` for Kubernetes), the largest groups first and
/// the rest summed, so the summary stays short at any size.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct KeyspaceSummary {
    pub revision: i64,
    pub keys: u64,
    /// Keys and values, in bytes.
    #[serde(default)]
    pub bytes: u64,
    /// How many `/`-separated levels the groups go down.
    #[serde(default)]
    pub depth: u32,
    /// The largest groups, most keys first.
    #[serde(default)]
    pub groups: Vec<PrefixGroup>,
    /// Every group after those, summed (`prefix` says how many).
    #[serde(default)]
    pub rest: Option<PrefixGroup>,
    /// The snapshot file's size, and the backend quota the cluster ran with.
    #[serde(default)]
    pub db_size_bytes: Option<u64>,
    #[serde(default)]
    pub quota_bytes: Option<u64>,
    /// The prefixes the scenario named (`expect.keys-under`), each counted exactly.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub wanted: Vec<PrefixGroup>,
    /// Where the keys were counted: `the restored cluster` (read through etcd at the
    /// revision), or `the snapshot file` (its rows, while the members restored it: what they
    /// hold, as HashKV equal on every member and the trailer say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counted_in: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PrefixGroup {
    pub prefix: String,
    pub keys: u64,
    pub bytes: u64,
}

/// The durability checker: every acknowledged put is readable after recovery, unless a restore
/// rolled it back (then it counts in the RPO).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Durability {
    pub checked: u64,
    pub lost: u64,
    pub examples: Vec<String>,
}

impl VerifyRecord {
    /// The integrity checks in one line (the gate's "actual", the terminal summary).
    pub fn summary(&self) -> String {
        let verdict = |ok: bool| if ok { "equal" } else { "DIFFERS" };
        let mut parts = Vec::new();
        if let Some(s) = &self.seed {
            let intact = s.expected.saturating_sub(s.missing + s.wrong_value);
            let file = if s.in_snapshot_file {
                " in the snapshot file"
            } else {
                ""
            };
            parts.push(format!(
                "{intact} of {} seeded keys intact{file}",
                s.expected
            ));
        }
        if let Some(d) = &self.snapshot_digest {
            parts.push(format!(
                "digest at revision {} {}",
                d.revision,
                verdict(d.equal)
            ));
        }
        if let Some(h) = &self.snapshot_hashkv {
            let source = if h.expected.member == super::SnapshotHashKv::FROM_FILE {
                "the snapshot file's".to_string()
            } else {
                format!("{}'s before the disaster", h.expected.member)
            };
            parts.push(format!(
                "HashKV at revision {} {} to {source}",
                h.revision,
                verdict(h.equal)
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Divergence {
    /// The revision the hashes and the keyspaces were read at.
    pub revision: i64,
    /// The members whose HashKV is not the most common one.
    pub members: Vec<String>,
    /// Keys whose value (or presence) differs between members at that revision; 0 when only
    /// the histories differ (revisions of deleted or overwritten versions).
    pub differing_keys: u64,
    /// A few of them, each with how it differs ("/k: missing on etcd-3").
    pub examples: Vec<String>,
}

impl Divergence {
    /// One line: who differs, where, and the first example.
    pub fn summary(&self) -> String {
        let first = self
            .examples
            .first()
            .map(|e| format!(", e.g. {e}"))
            .unwrap_or_default();
        format!(
            "{} differ(s) at revision {}: {} key(s){first}",
            self.members.join(","),
            self.revision,
            self.differing_keys
        )
    }
}

/// Seeded keys that are missing or hold another value: (missing, wrong), with up to 10 examples.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, JsonSchema)]
pub struct SeedCheck {
    pub expected: u64,
    pub missing: u64,
    pub wrong_value: u64,
    pub examples: Vec<String>,
    /// Checked in the restored snapshot file's rows at its revision, not read back from the
    /// members: their HashKV at that revision is checked against the file's (recomputed in
    /// the same pass), so the rows checked are the rows they hold.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub in_snapshot_file: bool,
}

impl SeedCheck {
    pub fn ok(&self) -> bool {
        self.missing == 0 && self.wrong_value == 0
    }
}
