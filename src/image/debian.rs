//! The etcd binaries from Debian's packages: `etcd-server` and `etcd-client` of one suite, with
//! that suite's `libc6` (Debian links etcd against its glibc, so a `FROM scratch` image needs
//! the loader and libc of the same release). apt fetches them through the Debian archive this
//! machine's own apt sources name, with a private sources list and state directory (nothing of
//! the machine's apt changes; apt checks the archive's signatures with the keyring the sources
//! name). The packages are cached under the user's cache directory, like the PyPI wheel.

use super::{deadline, ImageError, FILE_DEADLINE, PIP_DEADLINE};
use crate::versions::Release;
use std::path::{Path, PathBuf};

/// Suites that are Debian releases (other archives in apt's sources, like a vendor's
/// `nodistro`, are not Debian's).
const DEBIAN_SUITES: &[&str] = &[
    "buster",
    "bullseye",
    "bookworm",
    "trixie",
    "forky",
    "sid",
    "oldstable",
    "stable",
    "testing",
    "unstable",
];
const KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";
const LOADER: &str = "ld-linux-x86-64.so.2";
const LIBC: &str = "libc.so.6";

/// A Debian archive named in apt's sources: where it is and the keyring that signs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Archive {
    pub uri: String,
    pub keyring: String,
}

/// The Debian archive among apt's sources: the first `deb` entry with a Debian release suite
/// (not `-security`, `-updates` or `-backports`, which hold only some packages) and `main`.
/// `deb822` are `.sources` files, `one_line` are `sources.list` files.
pub(super) fn archive_in(deb822: &[String], one_line: &[String]) -> Option<Archive> {
    let debian = |suite: &str| DEBIAN_SUITES.contains(&suite);
    for text in deb822 {
        for para in text.split("\n\n") {
            let field = |name: &str| {
                para.lines()
                    .filter(|l| !l.trim_start().starts_with('#'))
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
                    })
            };
            let words = |name: &str| field(name).unwrap_or("").split_whitespace();
            if !words("Types").any(|t| t == "deb")
                || !words("Suites").any(debian)
                || !words("Components").any(|c| c == "main")
                || field("Enabled").is_some_and(|e| e.eq_ignore_ascii_case("no"))
            {
                continue;
            }
            if let Some(uri) = words("URIs").next() {
                let keyring = field("Signed-By")
                    .filter(|k| k.starts_with('/'))
                    .unwrap_or(KEYRING);
                return Some(Archive {
                    uri: uri.to_string(),
                    keyring: keyring.to_string(),
                });
            }
        }
    }
    for text in one_line {
        for line in text.lines().map(str::trim) {
            let Some(rest) = line.strip_prefix("deb ") else {
                continue;
            };
            let (options, rest) = match rest.trim_start().strip_prefix('[') {
                Some(r) => r.split_once(']').unwrap_or(("", r)),
                None => ("", rest),
            };
            let mut words = rest.split_whitespace();
            let (Some(uri), Some(suite)) = (words.next(), words.next()) else {
                continue;
            };
            if !debian(suite) || !words.any(|c| c == "main") {
                continue;
            }
            let keyring = options
                .split_whitespace()
                .find_map(|o| o.strip_prefix("signed-by="))
                .unwrap_or(KEYRING);
            return Some(Archive {
                uri: uri.to_string(),
                keyring: keyring.to_string(),
            });
        }
    }
    None
}

/// The machine's apt sources, read from `/etc/apt`.
pub(super) fn machine_archive() -> Option<Archive> {
    let read = |p: &Path| std::fs::read_to_string(p).ok();
    let mut deb822 = Vec::new();
    let mut one_line: Vec<String> = read(Path::new("/etc/apt/sources.list"))
        .into_iter()
        .collect();
    if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut paths: Vec<PathBuf> = dir.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for p in paths {
            match p.extension().and_then(|e| e.to_str()) {
                Some("sources") => deb822.extend(read(&p)),
                Some("list") => one_line.extend(read(&p)),
                _ => {}
            }
        }
    }
    archive_in(&deb822, &one_line)
}

/// A private apt for one Debian suite through the archive this machine's apt sources name: its
/// own sources list, state and cache under `dir`, so nothing of the machine's apt is touched.
pub(super) struct Apt {
    options: Vec<String>,
    /// The archive's address, for messages.
    pub uri: String,
}

