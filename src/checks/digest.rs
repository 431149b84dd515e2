//! The keyspace digest: what the restored cluster holds at the snapshot's revision must be, key
//! for key, what the live cluster held at that revision before the disaster.

use crate::record::{DigestCheck, SnapshotRecord};

/// Compares the digest recorded with `snapshot` against the one read now (`keys`, `sha256`).
pub fn compare(snapshot: &SnapshotRecord, keys: u64, sha256: String) -> DigestCheck {
    DigestCheck {
        snapshot: snapshot.name.clone(),
        revision: snapshot.revision,
        equal: sha256 == snapshot.keyspace_sha256 && keys == snapshot.keyspace_keys,
        expected_sha256: snapshot.keyspace_sha256.clone(),
        actual_sha256: sha256,
        expected_keys: snapshot.keyspace_keys,
        actual_keys: keys,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot() -> SnapshotRecord {
        SnapshotRecord {
            name: "nightly".into(),
            file: "nightly.db".into(),
            size_bytes: 1,
            sha256: "a".repeat(64),
            revision: 7,
            total_keys: 3,
            etcd_hash: 0,
            taken_at: String::new(),
            taken_at_ms: 0,
            duration_ms: 0,
            mb_per_sec: 0.0,
            keyspace_sha256: "c".repeat(64),
            keyspace_keys: 3,
            hashkv: None,
            seed: None,
        }
    }

    #[test]
    fn a_different_digest_or_key_count_is_not_equal() {
        let s = snapshot();
        assert!(compare(&s, 3, "c".repeat(64)).equal);
        assert!(!compare(&s, 3, "d".repeat(64)).equal, "an altered value");
        assert!(!compare(&s, 2, "c".repeat(64)).equal, "a missing key");
    }
}
