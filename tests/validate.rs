//! Scenario validation through the real binary, without Docker.
//!
//! - Every `tests/fixtures/invalid/NAME.yaml` is rejected by `validate` with exit code 2 and
//!   exactly the stderr in `NAME.expected` (paths relative to the crate root).
//! - `run` rejects the same files with exit code 2 before it contacts Docker: `DOCKER_HOST`
//!   points at a socket that does not exist, so reaching Docker would exit 3 instead.
//! - Every `tests/fixtures/valid/*.yaml` and every shipped `scenarios/*.yaml` validates.
//!
//! After an intended change of a message, regenerate the expected files with
//! `ETCD_DRILL_BLESS=1 cargo test --test validate`, then read the diff.

use etcd_drill::exit_codes::{BAD_INPUT, ENVIRONMENT, PASSED};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const INVALID_DIR: &str = "tests/fixtures/invalid";
const VALID_DIR: &str = "tests/fixtures/valid";
const SCENARIOS_DIR: &str = "scenarios";
const NO_DOCKER: &str = "unix:///nonexistent/docker.sock";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The `*.yaml` files of `dir` (relative to the crate root), sorted, as relative paths: the
/// paths the binary is given, so the paths it prints.
fn yaml_files(dir: &str) -> Vec<PathBuf> {
    let abs = root().join(dir);
    let mut out: Vec<PathBuf> = std::fs::read_dir(&abs)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", abs.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .map(|p| Path::new(dir).join(p.file_name().expect("file name")))
        .collect();
    out.sort();
    out
}

/// The binary, run from the crate root, with nothing from the caller's environment that could
/// change its output or reach a real Docker engine.
fn drill(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_etcd-drill"));
    cmd.args(args)
        .current_dir(root())
        .env_remove("RUST_LOG")
        .env_remove("ETCD_DRILL_BIN_DIR")
        .env_remove("ETCD_DRILL_REPORT_DIR")
        .env("DOCKER_HOST", NO_DOCKER);
    cmd
}

