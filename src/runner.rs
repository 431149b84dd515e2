//! The runner: sets up the sandbox and cluster, runs the plan's steps in order under their
//! deadlines, and tears everything down on every path (success, failure, Ctrl-C). It never
//! prints; it emits `RunEvent`s.

use crate::cluster::{wait_healthy, Cluster};
use crate::events::{Clock, EventKind, RunEvent};
use crate::monitoring::Monitoring;
use crate::plan::Plan;
use crate::sandbox::{Runtime, Sandbox};
use crate::steps::{self, Ctx};
use crate::workload::Workload;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// When to keep the sandbox for forensics instead of removing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    Never,
    OnFailure,
    Always,
}

pub struct RunOptions {
    pub run_id: String,
    /// `reports/<run-id>`: snapshots and the report go here.
    pub run_dir: PathBuf,
    pub keep: Keep,
    /// How network faults reach the members (decided before the run, see `faults::netns`).
    pub net_via: crate::sandbox::NetVia,
}

/// A fresh run id: UTC time plus randomness, so two runs at once never collide.
pub fn new_run_id() -> String {
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let stamp: String = now.chars().filter(|c| c.is_ascii_digit()).collect();
    format!(
        "{}-{:04x}",
        &stamp[..stamp.len().min(14)],
        rand::random::<u16>()
    )
}

/// Runs a drill. Returns whether any step (or the set-up) failed; the details are in the events.
pub async fn run(
    plan: &Plan,
    runtime: Arc<dyn Runtime>,
    opts: &RunOptions,
    cancel: CancellationToken,
    emit: &mut (dyn FnMut(RunEvent) + Send),
) -> bool {
    let clock = Clock::start();
    emit(clock.event(EventKind::RunStarted {
        run_id: opts.run_id.clone(),
        scenario: plan.name.clone(),
    }));
    let sandbox = Arc::new(Sandbox::new(runtime, &opts.run_id).with_net_via(opts.net_via.clone()));
    let token = format!("{}-r0", opts.run_id);
    let mut cluster = Cluster::new(sandbox.clone(), plan.cluster.clone(), token);
    if plan.cluster.tls {
        let names = crate::plan::member_names(plan.cluster.members);
        let engine = sandbox.runtime.engine_address();
        match crate::tls::TlsFiles::generate(&opts.run_dir.join("tls"), &names, &engine) {
            Ok(files) => cluster.tls = Some(Arc::new(files)),
            Err(e) => {
                emit(clock.event(EventKind::SetupFailed(crate::util::error_chain(&e))));
                finish(&sandbox, opts, true, &clock, emit).await;
                return true;
            }
        }
    }

    let setup = tokio::select! {
        _ = cancel.cancelled() => Err(None),
        r = tokio::time::timeout(Duration::from_secs(120), set_up(&sandbox, &mut cluster, plan, clock, &opts.run_dir)) => match r {
            Ok(Ok(health)) => Ok(health),
            Ok(Err(e)) => Err(Some(e)),
            Err(_) => Err(Some("the cluster was not up and healthy within 120s".to_string())),
        },
    };
    let mut failed = false;
    match setup {
        Err(None) => emit(clock.event(EventKind::Interrupted)),
        Err(Some(e)) => {
            failed = true;
            emit(clock.event(EventKind::SetupFailed(e)));
        }
        Ok((health, monitoring)) => {
            if let Some(health) = health {
                let members = cluster
                    .members
                    .iter()
                    .map(|m| (m.name.clone(), m.endpoint()))
                    .collect();
                emit(clock.event(EventKind::ClusterCreated { members }));
                emit(clock.event(EventKind::ClusterHealthy(health)));
            }
            if let (Some(tls), Some(first)) = (&cluster.tls, cluster.members.first()) {
                emit(clock.event(EventKind::Tls(tls.info(&first.endpoint()))));
            }
            let scene = (sandbox.clone(), cluster, monitoring);
            failed = run_steps(plan, clock, scene, opts, &cancel, emit).await;
        }
    }
    finish(
        &sandbox,
        opts,
        failed || cancel.is_cancelled(),
        &clock,
        emit,
    )
    .await;
    failed
}

