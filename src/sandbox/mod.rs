//! The sandbox: one run's Docker network, volumes and containers, all labelled with the run id
//! so that teardown (and `clean`) can find every one of them. `Runtime` is the seam to Docker;
//! `docker::DockerRuntime` is the real one, tests may bring a fake.

pub mod docker;
#[cfg(test)]
pub mod fake;
mod images;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const LABEL_MANAGED: &str = "etcd-drill.managed";
pub const LABEL_RUN_ID: &str = "etcd-drill.run-id";
pub const LABEL_ROLE: &str = "etcd-drill.role";
/// The port etcd serves clients on, inside a member's container.
pub const CLIENT_PORT: u16 = 2379;
pub const PEER_PORT: u16 = 2380;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("cannot reach the Docker engine ({hint}): {source}")]
    Connect {
        hint: String,
        #[source]
        source: BoxError,
    },
    #[error("failed to {op} {target}: {source}")]
    Docker {
        op: &'static str,
        target: String,
        #[source]
        source: BoxError,
    },
    #[error("failed to {op} {target}: no answer from Docker within {after:?}")]
    Timeout {
        op: &'static str,
        target: String,
        after: Duration,
    },
    #[error("container {container} publishes no host port for {port}/tcp")]
    NoHostPort { container: String, port: u16 },
}

/// What to run in one container. Only what etcd-drill needs, nothing more.
#[derive(Debug, Clone, Default)]
pub struct ContainerSpec {
    pub name: String,
    pub image: String,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Vec<String>,
    pub labels: HashMap<String, String>,
    pub network: String,
    /// Names other containers on the network reach this one by.
    pub aliases: Vec<String>,
    /// (volume name, path inside the container)
    pub volumes: Vec<(String, String)>,
    /// (file on this machine, path inside the container), mounted read-only. Only where the
    /// engine shares this machine's files (`Runtime::shares_files`).
    pub host_files: Vec<(PathBuf, String)>,
    /// Publish this container port on 127.0.0.1 with an ephemeral host port.
    pub publish: Option<u16>,
    /// Linux capabilities added (`NET_ADMIN` for a network-fault helper).
    pub cap_add: Vec<String>,
    /// Devices of the engine's host given to the container, at the same path (`/dev/fuse`
    /// for a member on the disk layer).
    pub devices: Vec<String>,
}

/// How network faults reach a member's network namespace: from this host (`nsenter` into the
/// member's process; needs root, the host's PID namespace and a local engine), or through a
/// short-lived helper container that joins it (`--network container:<member>`, `NET_ADMIN`)
/// from an image of Debian's iptables and iproute2 built locally: wherever Docker runs.
///
/// One type says the way, at each point of its life: `NetVia<Delay>` once the plans are read
/// (before the engine is asked: whether the helpers must carry the delay proxy), and
/// `NetVia<HelperImages>` once the helpers' images are built or found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum NetVia<H = HelperImages> {
    #[default]
    Host,
    Helper(H),
}

/// Whether a drill `delay`s a member's links: the delay proxy then runs in etcd-drill's own
/// image, in a helper.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delay(pub bool);

/// The images helper containers run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelperImages {
    /// Debian's iptables and iproute2 (`image::net_tools`).
    pub image: String,
    /// etcd-drill's own image, built from this very binary, for the delay proxy and its
    /// round-trip probe (`image::harness`); only when a drill delays a member's links.
    pub harness: Option<String>,
}

impl NetVia {
    pub fn describe(&self) -> String {
        match self {
            NetVia::Host => "from the host (nsenter into the member's network namespace)".into(),
            NetVia::Helper(h) => format!(
                "through a helper container ({}) in the member's network namespace",
                h.image
            ),
        }
    }
}

/// A file for a one-shot container, copied in before it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileUpload {
    pub from: PathBuf,
    pub to: String,
}

/// How a file reaches a one-shot container: bind-mounted read-only where the engine shares this
/// machine's files, otherwise copied in as a tar streamed from disk. Neither holds the file in
/// memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    BindMount,
    StreamedTar,
}

impl Delivery {
    pub fn describe(self) -> &'static str {
        match self {
            Delivery::BindMount => "read-only bind mount",
            Delivery::StreamedTar => "tar streamed from disk",
        }
    }
}

