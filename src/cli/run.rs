//! `etcd-drill run`: the drills in order, each with its image ensured first, then the combined
//! JUnit file and, for several drills, one summary table. The exit code is the worst drill's.

use super::eprint;
use crate::evidence::{chain, sign::Signer};
use crate::exit_codes;
use crate::plan::Plan;
use crate::record::{RunReport, Verdict};
use crate::report::Recorder;
use crate::runner::{self, RunOptions};
use crate::sandbox::docker::DockerRuntime;
use crate::sandbox::Runtime;
use std::path::Path;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

pub struct RunAll {
    pub drill: super::DrillArgs,
    pub fail_fast: bool,
}

pub async fn run_all(plans: &[Plan], opts: &RunAll, cancel: CancellationToken) -> i32 {
    let plans = &match with_identity(plans, opts.drill.identity.as_deref()) {
        Ok(p) => p,
        Err(e) => {
            eprint(e);
            return exit_codes::BAD_INPUT;
        }
    };
    let signer = match evidence_inputs(plans, &opts.drill) {
        Ok(s) => s,
        Err(e) => {
            eprint(e);
            return exit_codes::BAD_INPUT;
        }
    };
    let mut linked_explicitly = false;
    // Network faults: the way into the members' namespaces, or a refusal before anything
    // starts.
    let (net_way, net_said) = match crate::faults::netns::preflight_plans(plans) {
        Ok(w) => w,
        Err(e) => {
            eprint(e);
            return exit_codes::ENVIRONMENT;
        }
    };
    let docker = match DockerRuntime::connect().await {
        Ok(d) => Arc::new(d),
        Err(e) => {
            eprint(crate::util::error_chain(&e));
            return exit_codes::ENVIRONMENT;
        }
    };
    let net_via = match net_way {
        Some(crate::faults::netns::Way_::Helper { delay }) => {
            let mut say = |m: String| eprint(m);
            let images = async {
                let image = crate::image::net_tools::ensure(&docker, &mut say).await?;
                let harness = match delay {
                    true => Some(crate::image::harness::ensure(&docker, &mut say).await?),
                    false => None,
                };
                Ok::<_, crate::image::ImageError>((image, harness))
            };
            match images.await {
                Ok((image, harness)) => {
                    net_said.iter().for_each(|s| eprint(s.said()));
                    crate::sandbox::NetVia::Helper { image, harness }
                }
                Err(e) => {
                    let why = crate::util::error_chain(&e);
                    net_said
                        .iter()
                        .filter(|s| s.helper)
                        .for_each(|s| eprint(s.refused(&why)));
                    return exit_codes::ENVIRONMENT;
                }
            }
        }
        _ => {
            net_said.iter().for_each(|s| eprint(s.said()));
            crate::sandbox::NetVia::Host
        }
    };
    // Drills that cannot fit on disk or in the engine's memory are refused before anything
    // starts.
    for plan in plans {
        let fits = disk_fits(plan, &docker, &opts.drill.report_dir)
            .and_then(|()| memory_fits(plan, docker.memory_bytes()));
        if let Err(e) = fits {
            eprint(e);
            return exit_codes::ENVIRONMENT;
        }
    }
    let mut worst = exit_codes::PASSED;
    let mut reports = Vec::new();
    for plan in plans {
        let mut say = |m: String| eprint(m);
        // Building the image can take minutes on a fresh machine: Ctrl-C ends it too.
        // Every image the drill runs (a restore may switch version), the cluster's first.
        let bin_dir = opts.drill.etcd_bin_dir.as_deref();
        let docker_ref = &docker;
        let ensure = async move {
            let mut first = None;
            for image in plan.images() {
                let info =
                    crate::image::ensure_image(docker_ref, &image, bin_dir, &mut say).await?;
                first.get_or_insert(info);
            }
            Ok::<_, crate::image::ImageError>(first.expect("a plan has an image"))
        };
        let ensured = tokio::select! {
            r = ensure => r,
            _ = cancel.cancelled() => {
                eprint(format!("interrupted while preparing the image {}", plan.cluster.image));
                worst = worse(worst, exit_codes::INTERRUPTED);
                break;
            }
        };
        let image = match ensured {
            Ok(i) => i,
            Err(e) => {
                eprint(crate::util::error_chain(&e));
                worst = worse(worst, exit_codes::ENVIRONMENT);
                break;
            }
        };
        let previous = link(plan, &opts.drill, &mut linked_explicitly);
        let evidence = Evidence {
            previous,
            signer: signer.as_ref(),
        };
        let (code, report) = run_one(
            plan,
            docker.clone(),
            image,
            (opts, &net_via),
            evidence,
            cancel.clone(),
        )
        .await;
        reports.push(report);
        worst = worse(worst, code);
        if cancel.is_cancelled() {
            break;
        }
        if opts.fail_fast && code != exit_codes::PASSED && reports.len() < plans.len() {
            eprint(format!(
                "--fail-fast: stopping after {}; {} drill(s) not run",
                plan.name,
                plans.len() - reports.len()
            ));
            break;
        }
    }
    finish_all(&reports, &opts.drill.report_dir);
    worst
}

