//! The walk through a scenario's steps, in order: what one step leaves for the next, and one
//! method per step kind that validates the step and resolves its defaults.

use super::faults::{self, FaultCx, FaultPlan};
use super::{PlannedStep, RestoreOptions, RestoreSource, StepKind};
use crate::scenario::fault_step;
use crate::scenario::{
    DamageBackupStep, DeletePrefixStep, DisasterStep, HealStep, Problem, RestoreStep, Scenario,
    SeedStep, SleepStep, SnapshotStep, Step, StoreChoice, StoreSpec, UpgradeStep, VerifyStep,
    WaitBackupsStep, WaitHealthyStep, WaitWritesStep,
};
use serde_saphyr::{Location, Spanned};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

const SECOND: Duration = Duration::from_secs(1);

/// The state carried from step to step; problems are pushed as they are found.
pub(super) struct Walk<'a> {
    s: &'a Scenario,
    /// The scenario file's folder; relative file paths in steps are relative to it.
    base: &'a Path,
    members: u32,
    /// Snapshots taken by earlier steps.
    snapshots: HashSet<&'a str>,
    /// Points named by earlier `delete-prefix` steps, for a restore's `before`.
    points: HashSet<String>,
    /// Faults named by earlier steps, default names included.
    faults_named: HashSet<String>,
    /// Faults without a `hold` that no `heal` or disaster has ended yet.
    open: Vec<(String, Location)>,
    cluster_up: bool,
    /// The etcd release the cluster runs at this point (`None`: an image from elsewhere).
    running: Option<&'static crate::versions::Release>,
    problems: &'a mut Vec<Problem>,
}

impl<'a> Walk<'a> {
    /// The state before the first step, after the checks of the step list as a whole.
    pub(super) fn start(s: &'a Scenario, base: &'a Path, problems: &'a mut Vec<Problem>) -> Self {
        if s.steps.is_empty() {
            problems.push(Problem::at(
                &s.steps.at,
                "expected at least one step under `steps`",
            ));
        }
        // A drill whose first step restores a file starts with no cluster.
        let cluster_up = !matches!(s.steps.first().map(|x| &x.value), Some(Step::Restore(r)) if r.file.is_some() || r.store.is_some());
        if !cluster_up && (s.workload.is_some() || s.backup.is_some()) {
            problems.push(Problem::at(&s.name.referenced, "a drill that starts by restoring a file has no cluster for a `workload` or a `backup` schedule to start on"));
        }
        Walk {
            s,
            base,
            members: s.cluster.members.value,
            snapshots: HashSet::new(),
            points: HashSet::new(),
            faults_named: HashSet::new(),
            open: Vec::new(),
            cluster_up,
            running: cluster_release(s),
            problems,
        }
    }

    /// The faults still in effect after the last step, with where each was started.
    pub(super) fn into_open(self) -> Vec<(String, Location)> {
        self.open
    }

    /// One step at `at`, the `index`th of the drill (counted from 1; default fault names use it).
    pub(super) fn step(&mut self, step: &'a Step, at: &Location, index: usize) -> PlannedStep {
        let (kind, timeout) = match step {
            Step::WaitHealthy(w) => self.wait_healthy(at, w),
            Step::Seed(st) => self.seed(at, st),
            Step::Snapshot(st) => self.snapshot(at, st),
            Step::Disaster(d) => self.disaster(at, d),
            Step::Restore(r) => self.restore(at, r),
            Step::DamageBackup(d) => self.damage_backup(at, d),
            Step::Verify(v) => self.verify(at, v),
            crate::scenario::fault_kinds!(fault_step) => self.fault(at, step, index),
            Step::Heal(h) => self.heal(h),
            Step::Sleep(sl) => self.sleep(at, sl),
            Step::WaitWrites(w) => self.wait_writes(at, w),
            Step::DeletePrefix(d) => self.delete_prefix(at, d, index),
            Step::WaitBackups(w) => self.wait_backups(at, w),
            Step::Upgrade(u) => self.upgrade(at, u),
        };
        PlannedStep { kind, timeout }
    }

    fn needs_cluster(&mut self, at: &Location, what: &str) {
        if !self.cluster_up {
            self.problems.push(Problem::at(at, format!(
                "`{what}` needs a running cluster, but a disaster destroyed it: expected a `restore` step first")));
        }
    }

