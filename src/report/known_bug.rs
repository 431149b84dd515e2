//! A known-bug drill's judgement: on a version that carries the bug, the drill passes when the
//! check caught it (its violation is expected, not a failure) and says "not reproduced in this
//! run" when it did not; on a fixed version, it passes only without the violation.

use crate::plan::KnownBugPlan;
use crate::record::{GateVerdict, KnownBugRecord, RunReport, Violation};

use super::gates::names;
use crate::scenario::{FAILS_WITH_DURABILITY as DURABILITY, FAILS_WITH_HASHKV as HASHKV};

/// What the check that catches the bug found, and which failed gates the bug explains.
struct Finding {
    found: u64,
    first: Option<Violation>,
    explains: Box<dyn Fn(&GateVerdict) -> bool>,
}

/// Violations of `kind`; the linearizability gate is the bug's when they are all it found.
fn linearizability(r: &RunReport, kind: &str) -> Finding {
    let check = r
        .workload
        .as_ref()
        .and_then(|w| w.log.linearizability.as_ref());
    let listed = check.map(|l| l.violations.as_slice()).unwrap_or_default();
    let of_bug: Vec<_> = listed.iter().filter(|v| v.kind == kind).collect();
    let only_bug = !listed.is_empty() && of_bug.len() == listed.len();
    // The online watch check sees the same stream: its gate is the bug's when what it found is
    // the kind's (revisions back or twice for `watch-out-of-order`, gaps for a missed event).
    let online = r.workload.as_ref().map(|w| &w.log.watch);
    let continuity_is_bug = only_bug
        && online.is_some_and(|w| match kind {
            "watch-out-of-order" => w.gaps.is_empty(),
            "watch-missed-event" => w.backwards.is_empty() && w.duplicates == 0,
            _ => false,
        });
    Finding {
        // The check lists the first few violations and counts them all.
        found: match (only_bug, check) {
            (true, Some(l)) => l.violations_found,
            _ => of_bug.len() as u64,
        },
        first: of_bug.first().map(|v| (*v).clone()),
        explains: Box::new(move |g| {
            (only_bug && g.gate == names::LINEARIZABILITY)
                || (continuity_is_bug && g.gate == names::WATCH_CONTINUITY)
        }),
    }
}

/// Members that part after a fault (or at the end): their HashKV differs at one revision. The
/// gates that compare HashKV are the bug's; the integrity gate when HashKV is what failed it.
fn hashkv(r: &RunReport) -> Finding {
    let mut parted: Vec<(String, Option<&crate::record::Divergence>)> = r
        .faults
        .iter()
        .filter(|f| f.hashkv_equal == Some(false))
        .map(|f| (format!("after fault {}", f.name), f.divergence.as_ref()))
        .collect();
    let end = r.verification.as_ref();
    if let Some(v) = end.filter(|v| !v.hashkv_equal) {
        parted.push(("at the end".into(), v.divergence.as_ref()));
    }
    let only_hashkv = end.is_some_and(|v| {
        let seed_ok = v
            .seed
            .as_ref()
            .is_none_or(|s| s.missing + s.wrong_value == 0);
        let digest_ok = v.snapshot_digest.as_ref().is_none_or(|d| d.equal);
        seed_ok && digest_ok
    });
    Finding {
        found: parted.len() as u64,
        first: parted.first().map(|(when, d)| Violation {
            kind: HASHKV.into(),
            key: d.map(|d| d.members.join(", ")).unwrap_or_default(),
            why: match d {
                Some(d) => format!(
                    "HashKV differs {when}: {} part from the others at revision {}",
                    d.members.join(", "),
                    d.revision
                ),
                None => format!("HashKV differs {when}"),
            },
            ops: Vec::new(),
        }),
        explains: Box::new(move |g| {
            names::is_fault_hashkv(&g.gate) || (only_hashkv && g.gate == names::INTEGRITY)
        }),
    }
}

