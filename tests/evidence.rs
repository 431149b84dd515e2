//! Evidence across runs, without Docker: folders of runs written the way `run` writes them,
//! then `verify-report`, `history`, signatures (checked by the real `minisign` tool too),
//! `metrics.prom` through a real OpenMetrics / Prometheus text parser, and the Pushgateway push.

#[path = "reports/fixture.rs"]
#[allow(dead_code)]
mod fixture;

#[path = "common/tool.rs"]
mod tool;

use etcd_drill::evidence::{chain, sign};
use etcd_drill::record::{EvidenceInfo, RunReport, Verdict};
use etcd_drill::report::artifacts;
use std::path::{Path, PathBuf};
use std::process::Command;

fn bin(args: &[&str]) -> (i32, String, String) {
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

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// A month of the monthly drill: `rto_ms` to the first write, `day` of 2026 as its date,
/// linked to the newest earlier run in `root`, sealed, and signed when a signer is given.
fn month(
    root: &Path,
    n: u32,
    rto_ms: u64,
    verdict: Verdict,
    signer: Option<&sign::Signer>,
) -> (PathBuf, RunReport) {
    let mut r = fixture::full_report();
    r.run_id = format!("2026{n:02}01-060000-{n:04}");
    r.started_at = format!("2026-{n:02}-01T06:00:00.000Z");
    r.finished_at = format!("2026-{n:02}-01T06:00:22.000Z");
    r.verdict = verdict;
    r.restore.as_mut().expect("restore").rto_first_write_ms = rto_ms;
    r.evidence = Some(EvidenceInfo {
        previous: chain::previous_link(root, &r.scenario.name, &r.cluster.image, None)
            .expect("link"),
        signed_by_key_id: signer.map(|s| s.key_id().to_string()),
    });
    let dir = root.join(&r.run_id);
    let written = artifacts::write_run_dir(&r, &dir);
    assert!(written.errors.is_empty(), "{:?}", written.errors);
    if let Some(signer) = signer {
        signer
            .sign_manifest(&dir, &r.run_id, &r.scenario.name)
            .expect("signed");
    }
    (dir, r)
}

fn keys(dir: &Path) -> (PathBuf, PathBuf) {
    let (sk, pk) = (dir.join("drill.key"), dir.join("drill.pub"));
    let (code, out, err) = bin(&["keygen", "--secret-key", s(&sk), "--public-key", s(&pk)]);
    assert_eq!(code, 0, "{out}{err}");
    (sk, pk)
}

#[test]
fn verify_report_passes_an_intact_signed_folder_and_names_what_was_changed() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (sk, pk) = keys(tmp.path());
    let signer = sign::Signer::load(&sk).expect("key loads");
    let runs = tmp.path().join("reports");
    std::fs::create_dir_all(&runs).expect("mkdir");
    month(&runs, 1, 2200, Verdict::Passed, Some(&signer));
    let (feb, _) = month(&runs, 2, 2300, Verdict::Passed, Some(&signer));

    let (code, out, err) = bin(&["verify-report", s(&feb), "--public-key", s(&pk)]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("signature  ok: valid, key id"), "{out}");
    assert!(out.contains("chain      ok: linked to"), "{out}");
    // Without the key the signature is named but not checked.
    let (code, out, _) = bin(&["verify-report", s(&feb)]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("give --public-key"), "{out}");

    // Another key: the signature does not verify.
    let other = tmp.path().join("other");
    std::fs::create_dir_all(&other).expect("mkdir");
    let (_, other_pk) = keys(&other);
    let (code, out, _) = bin(&["verify-report", s(&feb), "--public-key", s(&other_pk)]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("signature  FAILED"), "{out}");

    // An altered file: the manifest names it.
    std::fs::write(feb.join("report.md"), "nothing happened").expect("alter");
    let (code, out, _) = bin(&["verify-report", s(&feb), "--public-key", s(&pk)]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("report.md: FAILED (content differs)"), "{out}");

    // Rewriting the manifest to match does not help: the signature no longer holds.
    etcd_drill::report::manifest::write_manifest(&feb).expect("reseal");
    let (code, out, _) = bin(&["verify-report", s(&feb), "--public-key", s(&pk)]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("manifest   ok"), "{out}");
    assert!(out.contains("signature  FAILED"), "{out}");
    // No secret key material in any file of the run.
    let secret_line = std::fs::read_to_string(&sk)
        .expect("key")
        .lines()
        .nth(1)
        .unwrap()
        .to_string();
    for e in std::fs::read_dir(&feb).expect("run dir") {
        let text = std::fs::read(e.expect("entry").path()).expect("read");
        assert!(!String::from_utf8_lossy(&text).contains(&secret_line));
    }
}

