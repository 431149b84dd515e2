//! Gates: the scenario's expectations, judged against the report. Each present gate yields one
//! verdict; a gate whose figure was never measured fails (a drill that did not measure RTO has
//! not proven it).

use crate::plan::Gates;
use crate::record::GateVerdict;
use crate::record::RunReport;
use std::time::Duration;

/// The names of the gates other code reads verdicts by (the known-bug judgement, the
/// document's headline): defined once, where the gates are made.
pub mod names {
    pub const LINEARIZABILITY: &str = "check: linearizability";
    pub const WATCH_CONTINUITY: &str = "check: watch continuity";
    pub const REVISIONS: &str = "check: revisions never go back";
    pub const DURABILITY: &str = "check: durability";
    pub const INTEGRITY: &str = "integrity";
    pub const MAX_LOST: &str = "max-lost-acknowledged-writes";

    /// A fault's gate on the acknowledged writes it lost.
    pub fn fault_lost(fault: &str) -> String {
        format!("fault {fault}: lost acknowledged writes")
    }

    /// Whether `gate` is a fault's gate on its lost writes.
    pub fn is_fault_lost(gate: &str) -> bool {
        gate.starts_with("fault ") && gate.ends_with(": lost acknowledged writes")
    }

    /// A fault's gate on the members' HashKV once it recovered.
    pub fn fault_hashkv(fault: &str) -> String {
        format!("fault {fault}: HashKV equal after recovery")
    }

    /// Whether `gate` is a fault's HashKV gate.
    pub fn is_fault_hashkv(gate: &str) -> bool {
        gate.starts_with("fault ") && gate.ends_with(": HashKV equal after recovery")
    }
}

fn ms(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}

fn at_most(gate: &str, limit: u64, actual: Option<u64>, unit: &str) -> GateVerdict {
    GateVerdict {
        gate: gate.into(),
        target: format!("≤ {limit}{unit}"),
        actual: actual
            .map(|a| format!("{a}{unit}"))
            .unwrap_or_else(|| "not measured".into()),
        passed: actual.is_some_and(|a| a <= limit),
    }
}

/// `revisions-survive-restore`: across every restore, the workload's first answer carried a
/// revision above every one seen before, and the watcher was told of a compaction rather than
/// left to miss events silently.
fn revisions_survive_restore(r: &RunReport) -> GateVerdict {
    let log = r.workload.as_ref().map(|w| &w.log);
    let across = log.map(|l| l.across_restores.as_slice()).unwrap_or(&[]);
    let views = log.map(|l| l.watch.restores.as_slice()).unwrap_or(&[]);
    let back: Vec<String> = across
        .iter()
        .filter(|a| a.went_back())
        .map(|a| format!("revision {} after {}", a.first_after, a.highest_before))
        .collect();
    let silent: Vec<String> = views
        .iter()
        .filter(|v| v.misses_silently())
        .map(|v| {
            format!(
                "watch resumed after {} on a cluster at {}: {} revision(s) never delivered, no compaction reported",
                v.last_seen, v.cluster_revision, v.invisible_revisions
            )
        })
        .collect();
    let measured = !across.is_empty() && !views.is_empty();
    let passed = measured && back.is_empty() && silent.is_empty();
    let actual = if !measured {
        "not measured (no answer or no watch after a restore)".to_string()
    } else if passed {
        let told = views.iter().filter(|v| v.compacted.is_some()).count();
        format!(
            "revisions kept rising across {} restore(s); the watcher was told of a compaction {told} time(s)",
            across.len()
        )
    } else {
        [back, silent].concat().join("; ")
    };
    GateVerdict {
        gate: "revisions-survive-restore".into(),
        target: "no revision goes back, no watch misses events silently".into(),
        passed,
        actual,
    }
}

pub fn evaluate(gates: &Gates, r: &RunReport) -> Vec<GateVerdict> {
    let mut out = Vec::new();
    if gates.revisions_survive_restore {
        out.push(revisions_survive_restore(r));
    }
    recovery(gates, r, &mut out);
    faults(r, &mut out);
    snapshot(gates, r, &mut out);
    checks(r, gates, &mut out);
    if gates.integrity {
        let v = r.verification.as_ref();
        out.push(GateVerdict {
            gate: names::INTEGRITY.into(),
            target: "seeded keys intact, snapshot digest (or HashKV at its revision) equal, HashKV equal".into(),
            actual: match v {
                None => "not verified".into(),
                Some(v) => v.summary(),
            },
            passed: v.is_some_and(|v| v.passed),
        });
    }
    out
}

/// The recovery gates: RTO, RPO and what a restore may lose.
fn recovery(gates: &Gates, r: &RunReport, out: &mut Vec<GateVerdict>) {
    let rpo = r.rpo.as_ref();
    if let Some(limit) = gates.rto {
        let actual = r.restore.as_ref().map(|x| x.rto_first_write_ms);
        out.push(GateVerdict {
            target: format!("≤ {}", ms(limit)),
            ..at_most("rto", limit.as_millis() as u64, actual, " ms")
        });
    }
    if let Some(limit) = gates.rto_verified {
        let actual = r.verification.as_ref().and_then(|v| v.rto_verified_ms);
        out.push(at_most(
            "rto-verified",
            limit.as_millis() as u64,
            actual,
            " ms",
        ));
    }
    if let Some(limit) = gates.rpo {
        out.push(at_most(
            "rpo",
            limit.as_millis() as u64,
            rpo.map(|x| x.time_gap_ms),
            " ms",
        ));
    }
    if let Some(limit) = gates.max_lost_acknowledged_writes {
        let rolled_back = rpo.and_then(|x| x.lost_acknowledged_writes);
        let violated = r
            .verification
            .as_ref()
            .and_then(|v| v.durability.as_ref())
            .map(|d| d.lost);
        let lost = match (rolled_back, violated) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
        };
        out.push(at_most(names::MAX_LOST, limit, lost, ""));
    }
    if let Some(limit) = gates.max_revision_gap {
        let gap = rpo.and_then(|x| x.revision_gap).map(|g| g.max(0) as u64);
        out.push(at_most("max-revision-gap", limit, gap, ""));
    }
}

