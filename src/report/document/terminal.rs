//! The terminal summary: the few sections an operator reads at the end of a drill (steps,
//! measurements in one line each, gates and the verdict), from the same typed cells as the
//! audit document.

use super::{ms, Block, Cell, Section};
use crate::record::{RunReport, StepStatus};

pub fn terminal(r: &RunReport) -> Vec<Section> {
    let mut m: Vec<Vec<String>> = Vec::new();
    seed(r, &mut m);
    rto(r, &mut m);
    keyspace(r, &mut m);
    context(r, &mut m);
    rpo(r, &mut m);
    if let Some(v) = &r.verification {
        m.push(vec!["integrity".to_string(), v.summary()]);
    }
    workload(r, &mut m);
    let mut out = vec![
        steps(r),
        Section::new(
            "Measurements",
            vec![Block::table(vec!["measurement", "value"], m)],
        ),
    ];
    out.extend(super::activity::alerts(r));
    out.extend(violations(r));
    // On the terminal the verdict comes last, under the gates: the line a CI log ends on.
    let mut gates = super::gates(r);
    let mut verdict = vec![super::fact("verdict", Cell::verdict(r))];
    if let Some(e) = &r.error {
        verdict.push(super::fact("error", e.clone()));
    }
    gates.blocks.push(Block::Facts(verdict));
    out.push(gates);
    out
}

/// The steps, each with its status and duration.
fn steps(r: &RunReport) -> Section {
    let steps = r
        .steps
        .iter()
        .map(|s| {
            let status = match s.status {
                StepStatus::Passed => Cell::judged(true, "ok"),
                StepStatus::Failed => Cell::judged(
                    false,
                    format!("FAILED: {}", s.error.as_deref().unwrap_or("")),
                ),
                StepStatus::NotRun => Cell::from("not run"),
            };
            vec![
                s.index.to_string().into(),
                s.step.clone().into(),
                status,
                ms(s.duration_ms).into(),
            ]
        })
        .collect();
    Section::new(
        "Steps",
        vec![Block::Table {
            header: vec!["#", "step", "status", "duration"],
            rows: steps,
        }],
    )
}

