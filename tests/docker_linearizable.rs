//! The whole client history of real drills checked for linearizability: Kubernetes-shaped
//! traffic through a leader kill and a restore, on the current etcd. Skips without Docker; fails
//! under CI=true.

mod common;

use common::*;
use etcd_drill::exit_codes;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_traffic_through_a_leader_kill_and_a_restore_is_linearizable() {
    if docker().await.is_none() {
        return;
    }
    let reports = tempfile::tempdir().expect("a temp dir");
    let ran = run_with(
        std::path::Path::new("scenarios/kubernetes-traffic-linearizable.yaml"),
        reports.path(),
        |_| {},
    );
    assert_no_leftovers(&ran.report).await;
    assert_eq!(ran.code, exit_codes::PASSED, "{}", ran.out);
    let l = &ran.report["workload"]["linearizability"];
    assert_eq!(l["result"], "linearizable", "{l}");
    // Thousands of operations, most of them checked; some rolled back by the restore.
    assert!(l["checked"].as_u64().unwrap() > 1000, "{l}");
    assert!(l["rolled_back"].as_u64().unwrap() > 0, "{l}");
    // The history is in the run directory, sealed by the manifest, one restore in it.
    let dir = only_run_dir(reports.path());
    let history = std::fs::read_to_string(dir.join("history.jsonl")).expect("history.jsonl");
    assert_eq!(
        history
            .lines()
            .filter(|l| l.starts_with("{\"restore\""))
            .count(),
        1
    );
    for op in ["update", "delete", "lease_grant", "lease_revoke"] {
        assert!(
            history
                .lines()
                .any(|l| l.contains(&format!("\"op\":\"{op}\""))),
            "no {op} in the history"
        );
    }
    let manifest = std::fs::read_to_string(dir.join("MANIFEST.sha256")).expect("manifest");
    assert!(manifest.contains("history.jsonl"), "{manifest}");
}

/// The shipped fault scenario with Kubernetes-shaped traffic in place of its puts: (exit code,
/// report, output).
async fn with_kubernetes_traffic(scenario: &str) -> (i32, serde_json::Value, String) {
    let yaml = std::fs::read_to_string(crate_dir().join(scenario)).expect("shipped scenario");
    assert!(yaml.contains("\nworkload:\n"), "{scenario} has a workload");
    let extra = if yaml.contains("\n  concurrency:") {
        "  profile: kubernetes\n"
    } else {
        "  profile: kubernetes\n  concurrency: 8\n"
    };
    let yaml = yaml.replacen("\nworkload:\n", &format!("\nworkload:\n{extra}"), 1);
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir
        .path()
        .join(std::path::Path::new(scenario).file_name().unwrap());
    std::fs::write(&path, yaml).expect("scenario written");
    let reports = dir.path().join("reports");
    let ran = run_with(&path, &reports, |_| {});
    assert_no_leftovers(&ran.report).await;
    (ran.code, ran.report, ran.out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_partition_and_pause_of_the_leader_keep_kubernetes_traffic_linearizable() {
    if docker().await.is_none() {
        return;
    }
    for scenario in [
        "scenarios/kill-leader.yaml",
        "scenarios/partition-leader.yaml",
        "scenarios/pause-leader.yaml",
    ] {
        let (code, r, out) = with_kubernetes_traffic(scenario).await;
        assert_eq!(code, exit_codes::PASSED, "{scenario}: {out}");
        let l = &r["workload"]["linearizability"];
        assert_eq!(l["result"], "linearizable", "{scenario}: {l}");
        assert!(l["checked"].as_u64().unwrap() > 500, "{scenario}: {l}");
        assert_eq!(r["workload"]["config"]["profile"], "kubernetes");
    }
}
