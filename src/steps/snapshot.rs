//! `snapshot`: save a named snapshot from a member, have etcdutl read it, and record what the
//! keyspace held at its revision, from the cluster while the snapshot streams: etcd's HashKV
//! when every restore of it is a plain one, else the digest of every key and value.

use super::{Ctx, StepError};
use crate::events::StepOutcome;
use crate::record::SnapshotRecord;
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
    let endpoint = member.endpoint();
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
    // Read from the other members, so the one streaming serves only the stream.
    let others: Vec<String> = ctx.cluster.members[1..]
        .iter()
        .map(|m| m.endpoint())
        .collect();
    let digest_client = if others.is_empty() {
        ctx.client.clone()
    } else {
        crate::cluster::connect(&others).await?
    };
    // Where every restore of this snapshot is a plain one, etcd's HashKV at its revision (the
    // member hashes its own store; no value travels) stands for the digest, which reads every
    // key and value: at 1 GiB that read cost more than the stream it ran beside. The member
    // streaming hashes: both read its db at once, so a db that is not in the page cache (a
    // 6 GB one after a 4 GiB seed) is read from disk once, not a second member's beside it.
    let needs_digest = ctx.plan.snapshot_needs_digest(name);
    let (hasher_name, hasher_endpoint) = (member.name.clone(), endpoint.clone());
    let fingerprint = |revision: i64| {
        let (client, name, endpoint) = (&digest_client, &hasher_name, &hasher_endpoint);
        async move {
            if needs_digest {
                let keys = AtomicU64::new(0);
                let (n, sha) = crate::keyspace::digest_at(client, revision, &keys).await?;
                Ok::<_, StepError>((n, sha, None))
            } else {
                let h = crate::checks::hashkv::at(name, endpoint, revision).await?;
                Ok((0, String::new(), Some(h)))
            }
        }
    };
    let (saved, digest) = ctx
        .with_progress(
            "snapshot",
            "bytes",
            db_size,
            &bytes,
            futures_util::future::join(saved, fingerprint(applied)),
        )
        .await;
    let ((saved, status), mut digest) = (saved?, digest?);
    if status.revision != applied {
        digest = fingerprint(status.revision).await?;
    }
    let (keyspace_keys, keyspace_sha256, hashkv) = digest;
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