    fn wait_healthy(&mut self, at: &Location, w: &WaitHealthyStep) -> (StepKind, Duration) {
        self.needs_cluster(at, "wait-healthy");
        (StepKind::WaitHealthy, w.timeout.unwrap_or(60 * SECOND))
    }

    fn seed(&mut self, at: &Location, st: &SeedStep) -> (StepKind, Duration) {
        self.needs_cluster(at, "seed");
        if self.s.seed.is_none() {
            self.problems.push(Problem::at(
                at,
                "`seed` step needs a top-level `seed:` section",
            ));
        }
        let keys = self.s.seed.as_ref().map(|x| x.keys.value).unwrap_or(0);
        // Generous: 1000 keys/s is 30× slower than the benchmark target.
        let default = (60 * SECOND).max(SECOND * (keys / 1000) as u32);
        (StepKind::Seed, st.timeout.unwrap_or(default))
    }

    fn snapshot(&mut self, at: &Location, st: &'a SnapshotStep) -> (StepKind, Duration) {
        self.needs_cluster(at, "snapshot");
        let name = &st.name;
        if !crate::plan::is_name(name.value.as_str()) {
            self.problems.push(Problem::at(
                &name.referenced,
                "expected a snapshot name of letters, digits, '-', '_' or '.'",
            ));
        } else if !self.snapshots.insert(&name.value) {
            self.problems.push(Problem::at(
                &name.referenced,
                format!(
                    "expected a unique snapshot name: {:?} is taken by an earlier step",
                    name.value
                ),
            ));
        }
        (
            StepKind::Snapshot {
                name: name.value.clone(),
            },
            st.timeout.unwrap_or(120 * SECOND),
        )
    }

    /// Destroys the cluster, and with it every fault still in effect.
    fn disaster(&mut self, at: &Location, d: &DisasterStep) -> (StepKind, Duration) {
        self.needs_cluster(at, "disaster");
        self.cluster_up = false;
        self.open.clear();
        (StepKind::Disaster, d.timeout.unwrap_or(60 * SECOND))
    }

    fn restore(&mut self, at: &Location, r: &RestoreStep) -> (StepKind, Duration) {
        if self.cluster_up {
            self.problems.push(Problem::at(
                at,
                "`restore` rebuilds a destroyed cluster: expected a `disaster` step before it",
            ));
        }
        let sources = [
            r.snapshot.is_some(),
            r.backup.is_some(),
            r.file.is_some(),
            r.store.is_some(),
        ];
        if sources.iter().filter(|x| **x).count() > 1 {
            self.problems.push(Problem::at(
                at,
                "expected exactly one of `snapshot`, `backup`, `file` or `store` in a restore",
            ));
        }
        if r.fallback.is_some() && r.backup.is_none() && r.store.is_none() {
            self.problems.push(Problem::at(
                at,
                "`fallback` applies to a restore from a `backup` or a `store` only",
            ));
        }
        if let Some(b) = r.before.as_ref().filter(|_| r.backup.is_none()) {
            self.problems.push(Problem::at(
                &b.referenced,
                "`before` applies to a restore from a `backup` only",
            ));
        }
        if r.store.is_none() {
            for (set, key) in [
                (r.pick.as_ref().map(|p| &p.referenced), "pick"),
                (r.at_revision.as_ref().map(|p| &p.referenced), "at-revision"),
                (r.at.as_ref().map(|p| &p.referenced), "at"),
            ] {
                if let Some(loc) = set {
                    self.problems.push(Problem::at(
                        loc,
                        format!("`{key}` applies to a restore from a `store` only"),
                    ));
                }
            }
        }
        let source = self.restore_source(at, r);
        let options = self.restore_options(r);
        self.cluster_up = true;
        (
            StepKind::Restore { source, options },
            r.timeout.unwrap_or(180 * SECOND),
        )
    }