/// Every plan that restores an encrypted backup gets the identity to decrypt it, which must
/// open as an age identity file; without one the drill is refused before anything starts.
fn with_identity(plans: &[Plan], identity: Option<&Path>) -> Result<Vec<Plan>, String> {
    if let Some(id) = identity {
        crate::backup::crypt::identities(id).map_err(|e| format!("--identity: {e}"))?;
    }
    plans
        .iter()
        .map(|p| {
            let mut p = p.clone();
            if let Some(e) = p.backup.as_mut().and_then(|b| b.encrypt.as_mut()) {
                e.identity = identity.map(Path::to_path_buf);
                if e.identity.is_none() && p.restores_encrypted_backup() {
                    return Err(format!(
                        "{}: the restore reads an encrypted backup: give the age identity that decrypts it (--identity FILE or ETCD_DRILL_AGE_IDENTITY)",
                        p.path.display()
                    ));
                }
            }
            Ok(p)
        })
        .collect()
}

/// A signing key that does not open, or a `--previous` that is not a sealed run of one of
/// these scenarios, is bad input: refused before anything starts.
fn evidence_inputs(plans: &[Plan], drill: &super::DrillArgs) -> Result<Option<Signer>, String> {
    let signer = drill
        .sign_key
        .as_deref()
        .map(Signer::load)
        .transpose()
        .map_err(|e| format!("--sign-key: {e}"))?;
    if let Some(prev) = &drill.previous {
        let tried: Vec<Result<_, _>> = plans
            .iter()
            .map(|p| chain::previous_link(&drill.report_dir, &p.name, &p.cluster.image, Some(prev)))
            .collect();
        if !tried.iter().any(|r| r.is_ok()) {
            let why = tried
                .into_iter()
                .find_map(|r| r.err())
                .map(|e| e.to_string())
                .unwrap_or_default();
            return Err(format!(
                "--previous: not a sealed run of these scenarios: {why}"
            ));
        }
    }
    Ok(signer)
}

/// The link of `plan`'s run to the one before: `--previous` for the first run of its scenario,
/// else the newest run of the scenario on the same image in the report dir. Says so when a run
/// starts a new chain.
fn link(
    plan: &Plan,
    drill: &super::DrillArgs,
    linked_explicitly: &mut bool,
) -> Option<crate::record::ChainLink> {
    let explicit = drill.previous.as_deref().filter(|p| {
        !*linked_explicitly
            && crate::report::read::read_report(p).is_ok_and(|r| r.scenario.name == plan.name)
    });
    *linked_explicitly |= explicit.is_some();
    let found = chain::previous_link(&drill.report_dir, &plan.name, &plan.cluster.image, explicit)
        .ok()
        .flatten();
    if found.is_none() {
        eprint(format!(
            "note: no earlier run of {} on {} in {}: this run starts a new evidence chain (keep the report dir between runs, or pass --previous)",
            plan.name,
            plan.cluster.image,
            drill.report_dir.display()
        ));
    }
    found
}

/// After every drill: the combined JUnit file for CI, and a summary when there were several.
fn finish_all(reports: &[RunReport], report_dir: &Path) {
    if reports.is_empty() {
        return;
    }
    let path = report_dir.join("junit.xml");
    match crate::report::artifacts::write_file(&path, |out| {
        crate::report::junit::render(reports, out)
    }) {
        Ok(()) => eprint(format!("junit: {}", path.display())),
        Err(e) => eprint(format!("cannot write {}: {e}", path.display())),
    }
    if reports.len() > 1 {
        if let Err(e) = crate::report::summary::render(reports, &mut std::io::stdout()) {
            eprint(format!("cannot print the summary: {e}"));
        }
    }
}

