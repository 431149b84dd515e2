//! The monitoring image, `etcd-drill/monitoring:<suite>-<n>`: Debian's `prometheus` (with
//! `promtool`), `prometheus-alertmanager` and `prometheus-pushgateway` of one suite, with that
//! suite's loader and libc, `FROM scratch`. An alert drill runs Prometheus and Alertmanager
//! from it beside the members. Built locally like the etcd images, never pulled: apt downloads
//! the packages through this machine's Debian archive with a private sources list, into the
//! user's cache. `promtool` runs on the host from the same unpacked packages (under their own
//! loader), so `validate` checks rule files with the very tool the drill's Prometheus ships.

use super::debian::{run, Apt};
use super::{build, build_context, build_lock, inspect_id, ImageError};
use crate::sandbox::Runtime;
use std::path::{Path, PathBuf};

/// The Debian release the monitoring comes from.
pub const SUITE: &str = "bookworm";
/// Bumped when the image's contents change.
const REVISION: u32 = 1;
/// The versions this suite serves: a suite that moved on is refused, not used blindly.
pub const PROMETHEUS: &str = "2.42.0";
pub const ALERTMANAGER: &str = "0.25.0";
pub const PUSHGATEWAY: &str = "1.5.1";
const PACKAGES: [(&str, &str); 4] = [
    ("prometheus", PROMETHEUS),
    ("prometheus-alertmanager", ALERTMANAGER),
    ("prometheus-pushgateway", PUSHGATEWAY),
    ("libc6", ""),
];
const LOADER: &str = "lib64/ld-linux-x86-64.so.2";
const LIBS: &str = "lib/x86_64-linux-gnu";
/// The binaries, by their path in the unpacked packages and in the image.
const BINARIES: [(&str, &str); 4] = [
    ("usr/bin/prometheus", "bin/prometheus"),
    ("usr/bin/promtool", "bin/promtool"),
    ("usr/bin/prometheus-alertmanager", "bin/alertmanager"),
    ("usr/bin/prometheus-pushgateway", "bin/pushgateway"),
];
/// Alertmanager's notification templates (it refuses to start without them).
const TEMPLATES: &str = "usr/share/prometheus/alertmanager";

pub fn image_name() -> String {
    format!("etcd-drill/monitoring:{SUITE}-{REVISION}")
}

const DOCKERFILE: &str = "# Debian's prometheus, promtool, alertmanager and pushgateway with the \
    loader and libc of the same suite, for etcd-drill's alert drills.\n\
    FROM scratch\n\
    COPY bin/ /usr/local/bin/\n\
    COPY lib64/ /lib64/\n\
    COPY lib/ /lib/x86_64-linux-gnu/\n\
    COPY templates/ /usr/share/prometheus/alertmanager/\n\
    COPY tmp /tmp\n\
    ENV PATH=/usr/local/bin\n";

fn fail(step: &str, detail: String) -> ImageError {
    ImageError::Monitoring {
        suite: SUITE.into(),
        step: step.into(),
        detail,
    }
}

