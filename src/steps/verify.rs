//! `verify`: prove that what the cluster holds is what went in. Every seeded key with its value,
//! HashKV equal on every member, the keyspace at the restored snapshot's revision equal to what
//! it was before the disaster, and the acknowledged writes that were lost, counted.

use super::{Ctx, StepError};
use crate::events::StepOutcome;
use crate::keyspace::{prefix_end, scan};
use crate::record::{DigestCheck, Durability, MemberHash, VerifyRecord};
use std::collections::HashSet;
use std::time::Duration;

pub async fn run(ctx: &mut Ctx<'_>) -> Result<StepOutcome, StepError> {
    if let Some(w) = &ctx.workload {
        // Let the watcher reach the restored cluster, so the report says what it saw there.
        w.watch_caught_up(Duration::from_secs(5)).await;
    }
    let seed = match (&ctx.plan.seed, ctx.seeded) {
        (Some(plan), true) => Some(crate::seed_data::check(&ctx.client, plan).await?),
        _ => None,
    };
    let hashkv = hashkv_all(ctx).await?;
    let hashkv_equal = crate::checks::hashkv::equal(&hashkv);
    let divergence = divergence(ctx, &hashkv).await?;
    let restored = ctx
        .restore
        .as_ref()
        .and_then(|r| ctx.snapshots.iter().find(|s| s.name == r.snapshot))
        .cloned();
    let mut snapshot_digest = None;
    let mut keyspace = None;
    if let Some(s) = restored {
        let (keys, sha) = crate::keyspace::digest_at(&ctx.client, s.revision).await?;
        if s.keyspace_sha256.is_empty() {
            // An external snapshot: nothing to compare with, so describe what it holds.
            keyspace = Some(summarize(ctx, s.revision).await?);
        } else {
            snapshot_digest = Some(DigestCheck {
                snapshot: s.name.clone(),
                revision: s.revision,
                equal: sha == s.keyspace_sha256 && keys == s.keyspace_keys,
                expected_sha256: s.keyspace_sha256,
                actual_sha256: sha,
                expected_keys: s.keyspace_keys,
                actual_keys: keys,
            });
        }
    }
    let (rpo, durability) = lost_writes(ctx).await?;
    let rto_verified_ms = ctx
        .restore
        .as_ref()
        .map(|r| ctx.clock.ms().saturating_sub(r.rto_from_ms));
    let passed = seed.as_ref().is_none_or(|s| s.ok())
        && hashkv_equal
        && snapshot_digest.as_ref().is_none_or(|d| d.equal);
    let record = VerifyRecord {
        rto_verified_ms,
        seed,
        hashkv,
        hashkv_equal,
        divergence,
        snapshot_digest,
        keyspace,
        durability,
        passed,
    };
    Ok(StepOutcome::Verified(record, rpo))
}

/// When the hashes differ: which members, and which keys (`None` when they are equal).
pub(super) async fn divergence(
    ctx: &Ctx<'_>,
    hashes: &[MemberHash],
) -> Result<Option<crate::record::Divergence>, StepError> {
    if crate::checks::hashkv::equal(hashes) {
        return Ok(None);
    }
    let members = ctx.cluster.member_clients().await?;
    Ok(Some(
        crate::checks::divergence::find(&members, hashes).await?,
    ))
}

/// HashKV of every member at one revision (see `checks::hashkv`).
pub(super) async fn hashkv_all(ctx: &Ctx<'_>) -> Result<Vec<MemberHash>, StepError> {
    Ok(crate::checks::hashkv::all(&ctx.cluster).await?)
}

/// Sequence numbers of acknowledged writes the cluster does not hold now.
pub(super) async fn missing_acks(ctx: &Ctx<'_>) -> Result<Vec<u64>, StepError> {
    let Some(w) = &ctx.workload else {
        return Ok(Vec::new());
    };
    let acks = w.log().acks;
    let prefix = w.plan().key_prefix.as_bytes().to_vec();
    let mut present = HashSet::new();
    scan(&ctx.client, &prefix, &prefix_end(&prefix), 0, |k, _| {
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

/// Acknowledged writes the cluster no longer holds. Writes acknowledged after a restore must all
/// be there; writes acknowledged before the disaster and after the snapshot are the RPO.
async fn lost_writes(
    ctx: &Ctx<'_>,
) -> Result<(Option<crate::record::Rpo>, Option<Durability>), StepError> {
    let Some(w) = &ctx.workload else {
        return Ok((ctx.rpo.clone(), None));
    };
    let log = w.log();
    let missing: HashSet<u64> = missing_acks(ctx).await?.into_iter().collect();
    // A restore rolls back what came after its snapshot: that is RPO. Anything else missing is
    // a durability violation.
    // Rolled back = acknowledged before the disaster at a revision after the restored
    // snapshot's. Anything else missing (before the snapshot, or after the restore) is lost.
    let rollback = match (&ctx.disaster, &ctx.restore) {
        (Some(d), Some(r)) => Some((d.ended_ms, r.snapshot_revision)),
        _ => None,
    };
    let (rolled_back, violated): (Vec<_>, Vec<_>) = log
        .acks
        .iter()
        .filter(|a| missing.contains(&a.seq))
        .partition(|a| rollback.is_some_and(|(until, rev)| a.at_ms <= until && a.revision > rev));
    let name = |a: &&crate::record::Ack| crate::workload::key(w.plan(), a.seq);
    let durability = Durability {
        checked: log.acks.len() as u64,
        lost: violated.len() as u64,
        examples: violated.iter().take(10).map(name).collect(),
    };
    let rpo = ctx.rpo.clone().map(|mut rpo| {
        rpo.lost_acknowledged_writes = Some(rolled_back.len() as u64);
        rpo.lost_examples = rolled_back.iter().take(10).map(name).collect();
        rpo
    });
    Ok((rpo, Some(durability)))
}

/// Keys at `revision`, counted per prefix (the first two path segments, like
/// `/registry/pods/`), so an operator can see what a snapshot holds.
async fn summarize(
    ctx: &Ctx<'_>,
    revision: i64,
) -> Result<crate::record::KeyspaceSummary, StepError> {
    let mut per_prefix = std::collections::BTreeMap::<String, u64>::new();
    let mut keys = 0u64;
    scan(&ctx.client, &[0], &[], revision, |k, _| {
        keys += 1;
        let text = String::from_utf8_lossy(k);
        let cut: Vec<&str> = text.splitn(4, '/').collect();
        let prefix = if text.starts_with('/') && cut.len() >= 3 {
            format!("/{}/{}/", cut[1], cut[2])
        } else {
            cut[0].to_string()
        };
        *per_prefix.entry(prefix).or_default() += 1;
    })
    .await?;
    Ok(crate::record::KeyspaceSummary {
        revision,
        keys,
        per_prefix,
    })
}
