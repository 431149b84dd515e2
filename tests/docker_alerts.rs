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
    // Held down 10 s at a 1 s scrape: Prometheus recorded its scrapes going unanswered.
    let failed = r["alerts"]["failed_scrapes"][format!("{killed}:2379")].as_u64();
    assert!(
        failed.is_some_and(|n| n >= 3),
        "{:#}",
        r["alerts"]["failed_scrapes"]
    );
    // A healthy cluster is not reported down before the fault.
    for a in alerts(&r) {
        let availability = ["EtcdMemberDown", "EtcdNoLeader", "EtcdInsufficientMembers"];
        assert!(
            !(a["after"].is_null() && availability.contains(&a["name"].as_str().unwrap())),
            "fired in the steady state: {a:#}"
        );
    }
}

/// The first firing of `name`, asserted to answer `what` within the rule's window: `for: 3s`
/// at a 1 s scrape and evaluation, so at least 3 s and at most a failed scrape, an evaluation
/// to start pending and one to fire later.
fn fired_in_window<'a>(r: &'a Value, name: &str, what: &str) -> &'a Value {
    let a = alerts(r)
        .iter()
        .filter(|a| a["name"] == name)
        .min_by_key(|a| a["fired_ms"].as_u64())
        .unwrap_or_else(|| panic!("{name} never fired: {:#}", r["alerts"]));
    assert_eq!(a["after"]["what"], what, "{a:#}");
    let detect = a["detect_ms"].as_u64().unwrap();
    assert!(
        (3_000..=7_000).contains(&detect),
        "{name} detected in {detect} ms"
    );
    a
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_minority_says_it_has_no_leader_until_the_split_heals() {
    if docker().await.is_none() {
        return;
    }
    let (code, r) = drill("scenarios/alerts-partition-minority.yaml").await;
    assert_eq!(code, exit_codes::PASSED, "{:#}", r["gates"]);
    let f = fault(&r);
    let cut: Vec<String> = f["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| format!("{}:2379", m.as_str().unwrap()))
        .collect();
    let a = fired_in_window(
        &r,
        "EtcdNoLeader",
        &format!("fault {}", f["name"].as_str().unwrap()),
    );
    // Only the cut members lose their leader; the majority keeps it.
    for a in alerts(&r).iter().filter(|a| a["name"] == "EtcdNoLeader") {
        let instance = a["labels"]["instance"].as_str().unwrap().to_string();
        assert!(
            cut.contains(&instance),
            "{instance} is not cut off: {cut:?}"
        );
    }
    assert!(a["resolve_ms"].as_u64().is_some(), "{a:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_quorum_is_alerted_and_resolved_by_the_restore() {
    if docker().await.is_none() {
        return;
    }
    let (code, r) = drill("scenarios/alerts-quorum-loss-restore.yaml").await;
    assert_eq!(code, exit_codes::PASSED, "{:#}", r["gates"]);
    let what = format!("fault {}", fault(&r)["name"].as_str().unwrap());
    let a = fired_in_window(&r, "EtcdInsufficientMembers", &what);
    // Resolved once the restored cluster serves: after the disaster began.
    let disaster = r["disaster"]["started_ms"].as_u64().unwrap();
    assert!(a["resolved_ms"].as_u64().unwrap() > disaster, "{a:#}");
    fired_in_window(&r, "EtcdNoLeader", &what);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_cluster_raises_no_alert() {
    if docker().await.is_none() {
        return;
    }
    let (code, r) = drill("scenarios/alerts-steady-state.yaml").await;
    assert_eq!(code, exit_codes::PASSED, "{:#}", r["gates"]);
    assert!(alerts(&r).is_empty(), "{:#}", r["alerts"]);
    assert!(r["alerts"]["notifications"] == 0);
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
        vec!["check", "rules", "etcd-alerts.yml", "etcd-drill-alerts.yml"],
        vec![
            "test",
            "rules",
            "etcd-alerts.test.yml",
            "etcd-drill-alerts.test.yml",
        ],
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

/// The README's rules for the drill itself, end to end: a real Pushgateway and a real
/// Prometheus evaluating `etcd-drill-alerts.yml`; `verify-backup --pushgateway` of a folder whose
/// newest backup is 30 hours old fails its freshness gate, and EtcdBackupTooOld fires.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_backup_pushed_to_a_pushgateway_fires_the_shipped_alert_in_prometheus() {
    use etcd_drill::sandbox::{ContainerSpec, Runtime, Sandbox};
    use std::sync::Arc;
    use std::time::{Duration, SystemTime};
    let Some(d) = docker().await else { return };
    let image = etcd_drill::image::monitoring::ensure(&d, &mut |m| eprintln!("{m}"))
        .await
        .expect("the monitoring image");
    let runtime: Arc<dyn Runtime> = Arc::new(d);
    let sandbox = Arc::new(Sandbox::new(
        runtime.clone(),
        &format!("pushgw-{}", std::process::id()),
    ));
    let (sb, rt) = (sandbox.clone(), runtime.clone());
    let rules =
        std::fs::read_to_string(crate_dir().join("docker/prometheus/etcd-drill-alerts.yml"))
            .unwrap();
    let prometheus_yml = "global: { scrape_interval: 1s, evaluation_interval: 1s }\n\
        rule_files: [/etc/prometheus/rules.yml]\n\
        scrape_configs:\n  - job_name: pushgateway\n    honor_labels: true\n    static_configs: [{ targets: [\"pushgateway:9091\"] }]\n";
    let test = async move {
        let (sandbox, runtime) = (sb.clone(), rt);
        let container = |role: &str, cmd: &[&str], port: u16| ContainerSpec {
            name: sb.name(role),
            image: image.clone(),
            entrypoint: Some(vec![cmd[0].to_string()]),
            cmd: cmd[1..].iter().map(|s| s.to_string()).collect(),
            labels: sb.labels(role),
            network: sb.network.clone(),
            aliases: vec![role.to_string()],
            volumes: Vec::new(),
            host_files: Vec::new(),
            publish: Some(port),
            cap_add: Vec::new(),
            devices: Vec::new(),
        };
        sandbox.create_network().await.unwrap();
        let gw = container(
            "pushgateway",
            &["pushgateway", "--web.listen-address=:9091"],
            9091,
        );
        runtime.create_container(&gw).await.unwrap();
        runtime.start(&gw.name).await.unwrap();
        let prom = container(
            "prometheus",
            &[
                "prometheus",
                "--config.file=/etc/prometheus/prometheus.yml",
                "--storage.tsdb.path=/tmp/p",
            ],
            9090,
        );
        runtime.create_container(&prom).await.unwrap();
        let files = etcd_drill::sandbox::tar_of(&[
            (
                "etc/prometheus/prometheus.yml",
                0o644,
                prometheus_yml.as_bytes(),
            ),
            ("etc/prometheus/rules.yml", 0o644, rules.as_bytes()),
        ])
        .unwrap();
        runtime.upload(&prom.name, "/", files).await.unwrap();
        runtime.start(&prom.name).await.unwrap();
        let gw_port = runtime.host_port(&gw.name, 9091).await.unwrap();
        let prom_port = runtime.host_port(&prom.name, 9090).await.unwrap();
        // A store whose one backup was written 30 hours ago.
        let store = tempfile::tempdir().unwrap();
        let backup = store.path().join("etcd-snapshot.db");
        std::fs::copy(
            crate_dir().join("tests/fixtures/snapshots/external-3.5.1.db"),
            &backup,
        )
        .unwrap();
        std::fs::File::options()
            .write(true)
            .open(&backup)
            .unwrap()
            .set_modified(SystemTime::now() - Duration::from_secs(30 * 3600))
            .unwrap();
        let reports = tempfile::tempdir().unwrap();
        let out = bin()
            .arg("verify-backup")
            .arg(store.path())
            .args(["--members", "1", "--max-age", "26h", "--pushgateway"])
            .arg(format!("http://127.0.0.1:{gw_port}"))
            .arg("--report-dir")
            .arg(reports.path())
            .output()
            .unwrap();
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(exit_codes::GATE_FAILED), "{said}");
        // Prometheus scrapes the gateway each second and evaluates the rule each second.
        let url = format!("http://127.0.0.1:{prom_port}/api/v1/alerts");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let mut last = String::new();
        while tokio::time::Instant::now() < deadline {
            if let Ok(r) = reqwest::get(&url).await {
                last = r.text().await.unwrap_or_default();
                let v: Value = serde_json::from_str(&last).unwrap_or(Value::Null);
                let firing = v["data"]["alerts"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|a| {
                        a["labels"]["alertname"] == "EtcdBackupTooOld" && a["state"] == "firing"
                    });
                if firing {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        panic!("EtcdBackupTooOld did not fire within 60 s: {last}\n{said}");
    };
    let outcome = tokio::spawn(test).await;
    let left = sandbox.teardown().await;
    assert!(left.is_empty(), "{left:?}");
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}
