//! Snapshots exactly as `etcdctl snapshot save` writes them: every byte of etcd's maintenance
//! snapshot stream, whose last 32 bytes are the SHA-256 of all the bytes before them. Written to
//! `NAME.db.part`, fsynced, renamed. Then `etcdutl snapshot status` (etcd's own tool, in a
//! one-shot container of the run's image) reads the file unchanged and says its revision.

use crate::cluster::{within, ClusterError};
use crate::sandbox::{tar_of, ContainerSpec, Sandbox, SandboxError};
use etcd_client::Client;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

/// Length of the SHA-256 trailer etcd appends to a snapshot stream.
pub const TRAILER: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    #[error("cannot write snapshot {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read snapshot {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("snapshot stream from {endpoint} broke after {bytes} bytes: {source}")]
    Stream {
        endpoint: String,
        bytes: u64,
        #[source]
        source: etcd_client::Error,
    },
    #[error("snapshot {path} is corrupt: its SHA-256 trailer does not match its content ({size} bytes); refusing it")]
    BadTrailer { path: PathBuf, size: u64 },
    #[error("snapshot {path} is too short to be a snapshot ({size} bytes)")]
    TooShort { path: PathBuf, size: u64 },
    #[error("snapshot {path} changed since it was taken: SHA-256 {actual}, recorded {recorded}; refusing it")]
    Changed {
        path: PathBuf,
        recorded: String,
        actual: String,
    },
    #[error("etcdutl snapshot status failed on {path} (exit {code}): {stderr}")]
    Status {
        path: PathBuf,
        code: i64,
        stderr: String,
    },
    #[error("etcdutl snapshot status printed what we cannot read ({stdout:?}): {source}")]
    StatusOutput {
        stdout: String,
        #[source]
        source: serde_json::Error,
    },
}

/// A file written from the snapshot stream.
#[derive(Debug, Clone)]
pub struct SavedFile {
    pub path: PathBuf,
    pub size: u64,
    pub sha256: String,
    pub duration: Duration,
}

/// Waits until the member behind `client` has applied every write the cluster acknowledged:
/// a member streams its own store, and a follower applies after the leader answers. A
/// linearizable read through it returns only once it has applied everything committed. CI
/// caught the race: a snapshot taken right after a seed lacked the seed's last batch.
/// (Scheduled backups do not wait, as `etcdctl snapshot save` does not: their RPO is measured.)
pub async fn caught_up(
    client: &Client,
    endpoint: &str,
    deadline: Duration,
) -> Result<(), SnapshotError> {
    let mut c = client.clone();
    within(
        "linearizable read before the snapshot",
        endpoint,
        deadline,
        c.get("/drill/health", None),
    )
    .await?;
    Ok(())
}

/// Streams a snapshot from `client` into `dir/NAME.db`.
pub async fn save(
    client: &Client,
    endpoint: &str,
    dir: &Path,
    name: &str,
    deadline: Duration,
) -> Result<SavedFile, SnapshotError> {
    let path = dir.join(format!("{name}.db"));
    let part = dir.join(format!("{name}.db.part"));
    let write_err = |source| SnapshotError::Write {
        path: part.clone(),
        source,
    };
    tokio::fs::create_dir_all(dir).await.map_err(write_err)?;
    let start = Instant::now();
    let mut c = client.clone();
    let mut stream = within("snapshot", endpoint, deadline, c.snapshot()).await?;
    let mut file = tokio::fs::File::create(&part).await.map_err(write_err)?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    loop {
        let next =
            tokio::time::timeout(deadline.saturating_sub(start.elapsed()), stream.message()).await;
        let msg = match next {
            Err(_) => {
                return Err(ClusterError::Timeout {
                    op: "snapshot stream",
                    target: endpoint.into(),
                    after: deadline,
                }
                .into())
            }
            Ok(Err(source)) => {
                return Err(SnapshotError::Stream {
                    endpoint: endpoint.into(),
                    bytes: size,
                    source,
                })
            }
            Ok(Ok(None)) => break,
            Ok(Ok(Some(m))) => m,
        };
        hasher.update(msg.blob());
        size += msg.blob().len() as u64;
        file.write_all(msg.blob()).await.map_err(write_err)?;
    }
    file.sync_all().await.map_err(write_err)?;
    drop(file);
    tokio::fs::rename(&part, &path).await.map_err(write_err)?;
    let saved = SavedFile {
        path,
        size,
        sha256: hex::encode(hasher.finalize()),
        duration: start.elapsed(),
    };
    check_trailer(&saved.path)?;
    Ok(saved)
}

