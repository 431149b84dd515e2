//! The backup vocabulary of a scenario: where backups are stored, which one a restore takes,
//! and how a stored backup is damaged. `backup` acts on them.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub enum StoreSpec {
    /// A directory on this machine; relative paths are under the run's folder.
    Local { dir: PathBuf },
    /// S3 or an S3-compatible server (MinIO, moto, ...).
    S3 {
        bucket: String,
        #[serde(default)]
        prefix: Option<String>,
        /// e.g. http://127.0.0.1:9000 for a local server; absent for AWS.
        #[serde(default)]
        endpoint: Option<String>,
        #[serde(default)]
        region: Option<String>,
    },
}

impl StoreSpec {
    /// What a report may say about the store: no credentials, ever.
    pub fn describe(&self) -> String {
        match self {
            StoreSpec::Local { dir } => format!("local {}", dir.display()),
            StoreSpec::S3 {
                bucket,
                prefix,
                endpoint,
                ..
            } => format!(
                "s3://{bucket}/{}{}",
                prefix.as_deref().unwrap_or(""),
                endpoint
                    .as_deref()
                    .map(|e| format!(" at {}", crate::util::redact_url(e)))
                    .unwrap_or_default()
            ),
        }
    }
}

/// Which stored backup a restore takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub enum BackupPick {
    /// The newest; refused if it does not check out.
    Latest,
    /// The newest that checks out, falling back to older ones.
    LatestGood,
    Named(String),
    /// The newest taken at least this long before the disaster ("as of T").
    Before(#[serde(with = "crate::scenario::duration")] Duration),
}

/// Which backup a restore takes from a store it did not fill (`restore: { store }`,
/// `verify-backup`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StoreChoice {
    /// The newest backup, full or delta: a delta's full and the chain up to it.
    Newest,
    /// The newest full, without its deltas.
    NewestFull,
    /// The backup of that name (a delta: its full and the chain up to it).
    Named(String),
    /// The newest full at or below this revision, and the deltas replayed up to it exactly.
    AtRevision(i64),
    /// The newest full taken at or before this time (ms since the Unix epoch), and the deltas
    /// taken by then.
    AtTime(u64),
}

impl StoreChoice {
    /// `newest`, `newest-full` or a backup's name.
    pub fn parse(pick: &str) -> StoreChoice {
        match pick {
            "newest" | "latest" => StoreChoice::Newest,
            "newest-full" | "latest-full" => StoreChoice::NewestFull,
            name => StoreChoice::Named(name.to_string()),
        }
    }

    pub fn label(&self) -> String {
        match self {
            StoreChoice::Newest => "newest".into(),
            StoreChoice::NewestFull => "newest-full".into(),
            StoreChoice::Named(n) => n.clone(),
            StoreChoice::AtRevision(r) => format!("at revision {r}"),
            StoreChoice::AtTime(t) => format!("at {}", crate::util::utc_ms(*t)),
        }
    }
}

/// Which stored backup `damage-backup` hits when none is named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DamageWhich {
    /// The newest object, full or delta.
    #[default]
    Newest,
    NewestFull,
    NewestDelta,
    /// The middle delta of the newest chain that has at least two: the replay must stop
    /// before it.
    MiddleDelta,
}

/// Backup-file faults: damage what the store holds, as a bad disk, a cut upload or a wrong
/// retention script would.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Damage {
    /// Cut the file in half.
    Truncate,
    /// Flip bytes in the middle (the trailer no longer matches).
    FlipBytes,
    Delete,
    /// The whole store goes away (a local store's directory is replaced by a plain file, as an
    /// unmounted or broken share would look): every later upload, list and download fails.
    Unreachable,
}
