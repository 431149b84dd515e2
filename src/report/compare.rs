//! Two runs side by side: did recovery get slower, did the drill lose more? Figures where lower
//! is better (RTO, RPO, unavailability, time to a new leader, per-phase p99) regress when they
//! grow beyond their noise (`report::noise`: the threshold, a floor in their unit, and enough
//! samples behind a percentile), or from zero to anything; a verdict that went from passed to
//! anything else regresses too. Each row says how sure it is. Throughput (keys/s, MB/s) is
//! shown but never gates: it measures the machine as much as etcd.

use super::document::verdict_text;
use crate::record::{RunReport, Verdict};
use comfy_table::Cell;
use std::io::{self, Write};

pub use super::noise::Better;
use super::noise::{floor, judge, recovery_floor, Judgement, MIN_SAMPLES};

#[derive(Debug, Clone)]
pub struct Row {
    pub figure: String,
    pub unit: &'static str,
    pub better: Better,
    pub baseline: Option<f64>,
    pub current: Option<f64>,
    /// Current against baseline, in percent of the baseline.
    pub change_pct: Option<f64>,
    /// Operations behind a percentile, in each run.
    pub samples: Option<(u64, u64)>,
    /// The change judged against its noise (`report::noise`).
    pub judgement: Option<Judgement>,
    /// Worse beyond the noise, and gating: lower is better, and enough samples.
    pub regressed: bool,
    /// Worse beyond the noise, whether or not it gates.
    pub worse: bool,
}

impl Row {
    fn too_few_samples(&self) -> bool {
        self.samples.is_some_and(|(b, c)| b.min(c) < MIN_SAMPLES)
    }
}

#[derive(Debug, Clone)]
pub struct Comparison {
    pub baseline: RunReport,
    pub current: RunReport,
    pub max_regression_pct: f64,
    pub rows: Vec<Row>,
    pub verdict_regressed: bool,
}

impl Comparison {
    pub fn regressed(&self) -> bool {
        self.verdict_regressed || self.rows.iter().any(|r| r.regressed)
    }
}

/// `floor` is the smallest change that counts (`report::noise`): a percentile's is not a
/// recovery time's.
fn row(
    figure: String,
    (unit, floor): (&'static str, f64),
    better: Better,
    (b, c): (Option<f64>, Option<f64>),
    samples: Option<(u64, u64)>,
    pct: f64,
) -> Row {
    let change_pct = match (b, c) {
        (Some(b), Some(c)) if b != 0.0 => Some((c - b) / b * 100.0),
        _ => None,
    };
    let judgement = match (b, c) {
        // Counts (lost writes, revisions) matter from the first one.
        (Some(b), Some(c)) => judge(better, &[b], c, pct, floor, unit.is_empty()),
        _ => None,
    };
    let worse = judgement.as_ref().is_some_and(|j| j.worse);
    let mut r = Row {
        figure,
        unit,
        better,
        baseline: b,
        current: c,
        change_pct,
        samples,
        judgement,
        regressed: false,
        worse,
    };
    r.regressed = worse && better == Better::Lower && !r.too_few_samples();
    r
}

/// Names present in either list, the baseline's order first.
fn union<'a>(a: impl Iterator<Item = &'a str>, b: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for n in a.chain(b) {
        if !out.iter().any(|x| x == n) {
            out.push(n.to_string());
        }
    }
    out
}

type Figure = fn(&RunReport) -> Option<f64>;

pub fn compare(baseline: &RunReport, current: &RunReport, max_regression_pct: f64) -> Comparison {
    let (b, c, pct) = (baseline, current, max_regression_pct);
    // Recovery times carry a random election wait: their floor grows with the baseline's
    // election timeout (not the current run's: a longer one there is the change to catch).
    let recovery = recovery_floor(b.cluster.election_timeout.as_millis() as u64);
    let mut rows = fixed_rows(b, c, pct, recovery);
    snapshot_rows(b, c, pct, &mut rows);
    fault_rows(b, c, pct, recovery, &mut rows);
    alert_rows(b, c, pct, &mut rows);
    phase_rows(b, c, pct, &mut rows);
    rows.retain(|r| r.baseline.is_some() || r.current.is_some());
    Comparison {
        baseline: b.clone(),
        current: c.clone(),
        max_regression_pct,
        rows,
        verdict_regressed: b.verdict == Verdict::Passed && c.verdict != Verdict::Passed,
    }
}