impl Apt {
    /// Sets up `dir`; with `empty_status`, apt sees no installed package and so resolves a
    /// package's whole dependency closure. `fail` makes the caller's error of a step.
    pub(super) fn new(
        dir: &Path,
        suite: &str,
        empty_status: bool,
        fail: &dyn Fn(&str, String) -> ImageError,
    ) -> Result<Apt, ImageError> {
        let io = |op: &'static str, path: &Path| {
            let path = path.to_path_buf();
            move |source| ImageError::Io { op, path, source }
        };
        let archive = machine_archive().ok_or_else(|| {
            fail(
                "find the Debian archive",
                "no `deb` source of a Debian release with `main` in /etc/apt/sources.list or \
                 /etc/apt/sources.list.d"
                    .into(),
            )
        })?;
        for d in ["state/lists/partial", "cache/archives/partial"] {
            std::fs::create_dir_all(dir.join(d)).map_err(io("create directory", dir))?;
        }
        let list = dir.join("sources.list");
        std::fs::write(
            &list,
            format!(
                "deb [signed-by={}] {} {suite} main\n",
                archive.keyring, archive.uri
            ),
        )
        .map_err(io("write", &list))?;
        let mut options = vec![
            format!("Dir::Etc::SourceList={}", list.display()),
            "Dir::Etc::SourceParts=/dev/null".into(),
            format!("Dir::State={}", dir.join("state").display()),
            format!("Dir::Cache={}", dir.join("cache").display()),
            "Debug::NoLocking=1".into(),
            "APT::Sandbox::User=root".into(),
        ];
        if empty_status {
            let status = dir.join("state/status");
            std::fs::write(&status, "").map_err(io("write", &status))?;
            options.push(format!("Dir::State::status={}", status.display()));
        }
        Ok(Apt {
            options,
            uri: archive.uri,
        })
    }

    /// `apt-get -qq ARGS` with this apt's options, run in `cwd` (where `download` puts files).
    pub(super) fn get(&self, args: &[&str], cwd: &Path) -> tokio::process::Command {
        let mut c = tokio::process::Command::new("apt-get");
        c.arg("-qq");
        for o in &self.options {
            c.arg("-o").arg(o);
        }
        c.args(args).current_dir(cwd).kill_on_drop(true);
        c
    }
}

/// What the image is built from: the binaries (name, path), the loader and libc, and where
/// they came from.
pub(super) struct Fetched {
    pub binaries: Vec<(String, PathBuf)>,
    pub loader: PathBuf,
    pub libc: PathBuf,
    pub packages: Vec<String>,
    pub cache: PathBuf,
}

/// Fetches (or finds cached) and unpacks the packages `release` is built from.
pub(super) async fn fetch(
    release: &Release,
    suite: &str,
    say: &mut (dyn FnMut(String) + Send),
) -> Result<Fetched, ImageError> {
    let version = release.version;
    let fail = |step: &str, detail: String| ImageError::Debian {
        version: version.to_string(),
        suite: suite.to_string(),
        step: step.to_string(),
        detail,
    };
    let cache = dirs::cache_dir()
        .ok_or(ImageError::NoCacheDir)?
        .join("etcd-drill")
        .join(format!("debian-etcd-{version}"));
    let debs = cache.join("debs");
    let io = |op: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| ImageError::Io { op, path, source }
    };
    std::fs::create_dir_all(&debs).map_err(io("create directory", &debs))?;
    let mut packages = cached(&debs, version);
    if packages.is_none() {
        let apt = Apt::new(&cache.join("apt"), suite, false, &fail)?;
        say(format!(
            "fetching etcd-server, etcd-client and libc6 of Debian {suite} from {} (etcd {version})",
            apt.uri
        ));
        run(apt.get(&["update"], &debs), "apt-get update", &fail).await?;
        run(
            apt.get(&["download", "etcd-server", "etcd-client", "libc6"], &debs),
            "apt-get download",
            &fail,
        )
        .await?;
        packages = cached(&debs, version);
        if packages.is_none() {
            let served = std::fs::read_dir(&debs)
                .map(|d| {
                    d.filter_map(|e| e.ok())
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .filter(|n| n.starts_with("etcd-server_"))
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            return Err(fail(
                "check the version",
                format!(
                    "the suite serves {served}, not etcd {version}; choose another version \
                     (`etcd-drill image list`)"
                ),
            ));
        }
    }
    let packages = packages.expect("checked above");
    let root = cache.join("root");
    if !root.join("usr/bin/etcd").is_file() {
        say(format!("unpacking {}", packages.join(", ")));
        for p in &packages {
            let mut c = tokio::process::Command::new("dpkg-deb");
            c.arg("-x").arg(debs.join(p)).arg(&root).kill_on_drop(true);
            run(c, "dpkg-deb -x", &fail).await?;
        }
    }
    let find = |name: &str| {
        ["lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu"]
            .iter()
            .map(|d| root.join(d).join(name))
            .find(|p| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_file()))
            .ok_or_else(|| fail("find the C library", format!("libc6 holds no {name}")))
    };
    let binaries = release
        .binaries()
        .iter()
        .map(|b| {
            let path = root.join("usr/bin").join(b);
            if path.is_file() {
                Ok((b.to_string(), path))
            } else {
                Err(fail("find the binaries", format!("no {b} in the packages")))
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Fetched {
        binaries,
        loader: find(LOADER)?,
        libc: find(LIBC)?,
        packages,
        cache,
    })
}

/// The three packages in `debs` when `etcd-server` and `etcd-client` are `version`'s.
fn cached(debs: &Path, version: &str) -> Option<Vec<String>> {
    let names: Vec<String> = std::fs::read_dir(debs)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".deb"))
        .collect();
    let pick = |prefix: String| names.iter().find(|n| n.starts_with(&prefix)).cloned();
    Some(vec![
        pick(format!("etcd-server_{version}-"))?,
        pick(format!("etcd-client_{version}-"))?,
        pick("libc6_".into())?,
    ])
}

