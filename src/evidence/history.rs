//! `etcd-drill history RUN_DIR…`: earlier runs as a trend, one series per scenario and etcd
//! version, oldest first. Each run's figures are judged against a rolling baseline (the median
//! and spread of up to `WINDOW` earlier passing runs of the series, `report::noise`); a failed
//! run, a regression, a broken chain and an unusual gap between runs are marked. The exit code
//! follows the newest run of each series and the chain (see `History::gate`).

use super::chain::{self, LinkState};
use crate::record::{RunReport, Verdict};
use crate::report::noise::{floor, judge, recovery_floor, Better, Judgement};
use std::path::{Path, PathBuf};

/// How many earlier passing runs make the rolling baseline.
pub const WINDOW: usize = 6;

#[derive(Debug, Clone)]
pub struct Figure {
    pub name: String,
    pub unit: &'static str,
    pub better: Better,
    /// Throughput measures the machine as much as etcd: shown, never gating.
    pub gates: bool,
}

#[derive(Debug, Clone)]
pub struct Point {
    pub dir: PathBuf,
    pub run_id: String,
    pub started_at: String,
    pub verdict: Verdict,
    /// One per `Series::figures`.
    pub values: Vec<Option<f64>>,
    /// One per `Series::figures`: against the rolling baseline, when there was one.
    pub judgements: Vec<Option<Judgement>>,
    pub link: LinkState,
    /// Whether `report.json` is still what the run's manifest says (`None`: no manifest).
    pub sealed: Option<bool>,
    /// Days since the previous run of the series, when it is more than 1.5 times the usual.
    pub unusual_gap_days: Option<f64>,
}

impl Point {
    /// The gated figures that regressed, by index.
    pub fn regressions<'a>(&'a self, s: &'a Series) -> impl Iterator<Item = usize> + 'a {
        (0..s.figures.len()).filter(move |&i| {
            s.figures[i].gates && self.judgements[i].as_ref().is_some_and(|j| j.worse)
        })
    }

    pub fn regressed(&self, s: &Series) -> bool {
        self.regressions(s).next().is_some()
    }
}

#[derive(Debug, Clone)]
pub struct Series {
    pub scenario: String,
    pub etcd_version: String,
    pub figures: Vec<Figure>,
    pub points: Vec<Point>,
}

#[derive(Debug, Clone)]
pub struct History {
    pub series: Vec<Series>,
    pub max_regression_pct: f64,
}

impl History {
    /// What fails the command: the newest run of a series failed or regressed, or any link of
    /// any chain is broken. Each reason is a line.
    pub fn gate(&self) -> Vec<String> {
        let mut out = Vec::new();
        for s in &self.series {
            let label = format!("{} (etcd {})", s.scenario, s.etcd_version);
            for p in &s.points {
                if p.link.broken() {
                    out.push(format!(
                        "{label}: run {}: chain {}",
                        p.run_id,
                        p.link.describe()
                    ));
                }
                if p.sealed == Some(false) {
                    out.push(format!(
                        "{label}: run {}: report.json is not what its manifest says",
                        p.run_id
                    ));
                }
            }
            let Some(last) = s.points.last() else {
                continue;
            };
            if last.verdict != Verdict::Passed {
                out.push(format!(
                    "{label}: the newest run {} did not pass",
                    last.run_id
                ));
            }
            for i in last.regressions(s) {
                let j = last.judgements[i].as_ref().expect("a regression is judged");
                out.push(format!(
                    "{label}: the newest run {} regressed on {}: {} against a baseline of {} ({})",
                    last.run_id,
                    s.figures[i].name,
                    show(last.values[i]),
                    show(Some(j.baseline)),
                    j.sureness()
                ));
            }
        }
        out
    }
}

pub fn show(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(v) if v.fract() == 0.0 || v.abs() >= 100.0 => format!("{v:.0}"),
        Some(v) => format!("{v:.1}"),
    }
}

