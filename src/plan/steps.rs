//! Step order and gate checks: what a drill can do in which order.

use super::walk::Walk;
use super::{Gates, PlannedStep, RestoreSource, StepKind};
use crate::scenario::{Expectations, Problem, Scenario};

/// `base`: the scenario file's folder; relative file paths in steps are relative to it.
pub(super) fn steps(
    s: &Scenario,
    base: &std::path::Path,
    problems: &mut Vec<Problem>,
) -> Vec<PlannedStep> {
    let mut walk = Walk::start(s, base, problems);
    let mut out = Vec::new();
    for spanned in s.steps.iter() {
        out.push(walk.step(&spanned.value, &spanned.referenced, out.len() + 1));
    }
    for (name, at) in walk.into_open() {
        problems.push(Problem::at(&at, format!(
            "fault {name:?} is never healed: expected a `hold`, a `heal: {{ fault: {name} }}` step or a later disaster")));
    }
    out
}

/// Integrity is required whenever the drill verifies, unless `integrity: false` says otherwise.
/// Fault steps add their own gates (no acknowledged write lost) in the report.
pub(super) fn gates(e: Option<&Expectations>, steps: &[PlannedStep]) -> Gates {
    let verifies = steps.iter().any(|s| matches!(s.kind, StepKind::Verify));
    let Some(e) = e else {
        return Gates {
            integrity: verifies,
            linearizable: true,
            ..Gates::default()
        };
    };
    Gates {
        rto: e.rto,
        rto_verified: e.rto_verified,
        rpo: e.rpo,
        max_lost_acknowledged_writes: e.max_lost_acknowledged_writes,
        max_revision_gap: e.max_revision_gap,
        integrity: e.integrity.unwrap_or(verifies),
        snapshot_revision: e.snapshot_revision,
        snapshot_keys: e.snapshot_keys,
        keys_under: e.keys_under.clone().unwrap_or_default(),
        backup_max_age: e.backup_max_age,
        revisions_survive_restore: e.revisions_survive_restore.unwrap_or(false),
        linearizable: e.linearizable.unwrap_or(true),
    }
}

/// What the steps let the gates measure.
struct Measurable {
    restores: bool,
    verifies: bool,
    verifies_after_restore: bool,
    /// A restore from a snapshot or a backup: it rolls the cluster back.
    rolls_back: bool,
    /// A restore from a file or a store.
    from_file: bool,
    from_store: bool,
}

impl Measurable {
    fn of(steps: &[PlannedStep]) -> Self {
        fn restore(s: &PlannedStep) -> Option<&RestoreSource> {
            match &s.kind {
                StepKind::Restore { source, .. } => Some(source),
                _ => None,
            }
        }
        let verify = |s: &PlannedStep| matches!(s.kind, StepKind::Verify);
        let last_restore = steps.iter().rposition(|s| restore(s).is_some());
        Measurable {
            restores: last_restore.is_some(),
            verifies: steps.iter().any(verify),
            verifies_after_restore: last_restore.is_some_and(|r| steps.iter().skip(r).any(verify)),
            rolls_back: steps.iter().filter_map(restore).any(|x| !x.is_external()),
            from_file: steps.iter().filter_map(restore).any(|x| x.is_external()),
            from_store: steps
                .iter()
                .filter_map(restore)
                .any(|x| matches!(x, RestoreSource::Store { .. })),
        }
    }
}

pub(super) fn check_gates(
    s: &Scenario,
    g: &Gates,
    steps: &[PlannedStep],
    workload: bool,
    problems: &mut Vec<Problem>,
) {
    // A gate that cannot be measured is said at `expect`, where it was written.
    let at = s
        .expect
        .as_ref()
        .map_or(&s.name.referenced, |e| &e.referenced);
    let Measurable {
        restores,
        verifies,
        verifies_after_restore,
        rolls_back,
        from_file,
        from_store,
    } = Measurable::of(steps);
    let mut need = |ok: bool, gate: &str, what: &str| {
        if !ok {
            problems.push(Problem::at(
                at,
                format!("gate `expect.{gate}` cannot be measured: expected {what}"),
            ));
        }
    };
    for (set, gate) in [
        (g.rto.is_some(), "rto"),
        (g.rto_verified.is_some(), "rto-verified"),
    ] {
        need(!set || restores, gate, "a `restore` step");
    }
    need(
        g.rpo.is_none() || rolls_back,
        "rpo",
        "a `restore` from a snapshot or a backup after a disaster",
    );
    need(
        g.backup_max_age.is_none() || from_store,
        "backup-max-age",
        "a `restore: { store }`",
    );
    for (set, gate) in [
        (g.snapshot_revision.is_some(), "snapshot-revision"),
        (g.snapshot_keys.is_some(), "snapshot-keys"),
        (!g.keys_under.is_empty(), "keys-under"),
    ] {
        need(
            !set || (from_file && verifies),
            gate,
            "a `restore: { file }` or `restore: { store }` and a `verify` step",
        );
    }
    need(
        !g.revisions_survive_restore || (rolls_back && workload),
        "revisions-survive-restore",
        "a `restore` from a snapshot or a backup and a `workload` section",
    );
    need(
        g.max_revision_gap.is_none() || (restores && workload),
        "max-revision-gap",
        "a `restore` step and a `workload` section",
    );
    need(
        g.max_lost_acknowledged_writes.is_none() || (workload && verifies),
        "max-lost-acknowledged-writes",
        "a `workload` section and a `verify` step",
    );
    need(
        g.rto_verified.is_none() || !restores || verifies_after_restore,
        "rto-verified",
        "a `verify` step after the restore",
    );
    let explicit_integrity = s
        .expect
        .as_ref()
        .and_then(|e| e.value.integrity)
        .unwrap_or(false);
    need(
        !explicit_integrity || verifies,
        "integrity",
        "a `verify` step",
    );
}
