//! Evidence across runs on real etcd: monthly runs that chain and sign, `compare` that passes
//! two runs differing only by noise and flags a real slowdown (a longer election timeout),
//! `history` over them, and `verify-snapshot`'s summary of a Kubernetes-shaped snapshot and of
//! an empty one.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const KUBERNETES: &str = "tests/fixtures/snapshots/kubernetes-3.5.30.db";
const EMPTY: &str = "tests/fixtures/snapshots/empty-3.5.30.db";

fn run(args: &[&str]) -> Output {
    let out = bin().args(args).output().expect("the binary runs");
    if !out.status.success() {
        eprintln!(
            "etcd-drill {}: {}\n{}\n{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The monthly drill: small, with a writer (so phases have latencies and the RPO counts writes;
/// `wait-writes` makes every month lose writes, so no run's count starts from zero).
fn scenario(dir: &Path, election_timeout_ms: u64) -> PathBuf {
    let path = dir.join(format!("monthly-{election_timeout_ms}.yaml"));
    let yaml = format!(
        "name: monthly\n\
         cluster:\n  members: 3\n  etcd:\n    heartbeat-interval: {}ms\n    election-timeout: {election_timeout_ms}ms\n\
         seed: {{ keys: 1000, value-size: 256, rng-seed: 7 }}\n\
         workload: {{ rate: 20 }}\n\
         steps:\n  - wait-healthy: {{}}\n  - seed: {{}}\n  - snapshot: {{ name: nightly }}\n  - wait-writes: {{ count: 40 }}\n  - disaster: {{}}\n  - restore: {{ snapshot: nightly }}\n  - verify: {{}}\n\
         expect:\n  rto: 60s\n  max-lost-acknowledged-writes: 200\n  integrity: true\n",
        election_timeout_ms / 10
    );
    std::fs::write(&path, yaml).expect("scenario written");
    path
}

fn runs_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("report dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("report.json").is_file())
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monthly_runs_chain_and_sign_and_compare_judges_noise_apart_from_a_slowdown() {
    let Some(d) = docker().await else { return };
    let tmp = tempfile::tempdir().expect("tempdir");
    let (sk, pk) = (tmp.path().join("drill.key"), tmp.path().join("drill.pub"));
    let o = run(&[
        "keygen",
        "--secret-key",
        sk.to_str().unwrap(),
        "--public-key",
        pk.to_str().unwrap(),
    ]);
    assert!(o.status.success());
    let reports = tmp.path().join("reports");
    let drill = |scenario: &Path| {
        run(&[
            "run",
            scenario.to_str().unwrap(),
            "--report-dir",
            reports.to_str().unwrap(),
            "--sign-key",
            sk.to_str().unwrap(),
        ])
    };
    let usual = scenario(tmp.path(), 1000);
    for _ in 0..2 {
        let o = drill(&usual);
        assert!(o.status.success(), "{}", text(&o));
    }
    let runs = runs_in(&reports);
    assert_eq!(runs.len(), 2);
    for r in &runs {
        let id = read_report(r)["run_id"].as_str().unwrap().to_string();
        assert!(leftovers(&d, &id).await.is_empty(), "{id} left resources");
    }
    // The second month links to the first, and both are signed by our key.
    let second = read_report(&runs[1]);
    let first_id = read_report(&runs[0])["run_id"].clone();
    assert_eq!(second["evidence"]["previous"]["run_id"], first_id);
    let o = run(&[
        "verify-report",
        runs[1].to_str().unwrap(),
        "--public-key",
        pk.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("linked to"), "{}", text(&o));

    // Two runs of the same drill differ only by noise. One of them may have shared the machine
    // with a build: a figure that doubles is allowed here (a real slowdown, below, is five to
    // ten times the figure).
    let o = run(&[
        "compare",
        runs[0].to_str().unwrap(),
        runs[1].to_str().unwrap(),
        "--max-regression",
        "100",
    ]);
    assert!(
        o.status.success(),
        "noise is not a regression:\n{}",
        text(&o)
    );

    // A real slowdown: ten times the election timeout delays the restored cluster's leader
    // (by 10 to 20 s, where the noise floor is 2 s: one election timeout and a second).
    let o = drill(&scenario(tmp.path(), 10000));
    assert!(o.status.success(), "{}", text(&o));
    let runs = runs_in(&reports);
    assert_eq!(runs.len(), 3);
    let slow = runs
        .iter()
        .find(|r| !runs[..2].contains(r))
        .expect("the slow run")
        .clone();
    let o = run(&["compare", runs[1].to_str().unwrap(), slow.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = text(&o);
    let rto = out
        .lines()
        .find(|l| l.contains("RTO (first quorum write)"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(rto.contains("REGRESSED"), "{out}");

    // The trend over the three: the newest regressed against the first two.
    let o = run(&["history", reports.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("regressed on RTO first write"),
        "{}",
        text(&o)
    );
    // Every month's metrics name the scenario; none holds the secret key.
    let secret = std::fs::read_to_string(&sk)
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .to_string();
    for r in &runs {
        for f in std::fs::read_dir(r).unwrap().flatten() {
            if f.path().is_file() {
                let bytes = std::fs::read(f.path()).unwrap();
                assert!(
                    !String::from_utf8_lossy(&bytes).contains(&secret),
                    "{}",
                    f.path().display()
                );
            }
        }
        let metrics = std::fs::read_to_string(r.join("metrics.prom")).expect("metrics.prom");
        assert!(metrics.contains("scenario=\"monthly\""), "{metrics}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_snapshot_summarises_a_kubernetes_keyspace_in_a_bounded_table() {
    let Some(d) = docker().await else { return };
    let reports = tempfile::tempdir().expect("tempdir");
    let o = run(&[
        "verify-snapshot",
        KUBERNETES,
        "--members",
        "1",
        "--report-dir",
        reports.path().to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    let dir = only_run_dir(reports.path());
    let r = read_report(&dir);
    assert!(leftovers(&d, r["run_id"].as_str().unwrap())
        .await
        .is_empty());
    let k = &r["verification"]["keyspace"];
    assert_eq!(k["keys"], 3000, "{k}");
    assert_eq!(k["depth"], 2, "grouped by resource: {k}");
    let groups = k["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 12, "{k}");
    assert_eq!(groups[0]["prefix"], "/registry/events/", "{k}");
    assert!(groups
        .iter()
        .all(|g| g["prefix"].as_str().unwrap().starts_with("/registry/")
            && g["prefix"].as_str().unwrap().matches('/').count() == 3));
    assert!(
        k["rest"]["prefix"]
            .as_str()
            .unwrap()
            .ends_with("other prefixes"),
        "{k}"
    );
    let summed: u64 = groups
        .iter()
        .map(|g| g["keys"].as_u64().unwrap())
        .sum::<u64>()
        + k["rest"]["keys"].as_u64().unwrap();
    assert_eq!(summed, 3000);
    // On the terminal: one line per group, none of them long.
    let lines: Vec<&str> = out.lines().filter(|l| l.contains("/registry/")).collect();
    assert!((12..=14).contains(&lines.len()), "{out}");
    assert!(out.lines().all(|l| l.chars().count() < 240), "{out}");
    assert!(out.contains("of the 2.0 GiB backend quota"), "{out}");
    assert!(out.contains("to the first write on this machine"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_snapshot_is_reported_empty() {
    let Some(_d) = docker().await else { return };
    let reports = tempfile::tempdir().expect("tempdir");
    let o = run(&[
        "verify-snapshot",
        EMPTY,
        "--members",
        "1",
        "--report-dir",
        reports.path().to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let r = read_report(&only_run_dir(reports.path()));
    let k = &r["verification"]["keyspace"];
    assert_eq!(
        k["keys"], 0,
        "the harness's own probe is not the snapshot's: {k}"
    );
    assert_eq!(k["groups"].as_array().unwrap().len(), 0, "{k}");
}

/// Writes the two snapshot fixtures with a stand-alone etcd 3.5.30 outside the harness:
/// `kubernetes-3.5.30.db` (3,000 objects over 30 resources, keyed like an API server's) and
/// `empty-3.5.30.db`. Run by hand: `cargo test --test docker_evidence -- --ignored`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "writes the snapshot fixtures; run by hand"]
async fn make_snapshot_fixtures() {
    let name = "etcd-drill-fixture-maker";
    let _ = Command::new("docker").args(["rm", "-f", name]).output();
    let started = Command::new("docker")
        .args([
            "run",
            "-d",
            "--name",
            name,
            "--label",
            "etcd-drill.managed=true",
        ])
        .args(["-p", "127.0.0.1::2379", "etcd-drill/etcd:v3.5.30"])
        .args(["--name", "f", "--data-dir", "/tmp/data"])
        .args(["--listen-client-urls", "http://0.0.0.0:2379"])
        .args(["--advertise-client-urls", "http://127.0.0.1:2379"])
        .output()
        .expect("docker run");
    assert!(
        started.status.success(),
        "{}",
        String::from_utf8_lossy(&started.stderr)
    );
    let port = Command::new("docker")
        .args(["port", name, "2379"])
        .output()
        .expect("docker port");
    let addr = String::from_utf8_lossy(&port.stdout)
        .lines()
        .next()
        .unwrap()
        .trim()
        .to_string();
    let mut client = loop {
        if let Ok(mut c) = etcd_client::Client::connect([format!("http://{addr}")], None).await {
            if c.status().await.is_ok() {
                break c;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    save(&mut client, EMPTY).await;
    // 30 resources, the first few namespaced over 6 namespaces; events the largest.
    let resources = [
        "events",
        "pods",
        "replicasets",
        "secrets",
        "configmaps",
        "services",
        "endpointslices",
        "deployments",
        "serviceaccounts",
        "roles",
        "rolebindings",
        "leases",
        "jobs",
        "cronjobs",
        "statefulsets",
        "daemonsets",
        "persistentvolumeclaims",
        "poddisruptionbudgets",
        "networkpolicies",
        "ingress",
        "limitranges",
        "resourcequotas",
        "controllerrevisions",
        "horizontalpodautoscalers",
        "csinodes",
        "clusterroles",
        "clusterrolebindings",
        "priorityclasses",
        "apiregistration.k8s.io",
        "namespaces",
    ];
    // 3,000 objects: weights 30, 29, … 1 over 465, scaled.
    let total: usize = (1..=resources.len()).sum();
    let mut written = 0;
    for (i, r) in resources.iter().enumerate() {
        let mut n = 3000 * (resources.len() - i) / total;
        if i == resources.len() - 1 {
            n = 3000 - written;
        }
        for o in 0..n {
            let key = if i < 24 {
                format!("/registry/{r}/ns-{}/{r}-{o}", o % 6)
            } else {
                format!("/registry/{r}/{r}-{o}")
            };
            let value = format!(
                "{{\"kind\":\"{r}\",\"n\":{o},\"pad\":\"{}\"}}",
                "x".repeat(100 + (o * 37) % 900)
            );
            client.put(key, value, None).await.expect("put");
        }
        written += n;
    }
    assert_eq!(written, 3000);
    save(&mut client, KUBERNETES).await;
    let _ = Command::new("docker").args(["rm", "-f", name]).output();
}

async fn save(client: &mut etcd_client::Client, path: &str) {
    let mut stream = client.snapshot().await.expect("snapshot");
    let mut bytes = Vec::new();
    while let Some(m) = stream.message().await.expect("snapshot message") {
        bytes.extend_from_slice(m.blob());
    }
    std::fs::write(crate_dir().join(path), bytes).expect("fixture written");
}