/// The network; then at once the cluster (unless the drill starts by restoring one from a
/// file) and, for an alert drill, the monitoring, which does not wait for the cluster.
async fn set_up(
    sandbox: &Arc<Sandbox>,
    cluster: &mut Cluster,
    plan: &Plan,
    clock: Clock,
    run_dir: &std::path::Path,
) -> Result<(Option<crate::record::Health>, Option<Monitoring>), String> {
    sandbox.create_network().await.map_err(|e| e.to_string())?;
    let empty = plan.starts_empty();
    let cluster_up = async {
        if empty {
            return Ok(None);
        }
        cluster.create().await.map_err(|e| e.to_string())?;
        wait_healthy(cluster, Duration::from_secs(60))
            .await
            .map(Some)
            .map_err(|e| e.to_string())
    };
    let members = crate::plan::member_names(plan.cluster.members);
    let monitoring = async {
        match &plan.monitoring {
            None => Ok(None),
            Some(m) => {
                let scene = (members.as_slice(), !empty);
                Monitoring::launch(m, sandbox.clone(), scene, clock, run_dir)
                    .await
                    .map(Some)
            }
        }
    };
    // The first to fail ends the set-up: a monitoring that did not start does not wait for the
    // cluster's health.
    tokio::try_join!(cluster_up, monitoring)
}

/// The client the steps share, and the workload started on the cluster (if any).
async fn begin(
    plan: &Plan,
    cluster: &Cluster,
    clock: Clock,
    run_dir: &std::path::Path,
) -> Result<(etcd_client::Client, Option<Workload>), String> {
    if plan.starts_empty() {
        // Nothing to talk to until the first step restores a cluster, which replaces this
        // (lazily connecting, never used) client.
        let none = crate::cluster::connect(&["http://127.0.0.1:1".to_string()])
            .await
            .map_err(|e| e.to_string())?;
        return Ok((none, None));
    }
    let client = cluster.client().await.map_err(|e| e.to_string())?;
    let Some(w) = plan.workload.clone() else {
        return Ok((client, None));
    };
    let clients = cluster.member_clients().await.map_err(|e| e.to_string())?;
    let mut c = client.clone();
    let head = crate::cluster::within(
        "get",
        "the cluster",
        Duration::from_secs(5),
        c.get("/drill/health", None),
    );
    let start_revision = head
        .await
        .map_err(|e| e.to_string())?
        .header()
        .map(|h| h.revision())
        .unwrap_or(0)
        + 1;
    let seed = plan.seed.as_ref().map(|s| s.rng_seed).unwrap_or(1);
    let clients = clients.into_iter().map(|(_, c)| c).collect();
    Ok((
        client,
        Some(Workload::start(
            w,
            clients,
            clock.t0,
            seed,
            start_revision,
            &run_dir.join("history.jsonl"),
        )),
    ))
}

