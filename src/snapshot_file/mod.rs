//! Snapshots exactly as `etcdctl snapshot save` writes them: every byte of etcd's maintenance
//! snapshot stream, whose last 32 bytes are the SHA-256 of all the bytes before them. Written to
//! `NAME.db.part`, fsynced, renamed. Then the file is read, unchanged, for its revision: by
//! `etcdutl snapshot status` (etcd's own tool, in a one-shot container of the run's image), or,
//! for a file the harness has just written, by `pass` (the same figures, in one fast pass).

pub mod bolt;
pub mod hashkv;
pub mod pass;

/// A snapshot file of `tests/fixtures/snapshots`.
#[cfg(test)]
fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/snapshots")
        .join(name)
}

use crate::cluster::{within, ClusterError};
use crate::sandbox::{ContainerSpec, Sandbox, SandboxError};
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
    File(#[from] bolt::BoltError),
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
/// Returns the revision the read was served at: a snapshot streamed after it holds it.
pub async fn caught_up(
    client: &Client,
    endpoint: &str,
    deadline: Duration,
) -> Result<i64, SnapshotError> {
    let mut c = client.clone();
    let read = within(
        "linearizable read before the snapshot",
        endpoint,
        deadline,
        c.get("/drill/health", None),
    )
    .await?;
    Ok(read.header().map(|h| h.revision()).unwrap_or(0))
}

/// Streams a snapshot from `client` into `dir/NAME.db`.
pub async fn save(
    client: &Client,
    endpoint: &str,
    dir: &Path,
    name: &str,
    deadline: Duration,
    streamed: &std::sync::atomic::AtomicU64,
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
    // etcd sends 32 KiB messages; each write of a tokio file is a trip to a blocking thread,
    // so they are gathered into 1 MiB writes.
    let file = tokio::fs::File::create(&part).await.map_err(write_err)?;
    let mut file = tokio::io::BufWriter::with_capacity(1 << 20, file);
    let mut trailer = Trailer::default();
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
                    bytes: trailer.size,
                    source,
                })
            }
            Ok(Ok(None)) => break,
            Ok(Ok(Some(m))) => m,
        };
        trailer.update(msg.blob());
        streamed.store(trailer.size, std::sync::atomic::Ordering::Relaxed);
        file.write_all(msg.blob()).await.map_err(write_err)?;
    }
    file.flush().await.map_err(write_err)?;
    let file = file.into_inner();
    file.sync_all().await.map_err(write_err)?;
    drop(file);
    // The check etcdutl makes before restoring, on the bytes as they streamed past; a bad
    // stream never takes the snapshot's name.
    let Digests {
        size,
        sha256,
        trailer_ok,
    } = trailer.finish();
    if size <= TRAILER as u64 || !trailer_ok {
        let _ = tokio::fs::remove_file(&part).await;
        return Err(if size <= TRAILER as u64 {
            SnapshotError::TooShort { path, size }
        } else {
            SnapshotError::BadTrailer { path, size }
        });
    }
    tokio::fs::rename(&part, &path).await.map_err(write_err)?;
    let saved = SavedFile {
        path,
        size,
        sha256,
        duration: start.elapsed(),
    };
    Ok(saved)
}

