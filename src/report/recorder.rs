//! Builds the `RunReport` from the runner's events.

use super::*;
use crate::events::{EventKind, RunEvent, StepOutcome};
use crate::plan::Plan;
use crate::record::{
    Environment, RunReport, ScenarioInfo, StepRecord, StepStatus, Tool, Verdict, WorkloadReport,
    SCHEMA_VERSION,
};
use crate::util::{ms, utc};
use std::time::SystemTime;

pub struct Recorder {
    report: RunReport,
    gates: crate::plan::Gates,
    workload_plan: Option<crate::plan::WorkloadPlan>,
    monitoring: Option<crate::plan::MonitoringPlan>,
    known_bug: Option<crate::plan::KnownBugPlan>,
    started: SystemTime,
    failed: bool,
    setup_failed: bool,
    interrupted: bool,
}

impl Recorder {
    pub fn new(plan: &Plan, run_id: &str) -> Self {
        let now = SystemTime::now();
        let steps = plan
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| StepRecord {
                index: i + 1,
                step: s.kind.label(),
                status: StepStatus::NotRun,
                started_at: None,
                started_ms: None,
                duration_ms: None,
                failure: None,
                error: None,
            })
            .collect();
        let report = RunReport {
            schema_version: SCHEMA_VERSION,
            tool: Tool {
                name: env!("CARGO_PKG_NAME").to_string(),
                version: env!("CARGO_PKG_VERSION").to_string(),
            },
            run_id: run_id.to_string(),
            scenario: ScenarioInfo {
                name: plan.name.clone(),
                description: plan.description.clone(),
                path: plan.path.clone(),
                sha256: plan.sha256.clone(),
            },
            environment: Environment::default(),
            cluster: plan.cluster.clone(),
            rng_seed: plan.seed.as_ref().map(|s| s.rng_seed),
            started_at: utc(now),
            finished_at: utc(now),
            duration_ms: 0,
            steps,
            seed: None,
            snapshots: Vec::new(),
            disaster: None,
            restore: None,
            rpo: None,
            verification: None,
            faults: Vec::new(),
            upgrades: Vec::new(),
            backups: None,
            tls: None,
            workload: None,
            gates: Vec::new(),
            verdict: Verdict::Passed,
            error: None,
            evidence: None,
            alerts: None,
            known_bug: None,
        };
        Recorder {
            report,
            gates: plan.gates.clone(),
            workload_plan: plan.workload.clone(),
            monitoring: plan.monitoring.clone(),
            known_bug: plan.known_bug.clone(),
            started: now,
            failed: false,
            setup_failed: false,
            interrupted: false,
        }
    }

    pub fn on(&mut self, e: &RunEvent) {
        let r = &mut self.report;
        match &e.kind {
            EventKind::RunStarted { .. } => {
                self.started = e.at;
                r.started_at = utc(e.at);
            }
            EventKind::Environment { docker, image } => {
                r.environment.docker = Some(docker.clone());
                r.environment.image = Some(image.clone());
            }
            EventKind::ClusterHealthy(h) => {
                r.environment.etcd_version = Some(h.version.clone());
                r.environment.member_versions = h.versions.clone();
            }
            EventKind::StepStarted { index, .. } => {
                if let Some(s) = r.steps.get_mut(index - 1) {
                    s.started_at = Some(utc(e.at));
                    s.started_ms = Some(ms(e.elapsed));
                }
            }
            EventKind::StepFinished {
                index,
                duration,
                outcome,
                ..
            } => {
                if let Some(s) = r.steps.get_mut(index - 1) {
                    s.status = StepStatus::Passed;
                    s.duration_ms = Some(ms(*duration));
                }
                finished(r, outcome.as_ref());
            }
            EventKind::StepFailed {
                index,
                duration,
                error,
                kind,
                ..
            } => {
                self.failed = true;
                if let Some(s) = r.steps.get_mut(index - 1) {
                    s.status = StepStatus::Failed;
                    s.duration_ms = Some(ms(*duration));
                    s.error = Some(error.clone());
                    s.failure = Some(*kind);
                }
                r.error
                    .get_or_insert_with(|| format!("step {index} failed: {error}"));
            }
            EventKind::FaultObserved(f) => match r.faults.iter_mut().find(|x| x.name == f.name) {
                Some(x) => *x = f.as_ref().clone(),
                None => r.faults.push(f.as_ref().clone()),
            },
            EventKind::WorkloadStopped(log) => {
                r.workload = Some(WorkloadReport {
                    config: self.workload_plan.clone(),
                    log: log.as_ref().clone(),
                    phases: Vec::new(),
                    timeline: stats::timeline(log),
                })
            }
            EventKind::Interrupted => self.interrupted = true,
            EventKind::BackupsStopped(log) => r.backups = Some(log.clone()),
            EventKind::AlertsStopped(a) => r.alerts = Some((**a).clone()),
            EventKind::Tls(info) => r.tls = Some(info.clone()),
            EventKind::SetupFailed(error) => {
                self.setup_failed = true;
                r.error.get_or_insert_with(|| error.clone());
            }
            EventKind::Note(_)
            | EventKind::ClusterCreated { .. }
            | EventKind::Progress { .. }
            | EventKind::Kept { .. }
            | EventKind::TornDown { .. } => {}
        }
    }

    /// Ends the run now.
    pub fn finish(self) -> RunReport {
        self.finish_at(SystemTime::now())
    }

    /// Ends the run at `now`: a report rebuilt from recorded events is the same every time.
    pub fn finish_at(mut self, now: SystemTime) -> RunReport {
        let r = &mut self.report;
        r.finished_at = utc(now);
        r.duration_ms = now.duration_since(self.started).map(ms).unwrap_or(0);
        let end = r.duration_ms;
        let disturbances = disturbances(r);
        if let Some(w) = &mut r.workload {
            w.phases = stats::phases(&w.log, &disturbances, end);
        }
        let incidents = super::alerts::incidents(r);
        if let (Some(a), Some(m)) = (&mut r.alerts, &self.monitoring) {
            super::alerts::attribute(a, m, &incidents);
        }
        r.gates = evaluate(&self.gates, r);
        if let Some(m) = &self.monitoring {
            let alert_gates = super::alerts::gates(m, r);
            r.gates.extend(alert_gates);
        }
        if let Some(bug) = &self.known_bug {
            super::known_bug::judge(bug, r);
        }
        r.verdict = if self.interrupted {
            Verdict::Interrupted
        } else if self.setup_failed {
            Verdict::EnvironmentFailed
        } else if self.failed {
            Verdict::DrillFailed
        } else if r.gates.iter().all(|g| g.passed) {
            Verdict::Passed
        } else {
            Verdict::GateFailed
        };
        self.report
    }
}

