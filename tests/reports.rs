//! The evidence formats, without Docker: the JSON schema (and that it rejects a doctored
//! report), JUnit, Markdown, the standalone HTML with its timeline, the manifest (and that it
//! catches tampering), and the `report` and `compare` commands through the real binary.

#[path = "reports/fixture.rs"]
mod fixture;

use etcd_drill::record::{RunReport, Verdict};
use etcd_drill::report::manifest::{verify_manifest, Problem};
use etcd_drill::report::{artifacts, html, junit, markdown};
use fixture::{failed_report, full_report, NASTY};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn validate(instance: &Value) -> Result<(), String> {
    let mut schemas = boon::Schemas::new();
    let mut compiler = boon::Compiler::new();
    compiler.enable_format_assertions();
    let path = root().join("src/report/report.schema.json");
    let index = compiler
        .compile(path.to_str().expect("utf-8 path"), &mut schemas)
        .unwrap_or_else(|e| panic!("the schema compiles: {e:#}"));
    schemas
        .validate(instance, index)
        .map_err(|e| format!("{e}"))
}

fn to_value(r: &RunReport) -> Value {
    serde_json::to_value(r).expect("a report serializes")
}

fn render(f: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>) -> String {
    let mut out = Vec::new();
    f(&mut out).expect("renders");
    String::from_utf8(out).expect("utf-8")
}

#[test]
fn schema_accepts_real_reports() {
    let full = to_value(&full_report());
    // The full report fills every top-level part that may be null (but `error`), so every
    // definition of the schema is exercised; a new optional part must be added to the fixture.
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("src/report/report.schema.json")).expect("schema"),
    )
    .expect("schema is JSON");
    let props = schema["properties"].as_object().expect("properties");
    let nullable =
        |p: &Value| p.to_string().contains(r#"{"type":"null"}"#) || p["type"][1] == "null";
    for (key, p) in props.iter().filter(|(k, p)| *k != "error" && nullable(p)) {
        assert!(!full[key].is_null(), "the fixture lacks {key}: {p}");
    }
    assert!(props.len() > 20 && full["backups"].is_object());
    validate(&full).unwrap_or_else(|e| panic!("the full report is valid: {e}"));
    validate(&to_value(&failed_report())).unwrap_or_else(|e| panic!("a failed run is valid: {e}"));
}

#[test]
fn schema_describes_a_divergence() {
    let mut v = to_value(&full_report());
    let d = etcd_drill::record::Divergence {
        revision: 1234,
        members: vec!["etcd-3".into()],
        differing_keys: 2,
        examples: vec![
            "/drill/workload/00000041: missing on etcd-3".into(),
            "/drill/workload/00000042: missing on etcd-3".into(),
        ],
    };
    v["verification"]["divergence"] = serde_json::to_value(&d).unwrap();
    v["faults"][0]["divergence"] = serde_json::to_value(&d).unwrap();
    validate(&v).unwrap_or_else(|e| panic!("a divergence is valid: {e}"));
    v["faults"][0]["divergence"]["differing_keys"] = json!("two");
    assert!(validate(&v).is_err());
}

#[test]
fn schema_rejects_doctored_reports() {
    type Doctor = fn(&mut Value);
    let cases: [(&str, Doctor, &str); 8] = [
        (
            "wrong type",
            |v| v["duration_ms"] = json!("12 s"),
            "/duration_ms",
        ),
        (
            "missing required field",
            |v| drop(v.as_object_mut().map(|o| o.remove("verdict"))),
            "verdict",
        ),
        (
            "verdict outside its enum",
            |v| v["verdict"] = json!("mostly-passed"),
            "/verdict",
        ),
        (
            "step status outside its enum",
            |v| v["steps"][0]["status"] = json!("skipped"),
            "/steps/0/status",
        ),
        (
            "unknown field",
            |v| v["restore"]["surprise"] = json!(1),
            "/restore",
        ),
        (
            "negative duration",
            |v| v["restore"]["rto_first_write_ms"] = json!(-5),
            "/restore/rto_first_write_ms",
        ),
        (
            "flattened workload field",
            |v| v["workload"]["unavailability"][0]["to_ms"] = json!("later"),
            "/workload/unavailability/0/to_ms",
        ),
        (
            "not a UTC time",
            |v| v["started_at"] = json!("yesterday"),
            "/started_at",
        ),
    ];
    let good = to_value(&full_report());
    for (what, doctor, path) in cases {
        let mut v = good.clone();
        doctor(&mut v);
        match validate(&v) {
            Ok(()) => panic!("{what}: the doctored report validated"),
            Err(e) => assert!(
                e.contains(path),
                "{what}: the error does not name {path}: {e}"
            ),
        }
    }
}

