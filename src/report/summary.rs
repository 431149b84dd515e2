//! One line per drill, after several drills ran: which passed, and their headline figures.

use super::document::verdict_of;
use crate::record::RunReport;
use comfy_table::Cell;
use std::io::{self, Write};

fn rpo(r: &RunReport) -> String {
    let Some(p) = &r.rpo else { return "-".into() };
    let mut parts = Vec::new();
    if r.restore.is_some() {
        parts.push(format!("{} ms", p.time_gap_ms));
    }
    if let Some(l) = p.lost_acknowledged_writes {
        parts.push(format!("{l} writes lost"));
    }
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(", ")
    }
}

/// The etcd version the drill's cluster reported (else its image's tag).
fn etcd(r: &RunReport) -> String {
    r.environment
        .etcd_version
        .clone()
        .or_else(|| {
            r.environment
                .image
                .as_ref()
                .and_then(|i| crate::versions::of_image(&i.name))
                .map(|rel| rel.version.to_string())
        })
        .unwrap_or_else(|| "-".into())
}

/// Scenario × etcd version, when the drills ran on more than one version: each cell the
/// verdict and the RTO to the first write.
fn matrix(reports: &[RunReport], out: &mut dyn Write) -> io::Result<()> {
    let mut versions: Vec<String> = Vec::new();
    let mut scenarios: Vec<String> = Vec::new();
    for r in reports {
        let v = etcd(r);
        if !versions.contains(&v) {
            versions.push(v);
        }
        if !scenarios.contains(&r.scenario.name) {
            scenarios.push(r.scenario.name.clone());
        }
    }
    if versions.len() < 2 {
        return Ok(());
    }
    let mut t = super::table::new_table();
    let mut header = vec![Cell::new("scenario")];
    header.extend(versions.iter().map(|v| Cell::new(format!("etcd {v}"))));
    t.set_header(header);
    for s in &scenarios {
        let mut row = vec![s.clone()];
        for v in &versions {
            let runs: Vec<String> = reports
                .iter()
                .filter(|r| &r.scenario.name == s && &etcd(r) == v)
                .map(|r| match &r.restore {
                    Some(x) => format!("{} · RTO {} ms", verdict_of(r), x.rto_first_write_ms),
                    None => verdict_of(r),
                })
                .collect();
            row.push(if runs.is_empty() {
                "-".into()
            } else {
                runs.join("\n")
            });
        }
        t.add_row(row);
    }
    writeln!(out, "\n{t}")
}

/// The 95% interval (Wilson's score interval) of a rate seen `k` times in `n`, in [0, 1].
pub fn wilson95(k: u64, n: u64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let (k, n, z) = (k as f64, n as f64, 1.959_964);
    let p = k / n;
    let centre = p + z * z / (2.0 * n);
    let spread = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt();
    let d = 1.0 + z * z / n;
    (
        ((centre - spread) / d).max(0.0),
        ((centre + spread) / d).min(1.0),
    )
}

/// Known-bug drills, per scenario and version: on a version that carries the bug, how many
/// runs caught it; on a fixed one, how many cried wolf; each with its 95% interval.
fn reproduction(reports: &[RunReport], out: &mut dyn Write) -> io::Result<()> {
    let mut rows: Vec<(String, String, u32, bool, u64, u64)> = Vec::new();
    for r in reports {
        let Some(b) = &r.known_bug else { continue };
        let key = (r.scenario.name.clone(), b.etcd_version.clone());
        let hit = u64::from(b.found > 0);
        match rows.iter_mut().find(|x| (x.0.clone(), x.1.clone()) == key) {
            Some(x) => {
                x.4 += hit;
                x.5 += 1;
            }
            None => rows.push((key.0, key.1, b.issue, b.affected, hit, 1)),
        }
    }
    if rows.is_empty() {
        return Ok(());
    }
    let mut t = super::table::new_table();
    t.set_header(
        [
            "scenario",
            "bug",
            "etcd",
            "carries it",
            "result",
            "95% interval",
        ]
        .map(Cell::new),
    );
    for (scenario, version, issue, affected, k, n) in rows {
        let (lo, hi) = wilson95(k, n);
        let result = if affected {
            format!("caught in {k} of {n}")
        } else {
            format!("false alarms in {k} of {n}")
        };
        t.add_row(vec![
            scenario,
            format!("etcd#{issue}"),
            version,
            if affected { "yes" } else { "no (fixed)" }.to_string(),
            result,
            format!("{:.0}%–{:.0}%", lo * 100.0, hi * 100.0),
        ]);
    }
    writeln!(out, "\n{t}")
}

pub fn render(reports: &[RunReport], out: &mut dyn Write) -> io::Result<()> {
    matrix(reports, out)?;
    reproduction(reports, out)?;
    let mut t = super::table::new_table();
    t.set_header(
        [
            "scenario", "etcd", "run id", "verdict", "RTO", "RPO", "duration",
        ]
        .map(Cell::new),
    );
    for r in reports {
        t.add_row(vec![
            r.scenario.name.clone(),
            etcd(r),
            r.run_id.clone(),
            verdict_of(r),
            r.restore
                .as_ref()
                .map(|x| format!("{} ms", x.rto_first_write_ms))
                .unwrap_or_else(|| "-".into()),
            rpo(r),
            format!("{:.1} s", r.duration_ms as f64 / 1000.0),
        ]);
    }
    writeln!(out, "\n{t}")?;
    let passed = reports
        .iter()
        .filter(|r| r.verdict == crate::record::Verdict::Passed)
        .count();
    writeln!(out, "{passed} of {} drills passed", reports.len())
}

#[cfg(test)]
mod tests {
    #[test]
    fn wilson_interval_matches_the_textbook_figures() {
        // 10 of 20: 29.9%–70.1%; 0 of 20: 0%–16.1%; 20 of 20: 83.9%–100%.
        let (lo, hi) = super::wilson95(10, 20);
        assert!(
            (lo - 0.299).abs() < 0.001 && (hi - 0.701).abs() < 0.001,
            "{lo} {hi}"
        );
        let (lo, hi) = super::wilson95(0, 20);
        assert!(lo == 0.0 && (hi - 0.161).abs() < 0.001, "{hi}");
        let (lo, hi) = super::wilson95(20, 20);
        assert!((lo - 0.839).abs() < 0.001 && hi == 1.0, "{lo}");
    }
}