#[test]
fn verify_report_says_where_the_chain_breaks() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = &tmp.path().join("reports");
    std::fs::create_dir_all(root).expect("mkdir");
    let (jan, _) = month(root, 1, 2200, Verdict::Passed, None);
    let (feb, _) = month(root, 2, 2300, Verdict::Passed, None);
    let (mar, _) = month(root, 3, 2250, Verdict::Passed, None);
    let (code, out, _) = bin(&["verify-report", s(&jan)]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("first run of its chain"), "{out}");

    // January rewritten after February linked to it (a new file, resealed).
    std::fs::write(jan.join("note.txt"), "added later").expect("write");
    etcd_drill::report::manifest::write_manifest(&jan).expect("reseal");
    let (code, out, _) = bin(&["verify-report", s(&feb)]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("was changed after this run linked to it"),
        "{out}"
    );

    // February removed: March's link names it.
    let kept = tmp.path().join("kept-feb");
    std::fs::rename(&feb, &kept).expect("move");
    let (code, out, _) = bin(&["verify-report", s(&mar)]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("the previous run 20260201-060000-0002"),
        "{out}"
    );
    assert!(out.contains("is missing"), "{out}");
    // Kept elsewhere and named: the link holds.
    let (code, out, _) = bin(&["verify-report", s(&mar), "--previous", s(&kept)]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn a_signature_verifies_with_the_minisign_tool_and_its_keys_sign_for_us() {
    let Some(minisign) = minisign_tool() else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    // Our key, their tool.
    let (sk, pk) = keys(tmp.path());
    let signer = sign::Signer::load(&sk).expect("key loads");
    let (dir, _) = month(tmp.path(), 1, 2200, Verdict::Passed, Some(&signer));
    let out = Command::new(&minisign)
        .args(["-V", "-m"])
        .arg(dir.join("MANIFEST.sha256"))
        .arg("-p")
        .arg(&pk)
        .output()
        .expect("minisign runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Trusted comment: etcd-drill run"));
    // Our key without a password, their tool signing with it: no password asked, none wrong.
    let note = tmp.path().join("note.txt");
    std::fs::write(&note, "hello").expect("write");
    let out = Command::new(&minisign)
        .args(["-S", "-s"])
        .arg(&sk)
        .arg("-m")
        .arg(&note)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("minisign -S");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Their key (without a password), our signing.
    let theirs = tmp.path().join("theirs");
    std::fs::create_dir_all(&theirs).expect("mkdir");
    minisign_keys(&minisign, &theirs.join("k.pub"), &theirs.join("k.key"));
    let signer = sign::Signer::load_with(&theirs.join("k.key"), "").expect("their key loads");
    let runs = theirs.join("runs");
    std::fs::create_dir_all(&runs).expect("mkdir");
    let (dir, _) = month(&runs, 1, 2200, Verdict::Passed, Some(&signer));
    let (code, out, _) = bin(&[
        "verify-report",
        s(&dir),
        "--public-key",
        s(&theirs.join("k.pub")),
    ]);
    assert_eq!(code, 0, "{out}");
    // Their encrypted key (the password on stdin), opened with its password.
    let mut gen = Command::new(&minisign)
        .args(["-G", "-p"])
        .arg(theirs.join("e.pub"))
        .arg("-s")
        .arg(theirs.join("e.key"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("minisign -G");
    use std::io::Write;
    gen.stdin
        .take()
        .expect("stdin")
        .write_all(b"pw\npw\n")
        .expect("password");
    assert!(gen.wait().expect("minisign -G").success());
    assert!(
        sign::Signer::load_with(&theirs.join("e.key"), "").is_err(),
        "needs its password"
    );
    let signer = sign::Signer::load_with(&theirs.join("e.key"), "pw").expect("opens with it");
    let (dir, _) = month(&runs, 2, 2200, Verdict::Passed, Some(&signer));
    let (code, out, _) = bin(&[
        "verify-report",
        s(&dir),
        "--public-key",
        s(&theirs.join("e.pub")),
    ]);
    assert_eq!(code, 0, "{out}");
}

/// A key pair made by the minisign tool, without a password (`-G -W`).
fn minisign_keys(minisign: &Path, public: &Path, secret: &Path) {
    let gen = Command::new(minisign)
        .args(["-G", "-W", "-p"])
        .arg(public)
        .arg("-s")
        .arg(secret)
        .output()
        .expect("minisign -G");
    assert!(
        gen.status.success(),
        "{}",
        String::from_utf8_lossy(&gen.stderr)
    );
}

/// The minisign tool, or `None` (skip) without it; under CI its absence fails the test.
fn minisign_tool() -> Option<PathBuf> {
    tool::required(
        &["minisign"],
        "signatures are checked with the standard tool",
    )
}

#[test]
fn history_marks_a_regression_a_failed_month_and_a_missing_month() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    // Months 1..=9, RTO around 2.2 s; May failed; July removed later; September regressed.
    for (n, rto) in [
        (1, 2200),
        (2, 2350),
        (3, 2150),
        (4, 2280),
        (5, 2300),
        (6, 2190),
        (7, 2260),
        (8, 2240),
    ] {
        let v = if n == 5 {
            Verdict::GateFailed
        } else {
            Verdict::Passed
        };
        month(root, n, rto, v, None);
    }
    // Only noise so far: exit 0.
    let (code, out, err) = bin(&["history", s(root)]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("run gate failed"), "May is marked: {out}");

    month(root, 9, 7000, Verdict::Passed, None);
    std::fs::remove_dir_all(root.join("20260701-060000-0007")).expect("remove July");
    let (code, out, err) = bin(&["history", s(root)]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("REGRESSED RTO first write: 7000"), "{out}");
    assert!(
        err.contains("the newest run 20260901-060000-0009 regressed on RTO first write"),
        "{err}"
    );
    assert!(
        err.contains("previous run 20260701-060000-0007"),
        "the missing month is named: {err}"
    );
    assert!(out.contains("days since the previous run"), "{out}");

    let (_, md, _) = bin(&["history", s(root), "--format", "md"]);
    assert!(md.starts_with("# etcd-drill history"), "{md}");
    assert!(md.contains("| 2026-09-01 06:00 |"), "{md}");
    let (_, html, _) = bin(&["history", &format!("{}/2026*", s(root)), "--format", "html"]);
    assert!(
        html.contains("<svg") && html.contains("RTO first write"),
        "{html}"
    );
    assert!(html.matches("<figure>").count() >= 4, "{html}");
    assert!(
        html.contains("fill=\"#c0392b\"><title>20260901-060000-0009"),
        "September's regressed point is red"
    );

    let (code, _, err) = bin(&["history", &format!("{}/nothing-*", s(root))]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("matches no run"), "{err}");

    // Some months only: August links to July, which is outside the selection, not missing.
    std::fs::write(root.join("junit.xml"), "<testsuites/>").expect("a file beside the runs");
    let (code, out, err) = bin(&[
        "history",
        &format!("{}/*", s(root)),
        "--max-regression",
        "400",
    ]);
    assert!(!err.contains("junit.xml"), "a glob takes runs only: {err}");
    assert_eq!(
        code, 1,
        "July is still missing inside the selection: {out}{err}"
    );
    let (code, out, err) = bin(&[
        "history",
        &format!("{}/2026080*", s(root)),
        &format!("{}/2026090*", s(root)),
    ]);
    assert!(
        !err.contains("chain"),
        "a link before the selection is no break: {out}{err}"
    );
    assert_eq!(code, 1, "September still regressed against August: {err}");

    // A report.json edited in place, without resealing: the month is marked.
    let aug = root.join("20260801-060000-0008/report.json");
    let text = std::fs::read_to_string(&aug)
        .expect("read")
        .replacen("2240", "2140", 1);
    std::fs::write(&aug, text).expect("edit");
    let (_, out, err) = bin(&["history", s(root)]);
    assert!(out.contains("ALTERED"), "{out}");
    assert!(
        err.contains("20260801-060000-0008: report.json is not what its manifest says"),
        "{err}"
    );
}

#[test]
fn verify_report_takes_a_relative_path_and_misses_no_removed_signature() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (sk, _) = keys(tmp.path());
    let signer = sign::Signer::load(&sk).expect("key loads");
    let runs = tmp.path().join("runs");
    std::fs::create_dir_all(&runs).expect("mkdir");
    month(&runs, 1, 2200, Verdict::Passed, Some(&signer));
    let (feb, _) = month(&runs, 2, 2200, Verdict::Passed, Some(&signer));
    let out = Command::new(env!("CARGO_BIN_EXE_etcd-drill"))
        .current_dir(&runs)
        .args(["verify-report", "20260201-060000-0002"])
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("linked to"), "{text}");
    std::fs::remove_file(feb.join("MANIFEST.sha256.minisig")).expect("remove the signature");
    let (code, out, _) = bin(&["verify-report", s(&feb)]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("names signing key id"), "{out}");
}

