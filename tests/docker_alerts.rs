//! Alert drills on real parts: etcd in Docker, Debian's Prometheus and Alertmanager beside it,
//! the notification received in the harness. With CI=true, missing Docker fails.

mod common;

use common::*;
use etcd_drill::exit_codes;
use serde_json::Value;

fn alerts(r: &Value) -> &Vec<Value> {
    r["alerts"]["alerts"].as_array().expect("an alerts section")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_leader_is_noticed_notified_and_resolved_in_the_rule_s_window() {
    if docker().await.is_none() {
        return;
    }
    let (code, r) = drill("scenarios/alerts-kill-leader.yaml").await;
    assert_eq!(code, exit_codes::PASSED, "{:#}", r["gates"]);
    let killed = fault(&r)["members"][0].as_str().unwrap().to_string();
    let down: Vec<&Value> = alerts(&r)
        .iter()
        .filter(|a| a["name"] == "EtcdMemberDown")
        .collect();
    assert_eq!(down.len(), 1, "{:#}", r["alerts"]);
    let a = down[0];
    assert_eq!(
        a["labels"]["instance"].as_str().unwrap(),
        format!("{killed}:2379")
    );
    assert_eq!(
        a["after"]["what"],
        format!("fault {}", fault(&r)["name"].as_str().unwrap())
    );
    // `for: 3s` at a 1 s scrape and evaluation: at least 3 s after the kill, and at most a
    // failed scrape, an evaluation to start pending and one to fire later.
    let detect = a["detect_ms"].as_u64().unwrap();
    assert!((3_000..=7_000).contains(&detect), "detected in {detect} ms");
    // group-wait 0s: the notification follows the firing.
    let notify = a["notify_ms"].as_u64().unwrap();
    assert!(
        notify >= detect && notify - detect < 2_000,
        "{detect} then {notify}"
    );
    assert!(a["resolved_ms"].as_u64().unwrap() > a["fired_ms"].as_u64().unwrap());
    // A healthy cluster is not reported down before the fault.
    for a in alerts(&r) {
        let availability = ["EtcdMemberDown", "EtcdNoLeader", "EtcdInsufficientMembers"];
        assert!(
            !(a["after"].is_null() && availability.contains(&a["name"].as_str().unwrap())),
            "fired in the steady state: {a:#}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_on_a_metric_etcd_does_not_export_ends_expected_but_never_fired() {
    if docker().await.is_none() {
        return;
    }
    let (code, r) = drill("scenarios/alerts-never-fires.yaml").await;
    assert_eq!(code, exit_codes::GATE_FAILED, "{:#}", r["gates"]);
    assert_eq!(
        r["alerts"]["never_fired"],
        serde_json::json!(["EtcdLeaderLost"])
    );
    let gate = r["gates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["gate"] == "alert EtcdLeaderLost fires")
        .expect("the alert's gate");
    assert_eq!(gate["actual"], "expected but never fired");
    assert_eq!(gate["passed"], false);
}

#[test]
fn a_rule_file_promtool_rejects_fails_validate_with_its_place() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.yml"),
        "groups:\n  - name: x\n    rules:\n      - alert: Broken\n        expr: up ==== 1\n",
    )
    .unwrap();
    let scenario = dir.path().join("s.yaml");
    std::fs::write(
        &scenario,
        "name: s\ncluster: { members: 1 }\nmonitoring: { rules: [bad.yml] }\nsteps:\n  - sleep: { duration: 1s }\n",
    )
    .unwrap();
    let out = bin().arg("validate").arg(&scenario).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(exit_codes::BAD_INPUT), "{stderr}");
    assert!(stderr.contains("bad.yml: 5:15"), "{stderr}");
    assert!(stderr.contains("could not parse expression"), "{stderr}");
}

/// `promtool check rules` and `promtool test rules` from the packages the drill's Prometheus
/// comes from, on every shipped rule file: each alert fires on the series that should fire it
/// and stays quiet on a healthy cluster.
#[tokio::test]
async fn the_shipped_rules_pass_promtool_s_checks_and_unit_tests() {
    let dir = crate_dir().join("docker/prometheus");
    for args in [
        vec!["check", "rules", "etcd-alerts.yml"],
        vec!["test", "rules", "etcd-alerts.test.yml"],
    ] {
        let mut c = etcd_drill::image::monitoring::promtool(&mut |m| eprintln!("{m}"))
            .await
            .expect("promtool from Debian's prometheus package");
        let out = c.args(&args).current_dir(&dir).output().await.unwrap();
        assert!(
            out.status.success(),
            "promtool {args:?}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
