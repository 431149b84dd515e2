//! Drills from start to end, between the command line and the runner: the checks before
//! anything starts (`preflight`), the images, each run with its evidence chain, then what a
//! run leaves (`publish`: the run directory, the signature, the webhook, the Pushgateway), and
//! the combined JUnit file. It prints nothing: every line goes to an `Output`, which the
//! command line prints.

mod preflight;
mod publish;

use crate::events::RunEvent;
use crate::evidence::{chain, sign::Signer};
use crate::exit_codes;
use crate::plan::Plan;
use crate::record::RunReport;
use crate::report::Recorder;
use crate::runner::{self, Keep, RunOptions};
use crate::sandbox::docker::DockerRuntime;
use crate::sandbox::{NetVia, Runtime};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// What the operator asked of the runs (the command line's flags, resolved).
#[derive(Debug, Clone)]
pub struct Options {
    /// Where `<run-id>/` goes.
    pub report_dir: PathBuf,
    pub keep: Keep,
    /// etcd binaries to build an image from.
    pub etcd_bin_dir: Option<PathBuf>,
    /// The minisign secret key that signs each run's manifest.
    pub sign_key: Option<PathBuf>,
    /// The previous run, when it is not in `report_dir`.
    pub previous: Option<PathBuf>,
    pub pushgateway: Option<String>,
    /// The age identity that decrypts encrypted backups.
    pub identity: Option<PathBuf>,
    /// Stop after the first drill that does not pass.
    pub fail_fast: bool,
}

/// Where the orchestration's words and results go; the command line prints them.
pub trait Output: Send {
    /// A line for the operator (the command line: stderr).
    fn say(&mut self, line: String);
    /// What a run does, as it happens (progress).
    fn event(&mut self, event: &RunEvent);
    /// A run that ended: its summary (the command line: the table, on stdout).
    fn summary(&mut self, report: &RunReport);
    /// Every run, when several ended.
    fn summaries(&mut self, reports: &[RunReport]);
}

/// Runs `plans` in order; the exit code is the worst run's.
pub async fn run_all(
    plans: &[Plan],
    opts: &Options,
    cancel: CancellationToken,
    out: &mut dyn Output,
) -> i32 {
    let prepared = match prepare(plans, opts, out).await {
        Ok(p) => p,
        Err(code) => return code,
    };
    let Prepared {
        plans,
        signer,
        docker,
        net_via,
    } = &prepared;
    let mut linked_explicitly = false;
    let mut worst = exit_codes::PASSED;
    let mut reports = Vec::new();
    for plan in plans {
        let mut plan = plan.clone();
        let image = tokio::select! {
            r = ensure_images(&mut plan, docker, opts, out) => r,
            _ = cancel.cancelled() => Err(exit_codes::INTERRUPTED),
        };
        if cancel.is_cancelled() && image.is_err() {
            out.say(format!(
                "interrupted while preparing the image {}",
                plan.cluster.image
            ));
        }
        let image = match image {
            Ok(i) => i,
            Err(code) => {
                worst = worse(worst, code);
                break;
            }
        };
        let evidence = Evidence {
            previous: link(&plan, opts, &mut linked_explicitly, out),
            signer: signer.as_ref(),
        };
        let run = Run {
            docker: docker.clone(),
            image,
            net_via,
            evidence,
        };
        let (code, report) = run_one(&plan, run, opts, cancel.clone(), out).await;
        reports.push(report);
        worst = worse(worst, code);
        if cancel.is_cancelled() {
            break;
        }
        if opts.fail_fast && code != exit_codes::PASSED && reports.len() < plans.len() {
            out.say(format!(
                "--fail-fast: stopping after {}; {} drill(s) not run",
                plan.name,
                plans.len() - reports.len()
            ));
            break;
        }
    }
    finish_all(&reports, &opts.report_dir, out);
    worst
}

/// What every run shares once the checks before anything starts have passed.
struct Prepared {
    plans: Vec<Plan>,
    signer: Option<Signer>,
    docker: Arc<DockerRuntime>,
    net_via: NetVia,
}

