//! `verify`: prove that what the cluster holds is what went in. Every seeded key with its value,
//! HashKV equal on every member, the keyspace at the restored snapshot's revision equal to what
//! it was before the disaster, and the acknowledged writes that were lost, counted.

use super::{Ctx, StepError};
use crate::checks::{self, durability::Rollback};
use crate::events::StepOutcome;
use crate::keyspace::scan;
use crate::record::{Ack, Durability, Rpo, VerifyRecord};
use std::sync::atomic::AtomicU64;
use std::time::Duration;

pub async fn run(ctx: &mut Ctx<'_>) -> Result<StepOutcome, StepError> {
    if let Some(w) = &ctx.workload {
        // Let the watcher reach the restored cluster, so the report says what it saw there.
        w.watch_caught_up(Duration::from_secs(5)).await;
    }
    let seed = match (&ctx.plan.seed, ctx.seeded) {
        (Some(plan), true) => {
            let (plan, client, keys) = (plan.clone(), ctx.client.clone(), AtomicU64::new(0));
            let check = crate::seed_data::check(&client, &plan, &keys);
            Some(
                ctx.with_progress("checking seeded keys", "keys", plan.keys, &keys, check)
                    .await?,
            )
        }
        _ => None,
    };
    let hashkv = checks::hashkv::all(&ctx.cluster).await?;
    let hashkv_equal = checks::hashkv::equal(&hashkv);
    let divergence = checks::divergence::explain(&ctx.cluster, &hashkv).await?;
    let restored = ctx
        .restore
        .as_ref()
        .and_then(|r| ctx.snapshots.iter().find(|s| s.name == r.snapshot))
        .cloned();
    let mut snapshot_digest = None;
    let mut keyspace = None;
    if let Some(s) = restored {
        let (done, client) = (AtomicU64::new(0), ctx.client.clone());
        let digest = crate::keyspace::digest_at(&client, s.revision, &done);
        let (keys, sha) = ctx
            .with_progress("digest", "keys", s.keyspace_keys, &done, digest)
            .await?;
        if s.keyspace_sha256.is_empty() {
            // An external snapshot: nothing to compare with, so describe what it holds.
            keyspace = Some(summarize(ctx, s.revision).await?);
        } else {
            snapshot_digest = Some(checks::digest::compare(&s, keys, sha));
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

/// Acknowledged writes the cluster no longer holds. Writes acknowledged after a restore must all
/// be there; writes acknowledged before the disaster and after the snapshot are the RPO.
async fn lost_writes(ctx: &Ctx<'_>) -> Result<(Option<Rpo>, Option<Durability>), StepError> {
    let Some(w) = &ctx.workload else {
        return Ok((ctx.rpo.clone(), None));
    };
    let acks = w.log().acks;
    let prefix = w.plan().key_prefix.as_bytes();
    let missing = checks::durability::missing(&ctx.client, prefix, &acks).await?;
    let rollback = match (&ctx.disaster, &ctx.restore) {
        (Some(d), Some(r)) => Some(Rollback {
            until_ms: d.ended_ms,
            snapshot_revision: r.snapshot_revision,
        }),
        _ => None,
    };
    let (rolled_back, violated) = checks::durability::split(&acks, &missing, rollback);
    let name = |a: &Ack| crate::workload::key(w.plan(), a.seq);
    let durability = checks::durability::verdict(&acks, &violated, name);
    let rpo = ctx
        .rpo
        .clone()
        .map(|rpo| checks::rpo::with_rolled_back(rpo, &rolled_back, name));
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