fn faults(r: &RunReport, out: &mut Vec<GateVerdict>) {
    // Every fault here leaves a quorum's data intact: no acknowledged write may be lost, and
    // the members must agree again afterwards.
    for f in &r.faults {
        if f.healed_ms.is_none() {
            continue;
        }
        if let Some(lost) = f.lost_acknowledged_writes {
            out.push(at_most(&names::fault_lost(&f.name), 0, Some(lost), ""));
        }
        if let Some(eq) = f.hashkv_equal {
            out.push(GateVerdict {
                gate: names::fault_hashkv(&f.name),
                target: "equal".into(),
                actual: if eq { "equal" } else { "differs" }.into(),
                passed: eq,
            });
        }
    }
}

/// What the snapshot restored must hold, when the scenario says.
fn snapshot(gates: &Gates, r: &RunReport, out: &mut Vec<GateVerdict>) {
    let keyspace = r.verification.as_ref().and_then(|v| v.keyspace.as_ref());
    if let Some(want) = gates.snapshot_revision {
        let got = keyspace
            .map(|k| k.revision)
            .or(r.restore.as_ref().map(|x| x.snapshot_revision));
        out.push(GateVerdict {
            gate: "snapshot-revision".into(),
            target: format!("= {want}"),
            actual: got
                .map(|g| g.to_string())
                .unwrap_or_else(|| "not measured".into()),
            passed: got == Some(want),
        });
    }
    if let Some(max) = gates.backup_max_age {
        let age = r
            .restore
            .as_ref()
            .and_then(|x| x.stored.as_ref())
            .and_then(|s| s.newest_age_ms);
        out.push(GateVerdict {
            gate: "backup-max-age".into(),
            target: format!("newest backup ≤ {}", humantime::format_duration(max)),
            actual: age
                .map(|a| format!("{} old", crate::util::age_text(a)))
                .unwrap_or_else(|| "not measured".into()),
            passed: age.is_some_and(|a| a <= max.as_millis() as u64),
        });
    }
    for want in &gates.keys_under {
        let got = keyspace
            .and_then(|k| k.wanted.iter().find(|w| &w.prefix == want))
            .map(|w| w.keys);
        out.push(GateVerdict {
            gate: format!("keys-under {want}"),
            target: "> 0 keys".into(),
            actual: got
                .map(|g| format!("{g} keys"))
                .unwrap_or_else(|| "not measured".into()),
            passed: got.is_some_and(|g| g > 0),
        });
    }
    if let Some(want) = gates.snapshot_keys {
        let got = keyspace.map(|k| k.keys);
        out.push(GateVerdict {
            gate: "snapshot-keys".into(),
            target: format!("= {want}"),
            actual: got
                .map(|g| g.to_string())
                .unwrap_or_else(|| "not measured".into()),
            passed: got == Some(want),
        });
    }
}

/// The correctness checkers, one verdict each, whenever the drill ran a workload.
fn checks(r: &RunReport, gates: &Gates, out: &mut Vec<GateVerdict>) {
    let Some(w) = &r.workload else { return };
    if let Some(l) = &w.log.linearizability {
        let decided = l.outcome == crate::record::LinearizableOutcome::Linearizable;
        out.push(GateVerdict {
            gate: names::LINEARIZABILITY.into(),
            target: format!(
                "every operation in one order consistent with real time and etcd's revisions{}",
                if gates.linearizable {
                    ""
                } else {
                    " (not gated)"
                }
            ),
            actual: l.summary(),
            passed: decided || !gates.linearizable,
        });
    }
    let watch = &w.log.watch;
    out.push(GateVerdict {
        gate: names::WATCH_CONTINUITY.into(),
        target: "every revision once, in order".into(),
        actual: format!(
            "{} events, {} gap(s), {} duplicate(s), {} backwards; {} restore(s) seen",
            watch.events,
            watch.gaps.len(),
            watch.duplicates,
            watch.backwards.len(),
            watch.restores.len()
        ),
        passed: watch.passed(),
    });
    out.push(GateVerdict {
        gate: names::REVISIONS.into(),
        target: "0 regressions outside a restore".into(),
        actual: format!("{} regression(s)", w.log.revision_regressions.len()),
        passed: w.log.revision_regressions.is_empty(),
    });
    if let Some(d) = r.verification.as_ref().and_then(|v| v.durability.as_ref()) {
        out.push(GateVerdict {
            gate: names::DURABILITY.into(),
            target: "every acknowledged write readable (restore rollbacks count in RPO)".into(),
            actual: format!("{} of {} lost", d.lost, d.checked),
            passed: d.lost == 0,
        });
    }
}
