//! A known-bug drill's judgement: on a version that carries the bug, the drill passes when the
//! check caught it (its violation is expected, not a failure) and says "not reproduced in this
//! run" when it did not; on a fixed version, it passes only without the violation.

use crate::plan::KnownBugPlan;
use crate::record::{GateVerdict, KnownBugRecord, RunReport};

/// The linearizability check's gate, as `gates::evaluate` names it.
const LINEARIZABILITY_GATE: &str = "check: linearizability";

/// Records the finding and adds its gate; on an affected version, the linearizability gate
/// passes when every violation it found is the bug's.
pub fn judge(bug: &KnownBugPlan, r: &mut RunReport) {
    let version = crate::versions::of_image(&r.cluster.image)
        .map(|v| v.version.to_string())
        .or_else(|| r.environment.etcd_version.clone())
        .unwrap_or_default();
    let affected = bug.affects(&version);
    let check = r
        .workload
        .as_ref()
        .and_then(|w| w.log.linearizability.as_ref());
    let listed = check.map(|l| l.violations.as_slice()).unwrap_or_default();
    let of_bug: Vec<_> = listed.iter().filter(|v| v.kind == bug.fails_with).collect();
    let only_bug = !listed.is_empty() && of_bug.len() == listed.len();
    // The check lists the first few violations and counts them all.
    let found = match (only_bug, check) {
        (true, Some(l)) => l.violations_found,
        _ => of_bug.len() as u64,
    };
    let record = KnownBugRecord {
        issue: bug.issue,
        etcd_version: version.clone(),
        affected,
        fixed_in: bug.fixed_in.clone(),
        fails_with: bug.fails_with.clone(),
        found,
        first: of_bug.first().map(|v| (*v).clone()),
    };
    let fixed = bug.fixed_in.join(", ");
    if affected && only_bug {
        for g in r
            .gates
            .iter_mut()
            .filter(|g| g.gate == LINEARIZABILITY_GATE)
        {
            g.target = format!(
                "only etcd#{}'s {} ({version} carries it)",
                bug.issue, bug.fails_with
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
