//! Reading a `report.json` back, for `etcd-drill report` and `etcd-drill compare`.

use crate::record::{RunReport, SCHEMA_VERSION};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not an etcd-drill report: {source}")]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "{path} has schema version {found}; this etcd-drill reads versions 1 to {SCHEMA_VERSION}"
    )]
    Version { path: PathBuf, found: u64 },
}

/// A warning when the run at `path` was altered after it was written: its `report.json` no
/// longer matches the run's `MANIFEST.sha256`. `None` when it matches or has no manifest.
pub fn altered(path: &Path) -> Option<String> {
    let dir = if path.is_dir() {
        path.to_path_buf()
    } else {
        path.parent().map(Path::to_path_buf).unwrap_or_default()
    };
    match super::manifest::file_matches(&dir, "report.json") {
        Some(false) => Some(format!(
            "warning: {}: report.json does not match the run's {}: it changed after the run wrote it (etcd-drill verify-report {} says more)",
            dir.display(),
            super::manifest::MANIFEST,
            dir.display()
        )),
        _ => None,
    }
}

/// `path` is a `report.json` or a run directory holding one.
pub fn read_report(path: &Path) -> Result<RunReport, ReadError> {
    let file = if path.is_dir() {
        path.join("report.json")
    } else {
        path.to_path_buf()
    };
    let bytes = std::fs::read(&file).map_err(|source| ReadError::Read {
        path: file.clone(),
        source,
    })?;
    // The version first: a newer report may not parse as this one, and saying so helps more.
    #[derive(serde::Deserialize)]
    struct Versioned {
        schema_version: u64,
    }
    if let Ok(v) = serde_json::from_slice::<Versioned>(&bytes) {
        // Version 2 only dropped the RPO's copies and added optional facts: a version 1 report
        // reads as it is, so last month's baseline still compares.
        if !(1..=u64::from(SCHEMA_VERSION)).contains(&v.schema_version) {
            return Err(ReadError::Version {
                path: file,
                found: v.schema_version,
            });
        }
    }
    serde_json::from_slice(&bytes).map_err(|source| ReadError::Parse { path: file, source })
}
