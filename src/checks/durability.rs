//! Durability: every acknowledged write is readable after recovery, unless a restore rolled it
//! back (acknowledged before the disaster, at a revision after the restored snapshot's): those
//! are the restore's RPO, not a durability violation. Anything else missing is a violation.

use crate::cluster::ClusterError;
use crate::keyspace::{prefix_end, scan};
use crate::record::{Ack, Durability};
use etcd_client::Client;
use std::collections::HashSet;

/// At most this many lost keys are named.
const EXAMPLES: usize = 10;

/// What a restore gave up: acknowledgements up to `until_ms` (the end of the disaster) at a
/// revision above `snapshot_revision` are gone by design.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rollback {
    pub until_ms: u64,
    pub snapshot_revision: i64,
}

impl Rollback {
    fn covers(&self, a: &Ack) -> bool {
        a.at_ms <= self.until_ms && a.revision > self.snapshot_revision
    }
}

/// The missing acknowledgements, split: (rolled back by the restore, durability violations).
pub fn split<'a>(
    acks: &'a [Ack],
    missing: &HashSet<u64>,
    rollback: Option<Rollback>,
) -> (Vec<&'a Ack>, Vec<&'a Ack>) {
    acks.iter()
        .filter(|a| missing.contains(&a.seq))
        .partition(|a| rollback.is_some_and(|r| r.covers(a)))
}

/// The durability verdict over `acks`, naming up to ten violated keys with `name`.
pub fn verdict(acks: &[Ack], violated: &[&Ack], name: impl Fn(&Ack) -> String) -> Durability {
    Durability {
        checked: acks.len() as u64,
        lost: violated.len() as u64,
        examples: violated.iter().take(EXAMPLES).map(|a| name(a)).collect(),
    }
}

/// Acknowledged writes missing since `since_ms` that no restore explains (a fault's loss).
pub fn lost_since(acks: &[Ack], missing: &HashSet<u64>, since_ms: u64) -> u64 {
    acks.iter()
        .filter(|a| a.at_ms > since_ms && missing.contains(&a.seq))
        .count() as u64
}

/// The sequence numbers of `acks` whose keys (`prefix` + the zero-padded sequence) the cluster
/// does not hold now: one paged scan of the prefix.
pub async fn missing(
    client: &Client,
    prefix: &[u8],
    acks: &[Ack],
) -> Result<HashSet<u64>, ClusterError> {
    let mut present = HashSet::new();
    scan(client, prefix, &prefix_end(prefix), 0, |k, _| {
        if let Some(seq) = std::str::from_utf8(&k[prefix.len()..])
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
        {
            present.insert(seq);
        }
    })
    .await?;
    Ok(acks
        .iter()
        .map(|a| a.seq)
        .filter(|s| !present.contains(s))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ack(seq: u64, revision: i64, at_ms: u64) -> Ack {
        Ack {
            seq,
            revision,
            at_ms,
        }
    }

    #[test]
    fn a_write_missing_from_before_the_snapshot_is_a_violation_not_rpo() {
        // Snapshot at revision 100, disaster over at 5 s.
        let acks = [
            ack(1, 90, 1_000),  // before the snapshot: must survive
            ack(2, 120, 2_000), // after the snapshot, before the disaster: rolled back
            ack(3, 130, 6_000), // after the restore: must survive
            ack(4, 95, 1_500),  // present
        ];
        let missing: HashSet<u64> = [1, 2, 3].into();
        let rollback = Some(Rollback {
            until_ms: 5_000,
            snapshot_revision: 100,
        });
        let (rolled_back, violated) = split(&acks, &missing, rollback);
        assert_eq!(rolled_back.iter().map(|a| a.seq).collect::<Vec<_>>(), [2]);
        assert_eq!(violated.iter().map(|a| a.seq).collect::<Vec<_>>(), [1, 3]);
        let d = verdict(&acks, &violated, |a| format!("/w/{}", a.seq));
        assert_eq!((d.checked, d.lost), (4, 2));
        assert_eq!(d.examples, ["/w/1", "/w/3"]);
    }

    #[test]
    fn without_a_restore_every_missing_write_is_a_violation() {
        let acks = [ack(1, 120, 2_000)];
        let (rolled_back, violated) = split(&acks, &[1].into(), None);
        assert!(rolled_back.is_empty());
        assert_eq!(violated.len(), 1);
        assert_eq!(lost_since(&acks, &[1].into(), 0), 1);
        assert_eq!(lost_since(&acks, &[1].into(), 2_000), 0);
    }
}