async fn run_steps(
    plan: &Plan,
    clock: Clock,
    (sandbox, cluster, mut monitoring): (Arc<Sandbox>, Cluster, Option<Monitoring>),
    opts: &RunOptions,
    cancel: &CancellationToken,
    emit: &mut (dyn FnMut(RunEvent) + Send),
) -> bool {
    let (client, workload) = match begin(plan, &cluster, clock, &opts.run_dir).await {
        Ok(x) => x,
        Err(e) => {
            emit(clock.event(EventKind::SetupFailed(e)));
            if let Some(m) = monitoring {
                m.stop(&opts.run_dir).await;
            }
            return true;
        }
    };
    let mut ctx = begin_ctx(
        plan,
        clock,
        sandbox,
        cluster,
        (client, workload),
        opts,
        emit,
    );
    if let Err(e) = start_backups(&mut ctx, opts) {
        ctx.emit(EventKind::SetupFailed(e));
        end(&mut ctx, monitoring, opts).await;
        return true;
    }
    let total = plan.steps.len();
    let mut failed = false;
    for (i, step) in plan.steps.iter().enumerate() {
        let index = i + 1;
        let label = step.kind.label();
        if let (true, Some(m)) = (step.kind.disturbs(), monitoring.as_mut()) {
            let watching = tokio::select! {
                _ = cancel.cancelled() => None,
                w = m.watch(&opts.run_dir) => Some(w),
            };
            match watching {
                None => {
                    ctx.emit(EventKind::Interrupted);
                    break;
                }
                Some(Err(e)) => {
                    failed = true;
                    ctx.emit(EventKind::SetupFailed(e));
                    break;
                }
                Some(Ok(())) => {}
            }
        }
        ctx.emit(EventKind::StepStarted {
            index,
            total,
            label: label.clone(),
        });
        let start = Instant::now();
        ctx.waiting = None;
        let result = tokio::select! {
            _ = cancel.cancelled() => None,
            r = tokio::time::timeout(step.timeout, steps::run(&mut ctx, step, index)) => Some(r),
        };
        let duration = start.elapsed();
        match result {
            None => {
                ctx.emit(EventKind::Interrupted);
                break;
            }
            Some(Ok(Ok(outcome))) => ctx.emit(EventKind::StepFinished {
                index,
                label,
                duration,
                outcome: Box::new(outcome),
            }),
            Some(Ok(Err(e))) => {
                failed = true;
                ctx.emit(EventKind::StepFailed {
                    index,
                    label,
                    duration,
                    error: crate::util::error_chain(&e),
                    kind: e.kind(),
                });
                break;
            }
            Some(Err(_)) => {
                failed = true;
                // What the step was waiting for when its time ran out, where it says.
                let waiting = ctx.waiting.take().map_or(String::new(), |(what, since)| {
                    format!(
                        " while waiting for {what} (for {:.1}s)",
                        since.elapsed().as_secs_f64()
                    )
                });
                let limit = humantime::format_duration(step.timeout);
                let error = format!("deadline of {limit} exceeded{waiting}");
                ctx.emit(EventKind::StepFailed {
                    index,
                    label,
                    duration,
                    error,
                    kind: crate::record::FailureKind::Deadline,
                });
                break;
            }
        }
    }
    end(&mut ctx, monitoring, opts).await;
    failed
}

/// What the steps share, before the first one.
fn begin_ctx<'e>(
    plan: &Plan,
    clock: Clock,
    sandbox: Arc<Sandbox>,
    cluster: Cluster,
    (client, workload): (etcd_client::Client, Option<Workload>),
    opts: &RunOptions,
    emit: &'e mut (dyn FnMut(RunEvent) + Send),
) -> Ctx<'e> {
    Ctx {
        plan: plan.clone(),
        clock,
        sandbox,
        cluster,
        client,
        workload,
        run_dir: opts.run_dir.clone(),
        snapshots: Vec::new(),
        disaster: None,
        restore: None,
        rpo: None,
        seeded: false,
        points: Vec::new(),
        file_keyspace: None,
        open_faults: Default::default(),
        backups: None,
        waiting: None,
        emit,
    }
}

/// The backup schedule, when the drill keeps one; `Err` with why its store did not open.
fn start_backups(ctx: &mut Ctx<'_>, opts: &RunOptions) -> Result<(), String> {
    let Some(b) = &ctx.plan.backup else {
        return Ok(());
    };
    let store = crate::backup::store::Store::open(&b.store, &opts.run_dir)
        .map_err(|e| crate::util::error_chain(&e))?;
    let sched = crate::backup::schedule::Schedule::start(
        b.clone(),
        store,
        ctx.sandbox.clone(),
        ctx.cluster.plan.image.clone(),
        ctx.cluster.endpoints(),
        opts.run_dir.clone(),
        ctx.clock,
    );
    ctx.backups = Some(sched);
    Ok(())
}