#[test]
fn report_json_reads_back_unchanged() {
    for r in [full_report(), failed_report()] {
        let v = to_value(&r);
        let back: RunReport = serde_json::from_value(v.clone()).expect("reads back");
        assert_eq!(to_value(&back), v);
    }
}

#[test]
fn committed_sample_is_valid_and_readable() {
    let dir = root().join("reports/examples/kill-leader");
    let r = etcd_drill::report::read::read_report(&dir).expect("the sample reads");
    let text = std::fs::read_to_string(dir.join("report.json")).expect("the sample exists");
    let v: Value = serde_json::from_str(&text).expect("json");
    validate(&v).unwrap_or_else(|e| panic!("the committed sample is valid: {e}"));
    assert!(!r.faults.is_empty() && r.workload.is_some());
    assert!(
        verify_manifest(&dir).expect("manifest").is_empty(),
        "the sample was edited after it was sealed"
    );
}

fn cases<'a>(suite: roxmltree::Node<'a, 'a>, prefix: &str) -> Vec<roxmltree::Node<'a, 'a>> {
    suite
        .children()
        .filter(|c| c.has_tag_name("testcase"))
        .filter(|c| c.attribute("name").is_some_and(|n| n.starts_with(prefix)))
        .collect()
}

#[test]
fn junit_has_a_suite_per_drill_and_a_case_per_gate_and_step() {
    let (full, mut failed) = (full_report(), failed_report());
    failed.scenario.name = "evidence-failed".into();
    let xml = render(|out| junit::render(&[full.clone(), failed.clone()], out));
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let suites: Vec<_> = doc
        .root_element()
        .children()
        .filter(|c| c.has_tag_name("testsuite"))
        .collect();
    assert_eq!(suites.len(), 2);
    assert_eq!(suites[0].attribute("name"), Some("evidence"));
    assert_eq!(cases(suites[0], "gate: ").len(), full.gates.len());
    assert_eq!(cases(suites[0], "step ").len(), full.steps.len());
    assert!(full.gates.len() >= 6, "{:?}", full.gates);
    assert_eq!(suites[0].attribute("failures"), Some("0"));

    // The failed drill: its step failed with the error, the rest skipped, its gates failed.
    let failures: Vec<_> = suites[1]
        .descendants()
        .filter(|n| n.has_tag_name("failure"))
        .collect();
    assert_eq!(
        failures.len(),
        1 + failed.gates.iter().filter(|g| !g.passed).count()
    );
    assert_eq!(failures[0].attribute("message"), Some(NASTY));
    let skipped = suites[1]
        .descendants()
        .filter(|n| n.has_tag_name("skipped"))
        .count();
    assert_eq!(skipped, failed.steps.len() - 1);
    let rto = cases(suites[1], "gate: rto")
        .into_iter()
        .next()
        .expect("rto gate");
    let message = rto
        .first_element_child()
        .and_then(|f| f.attribute("message"))
        .unwrap_or("");
    assert!(
        message.contains("≤ 30000 ms") && message.contains("not measured"),
        "{message}"
    );
}

