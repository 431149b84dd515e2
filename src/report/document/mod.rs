//! The audit document: the report laid out as titled sections of facts, tables and lists, once,
//! so that `report.md` and `report.html` cannot drift apart in what they say. The sections about
//! the recovery are in `recovery`, those about what ran beside it (faults, backups, workload)
//! in `activity`.

mod activity;
mod contents;
mod recovery;
mod terminal;

use crate::record::{RunReport, StepStatus, Verdict};
use activity::{alerts, backups, fault, known_bug, linearizability, upgrade, workload};
use recovery::{data, integrity, recovery};
pub use terminal::terminal;

pub enum Block {
    /// Name → value pairs.
    Facts(Vec<(String, Cell)>),
    Table {
        header: Vec<&'static str>,
        rows: Vec<Vec<Cell>>,
    },
    List(Vec<String>),
    /// Operations that cannot be ordered, for a drawing (HTML); the text formats show them as
    /// the table that follows.
    Operations(Vec<crate::record::ViolationOp>),
}

impl Block {
    /// A table of plain values.
    pub(super) fn table(header: Vec<&'static str>, rows: Vec<Vec<String>>) -> Block {
        let rows = rows
            .into_iter()
            .map(|r| r.into_iter().map(Cell::from).collect())
            .collect();
        Block::Table { header, rows }
    }
}

/// How a value reads: a verdict is a value with a tone, never a string a renderer matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Plain,
    Good,
    Bad,
}

/// One value of the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    pub text: String,
    pub tone: Tone,
}

impl Cell {
    /// `text`, good when `ok`, bad when not.
    pub fn judged(ok: bool, text: impl Into<String>) -> Cell {
        let tone = if ok { Tone::Good } else { Tone::Bad };
        Cell {
            text: text.into(),
            tone,
        }
    }

    /// A gate's result.
    pub fn pass(passed: bool) -> Cell {
        Cell::judged(passed, if passed { "pass" } else { "FAIL" })
    }

    /// Whether two things that must match do.
    pub fn equal(equal: bool) -> Cell {
        Cell::judged(equal, if equal { "equal" } else { "DIFFERS" })
    }

    pub fn status(s: StepStatus) -> Cell {
        let text = status_text(s);
        match s {
            StepStatus::NotRun => Cell::from(text),
            s => Cell::judged(s == StepStatus::Passed, text),
        }
    }

    pub fn verdict(r: &RunReport) -> Cell {
        Cell::judged(r.verdict == Verdict::Passed, verdict_of(r))
    }
}

impl From<String> for Cell {
    fn from(text: String) -> Cell {
        Cell {
            text,
            tone: Tone::Plain,
        }
    }
}

impl From<&str> for Cell {
    fn from(text: &str) -> Cell {
        Cell::from(text.to_string())
    }
}

pub struct Section {
    pub title: String,
    /// 2 for a top-level section, 3 for one inside the previous (a fault).
    pub level: u8,
    pub blocks: Vec<Block>,
}

impl Section {
    pub(super) fn new(title: impl Into<String>, blocks: Vec<Block>) -> Self {
        Section {
            title: title.into(),
            level: 2,
            blocks,
        }
    }
}

/// The verdict as the run states it: a known-bug drill's `CAUGHT` or `NOT REPRODUCED IN THIS
/// RUN` on a version that carries the bug, the plain verdict otherwise.
pub fn verdict_of(r: &RunReport) -> String {
    crate::report::known_bug::headline(r).unwrap_or_else(|| verdict_text(r.verdict).to_string())
}

pub fn verdict_text(v: Verdict) -> &'static str {
    match v {
        Verdict::Passed => "PASSED",
        Verdict::GateFailed => "FAILED (a gate failed)",
        Verdict::DrillFailed => "FAILED (the drill could not complete)",
        Verdict::EnvironmentFailed => "FAILED (the environment could not run the drill)",
        Verdict::Interrupted => "INTERRUPTED",
    }
}

pub fn status_text(s: StepStatus) -> &'static str {
    match s {
        StepStatus::Passed => "passed",
        StepStatus::Failed => "FAILED",
        StepStatus::NotRun => "not run",
    }
}

pub fn ms(v: Option<u64>) -> String {
    v.map(|v| format!("{v} ms")).unwrap_or_else(|| "-".into())
}