    /// A rolling upgrade: to a version etcd-drill can build, on a path etcd supports from the
    /// version the cluster runs at this point of the drill.
    fn upgrade(&mut self, at: &Location, u: &UpgradeStep) -> (StepKind, Duration) {
        self.needs_cluster(at, "upgrade");
        let Some(to) = crate::versions::find(&u.to.value) else {
            self.problems.push(Problem::at(
                &u.to.referenced,
                crate::versions::expected_known(&u.to.value),
            ));
            return (
                StepKind::Sleep {
                    duration: Duration::ZERO,
                },
                SECOND,
            );
        };
        match self.running {
            Some(from) => {
                if let Err(e) = crate::versions::upgrade_path(from, to) {
                    self.problems.push(Problem::at(&u.to.referenced, e));
                }
            }
            None => self.problems.push(Problem::at(
                &u.to.referenced,
                "expected a cluster on a version etcd-drill knows (`cluster.version`) to upgrade",
            )),
        }
        self.running = Some(to);
        let per_member = 60 * SECOND;
        (
            StepKind::Upgrade {
                version: to.version.to_string(),
                image: to.image(),
            },
            u.timeout.unwrap_or(per_member * self.members),
        )
    }

    /// The restore's version and Kubernetes' revision bump, checked against what that version's
    /// etcdutl can do.
    fn restore_options(&mut self, r: &RestoreStep) -> RestoreOptions {
        let mut options = RestoreOptions::default();
        let mut target = self.running;
        if let Some(v) = &r.version {
            match crate::versions::find(&v.value) {
                Some(release) => {
                    options.image = Some(release.image());
                    target = Some(release);
                    self.running = Some(release);
                }
                None => self.problems.push(Problem::at(
                    &v.referenced,
                    crate::versions::expected_known(&v.value),
                )),
            }
        }
        let marked = r.mark_compacted.as_ref().is_some_and(|m| m.value);
        match (&r.bump_revision, &r.mark_compacted) {
            (Some(b), _) if b.value == 0 => self.problems.push(Problem::at(
                &b.referenced,
                "expected a bump-revision above 0 (leave it out for a plain restore)",
            )),
            (Some(b), _) if !marked => self.problems.push(Problem::at(
                &b.referenced,
                "expected `mark-compacted: true` with bump-revision (etcdutl requires both)",
            )),
            (None, Some(m)) if m.value => self.problems.push(Problem::at(
                &m.referenced,
                "expected bump-revision with mark-compacted (etcdutl allows it only then)",
            )),
            (Some(b), _) => {
                if let Some(t) = target.filter(|t| !t.can_bump_revision()) {
                    self.problems.push(Problem::at(
                        &b.referenced,
                        format!(
                            "etcd {} cannot restore with --bump-revision (3.5.10 and later can): \
                             set the cluster's or the restore's version",
                            t.version
                        ),
                    ));
                }
                options.bump_revision = Some(b.value);
            }
            _ => {}
        }
        options
    }

    /// A file alone, else a snapshot or a backup alone (a file beside them is reported above).
    fn restore_source(&mut self, at: &Location, r: &RestoreStep) -> RestoreSource {
        if let Some(store) = &r.store {
            return self.restore_store(store, r);
        }
        match (&r.snapshot, &r.backup, &r.file) {
            (None, None, Some(file)) => self.restore_file(file),
            (Some(snap), None, _) => {
                if !self.snapshots.contains(snap.value.as_str()) {
                    self.problems.push(Problem::at(
                        &snap.referenced,
                        format!(
                            "expected the name of a snapshot taken by an earlier step, found {:?}",
                            snap.value
                        ),
                    ));
                }
                RestoreSource::Snapshot(snap.value.clone())
            }
            (None, Some(pick), _) => {
                if self.s.backup.is_none() {
                    self.problems.push(Problem::at(
                        &pick.referenced,
                        "a restore from a backup needs a top-level `backup:` schedule",
                    ));
                }
                let incremental = self
                    .s
                    .backup
                    .as_ref()
                    .is_some_and(|b| b.value.delta_every.is_some());
                if let Some(d) = r.deltas.as_ref().filter(|d| d.value && !incremental) {
                    self.problems.push(Problem::at(
                        &d.referenced,
                        "`deltas: true` needs incremental backups (`delta-every` in `backup:`)",
                    ));
                }
                if let Some(b) = &r.before {
                    if !self.points.contains(&b.value) {
                        self.problems.push(Problem::at(
                            &b.referenced,
                            format!(
                                "expected the name of an earlier `delete-prefix` step, found {:?}",
                                b.value
                            ),
                        ));
                    }
                }
                RestoreSource::Backup {
                    pick: pick.value.clone(),
                    fallback: r.fallback.unwrap_or(false),
                    deltas: incremental && r.deltas.as_ref().is_none_or(|d| d.value),
                    before: r.before.as_ref().map(|b| b.value.clone()),
                }
            }
            _ => {
                self.problems.push(Problem::at(
                    at,
                    "expected exactly one of `snapshot` or `backup` in a restore",
                ));
                RestoreSource::Snapshot(String::new())
            }
        }
    }