impl Sandbox {
    /// Gives `spec` the file `from` at `to`: a bind mount, or the upload `run_once` makes.
    pub fn deliver(
        &self,
        spec: &mut ContainerSpec,
        from: &Path,
        to: &str,
    ) -> (Delivery, Option<FileUpload>) {
        if self.runtime.shares_files() {
            // The engine resolves a bind's source itself: it must be an absolute path.
            let from = std::fs::canonicalize(from)
                .or_else(|_| std::path::absolute(from))
                .unwrap_or_else(|_| from.to_path_buf());
            spec.host_files.push((from, to.to_string()));
            (Delivery::BindMount, None)
        } else {
            let upload = FileUpload {
                from: from.to_path_buf(),
                to: to.to_string(),
            };
            (Delivery::StreamedTar, Some(upload))
        }
    }
}

/// Everything labelled for one run (or for all runs, in `clean`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Resources {
    pub containers: Vec<String>,
    pub networks: Vec<String>,
    pub volumes: Vec<String>,
}

impl Resources {
    pub fn is_empty(&self) -> bool {
        self.containers.is_empty() && self.networks.is_empty() && self.volumes.is_empty()
    }
}

/// The container state etcd-drill cares about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerState {
    Running,
    Paused,
    Exited(i64),
    Other(String),
}

/// The Docker seam. Every method has a deadline inside the implementation.
#[async_trait::async_trait]
pub trait Runtime: Send + Sync {
    fn describe(&self) -> String;
    /// The address members' published ports are reached at: 127.0.0.1 for a local engine,
    /// else the engine's own.
    fn engine_address(&self) -> String {
        "127.0.0.1".into()
    }
    async fn create_network(
        &self,
        name: &str,
        labels: &HashMap<String, String>,
    ) -> Result<(), SandboxError>;
    async fn create_volume(
        &self,
        name: &str,
        labels: &HashMap<String, String>,
    ) -> Result<(), SandboxError>;
    async fn create_container(&self, spec: &ContainerSpec) -> Result<(), SandboxError>;
    /// Unpacks a tar archive at `path` (which must exist) inside a created container.
    async fn upload(&self, container: &str, path: &str, tar: Vec<u8>) -> Result<(), SandboxError>;
    /// Copies the file `from` on this machine to `to` in the container, with permissions
    /// `mode`, streamed from disk: a file of any size passes through a bounded buffer, never
    /// whole through memory.
    async fn upload_file(
        &self,
        container: &str,
        from: &Path,
        to: &str,
        mode: u32,
    ) -> Result<(), SandboxError>;
    /// Whether the engine sees this machine's files (a local socket): then a file can be bind
    /// mounted instead of copied.
    fn shares_files(&self) -> bool;
    async fn start(&self, container: &str) -> Result<(), SandboxError>;
    /// Waits for the container to exit, returning its exit code.
    async fn wait(&self, container: &str) -> Result<i64, SandboxError>;
    /// The container's stdout and stderr, as (stdout, stderr).
    async fn logs(&self, container: &str) -> Result<(String, String), SandboxError>;
    async fn kill(&self, container: &str, signal: &str) -> Result<(), SandboxError>;
    async fn state(&self, container: &str) -> Result<ContainerState, SandboxError>;
    async fn host_port(&self, container: &str, port: u16) -> Result<u16, SandboxError>;
    async fn pause(&self, container: &str) -> Result<(), SandboxError>;
    async fn unpause(&self, container: &str) -> Result<(), SandboxError>;
    /// The host PID of the container's main process (to reach its network namespace).
    async fn pid(&self, container: &str) -> Result<u32, SandboxError>;
    /// The container's IP address on `network`.
    async fn ip(&self, container: &str, network: &str) -> Result<String, SandboxError>;
    /// A tar archive of `path` inside the container (running or stopped; volumes included).
    async fn download(&self, container: &str, path: &str) -> Result<Vec<u8>, SandboxError>;
    /// The same archive as it arrives, for files too large to hold (a member's db at
    /// production size); `read_file` and `read_through` consume it under a deadline.
    fn download_stream(&self, container: &str, path: &str) -> ByteStream;
    /// The last `tail` lines of the container's logs, stdout and stderr together.
    async fn log_tail(&self, container: &str, tail: usize) -> Result<String, SandboxError>;
    async fn remove_container(&self, container: &str) -> Result<(), SandboxError>;
    async fn remove_volume(&self, name: &str) -> Result<(), SandboxError>;
    async fn remove_network(&self, name: &str) -> Result<(), SandboxError>;
    /// Everything carrying `label=value`.
    async fn list_labelled(&self, label: &str, value: &str) -> Result<Resources, SandboxError>;