/// Milliseconds since the run started, as seconds: how the timeline's axis reads.
pub fn at(v: Option<u64>) -> String {
    v.map(|v| format!("t+{:.3} s", v as f64 / 1000.0))
        .unwrap_or_else(|| "-".into())
}

pub(super) fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref()
        .map(|v| v.to_string())
        .unwrap_or_else(|| "-".into())
}

pub(super) fn fact(name: &str, value: impl Into<Cell>) -> (String, Cell) {
    (name.to_string(), value.into())
}

/// Every section, in reading order: first what an auditor or the on-call engineer opens the
/// report for (the verdict, the headline figures, the gates, whether the evidence is signed
/// and chained), then how the drill ran.
pub fn sections(r: &RunReport) -> Vec<Section> {
    let mut out = vec![
        summary(r),
        gates(r),
        evidence(r),
        scenario(r),
        environment(r),
        steps(r),
    ];
    out.extend(recovery(r));
    out.extend(data(r));
    out.extend(integrity(r));
    if !r.faults.is_empty() {
        out.push(Section::new("Faults", Vec::new()));
        out.extend(r.faults.iter().map(fault));
    }
    out.extend(r.upgrades.iter().map(upgrade));
    out.extend(backups(r));
    out.extend(alerts(r));
    out.extend(known_bug(r));
    out.extend(workload(r));
    out.extend(linearizability(r));
    out
}

fn summary(r: &RunReport) -> Section {
    let mut f = vec![fact("verdict", Cell::verdict(r))];
    f.extend(headline(r));
    f.extend([
        fact("run id", r.run_id.clone()),
        fact("scenario", r.scenario.name.clone()),
        fact("started (UTC)", r.started_at.clone()),
        fact("finished (UTC)", r.finished_at.clone()),
        fact("duration", format!("{} ms", r.duration_ms)),
    ]);
    if let Some(e) = &r.error {
        f.push(fact("error", e.clone()));
    }
    Section::new("Summary", vec![Block::Facts(f)])
}

/// The figures the drill exists to measure, each judged by its gate when there is one.
fn headline(r: &RunReport) -> Vec<(String, Cell)> {
    let judged = |gate: &str, text: String| match r.gates.iter().find(|g| g.gate == gate) {
        Some(g) => Cell::judged(g.passed, text),
        None => Cell::from(text),
    };
    let mut f = Vec::new();
    if let Some(x) = &r.restore {
        f.push(fact(
            "RTO (first quorum write)",
            judged("rto", ms(Some(x.rto_first_write_ms))),
        ));
    }
    if let Some(v) = r.verification.as_ref().and_then(|v| v.rto_verified_ms) {
        f.push(fact("RTO (verified)", judged("rto-verified", ms(Some(v)))));
    }
    if let Some(p) = &r.rpo {
        f.push(fact("RPO (time)", judged("rpo", ms(Some(p.time_gap_ms)))));
    }
    // The gate's own figure when there is one: the headline never contradicts it.
    let gated = r
        .gates
        .iter()
        .find(|g| g.gate == crate::report::gates::names::MAX_LOST)
        .map(|g| g.actual.clone());
    let lost = gated
        .or_else(|| {
            r.rpo
                .as_ref()
                .and_then(|p| p.lost_acknowledged_writes)
                .map(|l| l.to_string())
        })
        .or_else(|| {
            r.verification
                .as_ref()
                .and_then(|v| v.durability.as_ref())
                .map(|d| format!("{} of {}", d.lost, d.checked))
        });
    if let Some(l) = lost {
        f.push(fact(
            "acknowledged writes lost",
            judged("max-lost-acknowledged-writes", l),
        ));
    }
    for x in &r.faults {
        if let Some(u) = x.unavailable_ms {
            f.push(fact(
                &format!("writes unavailable ({})", x.name),
                ms(Some(u)),
            ));
        }
    }
    f
}

