//! The backup pipeline a drill rehearses: scheduled snapshots with retention in a store, faults
//! on the stored files, and restores that take the newest good one.

pub mod crypt;
pub mod delta;
pub mod schedule;
pub mod store;
pub mod stored;

use crate::record::{BackupRecord, Refusal, SnapshotRecord};
use crate::scenario::{BackupPick, Damage, DamageWhich};
use std::path::Path;
use store::Store;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error("no stored backup matches {pick:?}{} (the store holds {held})", .until.map(|u| format!(" at or below revision {u}, the point in time")).unwrap_or_default())]
    NoneMatches {
        pick: BackupPick,
        held: usize,
        until: Option<i64>,
    },
    #[error(transparent)]
    Delta(#[from] delta::DeltaError),
    #[error("every candidate backup was refused: {}", .0.iter().map(|r| format!("{} ({})", r.name, r.reason)).collect::<Vec<_>>().join("; "))]
    AllRefused(Vec<Refusal>),
    #[error("backup store {store}: {why}{}", .ignored.iter().map(|r| format!("\n  {}: {}", r.name, r.reason)).collect::<String>())]
    Stored {
        store: String,
        why: String,
        /// Objects that are no backup, each with why.
        ignored: Vec<Refusal>,
    },
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
    (disaster_ms, until): (u64, Option<i64>),
    dir: &Path,
    identity: Option<&Path>,
) -> Result<Picked, BackupError> {
    let held = store.list().await?;
    let mut candidates: Vec<&BackupRecord> = records
        .iter()
        .filter(|r| r.delta.is_none() && held.iter().any(|o| o.name == r.name))
        .filter(|r| match pick {
            BackupPick::Named(n) => &r.name == n,
            BackupPick::Before(d) => {
                r.taken_at_ms.saturating_add(d.as_millis() as u64) <= disaster_ms
            }
            BackupPick::Latest | BackupPick::LatestGood => true,
        })
        // A point in time: only a full at or below it can be brought forward to it.
        .filter(|r| until.is_none_or(|u| r.revision <= u))
        .collect();
    candidates.sort_by(|a, b| b.name.cmp(&a.name));
    if candidates.is_empty() {
        return Err(BackupError::NoneMatches {
            pick: pick.clone(),
            held: held.len(),
            until,
        });
    }
    let fallback = fallback || *pick == BackupPick::LatestGood;
    std::fs::create_dir_all(dir).map_err(|source| store::StoreError::Io {
        path: dir.into(),
        source,
    })?;
    let mut refused = Vec::new();
    for r in candidates {
        let fetched = fetched(store, r, dir, identity, |file| {
            crate::snapshot_file::check_file(file, &r.sha256).map_err(|e| e.to_string())
        })
        .await;
        match fetched {
            Ok(file) => {
                return Ok(Picked {
                    snapshot: r.as_snapshot(file),
                    refused,
                })
            }
            Err(reason) => {
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

/// The deltas a restore replays after a full: checked files in order, and where the chain
/// stopped short.
#[derive(Debug, Default)]
pub struct Chain {
    pub links: Vec<(BackupRecord, std::path::PathBuf)>,
    /// Why the chain was not usable to its end (a missing or damaged delta, a gap).
    pub stopped: Option<String>,
    /// A point in time: the replay stops after this revision.
    pub until: Option<i64>,
    /// The full's deltas left out: after a stop, or taken too late for the pick.
    pub not_replayed: Vec<String>,
}

impl Chain {
    /// Whether the chain, after a full at `full_revision`, reaches its point in time `until`.
    /// Where it falls short, that is said in `stopped` (after any earlier reason), naming the
    /// point with `label` when there is one.
    pub fn reaches(&mut self, full_revision: i64, until: i64, label: Option<&str>) -> bool {
        let reached = self.links.last().map_or(full_revision, |(l, _)| l.revision);
        if reached >= until {
            return true;
        }
        let why = format!(
            "the chain reaches revision {reached}, not the point in time {until}{}",
            label.map(|l| format!(" ({l})")).unwrap_or_default()
        );
        self.stopped = Some(match self.stopped.take() {
            Some(s) => format!("{s}; {why}"),
            None => why,
        });
        false
    }
}

/// Downloads and checks the deltas of `full` (a `BackupRecord` name) in revision order: each
/// must be in the store, start one revision after the previous link ended, match its recorded
/// size and SHA-256 (an encrypted one: its ciphertext's too, then decrypted), and read back as a
/// well-formed delta of this full. The chain is cut at the first that does not; what it held is
/// lost, and said.
pub async fn chain(
    store: &Store,
    records: &[BackupRecord],
    full: &SnapshotRecord,
    (pick, disaster_ms): (&BackupPick, u64),
    until: Option<i64>,
    dir: &Path,
    identity: Option<&Path>,
) -> Result<Chain, BackupError> {
    let held = store.list().await?;
    let mut deltas: Vec<&BackupRecord> = records
        .iter()
        .filter(|r| r.delta.as_ref().is_some_and(|d| d.base == full.name))
        .collect();
    deltas.sort_by_key(|r| r.revision);
    let in_time = |r: &BackupRecord| match pick {
        BackupPick::Before(d) => r.taken_at_ms.saturating_add(d.as_millis() as u64) <= disaster_ms,
        _ => disaster_ms == 0 || r.taken_at_ms <= disaster_ms,
    };
    let links: Vec<delta::Link> = deltas
        .iter()
        .filter(|r| in_time(r))
        // A point in time: the deltas that start at or below it (the last one is cut there).
        .filter(|r| until.is_none_or(|u| r.delta.as_ref().is_some_and(|d| d.first_revision <= u)))
        .filter_map(|r| {
            r.delta.as_ref().map(|d| delta::Link {
                name: &r.name,
                first: d.first_revision,
                last: r.revision,
                held: held.iter().any(|o| o.name == r.name),
            })
        })
        .collect();
    let (usable, mut stopped) = delta::usable(full.revision, &links);
    let mut out = Chain::default();
    for link in usable {
        let Some(r) = deltas.iter().find(|r| r.name == link.name) else {
            continue;
        };
        match fetched(store, r, dir, identity, |f| checked_delta(f, r, &full.name)).await {
            Ok(file) => out.links.push(((*r).clone(), file)),
            Err(reason) => {
                stopped = Some(format!("{}: {reason}", r.name));
                break;
            }
        }
    }
    out.not_replayed = deltas
        .iter()
        .filter(|r| !out.links.iter().any(|(l, _)| l.name == r.name))
        .map(|r| r.name.clone())
        .collect();
    out.stopped = stopped;
    if let (Some(u), Some((last, _))) = (until, out.links.last_mut()) {
        last.revision = last.revision.min(u);
    }
    out.until = until;
    Ok(out)
}

/// A backup from the store into `dir`, as recorded: its size, its ciphertext's SHA-256 and
/// decrypted (when encrypted), then `check` on the plain file. The plain file, or why not.
async fn fetched(
    store: &Store,
    r: &BackupRecord,
    dir: &Path,
    identity: Option<&Path>,
    check: impl FnOnce(&Path) -> Result<(), String>,
) -> Result<std::path::PathBuf, String> {
    let downloaded = dir.join(&r.name);
    let size = store
        .download(&r.name, &downloaded)
        .await
        .map_err(|e| e.to_string())?;
    if size != r.size_bytes {
        return Err(format!("size {size} bytes, recorded {}", r.size_bytes));
    }
    let file = match &r.ciphertext_sha256 {
        None => downloaded,
        Some(sha) => {
            let plain = dir.join(r.name.trim_end_matches(".age"));
            if let Some(why) = opened(&downloaded, sha, &plain, identity).await {
                return Err(why);
            }
            plain
        }
    };
    check(&file).map(|_| file)
}

/// A delta file as recorded: its SHA-256, and its header and events those of this link.
fn checked_delta(file: &Path, r: &BackupRecord, base: &str) -> Result<(), String> {
    let sha = crate::util::sha256_file(file).map_err(|e| e.to_string())?;
    if sha != r.sha256 {
        return Err(format!("SHA-256 {sha}, recorded {}", r.sha256));
    }
    let reader = delta::Reader::open(file).map_err(|e| e.to_string())?;
    let first = r.delta.as_ref().map(|d| d.first_revision).unwrap_or(0);
    let h = &reader.header;
    if h.base != base || h.first != first || h.last != r.revision {
        return Err(format!(
            "holds {}..={} of {}, recorded {first}..={} of {base}",
            h.first, h.last, h.base, r.revision
        ));
    }
    reader.check().map(|_| ()).map_err(|e| e.to_string())
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
        match crate::util::sha256_file(&cipher) {
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
    own: &[BackupRecord],
    (name, which): (Option<&str>, DamageWhich),
    how: Damage,
) -> Result<(String, String), BackupError> {
    if how == Damage::Unreachable {
        return unreachable(store);
    }
    let held: Vec<store::Object> = store
        .list()
        .await?
        .into_iter()
        .filter(|o| own.iter().any(|r| r.name == o.name))
        .collect();
    let record = |o: &store::Object| own.iter().find(|r| r.name == o.name);
    let is_delta = |o: &&store::Object| record(o).is_some_and(|r| r.delta.is_some());
    let target = match (name, which) {
        (Some(n), _) => held.iter().find(|o| o.name == n),
        (None, DamageWhich::Newest) => held.last(),
        (None, DamageWhich::NewestFull) => held.iter().rfind(|o| !is_delta(o)),
        (None, DamageWhich::NewestDelta) => held.iter().rfind(is_delta),
        (None, DamageWhich::MiddleDelta) => {
            // The newest chain with two deltas or more: the first of two, the middle of three.
            let base = |o: &store::Object| {
                record(o)
                    .and_then(|r| r.delta.as_ref())
                    .map(|d| d.base.clone())
            };
            held.iter().filter_map(&base).rev().find_map(|b| {
                let links: Vec<&store::Object> = held
                    .iter()
                    .filter(|o| base(o).as_deref() == Some(&b))
                    .collect();
                (links.len() >= 2).then(|| links[(links.len() - 1) / 2])
            })
        }
    }
    .ok_or(BackupError::NoneMatches {
        pick: BackupPick::Latest,
        held: held.len(),
        until: None,
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
            until: None,
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