#[test]
fn a_divergence_is_named_in_markdown_and_html() {
    let mut r = full_report();
    let d = etcd_drill::record::Divergence {
        revision: 27,
        members: vec!["etcd-3".into()],
        differing_keys: 2,
        examples: vec![
            "/d/20: missing on etcd-3".into(),
            "/d/05: another value on etcd-3".into(),
        ],
    };
    let v = r.verification.as_mut().expect("the fixture verified");
    v.hashkv_equal = false;
    v.divergence = Some(d.clone());
    r.faults[0].hashkv_equal = Some(false);
    r.faults[0].divergence = Some(d);
    let md = render(|out| markdown::render(&r, out));
    let html = unmarked(&render(|out| etcd_drill::report::html::render(&r, out)));
    for page in [&md, &html] {
        for needle in [
            "etcd-3 differ(s) at revision 27: 2 key(s), e.g. /d/20: missing on etcd-3",
            "/d/05: another value on etcd-3",
        ] {
            assert!(page.contains(needle), "lacks {needle:?}:\n{page}");
        }
    }
}

#[test]
fn a_linearizability_violation_is_drawn_per_client_in_html_and_tabled_in_markdown() {
    // A real violation: the recorded history with one put the watch delivered taken out.
    let path = root().join("tests/fixtures/history/kubernetes-kill-restore.jsonl");
    let mut h = etcd_drill::checks::linearizable::read(&path).expect("the fixture reads");
    let d = h
        .iter_mut()
        .filter_map(|l| match l {
            etcd_drill::record::HistoryLine::Watch(d) => Some(d),
            _ => None,
        })
        .filter(|d| d.events[0].value.is_some())
        .nth(10)
        .expect("deliveries of puts");
    // The next delivery of the stream shows the watch went past it.
    d.events.remove(0);
    let l = etcd_drill::checks::linearizable::check(h, std::time::Duration::from_secs(60));
    assert_eq!(
        l.violations[0].kind,
        "watch-missed-event",
        "{}",
        l.summary()
    );
    let mut r = full_report();
    r.workload
        .as_mut()
        .expect("the fixture ran a workload")
        .log
        .linearizability = Some(l);
    let html = render(|out| html::render(&r, out));
    let md = render(|out| markdown::render(&r, out));
    // The terminal shows the violation's operations too, without a drawing.
    let terminal = render(|out| etcd_drill::report::table::render(&r, out));
    assert!(
        terminal.contains("- violation 1: watch-missed-event"),
        "{terminal}"
    );
    assert!(terminal.contains("wrote at revision"), "{terminal}");
    assert!(!terminal.contains("<svg"));
    let figure = html
        .split("aria-label=\"operations of a violation per client\"")
        .nth(1)
        .expect("a drawing of the violation")
        .split("</svg>")
        .next()
        .unwrap_or_default()
        .to_string();
    // The write it missed, in its client's lane, and the stream's delivery, in the watch's.
    assert!(figure.contains(">client "), "{figure}");
    assert!(figure.contains(">watch (member "), "{figure}");
    assert!(figure.contains("wrote at revision"), "{figure}");
    for page in [&html, &md] {
        assert!(page.contains("violation 1: watch-missed-event"), "{page}");
    }
    assert!(md.contains("| client | op | called | returned |"), "{md}");
    // The writes the recorded restore rolled back are listed, the first of them at least.
    assert!(
        md.contains("acknowledged writes the restore rolled back (the RPO, from the history): "),
        "{md}"
    );
    assert!(!md.contains("<svg aria"), "markdown has no drawing");
    // The check's outcome is flattened into its record: the schema takes each outcome and
    // still refuses a field it does not know.
    let mut v = to_value(&r);
    validate(&v).expect("the schema takes a violation");
    v["workload"]["linearizability"]["surprise"] = json!(1);
    assert!(validate(&v).is_err(), "an unknown field is refused");
    v["workload"]["linearizability"] = json!({"result": "unknown", "why": "too long",
        "operations": 0, "checked": 0, "indeterminate": 0, "across_restore": 0,
        "rolled_back": 0, "violations": [], "elapsed_ms": 0});
    validate(&v).expect("the schema takes an unknown outcome");
    v["workload"]["linearizability"]["result"] = json!("perhaps");
    assert!(
        validate(&v).is_err(),
        "an outcome it does not know is refused"
    );
}