#[test]
fn metrics_prom_is_valid_openmetrics_and_prometheus_text() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (dir, r) = month(tmp.path(), 1, 2187, Verdict::Passed, None);
    let text = std::fs::read_to_string(dir.join("metrics.prom")).expect("metrics.prom written");
    let om = openmetrics_parser::openmetrics::parse_openmetrics(&text)
        .unwrap_or_else(|e| panic!("not OpenMetrics: {e:?}\n{text}"));
    let rto = om
        .families
        .get("etcd_drill_rto_first_write_seconds")
        .expect("RTO family");
    let sample = rto.iter_samples().next().expect("a sample");
    let labels = sample.get_labelset().expect("labels");
    assert_eq!(
        labels.get_label_value("scenario"),
        Some(r.scenario.name.as_str())
    );
    assert_eq!(labels.get_label_value("run_id"), Some(r.run_id.as_str()));
    assert!(labels.get_label_value("etcd_version").is_some());
    assert_eq!(gauge(&sample.value), 2.187);
    for family in [
        "etcd_drill_passed",
        "etcd_drill_last_success_timestamp_seconds",
        "etcd_drill_rpo_seconds",
        "etcd_drill_lost_acknowledged_writes",
        "etcd_drill_fault_unavailable_seconds",
    ] {
        assert!(
            om.families.contains_key(family),
            "{family} missing:\n{text}"
        );
    }
    // node_exporter's textfile collector and the Pushgateway read the older text format.
    let prom = openmetrics_parser::prometheus::parse_prometheus(&text)
        .unwrap_or_else(|e| panic!("not Prometheus text: {e:?}\n{text}"));
    assert!(prom.families.contains_key("etcd_drill_passed"));
}

