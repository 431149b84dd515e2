//! One line per drill, after several drills ran: which passed, and their headline figures.

use super::document::verdict_text;
use crate::record::RunReport;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, ContentArrangement, Table};
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

pub fn render(reports: &[RunReport], out: &mut dyn Write) -> io::Result<()> {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    t.set_header(["scenario", "run id", "verdict", "RTO", "RPO", "duration"].map(Cell::new));
    for r in reports {
        t.add_row(vec![
            r.scenario.name.clone(),
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