#[test]
fn markdown_carries_the_audit_facts() {
    let r = full_report();
    let md = render(|out| markdown::render(&r, out));
    let image = r.environment.image.as_ref().expect("image");
    for needle in [
        r.scenario.sha256.as_str(),
        "scenarios/evidence.yaml",
        &image.id,
        "etcd version**: 3.5.30",
        &r.started_at,
        &r.finished_at,
        "| # | step | status |",
        "| RTO (first quorum write) | 2000 ms | ≤ 30000 ms | pass |",
        "| RPO (acknowledged writes lost) | 190 of 300 |",
        "seeded keys**: 100 of 100 intact",
        "### Fault kill-leader",
        "`etcd-2: container state exited (137) after SIGKILL`",
        "| phase | window | ops | errors |",
        "| gate | target | actual | result |",
        "**Verdict: PASSED**",
    ] {
        assert!(md.contains(needle), "report.md lacks {needle:?}:\n{md}");
    }
    let failed = render(|out| markdown::render(&failed_report(), out));
    assert!(!failed.contains("<script"), "markup leaked into report.md");
    let row = failed
        .lines()
        .find(|l| l.starts_with("| 1 | seed"))
        .expect("step row");
    assert_eq!(
        row.matches(" | ").count(),
        6,
        "a '|' in the error split the row: {row}"
    );
}

#[test]
fn html_is_standalone_and_escaped() {
    for r in [full_report(), failed_report()] {
        let page = render(|out| html::render(&r, out));
        assert!(page.contains("<svg"), "no inline chart");
        let rest = page.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
        for bad in [
            "http://", "https://", "<script", "src=", "href=", "url(", "@import", "<link",
        ] {
            assert!(!rest.contains(bad), "report.html contains {bad:?}");
        }
    }
    let page = unmarked(&render(|out| html::render(&failed_report(), out)));
    assert!(page.contains("refused &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; | &amp; done"));
}

/// The page without the marks that say where a word may break (`html::word`): the text as
/// written, still escaped.
fn unmarked(page: &str) -> String {
    page.replace("<wbr>", "")
        .replace("<span class=\"word\">", "")
        .replace("<span class=\"long\">", "")
        .replace("</span>", "")
}

/// The chart as XML, to check what it draws and where.
fn chart(page: &str) -> String {
    let from = page.find("<svg").expect("svg");
    let to = page.find("</svg>").expect("svg end") + "</svg>".len();
    page[from..to].to_string()
}

#[test]
fn timeline_marks_every_event_and_shades_unavailability() {
    let r = full_report();
    let page = render(|out| html::render(&r, out));
    let svg = chart(&page);
    let doc = roxmltree::Document::parse(&svg).expect("the chart is well-formed XML");
    let texts: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text())
        .collect();
    for label in [
        "step 1 seed",
        "step 5 restore nightly",
        "kill-leader injected",
        "kill-leader healed",
        "kill-leader healthy again",
        "disaster",
        "disaster over",
        "restore: first write",
    ] {
        assert!(
            texts.contains(&label),
            "no marker labelled {label:?} in {texts:?}"
        );
    }
    let num =
        |n: roxmltree::Node, a: &str| n.attribute(a).and_then(|v| v.parse::<f64>().ok()).expect(a);
    let shaded: Vec<(f64, f64)> = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("unavailable"))
        .map(|n| (num(n, "x"), num(n, "x") + num(n, "width")))
        .collect();
    assert_eq!(shaded.len(), 2);
    let injected = doc
        .descendants()
        .find(|n| {
            n.has_tag_name("g")
                && n.descendants()
                    .any(|t| t.text() == Some("kill-leader injected"))
        })
        .and_then(|g| g.descendants().find(|l| l.has_tag_name("line")))
        .map(|l| num(l, "x1"))
        .expect("the injection marker");
    assert!(
        shaded[0].0 <= injected && injected <= shaded[0].1,
        "{injected} outside {shaded:?}"
    );
    let errors = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("error"))
        .count();
    assert!(errors >= 10, "{errors} error bars");
    // Latency lines break where nothing succeeded: before, between and after the outages.
    let p50 = doc
        .descendants()
        .find(|n| n.attribute("stroke") == Some("#2e86c1"))
        .and_then(|n| n.attribute("d"))
        .expect("p50");
    assert_eq!(p50.matches('M').count(), 3, "{p50}");
}