/// Whether the evidence is signed and by which key, and the run it is chained to.
fn evidence(r: &RunReport) -> Section {
    let e = r.evidence.clone().unwrap_or_default();
    let signed = match &e.signed_by_key_id {
        Some(id) => format!("MANIFEST.sha256 signed by minisign key id {id}"),
        None => "not signed when it ran (a later signature is MANIFEST.sha256.minisig beside it: `etcd-drill sign`, checked by `verify-report`)".into(),
    };
    let previous = match &e.previous {
        Some(l) => format!(
            "run {} of {} (its MANIFEST.sha256: {})",
            l.run_id, l.started_at, l.manifest_sha256
        ),
        None if r.evidence.is_some() => "none: the first run of its chain".into(),
        None => "not recorded".into(),
    };
    Section::new(
        "Evidence",
        vec![Block::Facts(vec![
            fact(
                "sealed",
                "every file listed with its SHA-256 in MANIFEST.sha256",
            ),
            fact("signature", signed),
            fact("previous run", previous),
            fact(
                "check",
                format!("etcd-drill verify-report REPORT_DIR/{}", r.run_id),
            ),
        ])],
    )
}

fn scenario(r: &RunReport) -> Section {
    let s = &r.scenario;
    let mut f = vec![fact("name", s.name.clone())];
    if let Some(d) = &s.description {
        f.push(fact(
            "description",
            d.split_whitespace().collect::<Vec<_>>().join(" "),
        ));
    }
    f.push(fact("path", s.path.display().to_string()));
    f.push(fact("sha256", s.sha256.clone()));
    f.push(fact("rng seed", opt(&r.rng_seed)));
    Section::new("Scenario", vec![Block::Facts(f)])
}

fn environment(r: &RunReport) -> Section {
    let e = &r.environment;
    let c = &r.cluster;
    let mut cluster = format!(
        "{} members of {}, heartbeat {} ms, election timeout {} ms",
        c.members,
        c.image,
        c.heartbeat_interval.as_millis(),
        c.election_timeout.as_millis()
    );
    if let Some(q) = c.quota_backend_bytes {
        cluster.push_str(&format!(", quota {q} bytes"));
    }
    if let Some(s) = c.snapshot_count {
        cluster.push_str(&format!(", snapshot-count {s}"));
    }
    if let Some(p) = c.pre_vote {
        cluster.push_str(&format!(", pre-vote {p}"));
    }
    if let Some(i) = c.backend_batch_interval {
        cluster.push_str(&format!(", backend batch interval {} ms", i.as_millis()));
    }
    if let Some(l) = c.compaction_batch_limit {
        cluster.push_str(&format!(", compaction batch limit {l}"));
    }
    if c.tls {
        cluster.push_str(", client and peer mTLS");
    }
    let mut f = vec![
        fact("tool", format!("{} {}", r.tool.name, r.tool.version)),
        fact("etcd version", opt(&e.etcd_version)),
        fact("image", opt(&e.image.as_ref().map(|i| i.name.clone()))),
        fact("image id", opt(&e.image.as_ref().map(|i| i.id.clone()))),
        fact(
            "image source",
            opt(&e.image.as_ref().map(|i| i.source.clone())),
        ),
        fact("docker", opt(&e.docker)),
        fact("cluster", cluster),
    ];
    if let Some(t) = &r.tls {
        f.push(fact(
            "TLS certificates",
            format!("CA {}, client {}", t.ca.display(), t.client_cert.display()),
        ));
        f.push(fact("etcdctl", t.etcdctl.clone()));
    }
    Section::new("Environment", vec![Block::Facts(f)])
}

fn steps(r: &RunReport) -> Section {
    let rows = r
        .steps
        .iter()
        .map(|s| {
            vec![
                s.index.to_string().into(),
                s.step.clone().into(),
                Cell::status(s.status),
                at(s.started_ms).into(),
                opt(&s.started_at).into(),
                ms(s.duration_ms).into(),
                s.error.clone().unwrap_or_default().into(),
            ]
        })
        .collect();
    Section::new(
        "Steps",
        vec![Block::Table {
            header: vec![
                "#",
                "step",
                "status",
                "started",
                "started (UTC)",
                "duration",
                "error",
            ],
            rows,
        }],
    )
}

/// A measured figure beside the gate that judges it, if the scenario set one.
pub(super) fn gates(r: &RunReport) -> Section {
    let rows = r
        .gates
        .iter()
        .map(|g| {
            vec![
                g.gate.clone().into(),
                g.target.clone().into(),
                g.actual.clone().into(),
                Cell::pass(g.passed),
            ]
        })
        .collect();
    let mut blocks = vec![Block::Table {
        header: vec!["gate", "target", "actual", "result"],
        rows,
    }];
    if r.gates.is_empty() {
        blocks = vec![Block::List(vec![
            "no gate: the scenario sets no expectation".into(),
        ])];
    }
    Section::new("Gates", blocks)
}
