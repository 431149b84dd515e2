//! `report` and `compare`: a finished run rendered again, and two runs side by side.

use super::eprint;
use crate::exit_codes;
use crate::report::Format;
use std::io::Write;
use std::path::Path;

/// `etcd-drill report`: one rendering of a finished run on stdout.
pub fn report(run: &Path, format: Format) -> i32 {
    if let Some(w) = crate::report::read::altered(run) {
        eprint(w);
    }
    let r = match crate::report::read::read_report(run) {
        Ok(r) => r,
        Err(e) => {
            eprint(e);
            return exit_codes::BAD_INPUT;
        }
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let written = format.render(&r, &mut out);
    match written.and_then(|()| out.flush()) {
        Ok(()) => exit_codes::PASSED,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => exit_codes::PASSED,
        Err(e) => {
            eprint(format!("cannot write the report: {e}"));
            exit_codes::ENVIRONMENT
        }
    }
}

/// `etcd-drill compare`: the baseline against each current run; 0 when nothing regressed, 1
/// when something did, 2 on bad input (nothing compared).
pub fn compare(baseline: &Path, current: &[std::path::PathBuf], max_regression: f64) -> i32 {
    if !(max_regression.is_finite() && max_regression >= 0.0) {
        eprint(format!(
            "--max-regression must be a percentage of 0 or more, not {max_regression}"
        ));
        return exit_codes::BAD_INPUT;
    }
    for p in std::iter::once(baseline).chain(current.iter().map(|c| c.as_path())) {
        if let Some(w) = crate::report::read::altered(p) {
            eprint(w);
        }
    }
    let read = |p: &Path| crate::report::read::read_report(p);
    let runs: Vec<_> = current.iter().map(|c| read(c)).collect();
    let b = read(baseline);
    let failed: Vec<String> = std::iter::once(b.as_ref().err())
        .chain(runs.iter().map(|r| r.as_ref().err()))
        .flatten()
        .map(|e| e.to_string())
        .collect();
    let (Ok(b), true) = (b, failed.is_empty()) else {
        for e in failed {
            eprint(e);
        }
        return exit_codes::BAD_INPUT;
    };
    let mut regressed = false;
    for c in runs.into_iter().flatten() {
        let cmp = crate::report::compare::compare(&b, &c, max_regression);
        regressed |= cmp.regressed();
        if let Err(e) = crate::report::compare::render(&cmp, &mut std::io::stdout()) {
            if e.kind() != std::io::ErrorKind::BrokenPipe {
                eprint(format!("cannot print the comparison: {e}"));
            }
        }
    }
    if regressed {
        exit_codes::GATE_FAILED
    } else {
        exit_codes::PASSED
    }
}