fn gauge(v: &openmetrics_parser::OpenMetricsValue) -> f64 {
    match v {
        openmetrics_parser::OpenMetricsValue::Gauge(n) => n.as_f64(),
        other => panic!("not a gauge: {other:?}"),
    }
}

#[test]
fn a_failed_month_keeps_the_last_success_timestamp_of_the_one_before() {
    let tmp = tempfile::tempdir().expect("tempdir");
    month(tmp.path(), 1, 2200, Verdict::Passed, None);
    let (dir, _) = month(tmp.path(), 2, 2200, Verdict::GateFailed, None);
    let text = std::fs::read_to_string(dir.join("metrics.prom")).expect("metrics");
    let om = openmetrics_parser::openmetrics::parse_openmetrics(&text).expect("parses");
    let last = om
        .families
        .get("etcd_drill_last_success_timestamp_seconds")
        .expect("family")
        .iter_samples()
        .next()
        .expect("sample");
    // 2026-01-01T06:00:22Z
    assert_eq!(gauge(&last.value), 1_767_247_222.0);
    let passed = om.families.get("etcd_drill_passed").expect("passed");
    assert_eq!(gauge(&passed.iter_samples().next().expect("s").value), 0.0);
}

#[tokio::test]
async fn metrics_are_pushed_to_a_pushgateway_by_put() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.expect("accept");
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = sock.read(&mut chunk).await.expect("read");
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf);
            if let Some(head_end) = text.find("\r\n\r\n") {
                let len: usize = text[..head_end]
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length: ")
                            .map(|v| v.trim().parse().unwrap())
                    })
                    .unwrap_or(0);
                if buf.len() >= head_end + 4 + len || n == 0 {
                    break;
                }
            }
        }
        sock.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            .await
            .expect("answer");
        String::from_utf8_lossy(&buf).into_owned()
    });
    let tmp = tempfile::tempdir().expect("tempdir");
    let (dir, _) = month(tmp.path(), 1, 2200, Verdict::Passed, None);
    let body = std::fs::read_to_string(dir.join("metrics.prom")).expect("metrics");
    let status = etcd_drill::notify::push_metrics(
        &format!("http://{addr}/"),
        ("evidence", "3.5.30"),
        body.clone(),
        std::time::Duration::from_secs(5),
    )
    .await
    .expect("pushed");
    assert_eq!(status, 200);
    let request = server.await.expect("server");
    assert!(
        request.starts_with(
            "PUT /metrics/job/etcd_drill/scenario/evidence/etcd_version/3.5.30 HTTP/1.1"
        ),
        "{request}"
    );
    assert!(request
        .to_ascii_lowercase()
        .contains("content-type: text/plain; version=0.0.4"));
    assert!(request.ends_with(&body));
}

