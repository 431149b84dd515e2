//! `snapshot`: save a named snapshot from a member, have etcdutl read it, and record what the
//! keyspace held at its revision: etcd's HashKV, computed from the file, when every restore of
//! it is a plain one, else the digest of every key and value, read from the cluster while the
//! snapshot streams.

use super::{Ctx, StepError};
use crate::events::StepOutcome;
use crate::record::{SnapshotHashKv, SnapshotRecord};
use std::sync::atomic::AtomicU64;
use std::time::Duration;

pub async fn run(
    ctx: &mut Ctx<'_>,
    name: &str,
    timeout: Duration,
) -> Result<StepOutcome, StepError> {
    let member = ctx
        .cluster
        .members
        .first()
        .ok_or_else(|| StepError::Precondition("no member to snapshot".into()))?;
    let (member, endpoint) = (member.name.clone(), member.endpoint());
    let client = crate::cluster::connect(std::slice::from_ref(&endpoint)).await?;
    let dir = ctx.run_dir.join("snapshots");
    let applied = crate::snapshot_file::caught_up(&client, &endpoint, timeout).await?;
    // The snapshot holds what the member had when the stream started: that is its time.
    let taken_at_ms = ctx.clock.ms();
    let bytes = AtomicU64::new(0);
    let db_size = client
        .clone()
        .status()
        .await
        .map(|s| s.db_size().max(0) as u64)
        .unwrap_or(0);
    // The keyspace digest must describe the snapshot's revision, known only once etcdutl has
    // read the file. The member's revision just before the stream (`applied`) is the snapshot's
    // unless writes went on meanwhile, so the digest is read at it while the snapshot streams,
    // and read again at the snapshot's own revision only if they differ.
    let (sandbox, image) = (ctx.sandbox.clone(), ctx.cluster.plan.image.clone());
    let saved = async {
        let saved =
            crate::snapshot_file::save(&client, &endpoint, &dir, name, timeout, &bytes).await?;
        let status = crate::snapshot_file::status(&sandbox, &image, &saved.path, name).await?;
        Ok::<_, StepError>((saved, status))
    };
    // Where a restore of this snapshot may not be a plain one, the digest of every key and
    // value at its revision, read from the other members (the one streaming serves only the
    // stream) while it streams.
    let needs_digest = ctx.plan.snapshot_needs_digest(name);
    let others: Vec<String> = ctx.cluster.members[1..]
        .iter()
        .map(|m| m.endpoint())
        .collect();
    let digest_client = if !needs_digest || others.is_empty() {
        ctx.client.clone()
    } else {
        crate::cluster::connect(&others).await?
    };
    let digest = |revision: i64| {
        let client = &digest_client;
        async move {
            let keys = AtomicU64::new(0);
            Ok::<_, StepError>(crate::keyspace::digest_at(client, revision, &keys).await?)
        }
    };
    let digested = async {
        if needs_digest {
            Some(digest(applied).await)
        } else {
            None
        }
    };
    let (saved, digested) = ctx
        .with_progress(
            "snapshot",
            "bytes",
            db_size,
            &bytes,
            futures_util::future::join(saved, digested),
        )
        .await;
    let (saved, status) = saved?;
    let (keyspace_keys, keyspace_sha256, hashkv) = match digested {
        Some(d) => {
            let (mut n, mut sha) = d?;
            if status.revision != applied {
                (n, sha) = digest(status.revision).await?;
            }
            (n, sha, None)
        }
        // Every restore of it is a plain one: etcd's HashKV at its revision stands for the
        // digest (the restored members' must equal it).
        None => {
            let h = file_hashkv(&saved.path, status.revision, &member, &endpoint).await?;
            (0, String::new(), Some(h))
        }
    };
    let secs = saved.duration.as_secs_f64().max(1e-9);
    let record = SnapshotRecord {
        name: name.to_string(),
        file: saved.path.clone(),
        size_bytes: saved.size,
        sha256: saved.sha256,
        revision: status.revision,
        total_keys: status.total_key,
        etcd_hash: status.hash,
        taken_at: crate::util::utc(ctx.clock.wall_at_ms(taken_at_ms)),
        taken_at_ms,
        duration_ms: saved.duration.as_millis() as u64,
        mb_per_sec: saved.size as f64 / 1e6 / secs,
        keyspace_sha256,
        keyspace_keys,
        hashkv,
    };
    ctx.snapshots.push(record.clone());
    Ok(StepOutcome::Snapshot(record))
}

/// etcd's HashKV at `revision`, from the snapshot file just written (read from the page cache,
/// in order), or, where the file cannot say it (a compaction unfinished in it, too many writes
/// after one), from the member that streamed it: a member reads its db through a memory map,
/// from disk where the page cache no longer holds it, about 60 s of a 4 GiB snapshot step.
async fn file_hashkv(
    path: &std::path::Path,
    revision: i64,
    member: &str,
    endpoint: &str,
) -> Result<SnapshotHashKv, StepError> {
    let (file, started) = (path.to_path_buf(), std::time::Instant::now());
    let hashed =
        tokio::task::spawn_blocking(move || crate::snapshot_file::hashkv::hashkv(&file, revision))
            .await
            .map_err(|e| StepError::Precondition(format!("the snapshot's HashKV: {e}")))?;
    match hashed {
        Ok(h) => {
            tracing::debug!(revision, took = ?started.elapsed(), "hashkv from the snapshot file");
            Ok(SnapshotHashKv {
                member: SnapshotHashKv::FROM_FILE.into(),
                hash: h.hash,
                compact_revision: h.compact_revision,
            })
        }
        Err(why) => {
            tracing::warn!(%why, member, "the snapshot's HashKV is asked of the member instead");
            Ok(crate::checks::hashkv::at(member, endpoint, revision).await?)
        }
    }
}