/// One pass over a snapshot file in 1 MiB reads: its size, the SHA-256 of the whole file, and
/// whether its last 32 bytes are the SHA-256 of the rest (etcd's trailer). Memory stays flat.
fn read_digests(path: &Path) -> Result<Digests, SnapshotError> {
    use std::io::Read;
    let read_err = |source| SnapshotError::Read {
        path: path.into(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(read_err)?;
    let mut trailer = Trailer::default();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(read_err)?;
        if n == 0 {
            break;
        }
        trailer.update(&buf[..n]);
    }
    Ok(trailer.finish())
}

/// etcd's trailer check over a snapshot's bytes as they arrive (a download, an unpacking), so
/// that no second pass over the file is needed.
#[derive(Default)]
pub struct TrailerCheck(Trailer);

impl TrailerCheck {
    pub fn update(&mut self, chunk: &[u8]) {
        self.0.update(chunk);
    }

    /// The size and SHA-256 of what was fed, or why it is no snapshot (named as `path`).
    pub fn finish(self, path: &Path) -> Result<(u64, String), SnapshotError> {
        let d = self.0.finish();
        if d.size <= TRAILER as u64 {
            return Err(SnapshotError::TooShort {
                path: path.into(),
                size: d.size,
            });
        }
        if !d.trailer_ok {
            return Err(SnapshotError::BadTrailer {
                path: path.into(),
                size: d.size,
            });
        }
        Ok((d.size, d.sha256))
    }
}

/// etcd's trailer check and the SHA-256 of the whole file, over bytes fed in order, hashing
/// each byte once: the last 32 bytes are the SHA-256 of the rest (the body), and the whole
/// file's digest is the body's hash state continued with those 32 bytes. The last 32 bytes
/// seen are held back from the body until more bytes follow them.
#[derive(Default)]
struct Trailer {
    body: Sha256,
    held: [u8; TRAILER],
    held_len: usize,
    size: u64,
}

/// What a pass over a snapshot's bytes found.
struct Digests {
    size: u64,
    sha256: String,
    trailer_ok: bool,
}

impl Trailer {
    fn update(&mut self, chunk: &[u8]) {
        self.size += chunk.len() as u64;
        if chunk.len() >= TRAILER {
            self.body.update(&self.held[..self.held_len]);
            let (release, keep) = chunk.split_at(chunk.len() - TRAILER);
            self.body.update(release);
            self.held.copy_from_slice(keep);
            self.held_len = TRAILER;
            return;
        }
        let mut joined = [0u8; 2 * TRAILER];
        let total = self.held_len + chunk.len();
        joined[..self.held_len].copy_from_slice(&self.held[..self.held_len]);
        joined[self.held_len..total].copy_from_slice(chunk);
        let release = total.saturating_sub(TRAILER);
        self.body.update(&joined[..release]);
        self.held_len = total - release;
        self.held[..self.held_len].copy_from_slice(&joined[release..total]);
    }

    fn finish(self) -> Digests {
        let held = &self.held[..self.held_len];
        let mut whole = self.body.clone();
        whole.update(held);
        let trailer_ok = self.size > TRAILER as u64 && self.body.finalize().as_slice() == held;
        Digests {
            size: self.size,
            sha256: hex::encode(whole.finalize()),
            trailer_ok,
        }
    }
}

/// Checks a snapshot file's trailer and returns its size and SHA-256, in one streaming pass.
pub fn checked_digest(path: &Path) -> Result<(u64, String), SnapshotError> {
    check(path, None)
}

/// Checks a snapshot file's SHA-256 trailer, the check etcdutl makes before restoring.
pub fn check_trailer(path: &Path) -> Result<(), SnapshotError> {
    check(path, None).map(|_| ())
}

/// Refuses a snapshot whose trailer is wrong or whose bytes changed since it was recorded.
pub fn check_file(path: &Path, recorded_sha256: &str) -> Result<(), SnapshotError> {
    check(path, Some(recorded_sha256)).map(|_| ())
}

/// The trailer check (and, given one, the recorded digest); returns (size, SHA-256).
fn check(path: &Path, recorded_sha256: Option<&str>) -> Result<(u64, String), SnapshotError> {
    let Digests {
        size,
        sha256: actual,
        trailer_ok,
    } = read_digests(path)?;
    if size <= TRAILER as u64 {
        return Err(SnapshotError::TooShort {
            path: path.into(),
            size,
        });
    }
    if !trailer_ok {
        return Err(SnapshotError::BadTrailer {
            path: path.into(),
            size,
        });
    }
    match recorded_sha256 {
        Some(recorded) if recorded != actual => Err(SnapshotError::Changed {
            path: path.into(),
            recorded: recorded.into(),
            actual,
        }),
        _ => Ok((size, actual)),
    }
}

/// What `etcdutl snapshot status -w json` says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    pub hash: u64,
    pub revision: i64,
    pub total_key: u64,
    pub total_size: u64,
}

