//! What a run leaves in its directory beside the snapshots: `report.json` (the evidence),
//! `junit.xml` (for CI), `report.md` and `report.html` (for people and audits), and last
//! `MANIFEST.sha256`, which seals all of them and the snapshots.

use crate::record::RunReport;
use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// What `write_run_dir` wrote, and what it could not.
#[derive(Debug, Default)]
pub struct Written {
    pub files: Vec<PathBuf>,
    pub errors: Vec<(PathBuf, io::Error)>,
}

/// Creates `path` and fills it with `render`.
pub fn write_file(
    path: &Path,
    render: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    let mut f = BufWriter::new(fs::File::create(path)?);
    render(&mut f)?;
    f.flush()
}

/// Writes every rendering of `r` into `dir`, then the manifest. A rendering that fails does
/// not stop the others: the manifest seals whatever was written.
pub fn write_run_dir(r: &RunReport, dir: &Path) -> Written {
    let mut w = Written::default();
    if let Err(e) = fs::create_dir_all(dir) {
        w.errors.push((dir.to_path_buf(), e));
        return w;
    }
    for format in super::Format::ALL {
        let Some(name) = format.file() else { continue };
        let path = dir.join(name);
        match write_file(&path, |out| format.render(r, out)) {
            Ok(()) => w.files.push(path),
            Err(e) => w.errors.push((path, e)),
        }
    }
    match super::manifest::write_manifest(dir) {
        Ok(path) => w.files.push(path),
        Err(e) => w.errors.push((dir.join(super::manifest::MANIFEST), e)),
    }
    w
}