/// The exit code that says more: interrupted > environment > drill failed > gate failed > passed.
fn worse(a: i32, b: i32) -> i32 {
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

async fn run_one(
    plan: &Plan,
    docker: Arc<DockerRuntime>,
    image: crate::record::ImageInfo,
    (all, net_via): (&RunAll, &crate::sandbox::NetVia),
    evidence: Evidence<'_>,
    cancel: CancellationToken,
) -> (i32, RunReport) {
    let run_id = runner::new_run_id();
    let opts = RunOptions {
        run_id: run_id.clone(),
        run_dir: all.drill.report_dir.join(&run_id),
        keep: all.drill.keep,
        net_via: net_via.clone(),
    };
    let mut recorder = Recorder::new(plan, &run_id);
    let mut terminal = crate::terminal::TerminalReporter::new();
    let describe = docker.describe();
    let runtime: Arc<dyn Runtime> = docker;
    let mut emit = |e: crate::events::RunEvent| {
        terminal.on(&e);
        recorder.on(&e);
    };
    let clock = crate::events::Clock::start();
    emit(clock.event(crate::events::EventKind::Environment {
        docker: describe,
        image,
    }));
    runner::run(plan, runtime, &opts, cancel, &mut emit).await;
    let mut report = recorder.finish();
    report.evidence = Some(crate::record::EvidenceInfo {
        previous: evidence.previous,
        signed_by_key_id: evidence.signer.map(|s| s.key_id().to_string()),
    });
    write_run_dir(&report, &opts.run_dir);
    let mut code = report.verdict.exit_code();
    if let Some(signer) = evidence.signer {
        match signer.sign_manifest(&opts.run_dir, &report.run_id, &report.scenario.name) {
            Ok(path) => eprint(format!(
                "signed: {} (key id {}; minisign -Vm {} -p KEY.pub)",
                path.display(),
                signer.key_id(),
                crate::report::manifest::MANIFEST
            )),
            Err(e) => {
                eprint(format!("the evidence is not signed: {e}"));
                code = worse(code, exit_codes::ENVIRONMENT);
            }
        }
    }
    let mut stdout = std::io::stdout();
    if let Err(e) = crate::report::Format::Table.render(&report, &mut stdout) {
        eprint(format!("cannot print the summary: {e}"));
    }
    notify(plan, &report, &opts.run_dir).await;
    if let Some(gateway) = &all.drill.pushgateway {
        push(gateway, &report).await;
    }
    (code, report)
}

/// The run's metrics to the Pushgateway; a failed push is a warning, like a webhook's.
async fn push(gateway: &str, report: &RunReport) {
    let mut body = Vec::new();
    if crate::report::metrics::render(report, &mut body).is_err() {
        return;
    }
    let body = String::from_utf8_lossy(&body).into_owned();
    let deadline = std::time::Duration::from_secs(10);
    let version = report
        .environment
        .etcd_version
        .as_deref()
        .unwrap_or("unknown");
    let group = (report.scenario.name.as_str(), version);
    match crate::notify::push_metrics(gateway, group, body, deadline).await {
        Ok(_) => eprint(format!(
            "metrics pushed to {}",
            crate::notify::redact(gateway)
        )),
        Err(e) => eprint(format!("warning: metrics not pushed: {e}")),
    }
}

fn write_run_dir(report: &RunReport, run_dir: &Path) {
    let written = crate::report::artifacts::write_run_dir(report, run_dir);
    for (path, e) in &written.errors {
        eprint(format!("cannot write {}: {e}", path.display()));
    }
    if let Some(json) = written.files.iter().find(|p| p.ends_with("report.json")) {
        eprint(format!("report: {}", json.display()));
    }
    if written.errors.is_empty() {
        eprint(format!(
            "evidence: report.md, report.html, junit.xml, metrics.prom, sealed by {} (sha256sum -c)",
            crate::report::manifest::MANIFEST
        ));
    }
}

/// The scenario's webhook, if it asks for one now. A failed notification is a warning: the
/// drill's verdict and exit code stay what the drill proved.
async fn notify(plan: &Plan, report: &RunReport, run_dir: &Path) {
    let Some(n) = &plan.notify else { return };
    if n.on == crate::scenario::NotifyOn::Failure && report.verdict == Verdict::Passed {
        return;
    }
    let payload = crate::notify::payload(report, Some(&run_dir.join("report.json")));
    let deadline = std::time::Duration::from_secs(10);
    if let Err(e) = crate::notify::notify(&n.url, &payload, deadline).await {
        eprint(format!("warning: notification not delivered: {e}"));
    }
}

/// The filesystem holding `path` (or its nearest existing parent): its id and free bytes.
fn filesystem(path: &Path) -> Option<(u64, u64)> {
    let mut p = std::path::absolute(path).ok()?;
    while !p.exists() {
        p = p.parent()?.to_path_buf();
    }
    let s = nix::sys::statvfs::statvfs(&p).ok()?;
    let free = s.blocks_available() as u64 * s.fragment_size() as u64;
    Some((s.filesystem_id() as u64, free))
}

fn gb(bytes: u64) -> String {
    format!("{:.1} GB", bytes as f64 / 1e9)
}

/// Refuses a drill whose seed would fill the engine's memory with raft entries: every member
/// keeps the entries since its last raft snapshot in memory (a 4 GiB seed with etcd's default
/// `snapshot-count` filled 24 GB and stalled). Names the `snapshot-count` that fits.
fn memory_fits(plan: &Plan, memory: Option<u64>) -> Result<(), String> {
    let (Some(per_member), Some(memory)) = (plan.seed_memory_per_member(), memory) else {
        return Ok(());
    };
    let members = u64::from(plan.cluster.members.max(1));
    // What the engine's host needs for itself and the harness: a fifth.
    let usable = memory / 5 * 4;
    if per_member.saturating_mul(members) <= usable {
        return Ok(());
    }
    let count = plan
        .cluster
        .snapshot_count
        .unwrap_or(crate::plan::ETCD_DEFAULT_SNAPSHOT_COUNT);
    let advice = match plan.snapshot_count_for(usable) {
        Some(n) => format!("set `cluster.etcd.snapshot-count` to at most {n}"),
        None => "seed fewer or smaller keys, or use an engine with more memory".to_string(),
    };
    Err(format!(
        "{}: not enough memory for this seed: with snapshot-count {count}, each of the {members} members keeps about {} of raft entries in memory while the seed loads ({} in all) where the engine has {} ({} usable); {advice}",
        plan.path.display(),
        gb(per_member),
        gb(per_member.saturating_mul(members)),
        gb(memory),
        gb(usable),
    ))
}

/// Refuses a drill whose volumes (on the engine's disk) and snapshots (in the report dir) will
/// not fit, with the numbers. An engine on another machine is not checked for its disk.
fn disk_fits(plan: &Plan, docker: &DockerRuntime, report_dir: &Path) -> Result<(), String> {
    let Some(f) = plan.footprint() else {
        return Ok(());
    };
    let members = u64::from(plan.cluster.members.max(1));
    let mut needs = vec![(
        report_dir.to_path_buf(),
        f.snapshots,
        format!(
            "{} snapshot(s) of about {}",
            f.snapshots / f.db.max(1),
            gb(f.db)
        ),
    )];
    if f.scratch > 0 {
        let what = format!("a {} fault's copy of {}", f.scratch_for, gb(f.scratch));
        needs.push((std::env::temp_dir(), f.scratch, what));
    }
    if let Some(root) = docker.local_root_dir() {
        let generations = f.volumes / f.db.max(1) / members;
        let what = format!(
            "{members} members' volumes of about {} each, {generations} time(s) (first cluster and restores)",
            gb(f.db)
        );
        needs.push((root.into(), f.volumes, what));
    }
    // Paths on one filesystem share its free space: (id, free, needed, what).
    let mut filesystems: Vec<(u64, u64, u64, Vec<String>)> = Vec::new();
    for (path, bytes, what) in needs {
        let Some((id, free)) = filesystem(&path) else {
            continue;
        };
        let what = format!("{what} in {}", path.display());
        match filesystems.iter_mut().find(|f| f.0 == id) {
            Some(fs) => {
                fs.2 += bytes;
                fs.3.push(what);
            }
            None => filesystems.push((id, free, bytes, vec![what])),
        }
    }
    match filesystems.iter().find(|(_, free, need, _)| need > free) {
        Some((_, free, need, what)) => Err(format!(
            "{}: not enough free disk for this drill: it needs about {} where {} is free ({})",
            plan.path.display(),
            gb(*need),
            gb(*free),
            what.join("; ")
        )),
        None => Ok(()),
    }
}