fn sha256sum_check(dir: &Path) -> Option<bool> {
    let out = Command::new("sha256sum")
        .args(["-c", "--quiet", "MANIFEST.sha256"])
        .current_dir(dir)
        .output()
        .ok()?;
    Some(out.status.success())
}

#[test]
fn manifest_seals_the_run_dir_and_catches_tampering() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("run");
    std::fs::create_dir_all(dir.join("snapshots")).expect("mkdir");
    std::fs::write(dir.join("snapshots/nightly.db"), vec![7u8; 100_000]).expect("snapshot");
    let written = artifacts::write_run_dir(&full_report(), &dir);
    assert!(written.errors.is_empty(), "{:?}", written.errors);
    let manifest = std::fs::read_to_string(dir.join("MANIFEST.sha256")).expect("manifest");
    let names: Vec<&str> = manifest.lines().map(|l| &l[66..]).collect();
    assert_eq!(
        names,
        [
            "junit.xml",
            "metrics.prom",
            "report.html",
            "report.json",
            "report.md",
            "snapshots/nightly.db"
        ]
    );
    assert_eq!(
        verify_manifest(&dir).expect("verify"),
        Vec::<Problem>::new()
    );
    assert_ne!(
        sha256sum_check(&dir),
        Some(false),
        "sha256sum -c rejects a fresh manifest"
    );

    let mut bytes = std::fs::read(dir.join("snapshots/nightly.db")).expect("read");
    bytes[50_000] ^= 1;
    std::fs::write(dir.join("snapshots/nightly.db"), bytes).expect("tamper");
    std::fs::remove_file(dir.join("report.md")).expect("remove");
    std::fs::write(dir.join("extra.txt"), "added later").expect("add");
    assert_eq!(
        verify_manifest(&dir).expect("verify"),
        [
            Problem::Missing("report.md".into()),
            Problem::Mismatch("snapshots/nightly.db".into()),
            Problem::Unlisted("extra.txt".into()),
        ]
    );
    assert_ne!(
        sha256sum_check(&dir),
        Some(true),
        "sha256sum -c accepts a tampered dir"
    );
}

/// Writes `r` as `<tmp>/<name>/report.json` and returns the run directory.
fn run_dir(tmp: &Path, name: &str, r: &RunReport) -> PathBuf {
    let dir = tmp.join(name);
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(
        dir.join("report.json"),
        serde_json::to_vec(r).expect("json"),
    )
    .expect("write");
    dir
}

fn bin(args: &[&std::ffi::OsStr]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_etcd-drill"))
        .args(args)
        .env("COLUMNS", "1000")
        .output()
        .expect("runs");
    let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
    (
        out.status.code().unwrap_or(-1),
        text(out.stdout),
        text(out.stderr),
    )
}

fn compare(base: &Path, cur: &Path, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec![
        std::ffi::OsStr::new("compare"),
        base.as_os_str(),
        cur.as_os_str(),
    ];
    args.extend(extra.iter().map(std::ffi::OsStr::new));
    bin(&args)
}

fn with_rto(factor: f64) -> RunReport {
    let mut r = full_report();
    let x = r.restore.as_mut().expect("restore");
    x.rto_first_write_ms = (x.rto_first_write_ms as f64 * factor) as u64;
    r
}

