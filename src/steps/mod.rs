//! The drill's steps, one file each, dispatched by one `match`. A step gets the run's context,
//! does its work under the runner's deadline and returns what it measured.

mod damage_backup;
mod delete_prefix;
mod disaster;
mod fault;
mod health_sampler;
mod restore;
mod seed;
mod sleep;
mod snapshot;
mod upgrade;
mod verify;
mod wait_backups;
mod wait_healthy;
mod wait_writes;

pub use fault::OpenFault;

use crate::cluster::{Cluster, ClusterError};
use crate::events::{Clock, EventKind, RunEvent, StepOutcome};
use crate::plan::{Plan, PlannedStep, StepKind};
use crate::record::FailureKind;
use crate::record::{DisasterRecord, RestoreRecord, SnapshotRecord};
use crate::restore_files::RestoreError;
use crate::sandbox::{Sandbox, SandboxError};
use crate::snapshot_file::SnapshotError;
use crate::workload::Workload;
use etcd_client::Client;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error(transparent)]
    Restore(#[from] RestoreError),
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    #[error(transparent)]
    Fault(#[from] crate::faults::FaultError),
    #[error(transparent)]
    Backup(#[from] crate::backup::BackupError),
    /// What the step needs is not there (a snapshot by that name, a backup schedule, an open
    /// fault): the plan forbids most of these, so this is a drill written against itself.
    #[error("{0}")]
    Precondition(String),
}

impl StepError {
    /// What kind of failure this is, for the report.
    pub fn kind(&self) -> FailureKind {
        match self {
            StepError::Cluster(_) => FailureKind::Cluster,
            StepError::Snapshot(_) => FailureKind::Snapshot,
            StepError::Restore(_) => FailureKind::Restore,
            StepError::Sandbox(_) => FailureKind::Sandbox,
            StepError::Fault(_) => FailureKind::Fault,
            StepError::Backup(_) => FailureKind::Backup,
            StepError::Precondition(_) => FailureKind::Precondition,
        }
    }
}

/// What the steps share: the plan, the sandbox, the live cluster and what earlier steps left.
pub struct Ctx<'e> {
    pub plan: Plan,
    pub clock: Clock,
    pub sandbox: Arc<Sandbox>,
    pub cluster: Cluster,
    /// A client to every member of the current cluster.
    pub client: Client,
    pub workload: Option<Workload>,
    pub run_dir: PathBuf,
    pub snapshots: Vec<SnapshotRecord>,
    pub disaster: Option<DisasterRecord>,
    pub restore: Option<RestoreRecord>,
    /// What the last restore gave up; `verify` adds the acknowledged writes it rolled back.
    pub rpo: Option<crate::record::Rpo>,
    pub seeded: bool,
    /// A snapshot from outside, its live keys counted from its file while the members restored
    /// it: (the snapshot's name, the summary at its revision).
    pub file_keyspace: Option<(String, crate::record::KeyspaceSummary)>,
    /// Points in time named by `delete-prefix` steps.
    pub points: Vec<crate::events::Point>,
    /// Faults injected without a hold, waiting for their `heal` step.
    pub open_faults: std::collections::HashMap<String, OpenFault>,
    /// The backup schedule, when the scenario has one.
    pub backups: Option<crate::backup::schedule::Schedule>,
    /// What the current step waits for now, and since when: a deadline error names it.
    pub waiting: Option<(String, std::time::Instant)>,
    pub emit: &'e mut (dyn FnMut(RunEvent) + Send),
}

impl Ctx<'_> {
    /// Says what the step waits for from now on (a deadline that runs out names it).
    pub fn waiting_for(&mut self, what: impl Into<String>) {
        self.waiting = Some((what.into(), std::time::Instant::now()));
    }

    pub fn emit(&mut self, kind: EventKind) {
        let e = self.clock.event(kind);
        (self.emit)(e);
    }

    /// Runs `work`, emitting `Progress` from `done` every 200 ms and once at the end.
    pub async fn with_progress<T>(
        &mut self,
        phase: &'static str,
        unit: &'static str,
        total: u64,
        done: &AtomicU64,
        work: impl std::future::Future<Output = T>,
    ) -> T {
        tokio::pin!(work);
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(200));
        let progress = |done: u64| EventKind::Progress {
            phase,
            unit,
            done,
            total,
        };
        let out = loop {
            tokio::select! {
                r = &mut work => break r,
                _ = tick.tick() => self.emit(progress(done.load(Ordering::Relaxed))),
            }
        };
        self.emit(progress(done.load(Ordering::Relaxed)));
        out
    }
}

/// Holds the workload's compactions (`compact-every`), if a workload runs, until the guard is
/// dropped: for a step that reads the keyspace or hashes it at a revision it chose, which a
/// compaction must not pass meanwhile.
async fn hold_compaction(ctx: &Ctx<'_>) -> Option<tokio::sync::OwnedMutexGuard<()>> {
    match &ctx.workload {
        Some(w) => Some(w.hold_compaction().await),
        None => None,
    }
}

/// Points the workload at the current members (after a restart, a re-add or a restore).
async fn repoint_workload(
    ctx: &Ctx<'_>,
    restored: Option<crate::workload::Restored>,
) -> Result<(), StepError> {
    if let Some(w) = &ctx.workload {
        let clients = ctx
            .cluster
            .member_clients()
            .await?
            .into_iter()
            .map(|(_, c)| c)
            .collect();
        w.set_clients(clients, restored);
    }
    if let Some(b) = &ctx.backups {
        b.set_endpoints(ctx.cluster.endpoints(), restored.is_some());
    }
    Ok(())
}

pub async fn run(
    ctx: &mut Ctx<'_>,
    step: &PlannedStep,
    index: usize,
) -> Result<StepOutcome, StepError> {
    match &step.kind {
        StepKind::WaitHealthy => wait_healthy::run(ctx, step.timeout).await,
        StepKind::Seed => seed::run(ctx).await,
        StepKind::Snapshot { name } => snapshot::run(ctx, name, step.timeout).await,
        StepKind::Disaster => disaster::run(ctx).await,
        StepKind::Restore { source, options } => {
            restore::run(ctx, source, options, step.timeout).await
        }
        StepKind::DamageBackup { how, name, which } => {
            damage_backup::run(ctx, *how, (name.as_deref(), *which)).await
        }
        StepKind::Verify => verify::run(ctx).await,
        StepKind::Sleep { duration } => sleep::run(*duration).await,
        StepKind::WaitWrites { count } => wait_writes::run(ctx, *count).await,
        StepKind::DeletePrefix { prefix, name } => delete_prefix::run(ctx, prefix, name).await,
        StepKind::WaitBackups { fulls, deltas } => wait_backups::run(ctx, *fulls, *deltas).await,
        StepKind::Fault(plan) => fault::run(ctx, plan, index).await,
        StepKind::Upgrade { version, image } => upgrade::run(ctx, version, image).await,
        StepKind::Heal { fault } => fault::heal(ctx, fault).await,
    }
}