/// The seed and each snapshot.
fn seed(r: &RunReport, m: &mut Vec<Vec<String>>) {
    if let Some(s) = &r.seed {
        m.push(vec![
            "seed".to_string(),
            format!(
                "{} keys × {} B in {} ms: {:.0} keys/s, {:.1} MB/s",
                s.keys, s.value_size, s.duration_ms, s.keys_per_sec, s.mb_per_sec
            ),
        ]);
    }
    for s in &r.snapshots {
        m.push(vec![
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
}

/// A restore's RTO and its phases.
fn rto(r: &RunReport, m: &mut Vec<Vec<String>>) {
    if let Some(x) = &r.restore {
        m.push(vec![
            "RTO (first quorum write)".to_string(),
            format!("{} ms", x.rto_first_write_ms),
        ]);
        if let Some(v) = r.verification.as_ref().and_then(|v| v.rto_verified_ms) {
            m.push(vec!["RTO (verified)".to_string(), format!("{v} ms")]);
        }
        let phases: Vec<String> = x
            .phases
            .iter()
            .map(|p| format!("{} {} ms", p.name, p.duration_ms))
            .collect();
        m.push(vec!["RTO phases".to_string(), phases.join(" · ")]);
    }
}

/// What the verified keyspace holds.
fn keyspace(r: &RunReport, m: &mut Vec<Vec<String>>) {
    if let Some(k) = r.verification.as_ref().and_then(|v| v.keyspace.as_ref()) {
        for (fact, value) in super::contents::facts(r, k) {
            m.push(vec![fact, value]);
        }
        let groups: Vec<String> = super::contents::rows(k)
            .into_iter()
            .map(|g| format!("{}  {} keys  {}  {}", g[0], g[1], g[2], g[3]))
            .collect();
        m.push(vec!["keys by prefix".to_string(), groups.join("\n")]);
    }
}

/// TLS, the backups, the restore's refusals and replay, the faults, the durability check.
fn context(r: &RunReport, m: &mut Vec<Vec<String>>) {
    if let Some(t) = &r.tls {
        m.push(vec![
            "TLS".to_string(),
            format!(
                "client and peer mTLS; certificates in {}; e.g. {}",
                t.dir.display(),
                t.etcdctl
            ),
        ]);
    }
    if let Some(b) = &r.backups {
        m.push(vec![
            "backups".to_string(),
            format!(
                "{}: {} taken ({} deltas), {} failed, {} deleted by retention, {} kept",
                b.store,
                b.taken.len(),
                b.taken.iter().filter(|t| t.delta.is_some()).count(),
                b.failures.len(),
                b.deleted.len(),
                b.remaining.len()
            ),
        ]);
    }
    if let Some(x) = &r.restore {
        if let Some(s) = &x.stored {
            m.extend(
                super::recovery::stored(s)
                    .into_iter()
                    .map(|(k, v)| vec![k, v]),
            );
        }
        for refusal in &x.refused {
            m.push(vec![
                format!("refused backup {}", refusal.name),
                refusal.reason.clone(),
            ]);
        }
        if let Some(p) = &x.replay {
            m.push(vec!["deltas replayed".into(), super::recovery::replay(p)]);
        }
    }
    for f in &r.faults {
        m.push(vec![format!("fault {}", f.name), f.summary().join("; ")]);
    }
    if let Some(d) = r.verification.as_ref().and_then(|v| v.durability.as_ref()) {
        m.push(vec![
            "durability (acknowledged writes lost, not by a restore)".to_string(),
            format!("{} of {}", d.lost, d.checked),
        ]);
    }
}

/// A restore's RPO.
fn rpo(r: &RunReport, m: &mut Vec<Vec<String>>) {
    if let (Some(p), Some(_)) = (&r.rpo, &r.restore) {
        m.push(vec![
            "RPO (time)".to_string(),
            format!("{} ms (snapshot {} → disaster)", p.time_gap_ms, p.snapshot),
        ]);
        m.push(vec![
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
        m.push(vec![
            "RPO (acknowledged writes lost)".to_string(),
            match (p.lost_acknowledged_writes, p.acknowledged_before_disaster) {
                (Some(l), Some(a)) => format!("{l} of {a}"),
                (Some(l), None) => l.to_string(),
                _ => "-".into(),
            },
        ]);
        if let Some(f) = &p.fulls_only {
            m.push(vec![
                "RPO with the full alone".into(),
                super::recovery::fulls_only(f),
            ]);
        }
    }
}

/// The workload and its latency by phase.
fn workload(r: &RunReport, m: &mut Vec<Vec<String>>) {
    if let Some(w) = &r.workload {
        let l = &w.log;
        let down: u64 = l
            .unavailability
            .iter()
            .filter_map(|x| x.to_ms.map(|t| t.saturating_sub(x.from_ms)))
            .sum();
        m.push(vec![
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
            let latency = if p.count > p.errors {
                format!(
                    "p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
                    p.p50_ms, p.p90_ms, p.p99_ms, p.max_ms
                )
            } else {
                "no successful operation".into()
            };
            m.push(vec![
                format!("latency {}", p.name),
                format!(
                    "{} ops ({} errors), {:.0} ops/s, {latency}",
                    p.count, p.errors, p.ops_per_sec
                ),
            ]);
        }
    }
}

/// The operations of the first violations, per client: what an operator reads first.
fn violations(r: &RunReport) -> Option<Section> {
    let violations = r
        .workload
        .as_ref()
        .and_then(|w| w.log.linearizability.as_ref())
        .map(|l| l.violations.as_slice())
        .unwrap_or_default();
    if violations.is_empty() {
        return None;
    }
    let shown = violations.iter().take(SHOWN).enumerate();
    let mut blocks: Vec<Block> = shown
        .flat_map(|(n, v)| super::activity::violation(n, v, false))
        .collect();
    if violations.len() > SHOWN {
        blocks.push(Block::List(vec![format!(
            "{} more in report.html and report.json",
            violations.len() - SHOWN
        )]));
    }
    Some(Section::new("Linearizability violations", blocks))
}

/// Violations the terminal shows in full.
const SHOWN: usize = 3;