    /// The engine's memory, when it says (a large seed's memory check).
    fn memory_bytes(&self) -> Option<u64> {
        None
    }
    /// Where the engine keeps volumes, when the engine is on this machine (the disk check).
    fn local_root_dir(&self) -> Option<&str> {
        None
    }
    /// The image's id, or `None` when the engine does not have it.
    async fn image_id(&self, image: &str) -> Result<Option<String>, SandboxError>;
    async fn pull_image(&self, image: &str) -> Result<(), SandboxError>;
    /// Gives `image` a second name, `also` (`repo:tag`).
    async fn tag_image(&self, image: &str, also: &str) -> Result<(), SandboxError>;
    /// Builds `image` from a tar build context; each line of the build's output goes to
    /// `on_line`. `Ok(Some(message))`: the build itself failed.
    async fn build_image(
        &self,
        image: &str,
        context: Vec<u8>,
        labels: &HashMap<&str, &str>,
        on_line: &mut (dyn for<'l> FnMut(&'l str) + Send),
    ) -> Result<Option<String>, SandboxError>;
}

pub use docker::engine_process_visible;

/// One run's slice of Docker: names and labels derive from the run id, so two runs never collide.
pub struct Sandbox {
    pub runtime: std::sync::Arc<dyn Runtime>,
    pub run_id: String,
    pub network: String,
    /// How network faults reach the members.
    pub net_via: NetVia,
}

impl Sandbox {
    pub fn new(runtime: std::sync::Arc<dyn Runtime>, run_id: &str) -> Self {
        Sandbox {
            runtime,
            run_id: run_id.to_string(),
            network: format!("etcd-drill-{run_id}"),
            net_via: NetVia::Host,
        }
    }

    pub fn with_net_via(mut self, via: NetVia) -> Self {
        self.net_via = via;
        self
    }

    pub fn labels(&self, role: &str) -> HashMap<String, String> {
        HashMap::from([
            (LABEL_MANAGED.to_string(), "true".to_string()),
            (LABEL_RUN_ID.to_string(), self.run_id.clone()),
            (LABEL_ROLE.to_string(), role.to_string()),
        ])
    }

    /// A Docker object name for this run: `etcd-drill-<run-id>-<suffix>`.
    pub fn name(&self, suffix: &str) -> String {
        format!("etcd-drill-{}-{suffix}", self.run_id)
    }

    pub async fn create_network(&self) -> Result<(), SandboxError> {
        self.runtime
            .create_network(&self.network, &self.labels("network"))
            .await
    }

    pub async fn create_volume(&self, suffix: &str) -> Result<String, SandboxError> {
        let name = self.name(suffix);
        self.runtime
            .create_volume(&name, &self.labels("data"))
            .await?;
        Ok(name)
    }

    /// Runs a one-shot container to completion: create, upload files, start, wait, read logs,
    /// remove. Returns (exit code, stdout, stderr). The container is removed on every path.
    pub async fn run_once(
        &self,
        spec: &ContainerSpec,
        upload: Option<&FileUpload>,
        deadline: Duration,
    ) -> Result<(i64, String, String), SandboxError> {
        self.runtime.create_container(spec).await?;
        let result = tokio::time::timeout(deadline, async {
            if let Some(u) = upload {
                self.runtime
                    .upload_file(&spec.name, &u.from, &u.to, 0o644)
                    .await?;
            }
            self.runtime.start(&spec.name).await?;
            let code = self.runtime.wait(&spec.name).await?;
            let (out, err) = self.runtime.logs(&spec.name).await?;
            Ok::<_, SandboxError>((code, out, err))
        })
        .await;
        let removed = self.runtime.remove_container(&spec.name).await;
        let result = result.map_err(|_| SandboxError::Timeout {
            op: "run one-shot container",
            target: spec.name.clone(),
            after: deadline,
        })??;
        removed?;
        Ok(result)
    }

    /// Removes everything labelled with this run id: containers first (they hold the network
    /// and volumes), then volumes and the network. Keeps going past errors and returns them.
    pub async fn teardown(&self) -> Vec<SandboxError> {
        sweep(self.runtime.as_ref(), LABEL_RUN_ID, &self.run_id).await
    }
}