/// Run directories from what the user named: a run directory, a report.json, a directory of
/// runs (a report directory), or a glob of any of those. Unreadable entries come back as
/// errors; a name that matches nothing is an error too. One run id in two folders is a finding
/// of its own (a copy, or an altered one), whatever the order they were named in: the third
/// list.
pub fn collect(args: &[PathBuf]) -> (Vec<(PathBuf, RunReport)>, Vec<String>, Vec<String>) {
    let mut runs: Vec<(PathBuf, RunReport)> = Vec::new();
    let mut errors = Vec::new();
    let mut twice = Vec::new();
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    };
    let mut add = |dir: PathBuf, runs: &mut Vec<(PathBuf, RunReport)>, errors: &mut Vec<String>| {
        let dir = chain::run_dir_of(&dir);
        match crate::report::read::read_report(&dir) {
            Ok(r) => match runs.iter().find(|(_, x)| x.run_id == r.run_id) {
                None => runs.push((dir, r)),
                Some((other, _)) if same(other, &dir) => {}
                Some((other, _)) => twice.push(format!(
                    "run {} is in two folders, {} and {}: a copy or an altered one (etcd-drill verify-report each)",
                    r.run_id,
                    other.display(),
                    dir.display()
                )),
            },
            Err(e) => errors.push(e.to_string()),
        }
    };
    for arg in args {
        let text = arg.to_string_lossy();
        // A path that exists is taken as it is, even with `[` in its name; otherwise a glob,
        // whose matches count only when they are runs (a report dir also holds junit.xml and,
        // in the README's recipe, history.html).
        let paths: Vec<PathBuf> = if arg.exists() || !text.contains(['*', '?', '[']) {
            vec![arg.clone()]
        } else {
            match glob::glob(&text) {
                Ok(paths) => paths
                    .flatten()
                    .filter(|p| p.join("report.json").is_file() || p.ends_with("report.json"))
                    .collect(),
                Err(e) => {
                    errors.push(format!("{text}: not a valid pattern: {e}"));
                    continue;
                }
            }
        };
        if paths.is_empty() {
            errors.push(format!("{text}: matches no run"));
        }
        for p in paths {
            if p.is_dir() && !p.join("report.json").is_file() {
                let mut subs: Vec<PathBuf> = std::fs::read_dir(&p)
                    .map(|d| d.flatten().map(|e| e.path()).collect())
                    .unwrap_or_default();
                subs.retain(|s| s.join("report.json").is_file());
                if subs.is_empty() {
                    errors.push(format!(
                        "{}: neither a run nor a directory of runs",
                        p.display()
                    ));
                }
                subs.sort();
                for s in subs {
                    add(s, &mut runs, &mut errors);
                }
            } else {
                add(p, &mut runs, &mut errors);
            }
        }
    }
    (runs, errors, twice)
}

fn ms(v: Option<u64>) -> Option<f64> {
    v.map(|v| v as f64)
}

/// The figures a series shows: the fixed ones, then writes unavailable per fault name.
fn figures(runs: &[&(PathBuf, RunReport)]) -> Vec<Figure> {
    let f = |name: &str, unit, better, gates| Figure {
        name: name.into(),
        unit,
        better,
        gates,
    };
    let mut out = vec![
        f("RTO first write", "ms", Better::Lower, true),
        f("RTO verified", "ms", Better::Lower, true),
        f("RPO", "ms", Better::Lower, true),
        f("lost writes", "", Better::Lower, true),
    ];
    let mut faults: Vec<String> = Vec::new();
    for (_, r) in runs {
        for x in &r.faults {
            if !faults.contains(&x.name) {
                faults.push(x.name.clone());
            }
        }
    }
    for name in faults {
        out.push(f(
            &format!("unavailable: {name}"),
            "ms",
            Better::Lower,
            true,
        ));
    }
    // An alert drill's time to detect, per alert.
    let mut alerts: Vec<String> = Vec::new();
    for (_, r) in runs {
        for a in r.alerts.iter().flat_map(|a| &a.alerts) {
            if a.detect_ms.is_some() && !alerts.contains(&a.name) {
                alerts.push(a.name.clone());
            }
        }
    }
    for name in alerts {
        out.push(f(&format!("detect: {name}"), "ms", Better::Lower, true));
    }
    out.push(f("seed", "keys/s", Better::Higher, false));
    out.push(f("snapshot", "MB/s", Better::Higher, false));
    out
}

fn value(r: &RunReport, figure: &Figure) -> Option<f64> {
    match figure.name.as_str() {
        "RTO first write" => ms(r.restore.as_ref().map(|x| x.rto_first_write_ms)),
        "RTO verified" => ms(r.verification.as_ref().and_then(|v| v.rto_verified_ms)),
        "RPO" => ms(r
            .restore
            .as_ref()
            .and(r.rpo.as_ref())
            .map(|p| p.time_gap_ms)),
        "lost writes" => r
            .rpo
            .as_ref()
            .and_then(|p| p.lost_acknowledged_writes)
            .map(|v| v as f64),
        "seed" => r.seed.as_ref().map(|s| s.keys_per_sec),
        "snapshot" => r.snapshots.first().map(|s| s.mb_per_sec),
        name if name.starts_with("detect: ") => {
            let alert = name.strip_prefix("detect: ")?;
            let first = r.alerts.as_ref()?.alerts.iter().filter(|a| a.name == alert);
            ms(first.filter_map(|a| a.detect_ms).min())
        }
        name => {
            let fault = name.strip_prefix("unavailable: ")?;
            ms(r.faults.iter().find(|f| f.name == fault)?.unavailable_ms)
        }
    }
}