#[test]
fn compare_exits_1_on_a_regression_and_0_within_the_threshold() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let base = run_dir(tmp.path(), "base", &full_report());
    let (code, out, err) = compare(&base, &run_dir(tmp.path(), "slower", &with_rto(2.5)), &[]);
    assert_eq!(code, 1, "RTO +150%: {out}{err}");
    assert!(
        out.lines()
            .any(|l| l.contains("RTO (first quorum write)") && l.contains("REGRESSED")),
        "{out}"
    );
    let (code, out, _) = compare(&base, &run_dir(tmp.path(), "noise", &with_rto(1.1)), &[]);
    assert_eq!(code, 0, "RTO +10%: {out}");
    // +40% is beyond the threshold but inside the floor (a second and one election timeout).
    let (code, out, _) = compare(&base, &run_dir(tmp.path(), "floor", &with_rto(1.4)), &[]);
    assert_eq!(code, 0, "RTO +800 ms: {out}");
    let slower = tmp.path().join("slower/report.json");
    assert_eq!(
        compare(&base, &slower, &["--max-regression", "160"]).0,
        0,
        "within 160%"
    );

    let mut failed = full_report();
    failed.verdict = Verdict::GateFailed;
    assert_eq!(
        compare(&base, &run_dir(tmp.path(), "failed", &failed), &[]).0,
        1,
        "passed → failed"
    );
    let mut fault = full_report();
    fault.faults[0].unavailable_ms = Some(5000);
    let (code, out, _) = compare(&base, &run_dir(tmp.path(), "fault", &fault), &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.lines().any(|l| l.contains("fault kill-leader: writes unavailable") && l.contains("REGRESSED")), "{out}");
    let mut slow_seed = full_report();
    slow_seed.seed.as_mut().expect("seed").keys_per_sec /= 2.0;
    let (code, out, _) = compare(&base, &run_dir(tmp.path(), "seed", &slow_seed), &[]);
    assert_eq!(code, 0, "throughput does not gate: {out}");
    assert!(out.contains("worse (not gated)"), "{out}");

    std::fs::write(tmp.path().join("garbage.json"), "{\"schema_version\": 1}").expect("write");
    assert_eq!(compare(&base, &tmp.path().join("garbage.json"), &[]).0, 2);
    assert_eq!(compare(&base, &tmp.path().join("nowhere"), &[]).0, 2);
}

#[test]
fn compare_shows_a_percentile_from_too_few_samples_without_gating_it() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let with_phase = |count: u64, p99: f64| {
        let mut r = full_report();
        let w = r.workload.as_mut().expect("workload");
        w.phases[0].count = count;
        w.phases[0].p99_ms = p99;
        r
    };
    let name = full_report().workload.expect("workload").phases[0]
        .name
        .clone();
    let row = |out: &str| {
        out.lines()
            .find(|l| l.contains(&format!("p99 {name}")))
            .unwrap_or_else(|| panic!("{out}"))
            .to_string()
    };
    // A dozen samples: their p99 is their maximum. Shown, marked, not gated.
    let base = run_dir(tmp.path(), "few-base", &with_phase(12, 6.0));
    let (code, out, _) = compare(
        &base,
        &run_dir(tmp.path(), "few", &with_phase(12, 30.0)),
        &[],
    );
    assert_eq!(code, 0, "{out}");
    assert!(row(&out).contains("too few samples"), "{out}");
    // Hundreds of samples each: the same growth is a regression.
    let base = run_dir(tmp.path(), "many-base", &with_phase(5000, 6.0));
    let (code, out, _) = compare(
        &base,
        &run_dir(tmp.path(), "many", &with_phase(5000, 30.0)),
        &[],
    );
    assert_eq!(code, 1, "{out}");
    assert!(row(&out).contains("REGRESSED"), "{out}");
}