/// Removes every resource carrying `label=value`, collecting errors instead of stopping.
pub async fn sweep(runtime: &dyn Runtime, label: &str, value: &str) -> Vec<SandboxError> {
    let mut errors = Vec::new();
    let found = match runtime.list_labelled(label, value).await {
        Ok(r) => r,
        Err(e) => return vec![e],
    };
    let removals = found.containers.iter().map(|c| runtime.remove_container(c));
    errors.extend(
        futures_util::future::join_all(removals)
            .await
            .into_iter()
            .filter_map(Result::err),
    );
    for v in &found.volumes {
        if let Err(e) = runtime.remove_volume(v).await {
            errors.push(e);
        }
    }
    for n in &found.networks {
        if let Err(e) = runtime.remove_network(n).await {
            errors.push(e);
        }
    }
    errors
}

/// Bytes as Docker streams them.
pub type ByteStream = futures_util::stream::BoxStream<'static, Result<bytes::Bytes, SandboxError>>;

/// The next chunk of `stream`, or a timeout when none came within `stall`.
async fn next_chunk(
    stream: &mut ByteStream,
    what: &str,
    stall: Duration,
) -> Option<Result<bytes::Bytes, SandboxError>> {
    use futures_util::StreamExt;
    match tokio::time::timeout(stall, stream.next()).await {
        Ok(chunk) => chunk,
        Err(_) => Some(Err(SandboxError::Timeout {
            op: "read from container",
            target: what.to_string(),
            after: stall,
        })),
    }
}

/// Reads a streamed archive to its end and drops it: the engine reads the file in order, so
/// the page cache holds it for a reader that would otherwise fault it in a page at a time (etcd
/// hashing its db through a memory map). The bytes read; a chunk must come within `stall`.
pub async fn read_through(
    mut stream: ByteStream,
    what: &str,
    stall: Duration,
) -> Result<u64, SandboxError> {
    let mut read = 0;
    while let Some(chunk) = next_chunk(&mut stream, what, stall).await {
        read += chunk?.len() as u64;
    }
    Ok(read)
}

/// The file of a streamed one-file tar archive, written to `to` through a bounded buffer (a
/// member's db of several GB never whole in memory): its size and SHA-256 as read.
pub async fn read_file(
    stream: ByteStream,
    what: &str,
    to: &Path,
    stall: Duration,
) -> Result<(u64, String), SandboxError> {
    let (_, size, sha) = read_last_file(stream, what, to, stall, |_| true).await?;
    Ok((size, sha))
}

/// Of the files in a streamed tar archive whose path `pick` accepts, the one with the greatest
/// path (the newest WAL segment of a directory), written to `to` through a bounded buffer:
/// its path in the archive, size and SHA-256 as read. The others stream past.
pub async fn read_last_file(
    stream: ByteStream,
    what: &str,
    to: &Path,
    stall: Duration,
    pick: impl Fn(&str) -> bool + Send + 'static,
) -> Result<(String, u64, String), SandboxError> {
    use futures_util::StreamExt;
    use sha2::{Digest, Sha256};
    use std::io::{Read, Write};
    use std::sync::{Arc, Mutex};
    let failed = |e: std::io::Error| SandboxError::Docker {
        op: "read a file from container",
        target: what.to_string(),
        source: Box::new(e),
    };
    // The stream's own error (a stall, Docker's), kept as it is for the caller.
    let stream_error: Arc<Mutex<Option<SandboxError>>> = Arc::default();
    let (kept, name) = (stream_error.clone(), what.to_string());
    let timed = futures_util::stream::unfold(stream, move |mut s| {
        let (kept, name) = (kept.clone(), name.clone());
        async move {
            let chunk = next_chunk(&mut s, &name, stall).await?;
            let chunk = chunk.map_err(|e| {
                let io = std::io::Error::other(e.to_string());
                if let Ok(mut k) = kept.lock() {
                    *k = Some(e);
                }
                io
            });
            Some((chunk, s))
        }
    });
    // The archive is parsed on a blocking thread, reading the stream as it comes.
    let reader =
        tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(timed.boxed()));
    let to_path = to.to_path_buf();
    let unpack = tokio::task::spawn_blocking(move || -> std::io::Result<(String, u64, String)> {
        let mut archive = tar::Archive::new(reader);
        let mut best: Option<(String, u64, String)> = None;
        for entry in archive.entries()? {
            let mut entry = entry?;
            let path = entry.path()?.to_string_lossy().into_owned();
            let later = best.as_ref().is_none_or(|(b, _, _)| path > *b);
            if !entry.header().entry_type().is_file() || !pick(&path) || !later {
                continue;
            }
            let mut out = std::io::BufWriter::new(std::fs::File::create(&to_path)?);
            let (mut sha, mut buf, mut size) = (Sha256::new(), vec![0u8; 1 << 20], 0u64);
            loop {
                let n = entry.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                sha.update(&buf[..n]);
                out.write_all(&buf[..n])?;
                size += n as u64;
            }
            out.flush()?;
            if size != entry.size() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!(
                        "the archive ended {size} bytes into a {}-byte file",
                        entry.size()
                    ),
                ));
            }
            best = Some((path, size, hex::encode(sha.finalize())));
        }
        best.ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "the archive holds no such file",
            )
        })
    });
    let unpacked = unpack.await.map_err(|e| failed(std::io::Error::other(e)))?;
    if let Some(e) = stream_error.lock().ok().and_then(|mut k| k.take()) {
        return Err(e);
    }
    unpacked.map_err(failed)
}