fn output(cmd: &mut Command) -> Output {
    cmd.output().expect("the etcd-drill binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn expected_path(fixture: &Path) -> PathBuf {
    root().join(fixture.with_extension("expected"))
}

fn bless() -> bool {
    std::env::var_os("ETCD_DRILL_BLESS").is_some_and(|v| v == "1")
}

/// Panics with every failure at once, so one run shows every fixture that is off.
fn assert_no_failures(failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "{} failure(s):\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// The (line, column) of one `path:line:column: message` line.
fn position(line: &str, path: &Path) -> Option<(u64, u64)> {
    let rest = line.strip_prefix(&format!("{}:", path.display()))?;
    let mut parts = rest.splitn(3, ':');
    let l = parts.next()?.parse().ok()?;
    let c = parts.next()?.parse().ok()?;
    let message = parts.next()?;
    (message.starts_with(' ') && message.len() > 1).then_some((l, c))
}

#[test]
fn there_are_enough_fixtures() {
    let invalid = yaml_files(INVALID_DIR);
    assert!(
        invalid.len() >= 15,
        "expected at least 15 invalid fixtures in {INVALID_DIR}, found {}",
        invalid.len()
    );
    assert!(
        yaml_files(VALID_DIR).len() >= 2,
        "expected at least 2 valid fixtures in {VALID_DIR}"
    );
    assert!(
        !yaml_files(SCENARIOS_DIR).is_empty(),
        "expected shipped scenarios in {SCENARIOS_DIR}"
    );
}

#[test]
fn every_invalid_fixture_has_its_expected_stderr_and_no_orphans() {
    let mut failures = Vec::new();
    for f in yaml_files(INVALID_DIR) {
        if !expected_path(&f).is_file() && !bless() {
            failures.push(format!("{} has no sibling .expected file", f.display()));
        }
    }
    let dir = root().join(INVALID_DIR);
    for entry in std::fs::read_dir(&dir).expect("list the invalid fixtures") {
        let p = entry.expect("directory entry").path();
        match p.extension().and_then(|x| x.to_str()) {
            Some("expected") if !p.with_extension("yaml").is_file() => {
                failures.push(format!("{} has no sibling .yaml file", p.display()))
            }
            Some("expected") | Some("yaml") => {}
            _ => failures.push(format!(
                "{} is neither a .yaml fixture nor an .expected file",
                p.display()
            )),
        }
    }
    assert_no_failures(failures);
}

#[test]
fn validate_rejects_every_invalid_fixture_with_the_expected_stderr() {
    let fixtures = yaml_files(INVALID_DIR);
    assert!(
        fixtures.len() >= 15,
        "too few invalid fixtures: {fixtures:?}"
    );
    let mut failures = Vec::new();
    for f in &fixtures {
        let path = f.to_str().expect("UTF-8 path");
        let out = output(&mut drill(&["validate", path]));
        let stderr = text(&out.stderr);
        let expected_file = expected_path(f);
        if bless() {
            std::fs::write(&expected_file, &stderr).expect("write the .expected file");
        }
        let expected = std::fs::read_to_string(&expected_file).unwrap_or_default();
        if out.status.code() != Some(BAD_INPUT) {
            failures.push(format!(
                "{path}: exit code {:?}, expected {BAD_INPUT}\nstderr:\n{stderr}",
                out.status.code()
            ));
        }
        if stderr != expected {
            failures.push(format!(
                "{path}: stderr differs from {}\n--- expected\n{expected}--- actual\n{stderr}",
                expected_file.display()
            ));
        }
        if !out.stdout.is_empty() {
            failures.push(format!(
                "{path}: expected nothing on stdout, found:\n{}",
                text(&out.stdout)
            ));
        }
    }
    assert_no_failures(failures);
}

#[test]
fn expected_messages_are_positioned_and_sorted_by_line() {
    let mut failures = Vec::new();
    for f in yaml_files(INVALID_DIR) {
        let expected = std::fs::read_to_string(expected_path(&f)).unwrap_or_default();
        if expected.is_empty() || !expected.ends_with('\n') {
            failures.push(format!(
                "{}: the expected stderr is empty or lacks its final newline",
                f.display()
            ));
            continue;
        }
        let mut positions = Vec::new();
        for line in expected.lines() {
            match position(line, &f) {
                Some(p) => positions.push(p),
                None => failures.push(format!(
                    "{}: not a `{}:LINE:COLUMN: message` line: {line:?}",
                    f.display(),
                    f.display()
                )),
            }
        }
        if positions.windows(2).any(|w| w[0] > w[1]) {
            failures.push(format!(
                "{}: messages are not sorted by line and column: {positions:?}",
                f.display()
            ));
        }
        let name = f.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
        if name.starts_with("several-") && positions.len() < 3 {
            failures.push(format!(
                "{}: expected several mistakes reported together, found {}",
                f.display(),
                positions.len()
            ));
        }
    }
    assert_no_failures(failures);
}

#[test]
fn mistakes_in_different_sections_are_reported_together() {
    let f = Path::new(INVALID_DIR).join("several-syntax-mistakes.yaml");
    let out = output(&mut drill(&["validate", f.to_str().unwrap()]));
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(BAD_INPUT), "stderr:\n{stderr}");
    let lines: Vec<(u64, u64)> = stderr.lines().filter_map(|l| position(l, &f)).collect();
    // cluster.members, seed's unknown key, workload.rate, a step's duration, expect's unknown key.
    assert_eq!(
        lines,
        [(4, 12), (7, 3), (9, 9), (12, 14), (15, 3)],
        "{stderr}"
    );

    let f = Path::new(INVALID_DIR).join("several-semantic-mistakes.yaml");
    let out = output(&mut drill(&["validate", f.to_str().unwrap()]));
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(BAD_INPUT), "stderr:\n{stderr}");
    assert!(stderr.lines().count() >= 8, "{stderr}");
}

#[test]
fn validate_reports_every_file_of_one_invocation() {
    let fixtures = yaml_files(INVALID_DIR);
    let mut args = vec!["validate"];
    args.extend(fixtures.iter().map(|f| f.to_str().expect("UTF-8 path")));
    let out = output(&mut drill(&args));
    let expected: String = fixtures
        .iter()
        .map(|f| std::fs::read_to_string(expected_path(f)).unwrap_or_default())
        .collect();
    assert_eq!(out.status.code(), Some(BAD_INPUT));
    assert_eq!(text(&out.stderr), expected);
}

#[test]
fn run_rejects_every_invalid_fixture_before_contacting_docker() {
    let reports = tempfile::tempdir().expect("temporary directory");
    let report_dir = reports.path().join("reports");
    let mut failures = Vec::new();
    for f in yaml_files(INVALID_DIR) {
        let path = f.to_str().expect("UTF-8 path");
        let out = output(
            drill(&["run", path, "--report-dir"])
                .arg(&report_dir)
                .args(["--keep", "never"]),
        );
        let stderr = text(&out.stderr);
        let expected = std::fs::read_to_string(expected_path(&f)).unwrap_or_default();
        if out.status.code() != Some(BAD_INPUT) {
            failures.push(format!(
                "{path}: `run` exited {:?}, expected {BAD_INPUT} (3 means it reached for Docker)\n\
                 stderr:\n{stderr}",
                out.status.code()
            ));
        }
        if stderr != expected {
            failures.push(format!(
                "{path}: `run` printed more or other than the validation errors\n\
                 --- expected\n{expected}--- actual\n{stderr}"
            ));
        }
    }
    assert!(
        !report_dir.exists(),
        "`run` of invalid scenarios created {}",
        report_dir.display()
    );
    assert_no_failures(failures);
}

