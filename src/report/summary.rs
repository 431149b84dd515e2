//! One line per drill, after several drills ran: which passed, and their headline figures.

use super::document::verdict_text;
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
                    Some(x) => format!(
                        "{} · RTO {} ms",
                        verdict_text(r.verdict),
                        x.rto_first_write_ms
                    ),
                    None => verdict_text(r.verdict).to_string(),
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

pub fn render(reports: &[RunReport], out: &mut dyn Write) -> io::Result<()> {
    matrix(reports, out)?;
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
            verdict_text(r.verdict).to_string(),
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