pub(super) async fn run(
    mut command: tokio::process::Command,
    what: &str,
    fail: &impl Fn(&str, String) -> ImageError,
) -> Result<(), ImageError> {
    let limit = if what.starts_with("apt") {
        PIP_DEADLINE
    } else {
        FILE_DEADLINE
    };
    let out = deadline("run", what, limit, command.output())
        .await?
        .map_err(|e| fail(what, e.to_string()))?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last: Vec<&str> = stderr.lines().rev().take(3).collect();
    Err(fail(what, format!("{} ({})", last.join(" | "), out.status)))
}

/// The Dockerfile of an image built from Debian's packages.
pub(super) fn dockerfile(release: &Release, suite: &str) -> String {
    format!(
        "# etcd {v} from Debian {suite}'s etcd-server and etcd-client, with the loader and libc of\n\
         # the same suite's libc6 (the binaries are linked against that glibc).\n\
         FROM scratch\n\
         COPY bin/ /usr/local/bin/\n\
         COPY lib64/ /lib64/\n\
         COPY lib/ /lib/x86_64-linux-gnu/\n\
         COPY tmp /tmp\n\
         ENV PATH=/usr/local/bin\n\
         EXPOSE 2379 2380\n\
         ENTRYPOINT [\"/usr/local/bin/etcd\"]\n",
        v = release.version
    )
}

/// The files of the build context, by their name in it.
pub(super) fn context_files(f: &Fetched) -> Vec<(String, PathBuf)> {
    let mut files: Vec<(String, PathBuf)> = f
        .binaries
        .iter()
        .map(|(name, p)| (format!("bin/{name}"), p.clone()))
        .collect();
    files.push((format!("lib64/{LOADER}"), f.loader.clone()));
    files.push((format!("lib/{LIBC}"), f.libc.clone()));
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_debian_archive_is_found_in_deb822_sources_and_others_are_skipped() {
        let node = "Types: deb\nURIs: https://deb.nodesource.com/node_20.x\nSuites: nodistro\n\
                    Components: main\nSigned-By: /usr/share/keyrings/nodesource.gpg\n"
            .to_string();
        let debian = "Types: deb\n# http://snapshot.debian.org/archive/debian/20250520T000000Z\n\
                      URIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\n\
                      Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n\
                      Types: deb\nURIs: http://mirror.example/debian-security\n\
                      Suites: bookworm-security\nComponents: main\n"
            .to_string();
        let found = archive_in(&[node, debian], &[]).unwrap();
        assert_eq!(found.uri, "http://mirror.example/debian");
        assert_eq!(found.keyring, KEYRING);
    }

    #[test]
    fn one_line_sources_are_read_with_their_keyring() {
        let list = "# deb http://old.example/debian buster main\n\
                    deb http://mirror.example/debian-security bookworm-security main\n\
                    deb [arch=amd64 signed-by=/etc/apt/keyrings/d.gpg] http://mirror.example/debian trixie main contrib\n"
            .to_string();
        let found = archive_in(&[], &[list]).unwrap();
        assert_eq!(found.uri, "http://mirror.example/debian");
        assert_eq!(found.keyring, "/etc/apt/keyrings/d.gpg");
        assert_eq!(
            archive_in(&[], &["deb http://x/ubuntu jammy main\n".into()]),
            None
        );
    }

    #[test]
    fn cached_packages_must_be_the_release_s() {
        let dir = tempfile::tempdir().unwrap();
        for n in [
            "etcd-server_3.5.30-2_amd64.deb",
            "etcd-client_3.5.30-2_amd64.deb",
            "libc6_2.43-7_amd64.deb",
        ] {
            std::fs::write(dir.path().join(n), b"").unwrap();
        }
        assert_eq!(cached(dir.path(), "3.5.30").unwrap().len(), 3);
        assert_eq!(cached(dir.path(), "3.5.3"), None, "3.5.30 is not 3.5.3");
        assert_eq!(cached(dir.path(), "3.5.16"), None);
    }
}