/// The end of the steps: open faults stop being watched (teardown removes them), the workload
/// stops and its history is checked, the backup schedule stops, the monitoring says what it
/// raised.
async fn end(ctx: &mut Ctx<'_>, monitoring: Option<Monitoring>, opts: &RunOptions) {
    if let Some(m) = monitoring {
        let alerts = m.stop(&opts.run_dir).await;
        ctx.emit(EventKind::AlertsStopped(Box::new(alerts)));
    }
    for (_, open) in ctx.open_faults.drain() {
        open.abandon();
    }
    if let Some(w) = ctx.workload.take() {
        let (mut log, history) = w.stop().await;
        log.linearizability = Some(check_history(history).await);
        ctx.emit(EventKind::WorkloadStopped(Box::new(log)));
    }
    if let Some(b) = ctx.backups.take() {
        let log = b.stop().await;
        ctx.emit(EventKind::BackupsStopped(log));
    }
}

/// How long the linearizability check of the history may take.
const LINEARIZABILITY_BUDGET: Duration = Duration::from_secs(120);

/// The whole recorded history, checked for linearizability (on a blocking thread: it is CPU
/// work); `unknown` when there is no history to check.
async fn check_history(
    history: Result<std::path::PathBuf, String>,
) -> crate::record::LinearizabilityRecord {
    let checked = match history {
        Ok(path) => tokio::task::spawn_blocking(move || {
            crate::checks::linearizable::check_file(&path, LINEARIZABILITY_BUDGET)
        })
        .await
        .map_err(|e| e.to_string()),
        Err(why) => Err(why),
    };
    checked.unwrap_or_else(|why| {
        crate::record::LinearizabilityRecord::unknown(format!("no history: {why}"))
    })
}