/// The unpacked packages, fetched (or found cached): the root they are unpacked in.
async fn unpacked(say: &mut (dyn FnMut(String) + Send)) -> Result<PathBuf, ImageError> {
    let cache = dirs::cache_dir()
        .ok_or(ImageError::NoCacheDir)?
        .join("etcd-drill")
        .join(format!("monitoring-{SUITE}-{REVISION}"));
    let (debs, root) = (cache.join("debs"), cache.join("root"));
    if BINARIES.iter().all(|(from, _)| root.join(from).is_file()) {
        return Ok(root);
    }
    let _lock = build_lock("monitoring").await?;
    if BINARIES.iter().all(|(from, _)| root.join(from).is_file()) {
        return Ok(root);
    }
    let io = |op: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| ImageError::Io { op, path, source }
    };
    std::fs::create_dir_all(&debs).map_err(io("create directory", &debs))?;
    let apt = Apt::new(&cache.join("apt"), SUITE, false, &fail)?;
    let names: Vec<&str> = PACKAGES.iter().map(|(p, _)| *p).collect();
    say(format!(
        "fetching {} of Debian {SUITE} from {} (Prometheus and Alertmanager for alert drills)",
        names.join(", "),
        apt.uri
    ));
    run(apt.get(&["update"], &debs), "apt-get update", &fail).await?;
    let mut download = vec!["download"];
    download.extend(&names);
    run(apt.get(&download, &debs), "apt-get download", &fail).await?;
    let files: Vec<String> = std::fs::read_dir(&debs)
        .map_err(io("read directory", &debs))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".deb"))
        .collect();
    let _ = std::fs::remove_dir_all(&root);
    for (package, version) in PACKAGES {
        let prefix = format!("{package}_{version}");
        let Some(deb) = files.iter().find(|n| n.starts_with(&prefix)) else {
            let served: Vec<&String> = files
                .iter()
                .filter(|n| n.starts_with(&format!("{package}_")))
                .collect();
            return Err(fail(
                "check the version",
                format!("the suite serves {served:?}, not {package} {version}"),
            ));
        };
        let mut c = tokio::process::Command::new("dpkg-deb");
        c.arg("-x")
            .arg(debs.join(deb))
            .arg(&root)
            .kill_on_drop(true);
        run(c, "dpkg-deb -x", &fail).await?;
    }
    for (from, _) in BINARIES {
        if !root.join(from).is_file() {
            return Err(fail(
                "find the binaries",
                format!("no /{from} in the packages"),
            ));
        }
    }
    Ok(root)
}

/// The image, built when the engine does not have it. Returns its name.
pub async fn ensure(
    docker: &dyn Runtime,
    say: &mut (dyn FnMut(String) + Send),
) -> Result<String, ImageError> {
    let image = image_name();
    if inspect_id(docker, &image).await?.is_some() {
        return Ok(image);
    }
    let root = unpacked(say).await?;
    let _lock = build_lock("monitoring-image").await?;
    if inspect_id(docker, &image).await?.is_some() {
        return Ok(image);
    }
    let mut files: Vec<(String, PathBuf)> = BINARIES
        .iter()
        .map(|(from, to)| (to.to_string(), root.join(from)))
        .collect();
    let lib = |name: &str| -> Result<PathBuf, ImageError> {
        ["lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu"]
            .iter()
            .map(|d| root.join(d).join(name))
            .find(|p| p.is_file())
            .ok_or_else(|| fail("find the C library", format!("libc6 holds no {name}")))
    };
    files.push((LOADER.into(), lib("ld-linux-x86-64.so.2")?));
    files.push(("lib/libc.so.6".into(), lib("libc.so.6")?));
    let templates = root.join(TEMPLATES);
    for entry in
        std::fs::read_dir(&templates).map_err(|e| fail("find the templates", e.to_string()))?
    {
        let path = entry
            .map_err(|e| fail("find the templates", e.to_string()))?
            .path();
        if path.extension().is_some_and(|e| e == "tmpl") {
            let name = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            files.push((format!("templates/{name}"), path));
        }
    }
    let context = tokio::task::spawn_blocking(move || build_context(DOCKERFILE, &files))
        .await
        .map_err(|e| fail("pack the build context", e.to_string()))?
        .map_err(|e| fail("pack the build context", e.to_string()))?;
    say(format!(
        "building {image} (Prometheus {PROMETHEUS}, Alertmanager {ALERTMANAGER}, Pushgateway {PUSHGATEWAY})"
    ));
    build(docker, &image, context).await?;
    Ok(image)
}

/// `promtool` from the same packages, run on the host under the packages' own loader and libc
/// (whatever the host's are). Fetches the packages when they are not cached.
pub async fn promtool(
    say: &mut (dyn FnMut(String) + Send),
) -> Result<tokio::process::Command, ImageError> {
    let root = unpacked(say).await?;
    let loader = ["lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu", "lib64"]
        .iter()
        .map(|d| root.join(d).join("ld-linux-x86-64.so.2"))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            fail(
                "find the loader",
                "libc6 holds no ld-linux-x86-64.so.2".into(),
            )
        })?;
    let mut c = tokio::process::Command::new(loader);
    c.arg("--library-path")
        .arg(root.join(LIBS))
        .arg(root.join("usr/bin/promtool"))
        .kill_on_drop(true);
    Ok(c)
}