/// The binary of `image` that reads and restores snapshot files: etcdutl, or etcdctl on 3.4
/// (an image etcd-drill does not build is taken to be a current release).
pub fn snapshot_tool(image: &str) -> &'static str {
    crate::versions::of_image(image)
        .unwrap_or_else(crate::versions::default_release)
        .snapshot_tool()
}

/// Where a snapshot file goes inside one-shot containers.
pub const IN_CONTAINER: &str = "/restore/snapshot.db";

/// Runs `etcdutl snapshot status` (`etcdctl` on 3.4) on the file, in a one-shot container of
/// `image`.
pub async fn status(
    sandbox: &Sandbox,
    image: &str,
    path: &Path,
    tag: &str,
) -> Result<Status, SnapshotError> {
    let mut spec = ContainerSpec {
        name: sandbox.name(&format!("status-{tag}")),
        image: image.to_string(),
        entrypoint: Some(vec![format!("/usr/local/bin/{}", snapshot_tool(image))]),
        cmd: ["snapshot", "status", IN_CONTAINER, "-w", "json"]
            .map(String::from)
            .to_vec(),
        labels: sandbox.labels("oneshot"),
        network: sandbox.network.clone(),
        ..Default::default()
    };
    let (_, upload) = sandbox.deliver(&mut spec, path, IN_CONTAINER);
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    // etcdutl reads the whole file; at 20 MB/s at the least.
    let deadline = Duration::from_secs(120 + size / 20_000_000);
    // A bind-mounted file is read by etcdutl from this machine's page cache: fill it ahead.
    let ahead = upload.is_none().then(|| ReadAhead::start(path));
    let ran = sandbox.run_once(&spec, upload.as_ref(), deadline).await;
    drop(ahead);
    let (code, stdout, stderr) = ran?;
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

/// Reads a file from start to end, and drops what it read, so that the page cache holds it for
/// another reader. etcdutl reads a snapshot through bolt's memory map, a page fault at a time:
/// on this machine such readers ran at 55–60 MB/s from disk, where this read ran at up to
/// 985 MB/s (a 5.9 GB snapshot after a 4 GiB seed, whose members' dbs fill the page cache; the
/// snapshot step went from 152.8 to 143.1 s, one run each). Stops when dropped.
struct ReadAhead(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl ReadAhead {
    fn start(path: &Path) -> Self {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (path, stopped) = (path.to_path_buf(), stop.clone());
        tokio::task::spawn_blocking(move || {
            use std::io::Read;
            let Ok(mut file) = std::fs::File::open(&path) else {
                return;
            };
            let mut buf = vec![0u8; 1 << 20];
            while !stopped.load(std::sync::atomic::Ordering::Relaxed) {
                match file.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        });
        ReadAhead(stop)
    }
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
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
    fn one_hashing_pass_gives_the_trailer_check_and_the_whole_digest_in_any_chunking() {
        let body: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut file = body.clone();
        file.extend_from_slice(&Sha256::digest(&body));
        let whole = hex::encode(Sha256::digest(&file));
        for sizes in [
            vec![1],
            vec![31],
            vec![32],
            vec![33],
            vec![5032],
            vec![7, 40, 1, 3],
        ] {
            let mut t = Trailer::default();
            let mut rest = file.as_slice();
            for n in sizes.iter().cycle() {
                if rest.is_empty() {
                    break;
                }
                let (chunk, tail) = rest.split_at((*n).min(rest.len()));
                t.update(chunk);
                rest = tail;
            }
            let d = t.finish();
            assert_eq!(
                (d.size, d.trailer_ok),
                (file.len() as u64, true),
                "{sizes:?}"
            );
            assert_eq!(d.sha256, whole, "{sizes:?}");
        }
        let mut bad = Trailer::default();
        bad.update(&file[..file.len() - 1]);
        bad.update(&[file[file.len() - 1] ^ 1]);
        assert!(!bad.finish().trailer_ok);
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
