//! Drills from start to end, between the command line and the runner: the checks before
//! anything starts (`preflight`), the images, each run with its evidence chain, then what a
//! run leaves (`publish`: the run directory, the signature, the webhook, the Pushgateway), and
//! the combined JUnit file. It prints nothing: every line goes to an `Output`, which the
//! command line prints.

mod preflight;
mod publish;

pub use preflight::rules_checked;

use crate::events::RunEvent;
use crate::evidence::{chain, sign::Signer};
use crate::exit_codes;
use crate::plan::Plan;
use crate::record::RunReport;
use crate::report::Recorder;
use crate::runner::{self, Keep, RunOptions};
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

/// Connects to an engine: Docker's, or a test's.
pub type Connect =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Arc<dyn Runtime>, String>> + Send>>;

/// The Docker engine the environment names.
pub fn docker() -> Connect {
    Box::pin(async {
        crate::sandbox::docker::DockerRuntime::connect()
            .await
            .map(|d| Arc::new(d) as Arc<dyn Runtime>)
            .map_err(|e| crate::util::error_chain(&e))
    })
}

/// Runs `plans` in order on the engine `connect` reaches, once the checks that need no engine
/// have passed; the exit code is the worst run's.
pub async fn run_all(
    plans: &[Plan],
    opts: &Options,
    connect: Connect,
    cancel: CancellationToken,
    out: &mut dyn Output,
) -> i32 {
    let prepared = match prepare(plans, opts, connect, out).await {
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
    docker: Arc<dyn Runtime>,
    net_via: NetVia,
}

/// The checks before anything starts, in order: bad input (exit 2), then the engine, the
/// network faults' way and the drills' disk and memory (exit 3).
async fn prepare(
    plans: &[Plan],
    opts: &Options,
    connect: Connect,
    out: &mut dyn Output,
) -> Result<Prepared, i32> {
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
    for plan in plans.iter().filter(|p| p.monitoring.is_some()) {
        preflight::rules_checked(plan, &mut |line| out.say(line))
            .await
            .map_err(|e| refuse(out, e, exit_codes::BAD_INPUT))?;
        if !visible {
            let why = format!("{}: an alert drill's receiver listens inside Alertmanager's container, which needs the harness on the engine's host (its processes visible)", plan.path.display());
            return Err(refuse(out, why, exit_codes::ENVIRONMENT));
        }
    }
    let docker = connect
        .await
        .map_err(|e| refuse(out, e, exit_codes::ENVIRONMENT))?;
    let net_via = preflight::network(net, docker.as_ref(), &mut |line| out.say(line)).await;
    let net_via = net_via.map_err(|lines| {
        lines.into_iter().for_each(|line| out.say(line));
        exit_codes::ENVIRONMENT
    })?;
    // Drills that cannot fit on disk or in the engine's memory are refused before anything
    // starts.
    for plan in &plans {
        // Memory first: it does not depend on what else fills the host's disk.
        preflight::memory_fits(plan, docker.memory_bytes())
            .and_then(|()| preflight::disk_fits(plan, docker.as_ref(), &opts.report_dir))
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
    docker: &Arc<dyn Runtime>,
    opts: &Options,
    out: &mut dyn Output,
) -> Result<crate::record::ImageInfo, i32> {
    let mut first = None;
    for image in plan.images() {
        let mut say = |line: String| out.say(line);
        let bin_dir = opts.etcd_bin_dir.as_deref();
        match crate::image::ensure_image(docker.as_ref(), &image, bin_dir, &mut say).await {
            Ok(info) => {
                first.get_or_insert(info);
            }
            Err(e) => {
                out.say(crate::util::error_chain(&e));
                return Err(exit_codes::ENVIRONMENT);
            }
        }
    }
    if plan.monitoring.is_some() {
        let mut say = |line: String| out.say(line);
        if let Err(e) = crate::image::monitoring::ensure(docker.as_ref(), &mut say).await {
            out.say(crate::util::error_chain(&e));
            return Err(exit_codes::ENVIRONMENT);
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
    docker: Arc<dyn Runtime>,
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
    let runtime = run.docker;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::fake::FakeRuntime;

    /// What the orchestration said and summed up.
    #[derive(Default)]
    struct Said {
        lines: Vec<String>,
        summaries: usize,
    }

    impl Output for Said {
        fn say(&mut self, line: String) {
            self.lines.push(line);
        }
        fn event(&mut self, _: &RunEvent) {}
        fn summary(&mut self, _: &RunReport) {
            self.summaries += 1;
        }
        fn summaries(&mut self, _: &[RunReport]) {}
    }

    fn plan(name: &str, cluster: &str) -> Plan {
        let yaml = format!(
            "name: {name}\ncluster:\n  members: 3\n{cluster}steps:\n  - sleep: {{ duration: 1s }}\n"
        );
        let file = crate::scenario::load_str(Path::new("t.yaml"), &yaml).unwrap();
        crate::plan::plan(file).unwrap()
    }

    fn options(dir: &Path, fail_fast: bool) -> Options {
        Options {
            report_dir: dir.to_path_buf(),
            keep: Keep::Never,
            etcd_bin_dir: None,
            sign_key: None,
            previous: None,
            pushgateway: None,
            identity: None,
            fail_fast,
        }
    }

    fn on(fake: &Arc<FakeRuntime>) -> Connect {
        let runtime: Arc<dyn Runtime> = fake.clone();
        Box::pin(async move { Ok(runtime) })
    }

    /// A fake engine that has the default etcd image, whose member `etcd-1` fails to start.
    fn engine() -> Arc<FakeRuntime> {
        let image = plan("x", "").cluster.image;
        let fake = FakeRuntime::default().with_image(&image);
        *fake.fail.lock().unwrap() = Some(("start container", "etcd-1".into()));
        Arc::new(fake)
    }

    fn run_dirs(dir: &Path) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_dir())
            .collect();
        dirs.sort();
        dirs
    }

    /// Runs `plans` on `fake` into a fresh report dir: (the dir, the exit code, what was said).
    async fn drive(
        plans: &[Plan],
        fake: &Arc<FakeRuntime>,
        fail_fast: bool,
    ) -> (tempfile::TempDir, i32, Said) {
        let dir = tempfile::tempdir().unwrap();
        let mut said = Said::default();
        let opts = options(dir.path(), fail_fast);
        let cancel = CancellationToken::new();
        let code = run_all(plans, &opts, on(fake), cancel, &mut said).await;
        (dir, code, said)
    }

    #[tokio::test]
    async fn every_plan_runs_leaves_its_run_dir_and_the_chain_links_them() {
        let fake = engine();
        let plans = [plan("a", ""), plan("a", "")];
        let (dir, code, said) = drive(&plans, &fake, false).await;
        assert_eq!(code, exit_codes::ENVIRONMENT, "{:?}", said.lines);
        let runs = run_dirs(dir.path());
        assert_eq!(runs.len(), 2, "{:?}", said.lines);
        let reports: Vec<RunReport> = runs
            .iter()
            .map(|r| crate::report::read::read_report(&r.join("report.json")).unwrap())
            .collect();
        assert!(reports
            .iter()
            .all(|r| r.error.as_deref().is_some_and(|e| e.contains("etcd-1"))));
        // The first run starts a chain; the second links to it.
        let links: Vec<Option<&str>> = reports
            .iter()
            .map(|r| r.evidence.as_ref().unwrap().previous.as_ref())
            .map(|p| p.map(|l| l.run_id.as_str()))
            .collect();
        let (first, second) = match links[..] {
            [None, Some(_)] => (&reports[0], links[1]),
            [Some(_), None] => (&reports[1], links[0]),
            _ => panic!("one run links to the other: {links:?}"),
        };
        assert_eq!(second, Some(first.run_id.as_str()));
        assert_eq!(said.summaries, 2);
        assert!(dir.path().join("junit.xml").is_file());
        assert!(dir.path().join("metrics.prom").is_file());
        // The image was found, never built or pulled; nothing was left on the engine.
        let calls = fake.calls();
        assert!(calls.iter().any(|c| c.starts_with("inspect image")));
        assert!(!calls
            .iter()
            .any(|c| c.starts_with("build image") || c.starts_with("pull image")));
        assert_eq!(fake.all(), crate::sandbox::Resources::default());
    }

    #[tokio::test]
    async fn fail_fast_stops_after_the_first_drill_that_does_not_pass() {
        let fake = engine();
        let plans = [plan("a", ""), plan("b", "")];
        let (dir, code, said) = drive(&plans, &fake, true).await;
        assert_eq!(code, exit_codes::ENVIRONMENT);
        assert_eq!(run_dirs(dir.path()).len(), 1);
        assert!(
            said.lines
                .iter()
                .any(|l| l == "--fail-fast: stopping after a; 1 drill(s) not run"),
            "{:?}",
            said.lines
        );
    }

    #[tokio::test]
    async fn an_image_the_engine_cannot_get_fails_before_anything_runs() {
        let fake = engine();
        let plans = [plan("a", "  image: example.org/etcd:nowhere\n")];
        let (dir, code, said) = drive(&plans, &fake, false).await;
        assert_eq!(code, exit_codes::ENVIRONMENT);
        assert!(run_dirs(dir.path()).is_empty());
        assert!(
            said.lines
                .iter()
                .any(|l| l.contains("example.org/etcd:nowhere")),
            "{:?}",
            said.lines
        );
        assert!(!fake.calls().iter().any(|c| c.starts_with("create")));
    }

    #[tokio::test]
    async fn an_engine_out_of_reach_is_an_environment_failure_and_nothing_runs() {
        let dir = tempfile::tempdir().unwrap();
        let mut said = Said::default();
        let opts = options(dir.path(), false);
        let connect: Connect = Box::pin(async { Err("cannot reach the engine".to_string()) });
        let plans = [plan("a", "")];
        let code = run_all(&plans, &opts, connect, CancellationToken::new(), &mut said).await;
        assert_eq!(code, exit_codes::ENVIRONMENT);
        assert_eq!(said.lines, ["cannot reach the engine"]);
        assert!(run_dirs(dir.path()).is_empty());
    }
}
