//! The network-fault helper image, `etcd-drill/net-tools:<suite>-<n>`: Debian's `iptables`,
//! `iproute2` and `dash` with every library they need, unpacked `FROM scratch`. A helper
//! container of it joins a member's network namespace to install and remove the rules of
//! `partition` and `slow-network` when the harness cannot enter that namespace from its own host
//! (in a container, rootless, a remote engine). Built locally like the etcd images, never
//! pulled: apt resolves the packages' dependencies against an empty package database, with a
//! private sources list derived from this machine's Debian archive and a private state
//! directory, and downloads them into the user's cache.

use super::debian::{run, Apt};
use super::{build, build_lock, inspect_id, ImageError};
use crate::sandbox::Runtime;
use std::io;
use std::path::Path;

/// The Debian release the tools come from.
const SUITE: &str = "bookworm";
/// Bumped when the image's contents change.
const REVISION: u32 = 1;
const PACKAGES: [&str; 3] = ["iptables", "iproute2", "dash"];

pub fn image_name() -> String {
    format!("etcd-drill/net-tools:{SUITE}-{REVISION}")
}

const DOCKERFILE: &str =
    "# Debian's iptables (nft), iproute2 and dash with their libraries, for etcd-drill's\n\
    # network-fault helper containers.\n\
    FROM scratch\n\
    COPY root/ /\n\
    ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin\n";

/// The helper image, built when the engine does not have it. Returns its name.
pub async fn ensure(
    docker: &dyn Runtime,
    say: &mut (dyn FnMut(String) + Send),
) -> Result<String, ImageError> {
    let image = image_name();
    if inspect_id(docker, &image).await?.is_some() {
        return Ok(image);
    }
    let _lock = build_lock("net-tools").await?;
    if inspect_id(docker, &image).await?.is_some() {
        return Ok(image);
    }
    let fail = |step: &str, detail: String| ImageError::NetTools {
        suite: SUITE.into(),
        step: step.into(),
        detail,
    };
    let io = |op: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| ImageError::Io { op, path, source }
    };
    let cache = dirs::cache_dir()
        .ok_or(ImageError::NoCacheDir)?
        .join("etcd-drill")
        .join(format!("net-tools-{SUITE}-{REVISION}"));
    let apt_dir = cache.join("apt");
    // An empty package database: apt downloads the whole dependency closure.
    let apt = Apt::new(&apt_dir, SUITE, true, &fail)?;
    say(format!(
        "image {image} not found locally; building it from Debian {SUITE}'s {} ({})",
        PACKAGES.join(", "),
        apt.uri
    ));
    run(apt.get(&["update"], &cache), "apt-get update", &fail).await?;
    let mut install = vec![
        "install",
        "--download-only",
        "--no-install-recommends",
        "-y",
    ];
    install.extend(PACKAGES);
    run(
        apt.get(&install, &cache),
        "apt-get install --download-only",
        &fail,
    )
    .await?;
    let archives = apt_dir.join("cache/archives");
    let root = cache.join("root");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).map_err(io("create directory", &root))?;
    let mut debs: Vec<_> = std::fs::read_dir(&archives)
        .map_err(io("read directory", &archives))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "deb"))
        .collect();
    debs.sort();
    for deb in &debs {
        let mut c = tokio::process::Command::new("dpkg-deb");
        c.arg("-x").arg(deb).arg(&root).kill_on_drop(true);
        run(c, "dpkg-deb -x", &fail).await?;
    }
    // What Debian's maintainer scripts would do: the nft variants as `iptables`.
    for (link, to) in [("iptables", "iptables-nft"), ("ip6tables", "ip6tables-nft")] {
        let at = root.join("usr/sbin").join(link);
        let _ = std::fs::remove_file(&at);
        std::os::unix::fs::symlink(to, &at).map_err(io("link", &at))?;
    }
    for tool in ["usr/sbin/iptables-nft", "sbin/tc", "bin/ss", "bin/sh"] {
        if std::fs::symlink_metadata(root.join(tool)).is_err() {
            return Err(fail(
                "find the tools",
                format!("no /{tool} in the packages"),
            ));
        }
    }
    let context = context(&root).map_err(io("pack the build context", &root))?;
    say(format!("building {image} from {} packages", debs.len()));
    build(docker, &image, context).await?;
    Ok(image)
}

/// The Dockerfile and the unpacked root, symbolic links kept.
fn context(root: &Path) -> io::Result<Vec<u8>> {
    let mut tar = tar::Builder::new(Vec::new());
    tar.follow_symlinks(false);
    let mut header = tar::Header::new_gnu();
    header.set_size(DOCKERFILE.len() as u64);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut header, "Dockerfile", DOCKERFILE.as_bytes())?;
    tar.append_dir_all("root", root)?;
    tar.into_inner()
}
