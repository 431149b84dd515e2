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
