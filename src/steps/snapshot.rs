//! `snapshot`: save a named snapshot from a member, read the file once for etcdutl's status
//! figures, and record what the keyspace held at its revision: etcd's HashKV, computed from the
//! file, when every restore of it is a plain one, else the digest of every key and value, read
//! from the cluster while the snapshot streams.

use super::{Ctx, StepError};
use crate::events::StepOutcome;
use crate::record::{SeedCheck, SnapshotHashKv, SnapshotRecord};
use crate::snapshot_file::hashkv::FileHash;
use crate::snapshot_file::Status;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

pub async fn run(
    ctx: &mut Ctx<'_>,
    name: &str,
    timeout: Duration,
) -> Result<StepOutcome, StepError> {
    let (member, endpoint) = streamer(ctx)?;
    // No compaction of the workload's passes the revision the digest is read at.
    let _held = super::hold_compaction(ctx).await;
    let client = crate::cluster::connect(std::slice::from_ref(&endpoint)).await?;
    let dir = ctx.run_dir.join("snapshots");
    let applied = crate::snapshot_file::caught_up(&client, &endpoint, timeout).await?;
    // The snapshot holds what the member had when the stream started: that is its time.
    let taken_at_ms = ctx.clock.ms();
    let bytes = AtomicU64::new(0);
    let db_size = db_size(&client).await;
    // The keyspace digest must describe the snapshot's revision, known only once the file has
    // been read. The member's revision just before the stream (`applied`) is the snapshot's
    // unless writes went on meanwhile, so the digest is read at it while the snapshot streams,
    // and read again at the snapshot's own revision only if they differ.
    let needs_digest = ctx.plan.snapshot_needs_digest(name);
    let seed = ctx.plan.seed.clone().filter(|_| ctx.seeded);
    let (sandbox, image) = (ctx.sandbox.clone(), ctx.cluster.plan.image.clone());
    let saved = async {
        let saved =
            crate::snapshot_file::save(&client, &endpoint, &dir, name, timeout, &bytes).await?;
        // The file just written, read once in key order for etcdutl's status figures, its
        // HashKV and, where every restore of it is a plain one, the seed (2–10 s of a 5.9 GB
        // snapshot, where etcdutl's status took 73–85 s: `snapshot_file::pass`).
        tracing::debug!(took = ?saved.duration, "snapshot stream");
        let seed = seed.clone().filter(|_| !needs_digest);
        let (status, hashkv, seed) =
            read_saved(&saved.path, seed, (&sandbox, &image), name).await?;
        Ok::<_, StepError>((saved, status, hashkv, seed))
    };
    // Where a restore of this snapshot may not be a plain one, the digest of every key and
    // value at its revision, read from the other members (the one streaming serves only the
    // stream) while it streams.
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
    let (saved, status, file_hash, seed) = saved?;
    let (keyspace_keys, keyspace_sha256, hashkv, seed) = match (digested, file_hash) {
        (Some(d), _) => {
            let (mut n, mut sha) = d?;
            if status.revision != applied {
                (n, sha) = digest(status.revision).await?;
            }
            (n, sha, None, None)
        }
        // Every restore of it is a plain one: etcd's HashKV at its revision stands for the
        // digest (the restored members' must equal it).
        (None, file_hash) => {
            let (h, seed) =
                file_hashkv(file_hash, seed, (&member, &endpoint), status.revision).await?;
            (0, String::new(), Some(h), seed)
        }
    };
    let taken_at = crate::util::utc(ctx.clock.wall_at_ms(taken_at_ms));
    let record = record(
        name,
        &saved,
        &status,
        (taken_at, taken_at_ms),
        (keyspace_keys, keyspace_sha256),
        (hashkv, seed),
    );
    ctx.snapshots.push(record.clone());
    Ok(StepOutcome::Snapshot(record))
}

/// Where every restore of the snapshot is a plain one, etcd's HashKV at its revision stands for
/// the digest (the restored members' must equal it): the file's own, or, when the file cannot
/// say (a compaction unfinished in it, too many writes after one), the member's.
async fn file_hashkv(
    file_hash: Result<FileHash, String>,
    seed: Option<SeedCheck>,
    (member, endpoint): (&str, &str),
    revision: i64,
) -> Result<(SnapshotHashKv, Option<SeedCheck>), StepError> {
    Ok(match file_hash {
        Ok(h) => {
            let h = SnapshotHashKv {
                member: SnapshotHashKv::FROM_FILE.into(),
                hash: h.hash,
                compact_revision: h.compact_revision,
            };
            (h, seed)
        }
        Err(why) => {
            tracing::warn!(%why, member, "the snapshot's HashKV is asked of the member");
            let h = crate::checks::hashkv::at(member, endpoint, revision);
            (h.await?, None)
        }
    })
}