/// Acknowledged writes the end of the drill could not read; the gates that count lost writes
/// (the durability check's, each fault's, `max-lost-acknowledged-writes`) are the bug's, and
/// the linearizability gate when all it found is a write gone (`lost-write`) or a watch that
/// never delivered one (`watch-missed-event`).
fn durability(r: &RunReport) -> Finding {
    let d = r.verification.as_ref().and_then(|v| v.durability.as_ref());
    let symptoms = ["lost-write", "watch-missed-event"];
    let only_lost = r
        .workload
        .as_ref()
        .and_then(|w| w.log.linearizability.as_ref())
        .is_some_and(|l| {
            l.violations
                .iter()
                .all(|v| symptoms.contains(&v.kind.as_str()))
        });
    Finding {
        found: d.map_or(0, |d| d.lost),
        first: d.filter(|d| d.lost > 0).map(|d| Violation {
            kind: DURABILITY.into(),
            key: d.examples.first().cloned().unwrap_or_default(),
            why: format!(
                "{} of {} acknowledged writes were not readable after the drill (first: {})",
                d.lost,
                d.checked,
                d.examples.join(", ")
            ),
            ops: Vec::new(),
        }),
        explains: Box::new(move |g| {
            (only_lost && g.gate == names::LINEARIZABILITY)
                || g.gate == names::DURABILITY
                || g.gate == names::MAX_LOST
                || names::is_fault_lost(&g.gate)
        }),
    }
}

/// Records the finding and adds its gate; on an affected version where the bug was caught, the
/// gates it explains pass (the linearizability gate when every violation is the bug's; the
/// gates of lost writes for `durability`).
pub fn judge(bug: &KnownBugPlan, r: &mut RunReport) {
    let version = crate::versions::of_image(&r.cluster.image)
        .map(|v| v.version.to_string())
        .or_else(|| r.environment.etcd_version.clone())
        .unwrap_or_default();
    let affected = bug.affects(&version);
    let finding = match bug.fails_with.as_str() {
        DURABILITY => durability(r),
        HASHKV => hashkv(r),
        kind => linearizability(r, kind),
    };
    let record = KnownBugRecord {
        issue: bug.issue,
        etcd_version: version.clone(),
        affected,
        fixed_in: bug.fixed_in.clone(),
        fails_with: bug.fails_with.clone(),
        found: finding.found,
        first: finding.first,
    };
    let fixed = bug.fixed_in.join(", ");
    if affected && record.found > 0 {
        for g in r.gates.iter_mut().filter(|g| (finding.explains)(g)) {
            g.target = format!(
                "{} (etcd#{}'s {}: {version} carries it)",
                g.target, bug.issue, bug.fails_with
            );
            g.passed = true;
        }
    }
    let first = |r: &KnownBugRecord| {
        r.first.as_ref().map_or(String::new(), |v| {
            format!(": {} on {}: {}", v.kind, v.key, v.why)
        })
    };
    let gate = if affected {
        GateVerdict {
            gate: format!("known bug: etcd#{}", bug.issue),
            target: format!(
                "caught as {} ({version} carries it; fixed in {fixed})",
                bug.fails_with
            ),
            actual: match record.found {
                0 => "not reproduced in this run".into(),
                n => format!("caught, {n} violation(s){}", first(&record)),
            },
            passed: record.found > 0,
        }
    } else {
        GateVerdict {
            gate: format!("known bug: etcd#{}", bug.issue),
            target: format!("no {} ({version} has the fix: {fixed})", bug.fails_with),
            actual: match record.found {
                0 => "none".into(),
                n => format!("false alarm, {n} violation(s){}", first(&record)),
            },
            passed: record.found == 0,
        }
    };
    r.gates.push(gate);
    r.known_bug = Some(record);
}

/// The verdict as a known-bug drill states it: `CAUGHT etcd#N` or `NOT REPRODUCED IN THIS RUN
/// (etcd#N)` on an affected version; `None` otherwise (the plain verdict says it).
pub fn headline(r: &RunReport) -> Option<String> {
    let bug = r.known_bug.as_ref().filter(|b| b.affected)?;
    match (r.verdict, bug.found > 0) {
        (crate::record::Verdict::Passed, true) => Some(format!(
            "CAUGHT etcd#{} ({} on {})",
            bug.issue, bug.fails_with, bug.etcd_version
        )),
        (_, false) => Some(format!(
            "NOT REPRODUCED IN THIS RUN (etcd#{} on {})",
            bug.issue, bug.etcd_version
        )),
        _ => None,
    }
}
