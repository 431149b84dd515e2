//! The README's recipes, held to the code: every `etcd-drill` command line they show (shell
//! blocks, CI steps, the harness container's arguments, the CronJobs' `args`) is one the CLI
//! accepts; every scenario they name validates; every metric and label their alert rules use is
//! one `metrics.prom` carries; and the parts that need no Docker run here as written: the
//! pre-release gate's `compare` over a glob of runs, and the auditor's `sign`, `verify-report`,
//! `minisign -Vm` and `history 'evidence/*'`. The drills themselves run in the Docker tests
//! (`docker_harness_in_container`, `docker_stores`, `docker_drill`).

#[path = "reports/fixture.rs"]
#[allow(dead_code)]
mod fixture;
#[path = "common/tool.rs"]
mod tool;

use clap::Parser;
use etcd_drill::cli::Cli;
use std::path::{Path, PathBuf};
use std::process::Command;

fn readme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md")
}

/// The README's fenced blocks: (language, text).
fn blocks(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut open: Option<(String, String)> = None;
    for line in text.lines() {
        if let Some(rest) = line.trim_start().strip_prefix("```") {
            match open.take() {
                Some(block) => out.push(block),
                None => open = Some((rest.trim().to_string(), String::new())),
            }
        } else if let Some((_, body)) = open.as_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    out
}

/// Words as a POSIX shell splits them, for the quoting the README uses ('…', "…", `\`), with
/// `$VARIABLE`s left as written (the CLI sees some value there).
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    word.push(c);
                }
            }
            '"' => {
                in_word = true;
                for c in chars.by_ref() {
                    if c == '"' {
                        break;
                    }
                    word.push(c);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

/// One shell command's `etcd-drill` invocations: after `etcd-drill` (or a path ending in it),
/// up to a comment, a redirection or the next command.
fn invocations(line: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for part in line.split("&&").flat_map(|p| p.split("||")) {
        let part = part.split(" # ").next().unwrap_or_default();
        let part = part.split(['>', '|', ';']).next().unwrap_or_default();
        let words = shell_words(part);
        let start = match words.iter().position(|w| w == "cargo") {
            // `cargo run --release -- ARGS`
            Some(_) => words.iter().position(|w| w == "--"),
            None => words
                .iter()
                .position(|w| w == "etcd-drill" || w.ends_with("/etcd-drill")),
        };
        if let Some(i) = start {
            out.push(words[i + 1..].to_vec());
        }
    }
    out
}

/// Every `etcd-drill` command line in the README, with where it was found.
fn commands(text: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for (lang, body) in blocks(text) {
        // Shell: `\` continues a line.
        let joined = body.replace("\\\n", " ");
        let lines: Vec<&str> = joined.lines().collect();
        let mut i = 0;
        while i < lines.len() {
            let line = lines[i].trim();
            let line = line.strip_prefix("- run:").unwrap_or(line).trim();
            let line = line.strip_prefix("- ").unwrap_or(line);
            let line = line.strip_prefix("$ ").unwrap_or(line);
            if line.starts_with("etcd-drill ")
                || line.starts_with("./target/release/etcd-drill")
                || line.contains("cargo run --release -- ")
            {
                for args in invocations(line) {
                    out.push((format!("{lang}: {line}"), args));
                }
            }
            // The drill step of the workflow: the harness image's arguments, up to `env:`.
            if line == "etcd-drill/harness:0.1.0" {
                let mut args = String::new();
                i += 1;
                while i < lines.len() && !lines[i].trim().starts_with("env:") {
                    args.push_str(lines[i].trim());
                    args.push(' ');
                    i += 1;
                }
                out.push((format!("{lang}: harness {args}"), shell_words(&args)));
                continue;
            }
            // A CronJob's `args: [...]`, over one line or several.
            if let Some(rest) = line.strip_prefix("args: ") {
                let mut array = rest.to_string();
                while !array.trim_end().ends_with(']') {
                    i += 1;
                    array.push_str(lines[i].trim());
                }
                let args: Vec<String> = serde_json::from_str(&array).expect("args is a list");
                out.push((format!("{lang}: args {array}"), args));
            }
            i += 1;
        }
    }
    out
}

#[test]
fn every_command_line_in_the_readme_is_one_the_cli_accepts() {
    let found = commands(&readme());
    for (at, args) in &found {
        let argv = std::iter::once("etcd-drill".to_string()).chain(args.iter().cloned());
        if let Err(e) = Cli::try_parse_from(argv) {
            panic!("the README's `{at}` is refused:\n{e}");
        }
    }
    // The recipes hold at least these; finding fewer means the reading above lost some.
    let verbs: Vec<&str> = found
        .iter()
        .filter_map(|(_, a)| a.first().map(String::as_str))
        .collect();
    for verb in [
        "run",
        "image",
        "history",
        "verify-report",
        "compare",
        "verify-backup",
        "verify-snapshot",
    ] {
        assert!(
            verbs.contains(&verb),
            "no `{verb}` read from the README: {found:?}"
        );
    }
    assert!(
        found.len() >= 18,
        "only {} command lines read: {found:?}",
        found.len()
    );
}

/// The Commands table: (the command's words, the row's text).
fn command_rows(text: &str) -> Vec<(Vec<String>, String)> {
    let section = text
        .split("## Commands")
        .nth(1)
        .expect("a Commands section")
        .split("\n## ")
        .next()
        .unwrap();
    section
        .lines()
        .filter_map(|l| l.strip_prefix("| `etcd-drill "))
        .map(|row| {
            let usage = row.split('`').next().unwrap();
            let words = usage
                .split_whitespace()
                .take_while(|w| w.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
                .take_while(|w| !w.starts_with('-'))
                .map(String::from)
                .collect();
            (words, row.to_string())
        })
        .collect()
}

#[test]
fn the_commands_table_lists_every_command_and_only_flags_it_takes() {
    use clap::CommandFactory;
    let rows = command_rows(&readme());
    let cli = Cli::command();
    let mut commands: Vec<(Vec<String>, &clap::Command)> = Vec::new();
    for sub in cli.get_subcommands() {
        if sub.get_name() == "help" || sub.is_hide_set() {
            continue;
        }
        let nested: Vec<&clap::Command> = sub
            .get_subcommands()
            .filter(|s| s.get_name() != "help")
            .collect();
        if nested.is_empty() {
            commands.push((vec![sub.get_name().to_string()], sub));
        }
        for n in nested {
            commands.push((vec![sub.get_name().into(), n.get_name().into()], n));
        }
    }
    for (words, cmd) in &commands {
        let row = rows
            .iter()
            .find(|(w, _)| w == words)
            .unwrap_or_else(|| panic!("the Commands table has no row for `{}`", words.join(" ")));
        let takes: Vec<&str> = cmd
            .get_arguments()
            .chain(cli.get_arguments())
            .filter_map(|a| a.get_long())
            .collect();
        // Flags in a span that names another command (`run --sign-key`) are that command's.
        let names: Vec<&str> = cli.get_subcommands().map(|c| c.get_name()).collect();
        // The row starts inside its first code span (the usage).
        let spans = row.1.split('`').step_by(2).filter(|span| {
            let first = span.split_whitespace().next().unwrap_or_default();
            !names.contains(&first) || first == words[0] || (first == "etcd-drill")
        });
        for flag in spans.flat_map(|s| s.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')))
        {
            if let Some(long) = flag.strip_prefix("--").filter(|f| !f.is_empty()) {
                assert!(
                    takes.contains(&long),
                    "the row of `{}` names --{long}, which it does not take ({takes:?})",
                    words.join(" ")
                );
            }
        }
    }
    assert_eq!(rows.len(), commands.len(), "rows {rows:?}");
}

#[test]
fn every_scenario_the_readme_names_exists_and_validates() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut named: Vec<PathBuf> = commands(&readme())
        .into_iter()
        .flat_map(|(_, args)| args)
        .filter(|a| a.ends_with(".yaml") && !a.contains('*'))
        .map(|a| root.join(a.trim_start_matches('/')))
        .collect();
    named.sort();
    named.dedup();
    assert!(named.len() >= 5, "{named:?}");
    let out = Command::new(env!("CARGO_BIN_EXE_etcd-drill"))
        .arg("validate")
        .args(&named)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_metric_and_label_in_the_readme_alert_rules_is_one_metrics_prom_carries() {
    let mut report = fixture::full_report();
    let restore = report.restore.as_mut().expect("the fixture restores");
    restore.stored = Some(etcd_drill::record::StoredBackup {
        store: "s3://backups/etcd/prod".into(),
        newest_age_ms: Some(3_600_000),
        picked_size_bytes: Some(1 << 20),
        ..Default::default()
    });
    let mut prom = Vec::new();
    etcd_drill::report::metrics::render(&report, &mut prom).unwrap();
    let prom = String::from_utf8(prom).unwrap();
    let mut rules = 0;
    for (_, body) in blocks(&readme()) {
        for line in body.lines().filter(|l| l.trim_start().starts_with("expr:")) {
            rules += 1;
            let expr = line.trim_start().trim_start_matches("expr:");
            for name in expr
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|w| w.starts_with("etcd_drill_"))
            {
                let samples: Vec<&str> = prom
                    .lines()
                    .filter(|l| l.starts_with(&format!("{name}{{")))
                    .collect();
                assert!(
                    !samples.is_empty(),
                    "`{name}` is not in metrics.prom:\n{prom}"
                );
                let by = expr
                    .split("by (")
                    .nth(1)
                    .map(|r| r.split(')').next().unwrap());
                for label in by.into_iter().flat_map(|b| b.split(',')).map(str::trim) {
                    assert!(
                        samples.iter().all(|s| s.contains(&format!("{label}=\""))),
                        "`{name}` has no label `{label}`: {samples:?}"
                    );
                }
                if let Some(selector) = expr.split(&format!("{name}{{")).nth(1) {
                    let label = selector.split('=').next().unwrap();
                    assert!(samples.iter().all(|s| s.contains(&format!("{label}=\""))));
                }
            }
        }
    }
    assert!(rules >= 5, "only {rules} alert rules read");
}

fn bin(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_etcd-drill"))
        .args(args)
        .current_dir(dir)
        .env("COLUMNS", "1000")
        .env_remove("ETCD_DRILL_SIGN_PASSWORD")
        .env_remove("ETCD_DRILL_SIGN_KEY")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// A copy of the shipped example run (a real kill-leader drill) at `to`.
fn example_run(to: &Path) {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("reports/examples/kill-leader");
    std::fs::create_dir_all(to).unwrap();
    for f in std::fs::read_dir(from).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), to.join(f.file_name())).unwrap();
    }
}

#[test]
fn the_pre_release_gate_compares_a_glob_of_runs_as_written() {
    let dir = tempfile::tempdir().unwrap();
    example_run(&dir.path().join("baseline"));
    example_run(&dir.path().join("out/run-a"));
    example_run(&dir.path().join("out/run-b"));
    // `out/*/report.json` as the shell expands it: two runs.
    let (code, out, err) = bin(
        dir.path(),
        &[
            "compare",
            "baseline/report.json",
            "out/run-a/report.json",
            "out/run-b/report.json",
            "--max-regression",
            "20",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.matches("kill-leader").count() >= 2, "{out}");
}

#[test]
fn the_auditors_commands_run_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let run = "evidence/20261201-060012-4711";
    example_run(&dir.path().join(run));
    let (code, _, err) = bin(
        dir.path(),
        &[
            "keygen",
            "--secret-key",
            "drill.key",
            "--public-key",
            "drill.pub",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = bin(dir.path(), &["sign", run, "--sign-key", "drill.key"]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = bin(
        dir.path(),
        &["verify-report", run, "--public-key", "drill.pub"],
    );
    assert_eq!(code, 0, "{out}{err}");
    if let Some(minisign) = minisign_tool() {
        let manifest = format!("{run}/MANIFEST.sha256");
        let out = Command::new(minisign)
            .args(["-Vm", &manifest, "-p", "drill.pub"])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    }
    // The glob is quoted: etcd-drill expands it.
    let (code, out, err) = bin(dir.path(), &["history", "evidence/*", "--format", "md"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("kill-leader"), "{out}");
}

fn minisign_tool() -> Option<PathBuf> {
    tool::required(
        &["minisign"],
        "the auditor's recipe checks the signature with it",
    )
}

/// The README's alert rules on etcd-drill's own figures are the shipped file's, rule for rule
/// (the file is the one promtool's unit tests prove).
#[test]
fn the_readme_alert_rules_are_the_shipped_rule_file_s() {
    let shipped = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docker/prometheus/etcd-drill-alerts.yml"),
    )
    .unwrap();
    let shipped: Vec<&str> = shipped.lines().map(str::trim).collect();
    let mut read = 0;
    for (_, body) in blocks(&readme()) {
        for line in body.lines().map(str::trim) {
            if line.starts_with("- alert: EtcdDrill")
                || line.starts_with("- alert: EtcdBackup")
                || (line.starts_with("expr:") && line.contains("etcd_drill_"))
            {
                read += 1;
                assert!(
                    shipped.contains(&line),
                    "not in etcd-drill-alerts.yml: {line}"
                );
            }
        }
    }
    assert!(read >= 10, "only {read} lines of rules read");
}