/// One read of the snapshot file just written (from the page cache, in key order): etcdutl's
/// status figures, etcd's HashKV at the file's revision (or why the file cannot say), and the
/// seed checked in its rows.
async fn file_pass(
    path: std::path::PathBuf,
    seed: Option<crate::plan::SeedPlan>,
) -> Result<(Status, Result<FileHash, String>, Option<SeedCheck>), StepError> {
    let started = std::time::Instant::now();
    let pass = tokio::task::spawn_blocking(move || {
        let mut tally = seed.as_ref().map(crate::seed_data::Tally::new);
        let read = crate::snapshot_file::pass::read(&path, |k, v| {
            if let Some(t) = &mut tally {
                t.replay(k, v)
            }
        })?;
        let seed = tally.map(|t| SeedCheck {
            in_snapshot_file: true,
            ..t.finish()
        });
        let hashkv = read.hashkv.map_err(|e| e.to_string());
        Ok::<_, crate::snapshot_file::SnapshotError>((read.status, hashkv, seed))
    })
    .await
    .map_err(|e| StepError::Precondition(format!("reading the snapshot file: {e}")))??;
    tracing::debug!(took = ?started.elapsed(), "status, hashkv and seed from the snapshot file");
    Ok(pass)
}

/// The file just written, read once: etcdutl's status figures, its HashKV and the seed; where
/// the harness's reader does not know its layout (the trailer held, so these are the bytes etcd
/// sent), etcd's own tool says the status and the member its HashKV.
async fn read_saved(
    path: &std::path::Path,
    seed: Option<crate::plan::SeedPlan>,
    (sandbox, image): (&crate::sandbox::Sandbox, &str),
    name: &str,
) -> Result<(Status, Result<FileHash, String>, Option<SeedCheck>), StepError> {
    Ok(match file_pass(path.to_path_buf(), seed).await {
        Ok(read) => read,
        // A layout the harness's reader does not know (the trailer held, so these are the
        // bytes etcd sent): etcd's own tool says the status, the member its HashKV.
        Err(e) => {
            tracing::warn!(error = %e, "the harness cannot read the snapshot file: etcdutl reads it");
            let status = crate::snapshot_file::status(sandbox, image, path, name);
            (
                status.await?,
                Err(format!("the harness's reader: {e}")),
                None,
            )
        }
    })
}

/// The snapshot as the report keeps it.
fn record(
    name: &str,
    saved: &crate::snapshot_file::SavedFile,
    status: &Status,
    (taken_at, taken_at_ms): (String, u64),
    (keyspace_keys, keyspace_sha256): (u64, String),
    (hashkv, seed): (Option<SnapshotHashKv>, Option<SeedCheck>),
) -> SnapshotRecord {
    let secs = saved.duration.as_secs_f64().max(1e-9);
    SnapshotRecord {
        name: name.to_string(),
        file: saved.path.clone(),
        size_bytes: saved.size,
        sha256: saved.sha256.clone(),
        revision: status.revision,
        total_keys: status.total_key,
        etcd_hash: status.hash,
        taken_at,
        taken_at_ms,
        duration_ms: saved.duration.as_millis() as u64,
        mb_per_sec: saved.size as f64 / 1e6 / secs,
        keyspace_sha256,
        keyspace_keys,
        hashkv,
        seed,
    }
}

/// The member that streams the snapshot (the first), by name and endpoint.
fn streamer(ctx: &Ctx<'_>) -> Result<(String, String), StepError> {
    let m = ctx
        .cluster
        .members
        .first()
        .ok_or_else(|| StepError::Precondition("no member to snapshot".into()))?;
    Ok((m.name.clone(), m.endpoint()))
}

/// The member's db size, for the progress bar's total (0 when it does not say).
async fn db_size(client: &etcd_client::Client) -> u64 {
    client
        .clone()
        .status()
        .await
        .map(|s| s.db_size().max(0) as u64)
        .unwrap_or(0)
}
