//! The chain across runs: each run records the SHA-256 of the previous run's `MANIFEST.sha256`
//! for the same scenario (found in the report directory, or named with `--previous`). The
//! manifest holds the digest of every file of that run, so a month that is later removed or
//! rewritten no longer matches the link the next month recorded, and `history` and
//! `verify-report` say where.

use crate::record::{ChainLink, RunReport, Verdict};
use crate::report::manifest::MANIFEST;
use crate::report::read::read_report;
use crate::util::sha256_file;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    #[error("--previous {path}: {reason}")]
    Previous { path: PathBuf, reason: String },
}

/// The link to the run in `dir`, as it is now.
pub fn link_to(dir: &Path, report: &RunReport) -> std::io::Result<ChainLink> {
    let manifest_sha256 = sha256_file(&dir.join(MANIFEST))?;
    let last_passed_at = if report.verdict == Verdict::Passed {
        Some(report.finished_at.clone())
    } else {
        report
            .evidence
            .as_ref()
            .and_then(|e| e.previous.as_ref())
            .and_then(|l| l.last_passed_at.clone())
    };
    Ok(ChainLink {
        run_id: report.run_id.clone(),
        started_at: report.started_at.clone(),
        manifest_sha256,
        last_passed_at,
    })
}

/// The link for a new run of `scenario` on `image`: to `explicit` when given (it must be a
/// sealed run of the same scenario), else to the newest sealed run of `scenario` on the same
/// image in `report_dir`, if any. One chain per scenario and etcd image: a matrix over
/// versions keeps one chain per version, so a version's last success is its own.
pub fn previous_link(
    report_dir: &Path,
    scenario: &str,
    image: &str,
    explicit: Option<&Path>,
) -> Result<Option<ChainLink>, ChainError> {
    if let Some(dir) = explicit {
        let bad = |reason: String| ChainError::Previous {
            path: dir.into(),
            reason,
        };
        let r = read_report(dir).map_err(|e| bad(e.to_string()))?;
        if r.scenario.name != scenario {
            return Err(bad(format!(
                "is a run of scenario {}, not {scenario}",
                r.scenario.name
            )));
        }
        let dir = run_dir_of(dir);
        return link_to(&dir, &r)
            .map(Some)
            .map_err(|e| bad(format!("no readable {MANIFEST}: {e}")));
    }
    let newest = sealed_runs(report_dir)
        .into_iter()
        .filter(|(_, r)| r.scenario.name == scenario && r.cluster.image == image)
        .max_by(|a, b| (&a.1.started_at, &a.1.run_id).cmp(&(&b.1.started_at, &b.1.run_id)));
    Ok(newest.and_then(|(dir, r)| link_to(&dir, &r).ok()))
}

/// A run directory, given it or its report.json.
pub fn run_dir_of(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.to_path_buf()
    } else {
        path.parent().map(Path::to_path_buf).unwrap_or_default()
    }
}

/// Every run directory right below `report_dir` with a report and a manifest.
pub fn sealed_runs(report_dir: &Path) -> Vec<(PathBuf, RunReport)> {
    let Ok(entries) = std::fs::read_dir(report_dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join(MANIFEST).is_file())
        .filter_map(|p| read_report(&p).ok().map(|r| (p, r)))
        .collect()
}

/// How one run's link holds against the runs at hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkState {
    /// The first run of its chain (no earlier run of the scenario when it ran).
    First,
    /// The previous run is here and its manifest is what the link recorded.
    Intact { previous: PathBuf },
    /// The previous run is not among the runs at hand: removed, or kept elsewhere.
    Missing { run_id: String, started_at: String },
    /// The previous run started before every run at hand of its scenario: the selection
    /// begins after it (`history` over some months), which says nothing about the chain.
    BeforeSelection { run_id: String },
    /// The previous run is here but its manifest changed after the link was made.
    Rewritten { previous: PathBuf, run_id: String },
}

impl LinkState {
    pub fn broken(&self) -> bool {
        matches!(
            self,
            LinkState::Missing { .. } | LinkState::Rewritten { .. }
        )
    }