    /// A store from outside: a local folder relative to the scenario's, that must exist; one
    /// choice of backup at most (a pick, or a point in time by revision or by time).
    fn restore_store(&mut self, store: &Spanned<StoreSpec>, r: &RestoreStep) -> RestoreSource {
        let mut spec = store.value.clone();
        if let StoreSpec::Local { dir } = &mut spec {
            let joined = self.base.join(&*dir);
            if !joined.is_dir() {
                self.problems.push(Problem::at(
                    &store.referenced,
                    format!(
                        "{} is not a folder (paths are relative to the scenario's folder)",
                        joined.display()
                    ),
                ));
            }
            // Absolute: a relative local store would be taken as under the run's folder.
            *dir = std::path::absolute(&joined).unwrap_or(joined);
        }
        let set = [r.pick.is_some(), r.at_revision.is_some(), r.at.is_some()];
        if set.iter().filter(|x| **x).count() > 1 {
            self.problems.push(Problem::at(
                &store.referenced,
                "expected at most one of `pick`, `at-revision` or `at` in a restore from a store",
            ));
        }
        let choice = match (&r.pick, &r.at_revision, &r.at) {
            (_, Some(n), _) => {
                if n.value < 1 {
                    self.problems.push(Problem::at(
                        &n.referenced,
                        format!("expected a revision of 1 or more, found {}", n.value),
                    ));
                }
                StoreChoice::AtRevision(n.value)
            }
            (_, None, Some(t)) => match humantime::parse_rfc3339_weak(&t.value) {
                Ok(when) => StoreChoice::AtTime(
                    when.duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_millis() as u64)
                        .unwrap_or(0),
                ),
                Err(e) => {
                    self.problems.push(Problem::at(
                        &t.referenced,
                        format!(
                            "expected a UTC time such as 2026-12-07T02:00:00Z, found {:?} ({e})",
                            t.value
                        ),
                    ));
                    StoreChoice::Newest
                }
            },
            (Some(p), None, None) => StoreChoice::parse(&p.value),
            (None, None, None) => StoreChoice::Newest,
        };
        RestoreSource::Store {
            store: spec,
            choice,
            fallback: r.fallback.unwrap_or(false),
            identity: None,
        }
    }

    /// A relative path is relative to the scenario file's folder.
    fn restore_file(&mut self, file: &Spanned<PathBuf>) -> RestoreSource {
        let f = file.value.clone();
        let f = if f.is_relative() {
            self.base.join(f)
        } else {
            f
        };
        if let Err(why) = snapshot_file(&f) {
            self.problems.push(Problem::at(&file.referenced, why));
        }
        RestoreSource::File(f)
    }

    fn damage_backup(&mut self, at: &Location, d: &DamageBackupStep) -> (StepKind, Duration) {
        if self.s.backup.is_none() {
            self.problems.push(Problem::at(
                at,
                "`damage-backup` needs a top-level `backup:` schedule",
            ));
        }
        // Only a store the run owns may be taken away: a relative local folder (inside the
        // run's folder). Never S3, never a directory the user named outright.
        let owned = self
            .s
            .backup
            .as_ref()
            .is_some_and(|b| match &b.value.store {
                None => true,
                Some(crate::scenario::StoreSpec::Local { dir }) => dir.is_relative(),
                Some(_) => false,
            });
        if let Some(w) = &d.which {
            let incremental = self
                .s
                .backup
                .as_ref()
                .is_some_and(|b| b.value.delta_every.is_some());
            let wants_delta = matches!(
                w.value,
                crate::scenario::DamageWhich::NewestDelta
                    | crate::scenario::DamageWhich::MiddleDelta
            );
            if wants_delta && !incremental {
                self.problems.push(Problem::at(
                    &w.referenced,
                    "a delta to damage needs incremental backups (`delta-every` in `backup:`)",
                ));
            }
            if d.name.is_some() {
                self.problems.push(Problem::at(
                    &w.referenced,
                    "expected one of `name` or `which`, not both",
                ));
            }
        }
        if d.how == crate::scenario::Damage::Unreachable && !owned {
            self.problems.push(Problem::at(at, "`how: unreachable` works on a local store inside the run's folder only (a relative `dir`): a drill never takes away a real store"));
        }
        (
            StepKind::DamageBackup {
                how: d.how,
                name: d.name.clone(),
                which: d.which.as_ref().map(|w| w.value).unwrap_or_default(),
            },
            60 * SECOND,
        )
    }

    fn verify(&mut self, at: &Location, v: &VerifyStep) -> (StepKind, Duration) {
        self.needs_cluster(at, "verify");
        (StepKind::Verify, v.timeout.unwrap_or(120 * SECOND))
    }

    /// A fault step of any kind: its kind checks its options (`plan::faults`), then the walk
    /// what every fault shares (a cluster to break, a unique name, a heal for an open one).
    fn fault(&mut self, at: &Location, step: &Step, index: usize) -> (StepKind, Duration) {
        let cx = FaultCx {
            scenario: self.s,
            members: self.members,
            index,
        };
        let Some((verb, plan, timeout)) = faults::plan_step(step, &cx, self.problems) else {
            // Only fault steps come here (`fault_step`).
            return (
                StepKind::Sleep {
                    duration: Duration::ZERO,
                },
                SECOND,
            );
        };
        self.needs_cluster(at, verb);
        self.start_fault(plan, timeout, at)
    }

    /// A fault's step: validated plan, default deadline (hold + 2 min to heal and recover).
    fn start_fault(
        &mut self,
        f: FaultPlan,
        timeout: Option<Duration>,
        at: &Location,
    ) -> (StepKind, Duration) {
        if !self.faults_named.insert(f.name.clone()) {
            self.problems.push(Problem::at(
                at,
                format!(
                    "expected a unique fault name: {:?} is taken by an earlier step",
                    f.name
                ),
            ));
        }
        if f.hold.is_none() {
            self.open.push((f.name.clone(), *at));
        }
        let t = timeout.unwrap_or(f.hold.unwrap_or_default().saturating_add(120 * SECOND));
        (StepKind::Fault(f), t)
    }

    fn heal(&mut self, h: &HealStep) -> (StepKind, Duration) {
        match self.open.iter().position(|(n, _)| *n == h.fault.value) {
            Some(i) => {
                self.open.remove(i);
            }
            None => self.problems.push(Problem::at(&h.fault.referenced, format!(
                "expected the name of a fault that is still in effect (named, without `hold`), found {:?}", h.fault.value))),
        }
        (
            StepKind::Heal {
                fault: h.fault.value.clone(),
            },
            h.timeout.unwrap_or(120 * SECOND),
        )
    }

    /// An operator's mistake: a prefix deleted, and the revision before it named as a point.
    fn delete_prefix(
        &mut self,
        at: &Location,
        d: &DeletePrefixStep,
        index: usize,
    ) -> (StepKind, Duration) {
        self.needs_cluster(at, "delete-prefix");
        if d.prefix.value.is_empty() {
            self.problems.push(Problem::at(
                &d.prefix.referenced,
                "expected a prefix that is not empty (an empty one would delete every key, \
                 the harness's own included)",
            ));
        }
        let name = match &d.name {
            Some(n) => {
                if !crate::plan::is_name(&n.value) {
                    self.problems.push(Problem::at(
                        &n.referenced,
                        "expected a name of letters, digits, '-', '_' or '.'",
                    ));
                }
                n.value.clone()
            }
            None => format!("delete-prefix-{index}"),
        };
        if !self.points.insert(name.clone()) {
            let loc = d.name.as_ref().map_or(at, |n| &n.referenced);
            self.problems.push(Problem::at(
                loc,
                format!("expected a unique name: {name:?} is taken by an earlier step"),
            ));
        }
        (
            StepKind::DeletePrefix {
                prefix: d.prefix.value.clone(),
                name,
            },
            d.timeout.unwrap_or(120 * SECOND),
        )
    }

    /// Waits for the workload's puts: a workload, and a cluster to write to.
    fn wait_writes(&mut self, at: &Location, w: &WaitWritesStep) -> (StepKind, Duration) {
        self.needs_cluster(at, "wait-writes");
        // A mix always puts (plan.rs refuses one that does not): a workload is enough.
        if self.s.workload.is_none() {
            self.problems.push(Problem::at(
                at,
                "`wait-writes` waits for the workload's writes: expected a `workload` section",
            ));
        }
        let count = w.count.value;
        if !(1..=1_000_000).contains(&count) {
            self.problems.push(Problem::at(
                &w.count.referenced,
                "expected a `count` from 1 to 1000000",
            ));
        }
        (
            StepKind::WaitWrites { count },
            w.timeout.unwrap_or(60 * SECOND),
        )
    }

    /// Waits for the schedule's backups: a schedule (with deltas, to wait for deltas), and a
    /// cluster it backs up.
    fn wait_backups(&mut self, at: &Location, w: &WaitBackupsStep) -> (StepKind, Duration) {
        self.needs_cluster(at, "wait-backups");
        let schedule = self.s.backup.as_ref().map(|b| &b.value);
        if schedule.is_none() {
            self.problems.push(Problem::at(
                at,
                "`wait-backups` waits for the schedule's backups: expected a top-level `backup:` schedule",
            ));
        }
        let fulls = w.fulls.as_ref().map_or(0, |f| f.value);
        let deltas = w.deltas.as_ref().map_or(0, |d| d.value);
        if let Some(d) = w.deltas.as_ref().filter(|d| d.value > 0) {
            if schedule.is_some_and(|b| b.delta_every.is_none()) {
                self.problems.push(Problem::at(
                    &d.referenced,
                    "expected `deltas` only with a schedule that has `delta-every`",
                ));
            }
        }
        for (n, what) in [(&w.fulls, "fulls"), (&w.deltas, "deltas")] {
            if let Some(n) = n.as_ref().filter(|n| n.value > 1000) {
                self.problems.push(Problem::at(
                    &n.referenced,
                    format!("expected `{what}` of at most 1000"),
                ));
            }
        }
        if fulls == 0 && deltas == 0 {
            self.problems.push(Problem::at(
                at,
                "expected `fulls` or `deltas` above 0: what to wait for",
            ));
        }
        (
            StepKind::WaitBackups { fulls, deltas },
            w.timeout.unwrap_or(120 * SECOND),
        )
    }

    fn sleep(&mut self, at: &Location, sl: &SleepStep) -> (StepKind, Duration) {
        if sl.duration > 3600 * SECOND {
            self.problems
                .push(Problem::at(at, "expected a sleep of at most 1h"));
        }
        (
            StepKind::Sleep {
                duration: sl.duration,
            },
            sl.duration.saturating_add(5 * SECOND),
        )
    }
}