/// Checks a snapshot file's SHA-256 trailer, the check etcdutl makes before restoring.
pub fn check_trailer(path: &Path) -> Result<(), SnapshotError> {
    let bytes = std::fs::read(path).map_err(|source| SnapshotError::Read {
        path: path.into(),
        source,
    })?;
    let size = bytes.len() as u64;
    if bytes.len() <= TRAILER {
        return Err(SnapshotError::TooShort {
            path: path.into(),
            size,
        });
    }
    let (body, trailer) = bytes.split_at(bytes.len() - TRAILER);
    if Sha256::digest(body).as_slice() != trailer {
        return Err(SnapshotError::BadTrailer {
            path: path.into(),
            size,
        });
    }
    Ok(())
}

/// Refuses a snapshot whose trailer is wrong or whose bytes changed since it was recorded.
pub fn check_file(path: &Path, recorded_sha256: &str) -> Result<(), SnapshotError> {
    check_trailer(path)?;
    let bytes = std::fs::read(path).map_err(|source| SnapshotError::Read {
        path: path.into(),
        source,
    })?;
    let actual = hex::encode(Sha256::digest(&bytes));
    if actual != recorded_sha256 {
        return Err(SnapshotError::Changed {
            path: path.into(),
            recorded: recorded_sha256.into(),
            actual,
        });
    }
    Ok(())
}

/// What `etcdutl snapshot status -w json` says.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    pub hash: u64,
    pub revision: i64,
    pub total_key: u64,
    pub total_size: u64,
}

/// Where a snapshot file goes inside one-shot containers.
pub const IN_CONTAINER: &str = "/restore/snapshot.db";

/// The snapshot packed for upload into a one-shot container at `IN_CONTAINER`.
pub fn upload_tar(path: &Path) -> Result<Vec<u8>, SnapshotError> {
    let bytes = std::fs::read(path).map_err(|source| SnapshotError::Read {
        path: path.into(),
        source,
    })?;
    tar_of(&[(IN_CONTAINER.trim_start_matches('/'), 0o644, &bytes)]).map_err(|source| {
        SnapshotError::Read {
            path: path.into(),
            source,
        }
    })
}

/// Runs `etcdutl snapshot status` on the file, in a one-shot container of `image`.
pub async fn status(
    sandbox: &Sandbox,
    image: &str,
    path: &Path,
    tag: &str,
) -> Result<Status, SnapshotError> {
    let spec = ContainerSpec {
        name: sandbox.name(&format!("status-{tag}")),
        image: image.to_string(),
        entrypoint: Some(vec!["/usr/local/bin/etcdutl".into()]),
        cmd: ["snapshot", "status", IN_CONTAINER, "-w", "json"]
            .map(String::from)
            .to_vec(),
        labels: sandbox.labels("oneshot"),
        network: sandbox.network.clone(),
        ..Default::default()
    };
    let (code, stdout, stderr) = sandbox
        .run_once(&spec, Some(upload_tar(path)?), Duration::from_secs(120))
        .await?;
    if code != 0 {
        return Err(SnapshotError::Status {
            path: path.into(),
            code,
            stderr: stderr.trim().to_string(),
        });
    }
    let json = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .unwrap_or("");
    serde_json::from_str(json).map_err(|source| SnapshotError::StatusOutput {
        stdout: stdout.clone(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot_file(dir: &Path, body: &[u8]) -> PathBuf {
        let mut bytes = body.to_vec();
        bytes.extend_from_slice(&Sha256::digest(body));
        let p = dir.join("s.db");
        std::fs::write(&p, bytes).unwrap();
        p
    }

    #[test]
    fn a_good_trailer_passes_and_a_flipped_byte_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = snapshot_file(dir.path(), b"bbolt pages would be here");
        check_trailer(&p).unwrap();
        let mut bytes = std::fs::read(&p).unwrap();
        bytes[3] ^= 0x01;
        std::fs::write(&p, &bytes).unwrap();
        assert!(matches!(
            check_trailer(&p),
            Err(SnapshotError::BadTrailer { .. })
        ));
    }

    #[test]
    fn a_truncated_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = snapshot_file(dir.path(), b"bbolt pages would be here");
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() - 5]).unwrap();
        assert!(check_trailer(&p).is_err());
        std::fs::write(&p, &bytes[..10]).unwrap();
        assert!(matches!(
            check_trailer(&p),
            Err(SnapshotError::TooShort { .. })
        ));
    }

    #[test]
    fn a_file_replaced_by_another_valid_snapshot_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = snapshot_file(dir.path(), b"first");
        let recorded = hex::encode(Sha256::digest(std::fs::read(&p).unwrap()));
        check_file(&p, &recorded).unwrap();
        snapshot_file(dir.path(), b"second");
        assert!(matches!(
            check_file(&p, &recorded),
            Err(SnapshotError::Changed { .. })
        ));
    }
}
