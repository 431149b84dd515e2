//! The backup pipeline a drill rehearses: scheduled snapshots with retention in a store, faults
//! on the stored files, and restores that take the newest good one.

pub mod crypt;
pub mod schedule;
pub mod store;

use crate::record::{BackupRecord, Refusal, SnapshotRecord};
use crate::scenario::{BackupPick, Damage};
use std::path::Path;
use store::Store;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error("no stored backup matches {pick:?} (the store holds {held})")]
    NoneMatches { pick: BackupPick, held: usize },
    #[error("every candidate backup was refused: {}", .0.iter().map(|r| format!("{} ({})", r.name, r.reason)).collect::<Vec<_>>().join("; "))]
    AllRefused(Vec<Refusal>),
}

pub struct Picked {
    pub snapshot: SnapshotRecord,
    pub refused: Vec<Refusal>,
}

/// Downloads candidates newest first and checks each (size, SHA-256 as recorded when it was
/// taken, the snapshot's own trailer; an encrypted one: the ciphertext's SHA-256, then
/// decrypted with `identities`); refuses the bad ones, and falls back when allowed.
pub async fn pick(
    store: &Store,
    records: &[BackupRecord],
    (pick, fallback): (&BackupPick, bool),
    disaster_ms: u64,
    dir: &Path,
    identity: Option<&Path>,
) -> Result<Picked, BackupError> {
    let held = store.list().await?;
    let mut candidates: Vec<&BackupRecord> = records
        .iter()
        .filter(|r| held.iter().any(|o| o.name == r.name))
        .filter(|r| match pick {
            BackupPick::Named(n) => &r.name == n,
            BackupPick::Before(d) => {
                r.taken_at_ms.saturating_add(d.as_millis() as u64) <= disaster_ms
            }
            BackupPick::Latest | BackupPick::LatestGood => true,
        })
        .collect();
    candidates.sort_by(|a, b| b.name.cmp(&a.name));
    if candidates.is_empty() {
        return Err(BackupError::NoneMatches {
            pick: pick.clone(),
            held: held.len(),
        });
    }
    let fallback = fallback || *pick == BackupPick::LatestGood;
    std::fs::create_dir_all(dir).map_err(|source| store::StoreError::Io {
        path: dir.into(),
        source,
    })?;
    let mut refused = Vec::new();
    for r in candidates {
        let downloaded = dir.join(&r.name);
        let file = match &r.ciphertext_sha256 {
            Some(_) => dir.join(r.name.trim_end_matches(".age")),
            None => downloaded.clone(),
        };
        let reason = match store.download(&r.name, &downloaded).await {
            Err(e) => Some(e.to_string()),
            Ok(size) if size != r.size_bytes => {
                Some(format!("size {size} bytes, recorded {}", r.size_bytes))
            }
            Ok(_) => match &r.ciphertext_sha256 {
                None => None,
                Some(sha) => opened(&downloaded, sha, &file, identity).await,
            }
            .or_else(|| {
                crate::snapshot_file::check_file(&file, &r.sha256)
                    .err()
                    .map(|e| e.to_string())
            }),
        };
        match reason {
            None => {
                return Ok(Picked {
                    snapshot: r.as_snapshot(file),
                    refused,
                })
            }
            Some(reason) => {
                refused.push(Refusal {
                    name: r.name.clone(),
                    reason,
                });
                if !fallback {
                    break;
                }
            }
        }
    }
    Err(BackupError::AllRefused(refused))
}

/// An encrypted download checked and decrypted into `plain`, or why not: a changed ciphertext
/// (its SHA-256), no identity, or one that does not open it.
async fn opened(
    cipher: &Path,
    sha256: &str,
    plain: &Path,
    identity: Option<&Path>,
) -> Option<String> {
    let Some(identity) = identity else {
        return Some("encrypted, and no identity to decrypt it (--identity)".into());
    };
    let (cipher, plain, identity) = (
        cipher.to_path_buf(),
        plain.to_path_buf(),
        identity.to_path_buf(),
    );
    let sha256 = sha256.to_string();
    // Hashing and decrypting a snapshot of GBs: off the async threads.
    let work = move || -> Option<String> {
        match crypt::sha256_file(&cipher) {
            Ok(d) if d == sha256 => {}
            Ok(d) => return Some(format!("ciphertext SHA-256 {d}, recorded {sha256}")),
            Err(e) => return Some(e.to_string()),
        }
        crypt::identities(&identity)
            .and_then(|ids| crypt::decrypt_file(&cipher, &plain, &ids))
            .err()
            .map(|e| e.to_string())
    };
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|e| Some(e.to_string()))
}

/// Damages the newest (or named) stored backup; returns its name and what was done.
/// Only backups this run took can be damaged: a shared folder or bucket holds other runs' (or
/// real) backups, and a drill must never touch those.
pub async fn damage(
    store: &Store,
    own: &[String],
    name: Option<&str>,
    how: Damage,
) -> Result<(String, String), BackupError> {
    if how == Damage::Unreachable {
        return unreachable(store);
    }
    let held: Vec<store::Object> = store
        .list()
        .await?
        .into_iter()
        .filter(|o| own.contains(&o.name))
        .collect();
    let target = match name {
        Some(n) => held.iter().find(|o| o.name == n),
        None => held.last(),
    }
    .ok_or(BackupError::NoneMatches {
        pick: BackupPick::Latest,
        held: held.len(),
    })?
    .clone();
    let what = match how {
        Damage::Unreachable => unreachable(store)?.1,
        Damage::Delete => {
            store.delete(&target.name).await?;
            "deleted".to_string()
        }
        Damage::Truncate => {
            let bytes = store.read(&target.name).await?;
            let half = bytes.len() / 2;
            store
                .overwrite(&target.name, bytes[..half].to_vec())
                .await?;
            format!("truncated from {} to {half} bytes", bytes.len())
        }
        Damage::FlipBytes => {
            let mut bytes = store.read(&target.name).await?;
            let mid = bytes.len() / 2;
            for b in bytes.iter_mut().skip(mid).take(16) {
                *b ^= 0xFF;
            }
            store.overwrite(&target.name, bytes).await?;
            format!("16 bytes flipped at offset {mid}")
        }
    };
    Ok((target.name, what))
}

fn unreachable(store: &Store) -> Result<(String, String), BackupError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| {
            BackupError::Store(store::StoreError::Io {
                path: path.clone(),
                source,
            })
        }
    };
    let Some(dir) = &store.local_dir else {
        return Err(BackupError::NoneMatches {
            pick: BackupPick::Latest,
            held: 0,
        });
    };
    let aside = dir.with_extension("unreachable");
    std::fs::rename(dir, &aside).map_err(io(dir))?;
    std::fs::write(dir, b"this backup store was made unreachable by a drill\n").map_err(io(dir))?;
    Ok((
        store.spec.describe(),
        format!("made unreachable (its files moved to {})", aside.display()),
    ))
}