/// The stretches of the run when something was broken: each fault until the cluster was
/// healthy again, and each disaster until the restored cluster took its first write.
fn disturbances(r: &RunReport) -> Vec<(u64, u64, String)> {
    let mut d: Vec<(u64, u64, String)> = r
        .faults
        .iter()
        .map(|f| {
            let end = f.recovered_ms.or(f.healed_ms).unwrap_or(r.duration_ms);
            (f.injected_ms, end, format!("{} {}", f.fault, f.target))
        })
        .collect();
    if let Some(dis) = &r.disaster {
        let end = r
            .restore
            .as_ref()
            .map(|x| dis.ended_ms + x.rto_first_write_ms)
            .unwrap_or(r.duration_ms);
        d.push((dis.started_ms, end, "disaster and restore".into()));
    }
    d
}

/// What a finished step adds to the report.
fn finished(r: &mut RunReport, outcome: &StepOutcome) {
    match outcome {
        StepOutcome::Healthy(h) => r.environment.etcd_version = Some(h.version.clone()),
        StepOutcome::Seeded(s) => r.seed = Some(s.clone()),
        StepOutcome::Snapshot(s) => r.snapshots.push(s.clone()),
        StepOutcome::Disaster(d) => r.disaster = Some(d.clone()),
        StepOutcome::Restored(x, rpo) => {
            r.rpo = rpo.clone();
            // A drill that starts by restoring meets its version here.
            if r.environment.etcd_version.is_none() {
                r.environment.etcd_version = x.etcd_version.clone();
            }
            r.restore = Some(x.clone());
        }
        StepOutcome::Verified(v, rpo) => {
            if rpo.is_some() {
                r.rpo = rpo.clone();
            }
            r.verification = Some(v.clone());
        }
        StepOutcome::Done(_) => {}
        StepOutcome::Upgraded(u) => r.upgrades.push(u.clone()),
        StepOutcome::Fault(f) => match r.faults.iter_mut().find(|x| x.name == f.name) {
            Some(x) => *x = f.clone(),
            None => r.faults.push(f.clone()),
        },
    }
}