async fn finish(
    sandbox: &Sandbox,
    opts: &RunOptions,
    failed: bool,
    clock: &Clock,
    emit: &mut (dyn FnMut(RunEvent) + Send),
) {
    let keep = match opts.keep {
        Keep::Always => true,
        Keep::OnFailure => failed,
        Keep::Never => false,
    };
    if keep {
        let hint = format!(
            "sandbox kept: network {net}; containers labelled etcd-drill.run-id={id} \
             (docker ps --filter label=etcd-drill.run-id={id}); inspect a member with \
             `docker exec <container> etcdctl endpoint status --cluster -w table`; \
             remove it with `etcd-drill clean --run-id {id}`",
            net = sandbox.network,
            id = sandbox.run_id
        );
        emit(clock.event(EventKind::Kept { hint }));
        return;
    }
    let mut leftovers: Vec<String> = sandbox
        .teardown()
        .await
        .iter()
        .map(|e| crate::util::error_chain(e))
        .collect();
    // The cluster is gone: its TLS private keys go too (kept with the sandbox by --keep).
    if let Err(e) = crate::tls::TlsFiles::remove_keys(&opts.run_dir.join("tls")) {
        leftovers.push(format!(
            "TLS private keys in {}: {e}",
            opts.run_dir.display()
        ));
    }
    emit(clock.event(EventKind::TornDown { leftovers }));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::EventKind;
    use crate::sandbox::fake::FakeRuntime;

    fn plan() -> Plan {
        let yaml = "name: t\ncluster:\n  members: 3\nsteps:\n  - sleep: { duration: 1s }\n";
        let file = crate::scenario::load_str(std::path::Path::new("t.yaml"), yaml).unwrap();
        crate::plan::plan(file).unwrap()
    }

    /// Runs the one-sleep plan on the fake runtime; returns (failed, event kinds).
    async fn drill(
        fake: &Arc<FakeRuntime>,
        run_id: &str,
        keep: Keep,
        cancel: CancellationToken,
    ) -> (bool, Vec<EventKind>) {
        drill_plan(&plan(), fake, run_id, (keep, &std::env::temp_dir()), cancel).await
    }

    async fn drill_plan(
        plan: &Plan,
        fake: &Arc<FakeRuntime>,
        run_id: &str,
        (keep, run_dir): (Keep, &std::path::Path),
        cancel: CancellationToken,
    ) -> (bool, Vec<EventKind>) {
        let opts = RunOptions {
            run_id: run_id.into(),
            run_dir: run_dir.to_path_buf(),
            keep,
            net_via: Default::default(),
        };
        let mut events = Vec::new();
        let failed = run(plan, fake.clone(), &opts, cancel, &mut |e| {
            events.push(e.kind)
        })
        .await;
        (failed, events)
    }

    #[tokio::test]
    async fn a_monitoring_that_fails_to_start_fails_the_set_up_at_once_and_keeps_its_logs() {
        let yaml = "name: t\ncluster:\n  members: 3\nmonitoring: {}\nsteps:\n  - sleep: { duration: 1s }\n";
        let file = crate::scenario::load_str(std::path::Path::new("t.yaml"), yaml).unwrap();
        let plan = crate::plan::plan(file).unwrap();
        let fake = Arc::new(FakeRuntime::default());
        *fake.fail.lock().unwrap() = Some(("start container", "prometheus".into()));
        let dir = tempfile::tempdir().unwrap();
        let started = Instant::now();
        let run = drill_plan(
            &plan,
            &fake,
            "x4",
            (Keep::Never, dir.path()),
            Default::default(),
        );
        let (failed, events) = run.await;
        assert!(failed);
        let said = events.iter().find_map(|k| match k {
            EventKind::SetupFailed(e) => Some(e.clone()),
            _ => None,
        });
        let said = said.expect("the set-up failed");
        assert!(said.contains("monitoring did not start"), "{said}");
        assert!(said.contains("prometheus"), "{said}");
        // The fake members never answer: the set-up did not sit in wait-healthy for them.
        assert!(started.elapsed() < Duration::from_secs(30));
        for log in ["prometheus.log", "alertmanager.log"] {
            assert!(dir.path().join(log).is_file(), "{log} kept");
        }
        assert_eq!(
            fake.all(),
            crate::sandbox::Resources::default(),
            "everything created was removed"
        );
    }

    #[tokio::test]
    async fn a_member_that_fails_to_start_leaves_nothing_behind() {
        let fake = Arc::new(FakeRuntime::default());
        *fake.fail.lock().unwrap() = Some(("start container", "etcd-2".into()));
        let (failed, events) = drill(&fake, "x1", Keep::Never, CancellationToken::new()).await;
        assert!(failed);
        assert!(events
            .iter()
            .any(|k| matches!(k, EventKind::SetupFailed(e) if e.contains("etcd-2"))));
        assert!(
            fake.calls()
                .iter()
                .any(|c| c.starts_with("create container")),
            "set-up got as far as containers"
        );
        assert_eq!(
            fake.all(),
            crate::sandbox::Resources::default(),
            "everything created was removed"
        );
    }

    #[tokio::test]
    async fn keep_on_failure_keeps_the_scene_and_says_how_to_reach_it() {
        let fake = Arc::new(FakeRuntime::default());
        *fake.fail.lock().unwrap() = Some(("start container", "etcd-1".into()));
        let (_, events) = drill(&fake, "x2", Keep::OnFailure, CancellationToken::new()).await;
        assert!(events
            .iter()
            .any(|k| matches!(k, EventKind::Kept { hint } if hint.contains("clean --run-id x2"))));
        assert_eq!(fake.all().networks, vec!["etcd-drill-x2"]);
    }

    #[tokio::test]
    async fn a_cancelled_run_tears_down() {
        let fake = Arc::new(FakeRuntime::default());
        let cancel = CancellationToken::new();
        let later = cancel.clone();
        // The fake members never answer, so set-up sits in wait-healthy until the signal.
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            later.cancel();
        });
        let (_, events) = drill(&fake, "x3", Keep::Never, cancel).await;
        assert!(events.iter().any(|k| matches!(k, EventKind::Interrupted)));
        assert_eq!(
            fake.calls()
                .iter()
                .filter(|c| c.starts_with("start container"))
                .count(),
            3
        );
        assert!(events
            .iter()
            .any(|k| matches!(k, EventKind::TornDown { .. })));
        assert!(fake.all().networks.is_empty());
    }
}