    /// One line for a person: what holds, or where the chain breaks.
    pub fn describe(&self) -> String {
        match self {
            LinkState::First => "first run of its chain".into(),
            LinkState::Intact { previous } => format!(
                "linked to {} (its manifest unchanged)",
                previous.display()
            ),
            LinkState::Missing { run_id, started_at } => format!(
                "BROKEN: the previous run {run_id} (started {started_at}) is missing"
            ),
            LinkState::BeforeSelection { run_id } => {
                format!("linked to {run_id}, before the runs shown")
            }
            LinkState::Rewritten { previous, run_id } => format!(
                "BROKEN: the previous run {run_id} ({}) was changed after this run linked to it: its {MANIFEST} differs or is gone",
                previous.display()
            ),
        }
    }
}

/// Checks `report`'s link against `candidates` (run directories with their reports).
pub fn check_link(report: &RunReport, candidates: &[(PathBuf, RunReport)]) -> LinkState {
    let Some(link) = report.evidence.as_ref().and_then(|e| e.previous.as_ref()) else {
        return LinkState::First;
    };
    let Some((dir, _)) = candidates.iter().find(|(_, r)| r.run_id == link.run_id) else {
        return LinkState::Missing {
            run_id: link.run_id.clone(),
            started_at: link.started_at.clone(),
        };
    };
    match sha256_file(&dir.join(MANIFEST)) {
        Ok(d) if d == link.manifest_sha256 => LinkState::Intact {
            previous: dir.clone(),
        },
        _ => LinkState::Rewritten {
            previous: dir.clone(),
            run_id: link.run_id.clone(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::EvidenceInfo;

    fn sealed(
        root: &Path,
        id: &str,
        at: &str,
        verdict: Verdict,
        prev: Option<ChainLink>,
    ) -> (PathBuf, RunReport) {
        let mut r = crate::evidence::tests::report();
        r.run_id = id.into();
        r.started_at = at.into();
        r.finished_at = at.into();
        r.verdict = verdict;
        r.evidence = Some(EvidenceInfo {
            previous: prev,
            signed_by_key_id: None,
        });
        let dir = root.join(id);
        crate::report::artifacts::write_run_dir(&r, &dir);
        (dir, r)
    }

    #[test]
    fn a_removed_or_rewritten_month_breaks_the_chain_where_it_was() {
        let root = tempfile::tempdir().unwrap();
        let name = sealed(
            root.path(),
            "x",
            "2026-01-01T00:00:00.000Z",
            Verdict::Passed,
            None,
        )
        .1
        .scenario
        .name;
        let image = crate::evidence::tests::report().cluster.image;
        let jan = previous_link(root.path(), &name, &image, None)
            .unwrap()
            .unwrap();
        assert_eq!(jan.run_id, "x");
        assert_eq!(
            jan.last_passed_at.as_deref(),
            Some("2026-01-01T00:00:00.000Z")
        );
        let feb = sealed(
            root.path(),
            "y",
            "2026-02-01T00:00:00.000Z",
            Verdict::GateFailed,
            Some(jan),
        );
        let link = previous_link(root.path(), &name, &image, None)
            .unwrap()
            .unwrap();
        assert_eq!(link.run_id, "y");
        assert_eq!(
            link.last_passed_at.as_deref(),
            Some("2026-01-01T00:00:00.000Z"),
            "a failed month carries the last pass on"
        );
        let all = sealed_runs(root.path());
        assert!(matches!(check_link(&feb.1, &all), LinkState::Intact { .. }));
        // January rewritten: its manifest changes.
        std::fs::write(root.path().join("x/report.md"), "edited").unwrap();
        crate::report::manifest::write_manifest(&root.path().join("x")).unwrap();
        assert!(matches!(
            check_link(&feb.1, &all),
            LinkState::Rewritten { .. }
        ));
        // January removed.
        let without: Vec<_> = all.into_iter().filter(|(_, r)| r.run_id != "x").collect();
        assert!(
            matches!(check_link(&feb.1, &without), LinkState::Missing { ref run_id, .. } if run_id == "x")
        );
    }

    #[test]
    fn an_explicit_previous_run_must_be_of_the_same_scenario() {
        let root = tempfile::tempdir().unwrap();
        let (dir, _) = sealed(
            root.path(),
            "x",
            "2026-01-01T00:00:00.000Z",
            Verdict::Passed,
            None,
        );
        let e = previous_link(root.path(), "another", "any", Some(&dir)).unwrap_err();
        assert!(e.to_string().contains("not another"), "{e}");
    }
}
