//! HashKV on every member at one revision. The revision is the highest any member holds, not
//! whatever member a read happens to reach: a member that lost entries (etcd-io/etcd#13766, or
//! members restored from different snapshots) sits at a lower revision with nothing left to
//! apply, and hashing everyone at *its* revision would compare only the history they share and
//! call them equal. A member that cannot reach the revision is hashed where it stopped, so its
//! hash differs and the divergence finder names it.

use crate::cluster::{within, ClusterError, Member};
use crate::record::{HashKvCheck, MemberHash, SnapshotHashKv};
use etcd_client::GetOptions;
use futures_util::future::join;
use std::time::Duration;

/// How long a member may take to apply up to the common revision before it counts as behind.
const CATCH_UP: Duration = Duration::from_secs(10);

/// The deadline of one HashKV: the member reads its whole db for it, which took longer than the
/// harness's usual 5 s on a 6 GB db (a 4 GiB seed) in a machine short of page cache.
const HASH: Duration = Duration::from_secs(180);

/// HashKV of one member at `revision`, waiting (at most `CATCH_UP`) for the member to apply up
/// to it.
pub async fn at(
    member: &str,
    endpoint: &str,
    revision: i64,
) -> Result<SnapshotHashKv, ClusterError> {
    let client = crate::cluster::connect_with(&[endpoint.to_string()], HASH).await?;
    let started = tokio::time::Instant::now();
    loop {
        let mut c = client.clone();
        match within("hashkv", member, HASH, c.hash_kv(revision)).await {
            Ok(h) => {
                return Ok(SnapshotHashKv {
                    member: member.to_string(),
                    hash: h.hash(),
                    compact_revision: h.compact_version(),
                })
            }
            Err(_) if started.elapsed() < CATCH_UP => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => return Err(e),
        }
    }
}

/// `all`, and the snapshot's revision (`name` at `revision`) against `expected`, with one
/// HashKV more, not one per member, where the snapshot holds no compaction. Members whose
/// HashKVs at the latest revision are equal then hold the same rows at every revision up to it
/// (HashKV covers them all): so the first member's hash at the snapshot's revision, taken
/// beside its latest one (one read of its db for both), stands for every member's. When the
/// latest ones differ, or the snapshot holds a compaction, every member is hashed at the
/// snapshot's revision too. A HashKV reads the member's whole db, and two at once on one
/// member are CPU-bound where its db is in the page cache: a pair on every member took
/// 1.9–2.1 s a member at 1 GiB, where one took about 1.3 s.
pub async fn latest_and_at_snapshot(
    members: &[Member],
    name: &str,
    revision: i64,
    expected: &SnapshotHashKv,
) -> Result<(HashKvCheck, Vec<MemberHash>), ClusterError> {
    let latest = latest_revision(members).await?;
    let Some((first, rest)) = members.split_first() else {
        return Ok((against(name, revision, expected, Vec::new()), Vec::new()));
    };
    // Under a compaction, a row at or below it counts in HashKV only while its key is not
    // written again: a key rewritten after the snapshot drops its old row from the latest
    // hash, not from the hash at the snapshot's revision. Every member is hashed at both then.
    let each = expected.compact_revision >= 0;
    let (old, new) = both(first, revision, latest).await;
    let (mut hashes, mut hashed) = (vec![new?], vec![(first.name.as_str(), old)]);
    for m in rest {
        if each {
            let (old, new) = both(m, revision, latest).await;
            hashed.push((m.name.as_str(), old));
            hashes.push(new?);
        } else {
            hashes.push(member_at(m, latest).await?);
        }
    }
    // The latest ones differ, or the first member could not hash the snapshot's revision: every
    // member is hashed at it, so the report says which hold the snapshot's state.
    if !each && (!equal(&hashes) || hashed[0].1.is_err()) {
        for m in rest {
            hashed.push((m.name.as_str(), at(&m.name, &m.endpoint(), revision).await));
        }
    }
    Ok((against(name, revision, expected, hashed), hashes))
}

/// One member's HashKV at `revision` and at `latest`, side by side.
async fn both(
    m: &Member,
    revision: i64,
    latest: i64,
) -> (
    Result<SnapshotHashKv, ClusterError>,
    Result<MemberHash, ClusterError>,
) {
    let (endpoint, started) = (m.endpoint(), std::time::Instant::now());
    let hashed = join(at(&m.name, &endpoint, revision), member_at(m, latest)).await;
    tracing::debug!(member = %m.name, revision, latest, took = ?started.elapsed(), "hashkv");
    hashed
}

