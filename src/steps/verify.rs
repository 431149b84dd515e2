//! `verify`: prove that what the cluster holds is what went in. Every seeded key with its value,
//! HashKV equal on every member, the keyspace at the restored snapshot's revision equal to what
//! it was before the disaster (its digest, or etcd's HashKV at that revision on a restored
//! member whose rows every member holds), and the acknowledged writes that were lost, counted.

use super::{Ctx, StepError};
use crate::checks::{self, durability::Rollback};
use crate::events::StepOutcome;
use crate::keyspace::{scan, KeyspaceDigest};
use crate::prefixes::PrefixTally;
use crate::record::{
    Ack, DigestCheck, Durability, KeyspaceSummary, Rpo, SeedCheck, SnapshotRecord, VerifyRecord,
};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub async fn run(ctx: &mut Ctx<'_>) -> Result<StepOutcome, StepError> {
    // No compaction of the workload's passes the revisions this step reads at.
    let _held = super::hold_compaction(ctx).await;
    if let Some(w) = &ctx.workload {
        // Let the watcher reach the restored cluster, so the report says what it saw there.
        w.watch_caught_up(Duration::from_secs(5)).await;
    }
    let restored = ctx
        .restore
        .as_ref()
        .and_then(|r| {
            // After a replay, the state restored is the last replayed delta's.
            let state = r
                .replay
                .as_ref()
                .and_then(|p| p.deltas.last())
                .unwrap_or(&r.snapshot);
            ctx.snapshots.iter().rev().find(|s| &s.name == state)
        })
        .cloned();
    let expected = restored
        .as_ref()
        .and_then(|s| Some((s.name.clone(), s.revision, s.hashkv.clone()?)));
    // The keyspace is read before the members hash. Side by side at 4 GiB (every member
    // hashing a 6 GB db from disk), a range read timed out: a HashKV holds the member's read
    // transaction for all of it, and reads and commits on that member wait behind it.
    let Read {
        seed,
        snapshot_digest,
        keyspace,
    } = read(ctx, restored).await?;
    let members = &ctx.cluster.members;
    let (snapshot_hashkv, hashkv) = match expected {
        Some((name, revision, expected)) => {
            let both = checks::hashkv::latest_and_at_snapshot(members, &name, revision, &expected);
            let (check, hashes) = both.await?;
            (Some(check), hashes)
        }
        None => (None, checks::hashkv::all(members).await?),
    };
    let hashkv_equal = checks::hashkv::equal(&hashkv);
    let divergence = checks::divergence::explain(&ctx.cluster, &hashkv).await?;
    let (rpo, durability) = lost_writes(ctx).await?;
    let rto_verified_ms = ctx
        .restore
        .as_ref()
        .map(|r| ctx.clock.ms().saturating_sub(r.rto_from_ms));
    let passed = seed.as_ref().is_none_or(|s| s.ok())
        && hashkv_equal
        && snapshot_digest.as_ref().is_none_or(|d| d.equal)
        && snapshot_hashkv.as_ref().is_none_or(|h| h.equal);
    let record = VerifyRecord {
        rto_verified_ms,
        seed,
        hashkv,
        hashkv_equal,
        divergence,
        snapshot_digest,
        snapshot_hashkv,
        keyspace,
        durability,
        passed,
    };
    Ok(StepOutcome::Verified(record, rpo))
}

/// What reading the keyspace found.
struct Read {
    seed: Option<SeedCheck>,
    snapshot_digest: Option<DigestCheck>,
    keyspace: Option<KeyspaceSummary>,
}