fn days_between(a: &str, b: &str) -> Option<f64> {
    let t = |s: &str| humantime::parse_rfc3339_weak(s.trim_end_matches('Z')).ok();
    let d = t(b)?.duration_since(t(a)?).ok()?;
    Some(d.as_secs_f64() / 86_400.0)
}

/// The series of `runs`, each oldest first, judged against rolling baselines.
pub fn build(runs: &[(PathBuf, RunReport)], max_regression_pct: f64) -> History {
    let mut keys: Vec<(String, String)> = Vec::new();
    for (_, r) in runs {
        let k = series_key(r);
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    keys.sort();
    let series = keys
        .into_iter()
        .map(|(scenario, etcd_version)| {
            let mut members: Vec<&(PathBuf, RunReport)> = runs
                .iter()
                .filter(|(_, r)| series_key(r) == (scenario.clone(), etcd_version.clone()))
                .collect();
            members.sort_by(|a, b| a.1.started_at.cmp(&b.1.started_at));
            let figures = figures(&members);
            let points = points(&members, &figures, runs, max_regression_pct);
            Series {
                scenario,
                etcd_version,
                figures,
                points,
            }
        })
        .collect();
    History {
        series,
        max_regression_pct,
    }
}

fn series_key(r: &RunReport) -> (String, String) {
    let v = r
        .environment
        .etcd_version
        .clone()
        .unwrap_or_else(|| "unknown".into());
    (r.scenario.name.clone(), v)
}

fn points(
    members: &[&(PathBuf, RunReport)],
    figures: &[Figure],
    all: &[(PathBuf, RunReport)],
    pct: f64,
) -> Vec<Point> {
    let gaps: Vec<Option<f64>> = members
        .windows(2)
        .map(|w| days_between(&w[0].1.started_at, &w[1].1.started_at))
        .collect();
    let mut usual: Vec<f64> = gaps.iter().flatten().copied().collect();
    usual.sort_by(f64::total_cmp);
    let usual = (usual.len() >= 2).then(|| usual[usual.len() / 2]);
    let mut out: Vec<Point> = Vec::new();
    // Each run's election timeout, for the floor of recovery times over its baseline runs.
    let mut elections: Vec<u64> = Vec::new();
    for (i, (dir, r)) in members.iter().map(|x| (&x.0, &x.1)).enumerate() {
        let values: Vec<Option<f64>> = figures.iter().map(|f| value(r, f)).collect();
        let judgements = figures
            .iter()
            .enumerate()
            .map(|(k, f)| {
                let current = values[k]?;
                let earlier: Vec<(f64, u64)> = out
                    .iter()
                    .zip(&elections)
                    .rev()
                    .filter(|(p, _)| p.verdict == Verdict::Passed)
                    .filter_map(|(p, e)| p.values[k].map(|v| (v, *e)))
                    .take(WINDOW)
                    .collect();
                // Recovery times carry a random election wait (`report::noise::recovery_floor`),
                // as long as the baseline runs' election timeout.
                let election_ms = earlier.iter().map(|x| x.1).max().unwrap_or(0);
                let earlier: Vec<f64> = earlier.iter().map(|x| x.0).collect();
                let least = if f.unit == "ms" && f.name != "RPO" {
                    recovery_floor(election_ms)
                } else {
                    floor(f.unit)
                };
                judge(f.better, &earlier, current, pct, least, f.unit.is_empty())
            })
            .collect();
        let gap = if i == 0 { None } else { gaps[i - 1] };
        let unusual_gap_days = match (gap, usual) {
            (Some(g), Some(u)) if u > 0.0 && g > 1.5 * u => Some(g),
            _ => None,
        };
        elections.push(r.cluster.election_timeout.as_millis() as u64);
        let mut link = chain::check_link(r, all);
        // A link to a run older than every run shown: the selection starts after it.
        if let LinkState::Missing { run_id, started_at } = &link {
            if members
                .first()
                .is_some_and(|m| *started_at < m.1.started_at)
            {
                link = LinkState::BeforeSelection {
                    run_id: run_id.clone(),
                };
            }
        }
        out.push(Point {
            dir: dir.clone(),
            run_id: r.run_id.clone(),
            started_at: r.started_at.clone(),
            verdict: r.verdict,
            values,
            judgements,
            link,
            sealed: crate::report::manifest::file_matches(dir, "report.json"),
            unusual_gap_days,
        });
    }
    out
}

/// A path for display: relative to the current directory when it is below it.
pub fn shown(p: &Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| p.strip_prefix(cwd).ok().map(|r| r.display().to_string()))
        .unwrap_or_else(|| p.display().to_string())
}