#[test]
fn report_command_renders_every_format_from_report_json() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let r = full_report();
    let dir = run_dir(tmp.path(), "run", &r);
    let run = |format: &str| {
        let (code, out, err) = bin(&[
            "report".as_ref(),
            dir.as_os_str(),
            "--format".as_ref(),
            format.as_ref(),
        ]);
        assert_eq!(code, 0, "{format}: {err}");
        out
    };
    assert!(run("table").contains("verdict: PASSED"));
    assert_eq!(
        serde_json::from_str::<Value>(&run("json")).expect("json"),
        to_value(&r)
    );
    assert!(roxmltree::Document::parse(&run("junit")).is_ok());
    assert_eq!(run("md"), render(|out| markdown::render(&r, out)));
    assert!(run("html").contains("<svg"));
    assert_eq!(
        bin(&["report".as_ref(), tmp.path().join("nowhere").as_os_str()]).0,
        2
    );
}

/// A report read back gives the same floats, bit for bit: throughput figures such as
/// 45.276325616131444 MB/s lost their last digit with serde_json's default float parser.
#[test]
fn report_json_read_back_keeps_every_float() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut r = full_report();
    let awkward = [
        45.276325616131444,
        0.1 + 0.2,
        1e-7 / 3.0,
        123_456.789_012_345_68,
    ];
    for (i, x) in awkward.iter().enumerate() {
        r.snapshots[0].mb_per_sec = *x;
        let dir = run_dir(tmp.path(), &format!("run{i}"), &r);
        let back = etcd_drill::report::read::read_report(&dir.join("report.json")).expect("read");
        assert_eq!(back.snapshots[0].mb_per_sec.to_bits(), x.to_bits(), "{x}");
    }
}

/// The committed schema is the one derived from the types: a field added to the report, or a
/// changed type, shows here. `ETCD_DRILL_WRITE_SCHEMA=1 cargo test --test reports` rewrites it.
#[test]
fn committed_schema_is_derived_from_the_types() {
    let path = root().join("src/report/report.schema.json");
    let derived = serde_json::to_string_pretty(&etcd_drill::record::schema()).expect("json") + "\n";
    if std::env::var_os("ETCD_DRILL_WRITE_SCHEMA").is_some() {
        std::fs::write(&path, &derived).expect("write the schema");
    }
    let committed = std::fs::read_to_string(&path).expect("schema");
    assert!(
        committed == derived,
        "src/report/report.schema.json differs from the schema derived from the record types; \
         run ETCD_DRILL_WRITE_SCHEMA=1 cargo test --test reports, and bump SCHEMA_VERSION if a \
         meaning changed"
    );
}