/// A sealed run altered afterwards: `path` rewritten by `change`.
fn alter(dir: &Path, file: &str, change: impl FnOnce(String) -> String) {
    let p = dir.join(file);
    let text = std::fs::read_to_string(&p).expect("read");
    std::fs::write(&p, change(text)).expect("write");
}

#[test]
fn altered_evidence_is_reported_as_altered_wherever_it_is_read() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (dir, r) = month(tmp.path(), 1, 2200, Verdict::Passed, None);
    // A copy whose report was changed (a figure), and one whose report no longer parses.
    let copy = |name: &str| {
        let to = tmp.path().join("copies").join(name);
        std::fs::create_dir_all(&to).expect("mkdir");
        for f in std::fs::read_dir(&dir).expect("run dir").flatten() {
            if f.path().is_file() {
                std::fs::copy(f.path(), to.join(f.file_name())).expect("copy");
            }
        }
        to
    };
    let edited = copy("edited");
    alter(&edited, "report.json", |t| {
        let mut v: serde_json::Value = serde_json::from_str(&t).expect("json");
        v["restore"]["rto_first_write_ms"] = 1200.into();
        serde_json::to_string_pretty(&v).expect("json")
    });
    let broken = copy("broken");
    alter(&broken, "report.json", |t| t.replacen('{', "[", 1));

    // verify-report: a report that does not parse, in a sealed run, is altered (exit 1).
    let (code, out, err) = bin(&["verify-report", s(&broken)]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("manifest   FAILED: report.json: FAILED (content differs)"),
        "{out}"
    );
    assert!(
        out.contains("report     FAILED:") && out.contains("is not an etcd-drill report"),
        "{out}"
    );
    let (code, out, err) = bin(&["verify-report", "/nope"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("/nope: no such run directory"), "{err}");

    // report and compare render it, and say first that it was altered.
    let (code, _, err) = bin(&["report", s(&edited), "--format", "md"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("report.json does not match the run's MANIFEST.sha256"),
        "{err}"
    );
    let (code, _, err) = bin(&["report", s(&dir), "--format", "md"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        !err.contains("does not match"),
        "the intact run has no warning: {err}"
    );
    let (_, _, err) = bin(&["compare", s(&dir), s(&edited)]);
    assert!(
        err.contains(&format!("{}: report.json does not match", edited.display())),
        "{err}"
    );

    // compare takes several runs against one baseline (the pre-release recipe's glob).
    let (code, out, err) = bin(&["compare", s(&dir), s(&dir), s(&edited)]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.matches(&r.run_id).count() >= 2, "{out}");

    // history: one run id in two folders is a finding, in either order.
    for args in [[s(&dir), s(&edited)], [s(&edited), s(&dir)]] {
        let (code, out, err) = bin(&["history", args[0], args[1]]);
        assert_eq!(code, 1, "{out}{err}");
        assert!(
            err.contains(&format!("run {} is in two folders", r.run_id)),
            "{err}"
        );
    }
    // The same folder named twice is one run.
    let (code, out, err) = bin(&["history", s(&dir), s(&dir)]);
    assert!(!err.contains("two folders"), "{out}{err}");
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn a_run_is_signed_later_and_altered_evidence_never_is() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (sk, pk) = keys(tmp.path());
    let runs = tmp.path().join("runs");
    std::fs::create_dir_all(&runs).expect("mkdir");
    let (dir, _) = month(&runs, 1, 2200, Verdict::Passed, None);
    let (code, out, err) = bin(&["sign", s(&dir), "--sign-key", s(&sk)]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("signed: "), "{out}");
    let (code, out, _) = bin(&["verify-report", s(&dir), "--public-key", s(&pk)]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("signature  ok: valid, key id"), "{out}");
    let (code, _, err) = bin(&["sign", s(&dir), "--sign-key", s(&sk)]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("already signed"), "{err}");

    let (dir2, _) = month(&runs, 2, 2300, Verdict::Passed, None);
    alter(&dir2, "report.md", |t| t + "\nall good\n");
    let (code, _, err) = bin(&["sign", s(&dir2), "--sign-key", s(&sk)]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(
            "refusing to sign evidence that does not match its MANIFEST.sha256: report.md: FAILED"
        ),
        "{err}"
    );
    assert!(!dir2.join("MANIFEST.sha256.minisig").exists());
}

#[test]
fn a_plain_minisign_signature_verifies() {
    let Some(minisign) = minisign_tool() else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let (pk, sk) = (tmp.path().join("k.pub"), tmp.path().join("k.key"));
    minisign_keys(&minisign, &pk, &sk);
    let runs = tmp.path().join("runs");
    std::fs::create_dir_all(&runs).expect("mkdir");
    let (dir, _) = month(&runs, 1, 2200, Verdict::Passed, None);
    let signed = Command::new(&minisign)
        .args(["-S", "-s"])
        .arg(&sk)
        .arg("-m")
        .arg(dir.join("MANIFEST.sha256"))
        .output()
        .expect("minisign -S");
    assert!(
        signed.status.success(),
        "{}",
        String::from_utf8_lossy(&signed.stderr)
    );
    let (code, out, err) = bin(&["verify-report", s(&dir), "--public-key", s(&pk)]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("a plain minisign signature"), "{out}");
    // A signature of etcd-drill's own form that names another run is still refused.
    let other = sign::Signer::load_with(&sk, "").expect("their key loads");
    other
        .sign_manifest(&dir, "another-run", "monthly")
        .expect("signed");
    let (code, out, _) = bin(&["verify-report", s(&dir), "--public-key", s(&pk)]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("not this run"), "{out}");
}