/// One pass over the restored keyspace at the snapshot's revision serves the seed check
/// (nothing writes under the seed's prefix after a restore), the digest when the snapshot
/// recorded one and, for a snapshot from outside, the summary of what it holds. Without a
/// restore, the seeded keys are read.
async fn read(ctx: &mut Ctx<'_>, restored: Option<SnapshotRecord>) -> Result<Read, StepError> {
    let seed_plan = ctx.plan.seed.clone().filter(|_| ctx.seeded);
    let Some(s) = restored else {
        let seed = match seed_plan {
            Some(plan) => {
                let (client, keys) = (ctx.client.clone(), AtomicU64::new(0));
                let check = crate::seed_data::check(&client, &plan, &keys);
                Some(
                    ctx.with_progress("checking seeded keys", "keys", plan.keys, &keys, check)
                        .await?,
                )
            }
            None => None,
        };
        return Ok(Read {
            seed,
            snapshot_digest: None,
            keyspace: None,
        });
    };
    // A restore that bumped revisions holds the snapshot's keyspace at the bumped revision
    // (the older ones are marked compacted).
    let at = s.revision
        + ctx
            .restore
            .as_ref()
            .and_then(|r| r.bump_revision)
            .unwrap_or(0) as i64;
    let recorded = Recorded::of(&s);
    if recorded == Recorded::HashKv {
        // Nothing to compare but HashKV: the seed as the snapshot step found it in the file's
        // rows (the restore checked the file's SHA-256, and the restored members' HashKV at its
        // revision is checked against the file's). Where the step did not check it there,
        // the members are read.
        let seed = seed_plan.as_ref().and(s.seed.clone());
        if seed.is_some() || seed_plan.is_none() {
            return Ok(Read {
                seed,
                snapshot_digest: None,
                keyspace: None,
            });
        }
    }
    // A snapshot from outside whose file was counted while it was restored: nothing else to
    // read here (no digest recorded, no seed to check).
    if recorded == Recorded::Nothing && seed_plan.is_none() {
        if let Some((_, k)) = ctx
            .file_keyspace
            .take()
            .filter(|(name, k)| name == &s.name && k.revision == at)
        {
            return Ok(Read {
                seed: None,
                snapshot_digest: None,
                keyspace: Some(with_sizes(ctx, &s, k)),
            });
        }
    }
    let mut pass = Pass {
        // Only a digest recorded at the snapshot is compared; HashKV stands for it otherwise.
        digest: (recorded == Recorded::Digest).then(KeyspaceDigest::default),
        seed: seed_plan.as_ref().map(crate::seed_data::Tally::new),
        // A snapshot from outside recorded nothing: what it holds is summed up instead.
        summary: (recorded == Recorded::Nothing)
            .then(|| PrefixTally::with_wanted(&ctx.plan.gates.keys_under)),
    };
    let (done, client) = (AtomicU64::new(0), ctx.client.clone());
    // etcd starts at revision 1 with no key: a snapshot at 1 or below (an empty one reports
    // 0) holds nothing, and reading "at 0" would read the latest revision, the harness's
    // own probe included.
    if at > 1 {
        let read = scan(&client, &[0], &[], at, |k, v| {
            done.fetch_add(1, Ordering::Relaxed);
            pass.visit(k, v);
        });
        let (total, started) = (s.keyspace_keys.max(s.total_keys), std::time::Instant::now());
        ctx.with_progress("reading the keyspace", "keys", total, &done, read)
            .await?;
        tracing::debug!(keys = total, took = ?started.elapsed(), "keyspace read");
    }
    let snapshot_digest = pass.digest.map(|d| {
        let (keys, sha) = d.finish();
        checks::digest::compare(&s, keys, sha)
    });
    let keyspace = pass.summary.map(|t| {
        let mut k = t.finish(at);
        k.counted_in = Some("the restored cluster".into());
        with_sizes(ctx, &s, k)
    });
    Ok(Read {
        seed: pass.seed.map(|t| t.finish()),
        snapshot_digest,
        keyspace,
    })
}

/// A keyspace summary with the database's size and the quota beside it: the size of the
/// snapshot etcdutl restored (after a replay, `s` is the last delta's state, and its size the
/// delta's).
fn with_sizes(ctx: &Ctx<'_>, s: &SnapshotRecord, mut k: KeyspaceSummary) -> KeyspaceSummary {
    let restored = ctx
        .restore
        .as_ref()
        .and_then(|r| ctx.snapshots.iter().find(|x| x.name == r.snapshot));
    k.db_size_bytes = Some(restored.unwrap_or(s).size_bytes);
    k.quota_bytes = Some(
        ctx.plan
            .cluster
            .quota_backend_bytes
            .unwrap_or(crate::plan::ETCD_DEFAULT_QUOTA),
    );
    k
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

/// What a snapshot recorded of its keyspace when it was taken, for the restored one to match.
#[derive(PartialEq)]
enum Recorded {
    /// etcd's HashKV at its revision (every restore of it a plain one).
    HashKv,
    /// The digest of every key and value.
    Digest,
    /// Nothing: a snapshot from outside.
    Nothing,
}

impl Recorded {
    fn of(s: &SnapshotRecord) -> Self {
        match (&s.hashkv, s.keyspace_sha256.is_empty()) {
            (Some(_), _) => Recorded::HashKv,
            (None, false) => Recorded::Digest,
            (None, true) => Recorded::Nothing,
        }
    }
}

/// What the verify pass feeds each key/value pair to.
struct Pass<'a> {
    digest: Option<KeyspaceDigest>,
    seed: Option<crate::seed_data::Tally<'a>>,
    summary: Option<PrefixTally>,
}

impl Pass<'_> {
    fn visit(&mut self, k: &[u8], v: &[u8]) {
        if let Some(d) = &mut self.digest {
            d.add(k, v);
        }
        if let Some(t) = &mut self.seed {
            t.visit(k, v);
        }
        if let Some(s) = &mut self.summary {
            s.count(k, v);
        }
    }
}