#[test]
fn a_piped_summary_fits_80_columns_or_columns() {
    let widest = |columns: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_etcd-drill"));
        cmd.args([
            "report",
            "reports/examples/kill-leader",
            "--format",
            "table",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("COLUMNS");
        if let Some(c) = columns {
            cmd.env("COLUMNS", c);
        }
        let out = cmd.output().expect("runs");
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let widest = text.lines().map(|l| l.chars().count()).max().unwrap_or(0);
        (widest, text)
    };
    let (w, text) = widest(None);
    assert!((60..=80).contains(&w), "{w}: {text}");
    // Nothing is cut: the words are all there, wrapped.
    assert!(text.contains("acknowledged writes lost"), "{text}");
    let (w, _) = widest(Some("132"));
    assert!((100..=132).contains(&w), "{w}");
}

/// An auditor opens report.html to learn whether the drill passed and what it proved: the
/// verdict, the headline figures, the gates and the evidence come before the timeline and
/// before how the drill ran.
#[test]
fn the_html_first_screen_holds_the_verdict_the_figures_and_the_gates() {
    let r = full_report();
    let html = render(|out| etcd_drill::report::html::render(&r, out));
    let at = |needle: &str| {
        html.find(needle)
            .unwrap_or_else(|| panic!("{needle} is not in the page"))
    };
    let order = [
        "class=\"verdict pass\"",
        "RTO (first quorum write)",
        "RPO (time)",
        "acknowledged writes lost",
        "<h2>Gates</h2>",
        "<h2>Evidence</h2>",
        "<h2>Timeline</h2>",
        "<h2>Scenario</h2>",
        "<h2>Steps</h2>",
    ];
    for pair in order.windows(2) {
        assert!(at(pair[0]) < at(pair[1]), "{} before {}", pair[0], pair[1]);
    }
    // The RTO is drawn on the timeline, and no internal sentinel shows.
    assert!(html.contains("class=\"rto\""), "no RTO bracket");
    assert!(!html.contains("compacted at -1"));
}

/// The known-bug judgement, fed real findings: members that part after a fault (`hashkv`) and
/// acknowledged writes that cannot be read back (`durability`), on a version that carries the
/// bug (caught; the gates the bug explains pass), on a fixed one (a false alarm fails), and on a
/// clean run (not reproduced).
#[test]
fn a_known_bug_is_judged_by_the_check_that_catches_it() {
    use etcd_drill::plan::KnownBugPlan;
    use etcd_drill::record::GateVerdict;
    use etcd_drill::report::known_bug::judge;
    let bug = |fails_with: &str| KnownBugPlan {
        issue: 13766,
        fixed_in: vec!["3.5.3".into()],
        introduced_in: Some("3.5.0".into()),
        fails_with: fails_with.into(),
    };
    // The gate as the run's end evaluated it, failed by the finding.
    fn fail(r: &mut RunReport, name: &str) {
        r.gates.retain(|g| g.gate != name);
        r.gates.push(GateVerdict {
            gate: name.into(),
            target: "as the run asked".into(),
            actual: "failed".into(),
            passed: false,
        });
    }
    let gate = |r: &RunReport, name: &str| -> GateVerdict {
        r.gates
            .iter()
            .find(|g| g.gate == name)
            .cloned()
            .expect(name)
    };
    let parted = |version: &str| {
        let mut r = full_report();
        r.cluster.image = format!("etcd-drill/etcd:v{version}");
        r.faults[0].hashkv_equal = Some(false);
        r.faults[0].divergence = Some(etcd_drill::record::Divergence {
            revision: 27,
            members: vec!["etcd-3".into()],
            differing_keys: 1,
            examples: vec!["/d/20: missing on etcd-3".into()],
        });
        let name = format!("fault {}: HashKV equal after recovery", r.faults[0].name);
        fail(&mut r, &name);
        r
    };
    let mut r = parted("3.5.1");
    judge(&bug("hashkv"), &mut r);
    let k = r.known_bug.clone().expect("a finding");
    assert!(k.affected && k.found == 1, "{k:?}");
    let why = &k.first.as_ref().expect("the first").why;
    assert!(
        why.contains("etcd-3 part from the others at revision 27"),
        "{why}"
    );
    assert!(gate(&r, "known bug: etcd#13766").passed);
    let explained = format!("fault {}: HashKV equal after recovery", r.faults[0].name);
    assert!(gate(&r, &explained).passed, "the bug explains it");

    let mut r = parted("3.5.16");
    judge(&bug("hashkv"), &mut r);
    let g = gate(&r, "known bug: etcd#13766");
    assert!(!g.passed && g.actual.starts_with("false alarm"), "{g:?}");
    assert!(
        !gate(&r, &explained).passed,
        "a fixed etcd's failure stays one"
    );

    let mut r = full_report();
    r.cluster.image = "etcd-drill/etcd:v3.5.1".into();
    judge(&bug("hashkv"), &mut r);
    let g = gate(&r, "known bug: etcd#13766");
    assert_eq!(
        (g.passed, g.actual.as_str()),
        (false, "not reproduced in this run")
    );

    let mut r = full_report();
    r.cluster.image = "etcd-drill/etcd:v3.5.1".into();
    let d = r.verification.as_mut().and_then(|v| v.durability.as_mut());
    let d = d.expect("the fixture checked durability");
    (d.lost, d.examples) = (3, vec!["/drill/workload/000000000042".into()]);
    fail(&mut r, "check: durability");
    judge(&bug("durability"), &mut r);
    assert_eq!(r.known_bug.as_ref().map(|k| k.found), Some(3));
    assert!(gate(&r, "check: durability").passed && gate(&r, "known bug: etcd#13766").passed);
}