/// The figures every run may have: RTO, RPO, the seed's rate.
fn fixed_rows(b: &RunReport, c: &RunReport, pct: f64, recovery: f64) -> Vec<Row> {
    let fixed: [(&str, &'static str, Better, Figure); 6] = [
        ("RTO (first quorum write)", "ms", Better::Lower, |r| {
            r.restore.as_ref().map(|x| x.rto_first_write_ms as f64)
        }),
        ("RTO (verified)", "ms", Better::Lower, |r| {
            r.verification
                .as_ref()
                .and_then(|v| v.rto_verified_ms)
                .map(|v| v as f64)
        }),
        ("RPO (time)", "ms", Better::Lower, |r| {
            r.restore
                .as_ref()
                .and(r.rpo.as_ref())
                .map(|p| p.time_gap_ms as f64)
        }),
        ("RPO (revision gap)", "", Better::Lower, |r| {
            r.rpo
                .as_ref()
                .and_then(|p| p.revision_gap)
                .map(|g| g as f64)
        }),
        ("RPO (acknowledged writes lost)", "", Better::Lower, |r| {
            r.rpo
                .as_ref()
                .and_then(|p| p.lost_acknowledged_writes)
                .map(|g| g as f64)
        }),
        ("seed", "keys/s", Better::Higher, |r| {
            r.seed.as_ref().map(|s| s.keys_per_sec)
        }),
    ];
    fixed
        .iter()
        .map(|(name, unit, better, f)| {
            let least = if name.starts_with("RTO") {
                recovery
            } else {
                floor(unit)
            };
            row(
                name.to_string(),
                (unit, least),
                *better,
                (f(b), f(c)),
                None,
                pct,
            )
        })
        .collect()
}

/// Each snapshot's rate, by name.
fn snapshot_rows(b: &RunReport, c: &RunReport, pct: f64, rows: &mut Vec<Row>) {
    for name in union(
        b.snapshots.iter().map(|s| s.name.as_str()),
        c.snapshots.iter().map(|s| s.name.as_str()),
    ) {
        let mbs = |r: &RunReport| {
            r.snapshots
                .iter()
                .find(|s| s.name == name)
                .map(|s| s.mb_per_sec)
        };
        rows.push(row(
            format!("snapshot {name}"),
            ("MB/s", floor("MB/s")),
            Better::Higher,
            (mbs(b), mbs(c)),
            None,
            pct,
        ));
    }
}

/// Each fault's unavailability and time to a new leader, by name.
fn fault_rows(b: &RunReport, c: &RunReport, pct: f64, recovery: f64, rows: &mut Vec<Row>) {
    for name in union(
        b.faults.iter().map(|f| f.name.as_str()),
        c.faults.iter().map(|f| f.name.as_str()),
    ) {
        let fault = |r: &RunReport| r.faults.iter().find(|f| f.name == name).cloned();
        let (fb, fc) = (fault(b), fault(c));
        let unavailable = |f: &Option<crate::record::FaultRecord>| {
            f.as_ref().and_then(|f| f.unavailable_ms).map(|v| v as f64)
        };
        let leader = |f: &Option<crate::record::FaultRecord>| {
            f.as_ref()
                .and_then(|f| f.new_leader_after_ms)
                .map(|v| v as f64)
        };
        rows.push(row(
            format!("fault {name}: writes unavailable"),
            ("ms", recovery),
            Better::Lower,
            (unavailable(&fb), unavailable(&fc)),
            None,
            pct,
        ));
        rows.push(row(
            format!("fault {name}: time to new leader"),
            ("ms", recovery),
            Better::Lower,
            (leader(&fb), leader(&fc)),
            None,
            pct,
        ));
    }
}

/// An alert drill: each alert's time to detect (its first firing after a fault). Detection
/// moves in steps of the scrape interval: less than two of them is not a change.
fn alert_rows(b: &RunReport, c: &RunReport, pct: f64, rows: &mut Vec<Row>) {
    let names = |r: &RunReport| -> Vec<String> {
        r.alerts
            .iter()
            .flat_map(|a| &a.alerts)
            .map(|a| a.name.clone())
            .collect()
    };
    let (nb, nc) = (names(b), names(c));
    let step = b.alerts.as_ref().map_or(1000, |a| a.scrape_interval_ms) as f64;
    for name in union(nb.iter().map(String::as_str), nc.iter().map(String::as_str)) {
        let detect = |r: &RunReport| {
            let all = r.alerts.iter().flat_map(|a| &a.alerts);
            all.filter(|a| a.name == name)
                .filter_map(|a| a.detect_ms)
                .min()
                .map(|v| v as f64)
        };
        rows.push(row(
            format!("alert {name}: time to detect"),
            ("ms", 2.0 * step),
            Better::Lower,
            (detect(b), detect(c)),
            None,
            pct,
        ));
    }
}

/// Each latency phase's p99, by name (with both sample counts).
fn phase_rows(b: &RunReport, c: &RunReport, pct: f64, rows: &mut Vec<Row>) {
    let phases = |r: &RunReport| {
        r.workload
            .as_ref()
            .map(|w| w.phases.clone())
            .unwrap_or_default()
    };
    let (pb, pc) = (phases(b), phases(c));
    for name in union(
        pb.iter().map(|p| p.name.as_str()),
        pc.iter().map(|p| p.name.as_str()),
    ) {
        let phase = |ps: &[crate::record::PhaseStats]| ps.iter().find(|p| p.name == name).cloned();
        let (xb, xc) = (phase(&pb), phase(&pc));
        let samples = match (&xb, &xc) {
            (Some(x), Some(y)) => Some((x.count, y.count)),
            _ => None,
        };
        rows.push(row(
            format!("p99 {name}"),
            ("ms", floor("ms p99")),
            Better::Lower,
            (xb.map(|p| p.p99_ms), xc.map(|p| p.p99_ms)),
            samples,
            pct,
        ));
    }
}

fn value(v: Option<f64>, unit: &str) -> String {
    let Some(v) = v else { return "-".into() };
    let n = if unit == "MB/s" || v.fract() != 0.0 && v.abs() < 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.0}")
    };
    if unit.is_empty() {
        n
    } else {
        format!("{n} {unit}")
    }
}

