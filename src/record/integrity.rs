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
    /// What a restored external snapshot holds.
    pub keyspace: Option<KeyspaceSummary>,
    /// Acknowledged writes missing that no restore rolled back.
    pub durability: Option<Durability>,
    pub passed: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct KeyspaceSummary {
    pub revision: i64,
    pub keys: u64,
    pub per_prefix: std::collections::BTreeMap<String, u64>,
}

impl KeyspaceSummary {
    pub fn new(revision: i64) -> Self {
        KeyspaceSummary {
            revision,
            keys: 0,
            per_prefix: Default::default(),
        }
    }

    /// Counts `key` under its prefix: the first two path segments, like `/registry/pods/`.
    pub fn count(&mut self, key: &[u8]) {
        self.keys += 1;
        let text = String::from_utf8_lossy(key);
        let cut: Vec<&str> = text.splitn(4, '/').collect();
        let prefix = if text.starts_with('/') && cut.len() >= 3 {
            format!("/{}/{}/", cut[1], cut[2])
        } else {
            cut[0].to_string()
        };
        *self.per_prefix.entry(prefix).or_default() += 1;
    }
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
}

impl SeedCheck {
    pub fn ok(&self) -> bool {
        self.missing == 0 && self.wrong_value == 0
    }
}