/// The control for the test above: with the same environment, a valid scenario does reach
/// for Docker and fails with 3, so the 2s above come from validation.
#[test]
fn run_of_a_valid_scenario_without_docker_is_an_environment_error() {
    let reports = tempfile::tempdir().expect("temporary directory");
    let out =
        output(drill(&["run", "scenarios/quickstart.yaml", "--report-dir"]).arg(reports.path()));
    assert_eq!(
        out.status.code(),
        Some(ENVIRONMENT),
        "stderr:\n{}",
        text(&out.stderr)
    );
}

#[test]
fn a_bad_file_among_good_ones_fails_the_whole_invocation() {
    let out = output(&mut drill(&[
        "validate",
        "scenarios/quickstart.yaml",
        "tests/fixtures/invalid/members-four.yaml",
    ]));
    assert_eq!(out.status.code(), Some(BAD_INPUT));
    assert_eq!(
        text(&out.stderr),
        std::fs::read_to_string(root().join("tests/fixtures/invalid/members-four.expected"))
            .unwrap()
    );
}

#[test]
fn every_valid_fixture_and_shipped_scenario_validates() {
    let mut files = yaml_files(VALID_DIR);
    files.extend(yaml_files(SCENARIOS_DIR));
    assert!(files.len() >= 3, "too few valid scenarios: {files:?}");
    let mut failures = Vec::new();
    for f in &files {
        let path = f.to_str().expect("UTF-8 path");
        let out = output(&mut drill(&["validate", path]));
        let stdout = text(&out.stdout);
        if out.status.code() != Some(PASSED) {
            failures.push(format!(
                "{path}: exit code {:?}, expected {PASSED}\nstderr:\n{}",
                out.status.code(),
                text(&out.stderr)
            ));
        } else if !stdout.starts_with(&format!("{path}: ok (")) || !out.stderr.is_empty() {
            failures.push(format!(
                "{path}: expected `{path}: ok (...)` and no stderr, found\nstdout:\n{stdout}\
                 stderr:\n{}",
                text(&out.stderr)
            ));
        }
    }
    assert_no_failures(failures);
}

#[test]
fn a_missing_file_is_bad_input_and_names_the_path() {
    let path = "tests/fixtures/no-such-scenario.yaml";
    assert!(!root().join(path).exists());
    let out = output(&mut drill(&["validate", path]));
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(BAD_INPUT), "stderr:\n{stderr}");
    assert!(
        stderr.contains(path),
        "stderr does not name {path}:\n{stderr}"
    );

    let out = output(&mut drill(&["run", path]));
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(BAD_INPUT), "stderr:\n{stderr}");
    assert!(
        stderr.contains(path),
        "stderr does not name {path}:\n{stderr}"
    );
}

#[test]
fn validate_says_ok_for_the_files_that_pass_beside_one_that_fails() {
    let out = Command::new(env!("CARGO_BIN_EXE_etcd-drill"))
        .current_dir(root())
        .args([
            "validate",
            "scenarios/encrypted-s3-backup-restore.yaml",
            "tests/fixtures/invalid/empty.yaml",
            "scenarios/quickstart.yaml",
        ])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(BAD_INPUT));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout.contains("scenarios/quickstart.yaml: ok (7 steps, 3 members)\n"),
        "{stdout}"
    );
    // Said at validation, not when `run` refuses it.
    assert!(
        stdout.contains("scenarios/encrypted-s3-backup-restore.yaml: ok (6 steps, 3 members); `run` will need the age identity"),
        "{stdout}"
    );
    assert!(
        stderr.starts_with("tests/fixtures/invalid/empty.yaml:1:1: empty scenario"),
        "{stderr}"
    );
}

/// A folder stands for its scenarios: `validate scenarios/known-bugs/` checks each of its YAML
/// files (the catalogue is shipped too, so each must validate).
#[test]
fn a_folder_validates_each_of_its_scenarios() {
    let dir = "scenarios/known-bugs";
    let files = yaml_files(dir);
    assert!(files.len() >= 4, "{files:?}");
    let out = output(&mut drill(&["validate", "scenarios/known-bugs/"]));
    let said = text(&out.stdout);
    assert_eq!(out.status.code(), Some(PASSED), "{}", text(&out.stderr));
    for f in files {
        let line = format!("{}: ok", f.display());
        assert!(said.contains(&line), "{line} not in: {said}");
    }
}