/// The release the scenario's cluster runs, when etcd-drill knows it (a version, one of its own
/// images, or the default); `None` for an image from elsewhere.
/// In a mixed-version cluster, the lowest version (what an upgrade starts from).
fn cluster_release(s: &Scenario) -> Option<&'static crate::versions::Release> {
    let main = match (&s.cluster.version, &s.cluster.image) {
        (Some(v), _) => crate::versions::find(&v.value),
        (None, Some(i)) => crate::versions::of_image(&i.value),
        (None, None) => Some(crate::versions::default_release()),
    }?;
    let members = s.cluster.member_versions.as_ref().map(|m| &m.value);
    Some(
        members
            .into_iter()
            .flat_map(|m| m.values())
            .filter_map(|v| crate::versions::find(v))
            .chain([main])
            .min_by_key(|r| r.number())
            .unwrap_or(main),
    )
}

/// Whether `f` can be an etcd snapshot file: it exists, is a file, and begins as bbolt's
/// database does (its first meta page's magic number; the snapshot's own checks run when it is
/// restored). Its first bytes only: a file of any size is judged at once.
pub(super) fn snapshot_file(f: &std::path::Path) -> Result<(), String> {
    use std::io::Read;
    /// bbolt's magic number, in each meta page after the 16-byte page header.
    const BOLT_MAGIC: u32 = 0xED0C_DAED;
    let shown = f.display();
    match std::fs::metadata(f) {
        Err(_) => {
            return Err(format!(
                "{shown} does not exist (paths are relative to the scenario's folder)"
            ))
        }
        Ok(m) if !m.is_file() => return Err(format!("{shown} is not a file")),
        Ok(_) => {}
    }
    let mut head = [0u8; 20];
    let read = std::fs::File::open(f).and_then(|mut file| file.read_exact(&mut head));
    let magic = u32::from_le_bytes([head[16], head[17], head[18], head[19]]);
    if read.is_err() || magic != BOLT_MAGIC {
        return Err(format!(
            "expected an etcd snapshot file (a bbolt database, as `etcdctl snapshot save` writes it), but {shown} is not one"
        ));
    }
    Ok(())
}
