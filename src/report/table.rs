//! The terminal summary: what an operator reads at the end of a drill.

use crate::record::{RunReport, StepStatus};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, ContentArrangement, Table};
use std::io::Write;

fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    t.set_header(header.iter().map(Cell::new));
    t
}

fn ms(v: Option<u64>) -> String {
    v.map(|v| format!("{v} ms")).unwrap_or_else(|| "-".into())
}

pub fn render(r: &RunReport, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        out,
        "\netcd-drill {} · scenario {} · run {}",
        r.tool.version, r.scenario.name, r.run_id
    )?;
    let mut steps = table(&["#", "step", "status", "duration"]);
    for s in &r.steps {
        let status = match s.status {
            StepStatus::Passed => "ok".to_string(),
            StepStatus::Failed => format!("FAILED: {}", s.error.as_deref().unwrap_or("")),
            StepStatus::NotRun => "not run".to_string(),
        };
        steps.add_row(vec![
            s.index.to_string(),
            s.step.clone(),
            status,
            ms(s.duration_ms),
        ]);
    }
    writeln!(out, "{steps}")?;

    let mut m = table(&["measurement", "value"]);
    if let Some(s) = &r.seed {
        m.add_row(vec![
            "seed".to_string(),
            format!(
                "{} keys × {} B in {} ms: {:.0} keys/s, {:.1} MB/s",
                s.keys, s.value_size, s.duration_ms, s.keys_per_sec, s.mb_per_sec
            ),
        ]);
    }
    for s in &r.snapshots {
        m.add_row(vec![
            format!("snapshot {}", s.name),
            format!(
                "rev {}, {} keys, {:.1} MB in {} ms ({:.1} MB/s)",
                s.revision,
                s.total_keys,
                s.size_bytes as f64 / 1e6,
                s.duration_ms,
                s.mb_per_sec
            ),
        ]);
    }
    if let Some(x) = &r.restore {
        m.add_row(vec![
            "RTO (first quorum write)".to_string(),
            format!("{} ms", x.rto_first_write_ms),
        ]);
        if let Some(v) = r.verification.as_ref().and_then(|v| v.rto_verified_ms) {
            m.add_row(vec!["RTO (verified)".to_string(), format!("{v} ms")]);
        }
        let phases: Vec<String> = x
            .phases
            .iter()
            .map(|p| format!("{} {} ms", p.name, p.duration_ms))
            .collect();
        m.add_row(vec!["RTO phases".to_string(), phases.join(" · ")]);
    }
    if let Some(k) = r.verification.as_ref().and_then(|v| v.keyspace.as_ref()) {
        let per: Vec<String> = k
            .per_prefix
            .iter()
            .map(|(p, n)| format!("{p} {n}"))
            .collect();
        m.add_row(vec![
            "snapshot contents".to_string(),
            format!(
                "revision {}, {} keys: {}",
                k.revision,
                k.keys,
                per.join(", ")
            ),
        ]);
    }
    if let Some(t) = &r.tls {
        m.add_row(vec![
            "TLS".to_string(),
            format!(
                "client and peer mTLS; certificates in {}; e.g. {}",
                t.dir.display(),
                t.etcdctl
            ),
        ]);
    }
    if let Some(b) = &r.backups {
        m.add_row(vec![
            "backups".to_string(),
            format!(
                "{}: {} taken, {} failed, {} deleted by retention, {} kept",
                b.store,
                b.taken.len(),
                b.failures.len(),
                b.deleted.len(),
                b.remaining.len()
            ),
        ]);
    }
    if let Some(x) = &r.restore {
        for refusal in &x.refused {
            m.add_row(vec![
                format!("refused backup {}", refusal.name),
                refusal.reason.clone(),
            ]);
        }
    }
    for f in &r.faults {
        m.add_row(vec![format!("fault {}", f.name), f.summary().join("; ")]);
    }
    if let Some(d) = r.verification.as_ref().and_then(|v| v.durability.as_ref()) {
        m.add_row(vec![
            "durability (acknowledged writes lost, not by a restore)".to_string(),
            format!("{} of {}", d.lost, d.checked),
        ]);
    }
    if let (Some(p), Some(_)) = (&r.rpo, &r.restore) {
        m.add_row(vec![
            "RPO (time)".to_string(),
            format!("{} ms (snapshot {} → disaster)", p.time_gap_ms, p.snapshot),
        ]);
        m.add_row(vec![
            "RPO (revisions)".to_string(),
            p.revision_gap
                .map(|g| {
                    format!(
                        "{g} (last acked {} − snapshot {})",
                        p.last_acknowledged_revision.unwrap_or(0),
                        p.snapshot_revision
                    )
                })
                .unwrap_or_else(|| "-".into()),
        ]);
        m.add_row(vec![
            "RPO (acknowledged writes lost)".to_string(),
            match (p.lost_acknowledged_writes, p.acknowledged_before_disaster) {
                (Some(l), Some(a)) => format!("{l} of {a}"),
                (Some(l), None) => l.to_string(),
                _ => "-".into(),
            },
        ]);
    }
    if let Some(v) = &r.verification {
        m.add_row(vec!["integrity".to_string(), v.summary()]);
    }
    if let Some(w) = &r.workload {
        let l = &w.log;
        let down: u64 = l
            .unavailability
            .iter()
            .filter_map(|x| x.to_ms.map(|t| t.saturating_sub(x.from_ms)))
            .sum();
        m.add_row(vec![
            "workload".to_string(),
            format!(
                "{} operations, {} writes acknowledged, {} ms unavailable in {} window(s), {} revision regression(s)",
                l.attempts,
                l.acknowledged,
                down,
                l.unavailability.len(),
                l.revision_regressions.len()
            ),
        ]);
        for p in &w.phases {
            m.add_row(vec![
                format!("latency {}", p.name),
                format!(
                    "{} ops ({} errors), {:.0} ops/s, p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
                    p.count, p.errors, p.ops_per_sec, p.p50_ms, p.p90_ms, p.p99_ms, p.max_ms
                ),
            ]);
        }
    }
    writeln!(out, "{m}")?;

    if !r.gates.is_empty() {
        let mut g = table(&["gate", "target", "actual", "result"]);
        for v in &r.gates {
            g.add_row(vec![
                v.gate.clone(),
                v.target.clone(),
                v.actual.clone(),
                if v.passed { "pass" } else { "FAIL" }.into(),
            ]);
        }
        writeln!(out, "{g}")?;
    }
    writeln!(out, "verdict: {}", super::document::verdict_text(r.verdict))?;
    if let Some(e) = &r.error {
        writeln!(out, "error: {e}")?;
    }
    Ok(())
}