/// The checks before anything starts, in order: bad input (exit 2), then the engine, the
/// network faults' way and the drills' disk and memory (exit 3).
async fn prepare(plans: &[Plan], opts: &Options, out: &mut dyn Output) -> Result<Prepared, i32> {
    let refuse = |out: &mut dyn Output, e: String, code: i32| {
        out.say(e);
        code
    };
    let plans = preflight::with_identity(plans, opts.identity.as_deref())
        .map_err(|e| refuse(out, e, exit_codes::BAD_INPUT))?;
    let signer = preflight::evidence_inputs(&plans, opts)
        .map_err(|e| refuse(out, e, exit_codes::BAD_INPUT))?;
    // Network faults: the way into the members' namespaces, or a refusal before the engine is
    // contacted.
    let visible = crate::sandbox::engine_process_visible();
    let net = crate::faults::netns::preflight_plans(&plans, visible)
        .map_err(|e| refuse(out, e, exit_codes::ENVIRONMENT))?;
    let docker = DockerRuntime::connect()
        .await
        .map(Arc::new)
        .map_err(|e| refuse(out, crate::util::error_chain(&e), exit_codes::ENVIRONMENT))?;
    let net_via = preflight::network(net, &docker, &mut |line| out.say(line)).await;
    let net_via = net_via.map_err(|lines| {
        lines.into_iter().for_each(|line| out.say(line));
        exit_codes::ENVIRONMENT
    })?;
    // Drills that cannot fit on disk or in the engine's memory are refused before anything
    // starts.
    for plan in &plans {
        preflight::disk_fits(plan, &docker, &opts.report_dir)
            .and_then(|()| preflight::memory_fits(plan, docker.memory_bytes()))
            .map_err(|e| refuse(out, e, exit_codes::ENVIRONMENT))?;
    }
    Ok(Prepared {
        plans,
        signer,
        docker,
        net_via,
    })
}

/// Every image the drill runs (a restore may switch version), the cluster's first; building
/// one can take minutes on a fresh machine. A drill with a disk fault gets each one's
/// disk-layer counterpart too, once FUSE is seen to mount in a container of the engine.
async fn ensure_images(
    plan: &mut Plan,
    docker: &Arc<DockerRuntime>,
    opts: &Options,
    out: &mut dyn Output,
) -> Result<crate::record::ImageInfo, i32> {
    let mut first = None;
    for image in plan.images() {
        let mut say = |line: String| out.say(line);
        let bin_dir = opts.etcd_bin_dir.as_deref();
        match crate::image::ensure_image(docker, &image, bin_dir, &mut say).await {
            Ok(info) => {
                first.get_or_insert(info);
            }
            Err(e) => {
                out.say(crate::util::error_chain(&e));
                return Err(exit_codes::ENVIRONMENT);
            }
        }
    }
    if plan.needs_disk_layer() {
        let mut say = |line: String| out.say(line);
        match preflight::disk_layer(plan, docker, &mut say).await {
            Ok(images) => plan.cluster.disk_images = images,
            Err(e) => {
                out.say(format!("{}: {e}", plan.path.display()));
                return Err(exit_codes::ENVIRONMENT);
            }
        }
    }
    first.ok_or_else(|| {
        out.say(format!("{}: no image to run", plan.name));
        exit_codes::ENVIRONMENT
    })
}

/// The link of `plan`'s run to the one before: `--previous` for the first run of its scenario,
/// else the newest run of the scenario on the same image in the report dir. Says so when a run
/// starts a new chain.
fn link(
    plan: &Plan,
    opts: &Options,
    linked_explicitly: &mut bool,
    out: &mut dyn Output,
) -> Option<crate::record::ChainLink> {
    let explicit = opts.previous.as_deref().filter(|p| {
        !*linked_explicitly
            && crate::report::read::read_report(p).is_ok_and(|r| r.scenario.name == plan.name)
    });
    *linked_explicitly |= explicit.is_some();
    let found = chain::previous_link(&opts.report_dir, &plan.name, &plan.cluster.image, explicit)
        .ok()
        .flatten();
    if found.is_none() {
        out.say(format!(
            "note: no earlier run of {} on {} in {}: this run starts a new evidence chain (keep the report dir between runs, or pass --previous)",
            plan.name,
            plan.cluster.image,
            opts.report_dir.display()
        ));
    }
    found
}