/// Packs files into an in-memory tar: (path inside the archive, mode, bytes).
/// Moves the calling thread into the network namespace of process `pid` (a container's, seen
/// from the engine's host): what it binds and dials from then on is inside the container.
pub fn enter_netns(pid: u32) -> Result<(), String> {
    let path = format!("/proc/{pid}/ns/net");
    let ns = std::fs::File::open(&path).map_err(|e| format!("cannot open {path}: {e}"))?;
    nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET)
        .map_err(|e| format!("setns({path}): {e}"))
}

pub fn tar_of(files: &[(&str, u32, &[u8])]) -> std::io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, mode, data) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(*mode);
        header.set_mtime(0);
        header.set_cksum();
        builder.append_data(&mut header, path, *data)?;
    }
    builder.into_inner()
}

#[cfg(test)]
mod tests {
    use super::fake::FakeRuntime;
    use super::*;
    use std::sync::Arc;

    /// `bytes` as a stream of `chunk`-byte pieces, as Docker sends an archive.
    fn chunked(bytes: Vec<u8>, chunk: usize) -> ByteStream {
        use futures_util::StreamExt;
        let pieces: Vec<_> = bytes
            .chunks(chunk)
            .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
            .collect();
        futures_util::stream::iter(pieces).boxed()
    }