fn result(r: &Row) -> &'static str {
    match (r.regressed, r.worse) {
        (true, _) => "REGRESSED",
        (false, true) if r.too_few_samples() => "worse (too few samples to gate)",
        (false, true) => "worse (not gated)",
        _ if r.baseline.is_none() || r.current.is_none() => "only in one run",
        _ => "ok",
    }
}

/// How sure the result is: the noise it was judged against, and the samples behind a percentile.
fn sureness(r: &Row) -> String {
    let mut s = r
        .judgement
        .as_ref()
        .map(|j| j.sureness())
        .unwrap_or_else(|| "-".into());
    if let Some((b, c)) = r.samples {
        s.push_str(&format!("; {b} vs {c} samples"));
        if b.min(c) < MIN_SAMPLES {
            s.push_str(&format!(" (under {MIN_SAMPLES}: shown, not gated)"));
        }
    }
    s
}

pub fn render(c: &Comparison, out: &mut dyn Write) -> io::Result<()> {
    for (role, r) in [("baseline", &c.baseline), ("current", &c.current)] {
        writeln!(
            out,
            "{role:8}: run {} · scenario {} · {} · {}",
            r.run_id,
            r.scenario.name,
            r.started_at,
            verdict_text(r.verdict)
        )?;
    }
    if c.baseline.scenario.name != c.current.scenario.name {
        writeln!(out, "note: the two runs are of different scenarios")?;
    }
    let mut t = super::table::new_table();
    t.set_header(
        [
            "figure", "baseline", "current", "change", "result", "how sure",
        ]
        .map(Cell::new),
    );
    for r in &c.rows {
        let better = if r.better == Better::Lower {
            "lower is better"
        } else {
            "higher is better"
        };
        t.add_row(vec![
            format!("{} ({better})", r.figure),
            value(r.baseline, r.unit),
            value(r.current, r.unit),
            r.change_pct
                .map(|p| format!("{p:+.1}%"))
                .unwrap_or_else(|| "-".into()),
            result(r).to_string(),
            sureness(r),
        ]);
    }
    t.add_row(vec![
        "verdict".to_string(),
        verdict_text(c.baseline.verdict).to_string(),
        verdict_text(c.current.verdict).to_string(),
        "-".to_string(),
        if c.verdict_regressed {
            "REGRESSED"
        } else {
            "ok"
        }
        .to_string(),
        "-".to_string(),
    ]);
    writeln!(out, "{t}")?;
    let n = c.rows.iter().filter(|r| r.regressed).count() + usize::from(c.verdict_regressed);
    writeln!(
        out,
        "{n} regression(s) beyond {}% and beyond noise (figures where lower is better, and the verdict)",
        c.max_regression_pct
    )
}