/// After every drill: the combined JUnit file for CI, and a summary when there were several.
fn finish_all(reports: &[RunReport], report_dir: &Path, out: &mut dyn Output) {
    if reports.is_empty() {
        return;
    }
    let path = report_dir.join("junit.xml");
    match crate::report::artifacts::write_file(&path, |out| {
        crate::report::junit::render(reports, out)
    }) {
        Ok(()) => out.say(format!("junit: {}", path.display())),
        Err(e) => out.say(format!("cannot write {}: {e}", path.display())),
    }
    if reports.len() > 1 {
        // One exposition of every run's figures, for a textfile collector or a push.
        let path = report_dir.join("metrics.prom");
        match crate::report::artifacts::write_file(&path, |out| {
            crate::report::metrics::render_all(reports, out)
        }) {
            Ok(()) => out.say(format!("metrics: {}", path.display())),
            Err(e) => out.say(format!("cannot write {}: {e}", path.display())),
        }
        out.summaries(reports);
    }
}

/// The exit code that says more: interrupted > environment > drill failed > gate failed > passed.
pub fn worse(a: i32, b: i32) -> i32 {
    let rank = |c: i32| match c {
        exit_codes::INTERRUPTED => 5,
        exit_codes::ENVIRONMENT => 4,
        exit_codes::DRILL_FAILED => 3,
        exit_codes::GATE_FAILED => 2,
        exit_codes::BAD_INPUT => 1,
        _ => 0,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

/// What ties a run to the runs before it and to its signer.
struct Evidence<'a> {
    previous: Option<crate::record::ChainLink>,
    signer: Option<&'a Signer>,
}

/// What one run gets from the orchestration.
struct Run<'a> {
    docker: Arc<DockerRuntime>,
    image: crate::record::ImageInfo,
    net_via: &'a NetVia,
    evidence: Evidence<'a>,
}

async fn run_one(
    plan: &Plan,
    run: Run<'_>,
    all: &Options,
    cancel: CancellationToken,
    out: &mut dyn Output,
) -> (i32, RunReport) {
    let run_id = runner::new_run_id();
    let opts = RunOptions {
        run_id: run_id.clone(),
        run_dir: all.report_dir.join(&run_id),
        keep: all.keep,
        net_via: run.net_via.clone(),
    };
    let mut recorder = Recorder::new(plan, &run_id);
    let describe = run.docker.describe();
    let runtime: Arc<dyn Runtime> = run.docker;
    let mut emit = |e: RunEvent| {
        out.event(&e);
        recorder.on(&e);
    };
    let clock = crate::events::Clock::start();
    emit(clock.event(crate::events::EventKind::Environment {
        docker: describe,
        image: run.image,
    }));
    runner::run(plan, runtime, &opts, cancel, &mut emit).await;
    let mut report = recorder.finish();
    let evidence = run.evidence;
    report.evidence = Some(crate::record::EvidenceInfo {
        previous: evidence.previous,
        signed_by_key_id: evidence.signer.map(|s| s.key_id().to_string()),
    });
    publish::write_run_dir(&report, &opts.run_dir, out);
    let mut code = report.verdict.exit_code();
    if let Some(signer) = evidence.signer {
        if !publish::sign(signer, &report, &opts.run_dir, out) {
            code = worse(code, exit_codes::ENVIRONMENT);
        }
    }
    out.summary(&report);
    publish::notify(plan, &report, &opts.run_dir, out).await;
    if let Some(gateway) = &all.pushgateway {
        publish::push(gateway, &report, out).await;
    }
    (code, report)
}