    #[tokio::test]
    async fn a_streamed_archives_file_lands_whole_with_its_sha256() {
        use sha2::{Digest, Sha256};
        let body: Vec<u8> = (0..3_000_017u32).map(|i| (i * 7 % 251) as u8).collect();
        let tar = tar_of(&[("db", 0o600, &body)]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let to = dir.path().join("db");
        // Pieces that split the header and the file at odd places.
        let (size, sha) = read_file(
            chunked(tar.clone(), 4093),
            "c:db",
            &to,
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        assert_eq!(size, body.len() as u64);
        assert_eq!(sha, hex::encode(Sha256::digest(&body)));
        assert_eq!(std::fs::read(&to).unwrap(), body);
        // Read through, the same archive counts every byte, padding included.
        let read = read_through(chunked(tar.clone(), 65536), "c:db", Duration::from_secs(5));
        assert_eq!(read.await.unwrap(), tar.len() as u64);
    }

    /// A member's WAL directory: segments in no particular order, a lock file, a directory.
    #[tokio::test]
    async fn the_newest_picked_file_of_a_directory_lands_and_the_rest_stream_past() {
        use sha2::{Digest, Sha256};
        let seg = |n: u8| vec![n; 300_000 + n as usize];
        let (a, b, c) = (seg(1), seg(2), seg(3));
        let mut builder = tar::Builder::new(Vec::new());
        let mut dir = tar::Header::new_gnu();
        dir.set_entry_type(tar::EntryType::Directory);
        dir.set_size(0);
        dir.set_cksum();
        builder.append_data(&mut dir, "wal/", &[][..]).unwrap();
        for (name, body) in [
            ("wal/0000000000000001-0000000000000400.wal", &b),
            ("wal/0000000000000002-0000000000000900.wal", &c),
            ("wal/0000000000000000-0000000000000000.wal", &a),
            ("wal/1.tmp", &vec![9u8; 10]),
        ] {
            let mut h = tar::Header::new_gnu();
            h.set_size(body.len() as u64);
            h.set_mode(0o600);
            h.set_cksum();
            builder.append_data(&mut h, name, &body[..]).unwrap();
        }
        let tar = builder.into_inner().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let to = dir.path().join("wal");
        let (name, size, sha) = read_last_file(
            chunked(tar.clone(), 7001),
            "c:wal",
            &to,
            Duration::from_secs(5),
            |n| n.ends_with(".wal"),
        )
        .await
        .unwrap();
        assert_eq!(name, "wal/0000000000000002-0000000000000900.wal");
        assert_eq!(
            (size, sha),
            (c.len() as u64, hex::encode(Sha256::digest(&c)))
        );
        assert_eq!(std::fs::read(&to).unwrap(), c);
        let none = read_last_file(
            chunked(tar, 7001),
            "c:wal",
            &to,
            Duration::from_secs(5),
            |n| n.ends_with(".snap"),
        );
        assert!(none.await.is_err());
    }

    #[tokio::test]
    async fn a_stream_that_stalls_or_fails_is_an_error_not_a_file() {
        use futures_util::StreamExt;
        let dir = tempfile::tempdir().unwrap();
        let to = dir.path().join("db");
        let stalled = futures_util::stream::pending().boxed();
        let e = read_file(stalled, "c:db", &to, Duration::from_millis(50))
            .await
            .unwrap_err();
        assert!(matches!(e, SandboxError::Timeout { .. }), "{e}");
        let stalled = futures_util::stream::pending().boxed();
        let e = read_through(stalled, "c:db", Duration::from_millis(50)).await;
        assert!(matches!(e, Err(SandboxError::Timeout { .. })));
        // Cut off in the middle of the file: the archive is short, and that is said.
        let body = vec![1u8; 100_000];
        let mut tar = tar_of(&[("db", 0o600, &body)]).unwrap();
        tar.truncate(50_000);
        let e = read_file(chunked(tar, 1000), "c:db", &to, Duration::from_secs(5)).await;
        assert!(e.is_err());
        // Not an archive with a file in it.
        let e = read_file(
            chunked(vec![0u8; 1024], 512),
            "c:db",
            &to,
            Duration::from_secs(5),
        );
        assert!(e.await.is_err());
    }

    #[tokio::test]
    async fn teardown_removes_only_this_runs_resources_and_keeps_going_past_errors() {
        let fake = Arc::new(FakeRuntime::default());
        let a = Sandbox::new(fake.clone(), "run-a");
        let b = Sandbox::new(fake.clone(), "run-b");
        for s in [&a, &b] {
            s.create_network().await.unwrap();
            s.create_volume("etcd-1-data").await.unwrap();
            s.create_volume("etcd-2-data").await.unwrap();
        }
        *fake.fail.lock().unwrap() = Some(("remove volume", "run-a-etcd-1".into()));
        let errors = a.teardown().await;
        assert_eq!(errors.len(), 1, "{errors:?}");
        let left = fake.all();
        assert_eq!(
            left.volumes,
            vec![
                "etcd-drill-run-a-etcd-1-data",
                "etcd-drill-run-b-etcd-1-data",
                "etcd-drill-run-b-etcd-2-data"
            ]
        );
        assert_eq!(left.networks, vec!["etcd-drill-run-b"]);
        *fake.fail.lock().unwrap() = None;
        assert!(a.teardown().await.is_empty());
        assert!(fake
            .list_labelled(LABEL_RUN_ID, "run-a")
            .await
            .unwrap()
            .is_empty());
    }

    #[tokio::test]
    async fn a_one_shot_container_is_removed_even_when_it_fails() {
        let fake = Arc::new(FakeRuntime::default());
        let s = Sandbox::new(fake.clone(), "r");
        let spec = ContainerSpec {
            name: s.name("restore-etcd-1"),
            labels: s.labels("oneshot"),
            ..Default::default()
        };
        *fake.fail.lock().unwrap() = Some(("start container", "restore".into()));
        assert!(s
            .run_once(
                &spec,
                Some(&FileUpload {
                    from: "/nowhere/snap.db".into(),
                    to: "/snapshot.db".into(),
                }),
                Duration::from_secs(5),
            )
            .await
            .is_err());
        assert!(fake.all().containers.is_empty());
        assert!(fake
            .calls()
            .contains(&"remove container etcd-drill-r-restore-etcd-1".to_string()));
    }
}
