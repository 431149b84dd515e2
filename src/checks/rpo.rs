//! The RPO a restore gives: the time from the snapshot's cut to the disaster, the revisions
//! written after it, and (once verification knows which acknowledged writes are gone) the
//! acknowledged writes it rolled back.

use crate::record::{Ack, FullsOnly, Rpo, SnapshotRecord};

/// At most this many rolled-back keys are named.
const EXAMPLES: usize = 10;

/// What restoring `snapshot` gives up, from the acknowledgements the workload received
/// (`None` without a workload). Acknowledgements after the disaster ended do not count.
pub fn measure(
    snapshot: &SnapshotRecord,
    disaster_started_ms: u64,
    disaster_ended_ms: u64,
    acks: Option<&[Ack]>,
) -> Rpo {
    let before: Vec<&Ack> = acks
        .unwrap_or_default()
        .iter()
        .filter(|a| a.at_ms <= disaster_ended_ms)
        .collect();
    let last = before.iter().map(|a| a.revision).max();
    Rpo {
        snapshot: snapshot.name.clone(),
        snapshot_revision: snapshot.revision,
        time_gap_ms: disaster_started_ms.saturating_sub(snapshot.taken_at_ms),
        last_acknowledged_revision: last,
        revision_gap: last.map(|l| (l - snapshot.revision).max(0)),
        acknowledged_before_disaster: acks.map(|_| before.len() as u64),
        lost_acknowledged_writes: None,
        lost_examples: Vec::new(),
        fulls_only: None,
    }
}

/// The RPO had the full of a chain been restored alone: its time and revision gaps, and the
/// acknowledged writes before the disaster's end above its revision (all of them rolled back).
pub fn fulls_only(
    full: &SnapshotRecord,
    disaster_started_ms: u64,
    disaster_ended_ms: u64,
    acks: Option<&[Ack]>,
) -> FullsOnly {
    let r = measure(full, disaster_started_ms, disaster_ended_ms, acks);
    FullsOnly {
        snapshot: r.snapshot,
        snapshot_revision: r.snapshot_revision,
        time_gap_ms: r.time_gap_ms,
        revision_gap: r.revision_gap,
        lost_acknowledged_writes: acks.map(|acks| {
            acks.iter()
                .filter(|a| a.at_ms <= disaster_ended_ms && a.revision > full.revision)
                .count() as u64
        }),
    }
}

/// The RPO with the acknowledged writes the restore rolled back counted and named.
pub fn with_rolled_back(mut rpo: Rpo, rolled_back: &[&Ack], name: impl Fn(&Ack) -> String) -> Rpo {
    rpo.lost_acknowledged_writes = Some(rolled_back.len() as u64);
    rpo.lost_examples = rolled_back.iter().take(EXAMPLES).map(|a| name(a)).collect();
    rpo
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gap_runs_from_the_cut_to_the_disaster_and_ignores_later_acks() {
        let snap = SnapshotRecord {
            name: "s".into(),
            file: "s.db".into(),
            size_bytes: 0,
            sha256: String::new(),
            revision: 100,
            total_keys: 0,
            etcd_hash: 0,
            taken_at: String::new(),
            taken_at_ms: 1_000,
            duration_ms: 0,
            mb_per_sec: 0.0,
            keyspace_sha256: String::new(),
            keyspace_keys: 0,
            hashkv: None,
            seed: None,
        };
        let acks = [
            Ack {
                seq: 0,
                revision: 90,
                at_ms: 900,
            },
            Ack {
                seq: 1,
                revision: 130,
                at_ms: 4_000,
            },
            Ack {
                seq: 2,
                revision: 500,
                at_ms: 9_000,
            }, // after the restore
        ];
        let rpo = measure(&snap, 5_000, 6_000, Some(&acks));
        assert_eq!(rpo.time_gap_ms, 4_000);
        assert_eq!(rpo.last_acknowledged_revision, Some(130));
        assert_eq!(rpo.revision_gap, Some(30));
        assert_eq!(rpo.acknowledged_before_disaster, Some(2));
        let rpo = with_rolled_back(rpo, &[&acks[1]], |a| format!("/w/{}", a.seq));
        assert_eq!(rpo.lost_acknowledged_writes, Some(1));
        assert_eq!(rpo.lost_examples, ["/w/1"]);
        let none = measure(&snap, 5_000, 6_000, None);
        assert_eq!(none.acknowledged_before_disaster, None);
        assert_eq!(none.revision_gap, None);
    }
}
