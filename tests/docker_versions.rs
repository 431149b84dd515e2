//! The etcd versions users run, on real containers: images built from Debian's packages, a
//! version matrix, a cross-version restore and Kubernetes' restore procedure with and without
//! its flags. With CI=true, missing Docker fails.

mod common;

use common::*;
use etcd_drill::exit_codes;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_safe_restore_keeps_revisions_rising_and_tells_the_watcher() {
    if docker().await.is_none() {
        return;
    }
    let (code, r) = drill("scenarios/kubernetes-safe-restore.yaml").await;
    assert_eq!(code, exit_codes::PASSED, "{}", r["gates"]);
    assert_eq!(r["restore"]["bump_revision"], 1_000_000);
    let log = &r["workload"];
    let across = &log["across_restores"][0];
    let (before, after) = (
        across["highest_before"].as_i64().unwrap(),
        across["first_after"].as_i64().unwrap(),
    );
    assert!(after > before + 900_000, "{across}");
    let view = &log["watch"]["restores"][0];
    assert!(view["compacted"].as_i64().unwrap() > before, "{view}");
    assert_eq!(view["invisible_revisions"], 0, "{view}");
    assert_eq!(log["watch"]["gaps"].as_array().unwrap().len(), 0, "{view}");
}

/// The same drill without `--bump-revision --mark-compacted`: the checkers see what Kubernetes
/// would suffer, revisions going back and a watcher silently missing events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_restore_shows_the_regression_kubernetes_would_suffer() {
    if docker().await.is_none() {
        return;
    }
    let text = std::fs::read_to_string(crate_dir().join("scenarios/kubernetes-safe-restore.yaml"))
        .unwrap();
    let plain = text.replace(
        "restore: { snapshot: before, bump-revision: 1000000, mark-compacted: true }",
        "restore: { snapshot: before }",
    );
    assert_ne!(plain, text, "the scenario's restore line changed");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plain-restore.yaml");
    std::fs::write(&path, plain).unwrap();
    let (code, r) = drill(path.to_str().unwrap()).await;
    assert_eq!(code, exit_codes::GATE_FAILED, "{}", r["gates"]);
    let failed: Vec<&Value> = r["gates"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["passed"] == false)
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["gate"], "revisions-survive-restore");
    let log = &r["workload"];
    let across = &log["across_restores"][0];
    assert!(
        across["first_after"].as_i64() < across["highest_before"].as_i64(),
        "{across}"
    );
    // The watcher was delivered the 100 writes after the snapshot (`wait-writes` waits for
    // it), and counts the revisions the restored cluster will hand out again without a word.
    let view = &log["watch"]["restores"][0];
    let snapshot = r["snapshots"][0]["revision"].as_i64().unwrap();
    let last_seen = view["last_seen"].as_i64().unwrap();
    let resumed_at = view["cluster_revision"].as_i64().unwrap();
    assert!(last_seen >= snapshot + 100, "{view}");
    assert_eq!(
        view["invisible_revisions"].as_i64().unwrap(),
        (last_seen - resumed_at).max(0),
        "{view}"
    );
    assert!(view["compacted"].is_null(), "{view}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_3_4_snapshot_restores_into_a_3_5_cluster_key_for_key() {
    if docker().await.is_none() {
        return;
    }
    let (code, r) = drill("scenarios/restore-3.4-snapshot-on-3.5.yaml").await;
    assert_eq!(code, exit_codes::PASSED, "{}", r["gates"]);
    assert_eq!(r["environment"]["etcd_version"], "3.4.23");
    assert_eq!(r["restore"]["etcd_version"], "3.5.30", "{}", r["restore"]);
    assert_eq!(r["restore"]["image"], "etcd-drill/etcd:v3.5.30");
    let v = &r["verification"];
    assert_eq!(v["snapshot_digest"]["equal"], true, "{v}");
    assert_eq!(v["seed"]["missing"], 0, "{v}");
    assert_eq!(v["hashkv_equal"], true, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quickstart_passes_on_three_versions_in_one_matrix() {
    if docker().await.is_none() {
        return;
    }
    let reports = tempfile::tempdir().unwrap();
    let out = bin()
        .args([
            "run",
            "--etcd-version",
            "3.4.23,3.5.16,3.5.30",
            "scenarios/quickstart.yaml",
            "--report-dir",
        ])
        .arg(reports.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(exit_codes::PASSED),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut versions: Vec<String> = std::fs::read_dir(reports.path())
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .map(|p| read_report(&p)["environment"]["etcd_version"].to_string())
        .collect();
    versions.sort();
    assert_eq!(versions, ["\"3.4.23\"", "\"3.5.16\"", "\"3.5.30\""]);
    for v in ["etcd 3.4.23", "etcd 3.5.16", "etcd 3.5.30"] {
        assert!(stdout.contains(v), "the matrix names {v}: {stdout}");
    }
    let junit = std::fs::read_to_string(reports.path().join("junit.xml")).unwrap();
    assert_eq!(junit.matches("<testsuite ").count(), 3, "{junit}");
}

#[test]
fn a_version_etcd_drill_cannot_build_is_refused_before_anything_starts() {
    let out = bin()
        .args([
            "run",
            "--etcd-version",
            "3.5.30,3.9.9",
            "scenarios/quickstart.yaml",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(exit_codes::BAD_INPUT));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("3.9.9") && err.contains("3.4.23, 3.5.1, 3.5.16, 3.5.30"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_upgrade_from_3_4_to_3_5_under_load_loses_no_write() {
    if docker().await.is_none() {
        return;
    }
    let (code, r) = drill("scenarios/upgrade-3.4-to-3.5.yaml").await;
    assert_eq!(code, exit_codes::PASSED, "{}", r["gates"]);
    let u = &r["upgrades"][0];
    assert_eq!(
        (&u["from"], &u["to"]),
        (&"3.4.23".into(), &"3.5.30".into()),
        "{u}"
    );
    let members = u["members"].as_array().unwrap();
    assert_eq!(members.len(), 3, "{u}");
    for m in members {
        assert_eq!(m["version"], "3.5.30", "{m}");
        assert!(m["serving_ms"].as_u64() > m["stopped_ms"].as_u64(), "{m}");
    }
    // Followers first, the leader last.
    let leaders: Vec<bool> = members.iter().map(|m| m["was_leader"] == true).collect();
    assert_eq!(leaders, [false, false, true], "{u}");
    assert_eq!(u["cluster_version"], "3.5.0", "{u}");
    assert_eq!(u["hashkv_equal"], true, "{u}");
    assert_eq!(u["lost_acknowledged_writes"], 0, "{u}");
    assert_eq!(r["verification"]["durability"]["lost"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mixed_version_cluster_serves_and_its_upgrade_finishes() {
    if docker().await.is_none() {
        return;
    }
    let (code, r) = drill("scenarios/mixed-versions-upgrade.yaml").await;
    assert_eq!(code, exit_codes::PASSED, "{}", r["gates"]);
    let env = &r["environment"];
    assert_eq!(env["etcd_version"], "3.4.23 + 3.5.30", "{env}");
    assert_eq!(env["member_versions"]["etcd-3"], "3.4.23", "{env}");
    assert_eq!(env["member_versions"]["etcd-1"], "3.5.30", "{env}");
    let u = &r["upgrades"][0];
    assert_eq!(u["from"], "3.4.23 + 3.5.30", "{u}");
    assert_eq!(u["cluster_version"], "3.5.0", "{u}");
    for m in u["members"].as_array().unwrap() {
        assert_eq!(m["version"], "3.5.30", "{m}");
    }
    assert_eq!(r["verification"]["durability"]["lost"], 0);
}