fn against(
    name: &str,
    revision: i64,
    expected: &SnapshotHashKv,
    hashed: Vec<(&str, Result<SnapshotHashKv, ClusterError>)>,
) -> HashKvCheck {
    let mut actual = Vec::new();
    let mut unreachable = Vec::new();
    for (member, h) in hashed {
        match h {
            Ok(h) => actual.push(h),
            Err(e) => unreachable.push(format!("{member}: {e}")),
        }
    }
    HashKvCheck {
        snapshot: name.to_string(),
        revision,
        equal: unreachable.is_empty() && same(expected, &actual),
        expected: expected.clone(),
        actual,
        unreachable,
    }
}

/// Whether every hash is the expected one, over the same compacted revision.
pub fn same(expected: &SnapshotHashKv, actual: &[SnapshotHashKv]) -> bool {
    !actual.is_empty()
        && actual
            .iter()
            .all(|a| a.hash == expected.hash && a.compact_revision == expected.compact_revision)
}

/// Whether every member's hash is the same, at the same revision (a member behind for good is
/// hashed where it stopped).
pub fn equal(hashes: &[MemberHash]) -> bool {
    hashes
        .windows(2)
        .all(|w| w[0].hash == w[1].hash && w[0].revision == w[1].revision)
}

/// Every member's HashKV at the highest revision any of them holds, one member at a time: a
/// member hashing holds its read transaction while it reads its whole db, and its reads and
/// commits wait behind it, so the others keep a quorum serving (a workload may run).
pub async fn all(members: &[Member]) -> Result<Vec<MemberHash>, ClusterError> {
    let latest = latest_revision(members).await?;
    let mut hashes = Vec::new();
    for m in members {
        hashes.push(member_at(m, latest).await?);
    }
    Ok(hashes)
}

/// The highest revision any member holds, each asked for its own.
async fn latest_revision(members: &[Member]) -> Result<i64, ClusterError> {
    let mut rev = 0;
    for m in members {
        // Serializable: answered by this member from its own store, so its own revision.
        let mut c = crate::cluster::connect(&[m.endpoint()]).await?;
        let own = GetOptions::new().with_serializable();
        let r = within(
            "get",
            &m.name,
            Duration::from_secs(5),
            c.get("/drill/health", Some(own)),
        )
        .await?;
        rev = rev.max(r.header().map(|h| h.revision()).unwrap_or(0));
    }
    Ok(rev)
}

/// One member's HashKV at `rev`, or where it stopped when it cannot reach `rev`.
async fn member_at(m: &Member, rev: i64) -> Result<MemberHash, ClusterError> {
    let name = m.name.clone();
    let client = crate::cluster::connect_with(&[m.endpoint()], HASH).await?;
    let started = tokio::time::Instant::now();
    let hashed = loop {
        let mut c = client.clone();
        match within("hashkv", &name, HASH, c.hash_kv(rev)).await {
            Ok(h) => break Some(h.hash()),
            Err(_) if started.elapsed() < CATCH_UP => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(_) => break None,
        }
    };
    let (hash, revision) = match hashed {
        Some(h) => (h, rev),
        None => {
            // Behind for good: its hash where it stopped.
            let mut c = client.clone();
            let h = within("hashkv", &name, HASH, c.hash_kv(0)).await?;
            let at = h.header().map(|x| x.revision()).unwrap_or(0);
            (h.hash(), at)
        }
    };
    Ok(MemberHash {
        member: name,
        hash,
        revision,
    })
}

#[cfg(test)]
mod tests {
    use crate::record::SnapshotHashKv;

    fn h(member: &str, hash: u32, compact_revision: i64) -> SnapshotHashKv {
        SnapshotHashKv {
            member: member.into(),
            hash,
            compact_revision,
        }
    }

    #[test]
    fn a_restored_members_hash_must_match_over_the_same_compaction() {
        let expected = h("etcd-2", 0xdead_beef, 0);
        assert!(super::same(
            &expected,
            &[h("etcd-1", 0xdead_beef, 0), h("etcd-2", 0xdead_beef, 0)]
        ));
        // One member holds another history.
        assert!(!super::same(
            &expected,
            &[h("etcd-1", 0xdead_beef, 0), h("etcd-2", 0xfeed_f00d, 0)]
        ));
        // The same hash over a later compaction hashes fewer revisions: not the same.
        assert!(!super::same(&expected, &[h("etcd-1", 0xdead_beef, 40)]));
        // No member hashed: nothing proven.
        assert!(!super::same(&expected, &[]));
    }
}
