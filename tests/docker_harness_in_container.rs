//! The harness in a container, as a CI job or a Kubernetes CronJob runs it: etcd-drill's own
//! image (`etcd-drill image harness`), with only the Docker socket, no privileges, no host PID
//! namespace, and `--network host` to reach the members' client ports on 127.0.0.1. Each drill
//! passes with the same proofs as from the host; network faults go through helper containers
//! and the report says so; snapshots reach etcdutl as a tar streamed from disk (the engine does
//! not see the harness's files); nothing labelled remains. Skips without Docker; fails under
//! CI=true.

mod common;

use common::*;
use etcd_drill::exit_codes;
use std::process::Command;
use std::sync::Mutex;

/// Built once per test binary (the tests of this file run in parallel).
static BUILT: Mutex<Option<String>> = Mutex::new(None);

fn harness_image() -> String {
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(image) = built.as_ref() {
        return image.clone();
    }
    let out = bin()
        .args(["image", "harness"])
        .output()
        .expect("the binary runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let image = String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .expect("the image's name")
        .to_string();
    *built = Some(image.clone());
    image
}

/// Runs `scenario` from the harness image; returns the exit code, the report and the output.
async fn in_container(scenario: &str) -> (i32, serde_json::Value, String) {
    let image = harness_image();
    // The etcd image the drill runs, built from this side (the harness image has no pip or apt).
    let d = etcd_drill::sandbox::docker::DockerRuntime::connect()
        .await
        .expect("Docker");
    let plan = etcd_drill::scenario::load(&crate_dir().join(scenario))
        .and_then(etcd_drill::plan::plan)
        .expect("a valid scenario");
    for i in plan.images() {
        etcd_drill::image::ensure_image(&d, &i, None, &mut |_| {})
            .await
            .expect("the etcd image");
    }
    let reports = tempfile::tempdir().expect("a temp dir");
    let out = Command::new("docker")
        .args(["run", "--rm", "--network", "host"])
        .args(["-v", "/var/run/docker.sock:/var/run/docker.sock"])
        .arg("-v")
        .arg(format!(
            "{}:/work/scenarios:ro",
            crate_dir().join("scenarios").display()
        ))
        .arg("-v")
        .arg(format!("{}:/work/reports", reports.path().display()))
        .arg(&image)
        .args(["run", scenario, "--report-dir", "reports"])
        .output()
        .expect("docker runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let r = read_report(&only_run_dir(reports.path()));
    assert!(
        leftovers(&d, r["run_id"].as_str().unwrap())
            .await
            .is_empty(),
        "leftovers of {scenario}"
    );
    (out.status.code().unwrap_or(-1), r, text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_leader_from_a_container() {
    if docker().await.is_none() {
        return;
    }
    let (code, r, out) = in_container("scenarios/kill-leader.yaml").await;
    assert_eq!(code, exit_codes::PASSED, "{out}");
    assert!(proof(fault(&r)).contains("exited"), "{}", proof(fault(&r)));
    assert_eq!(r["faults"][0]["hashkv_equal"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partition_leader_and_minority_from_a_container_go_through_helpers() {
    if docker().await.is_none() {
        return;
    }
    for scenario in [
        "scenarios/partition-leader.yaml",
        "scenarios/partition-minority.yaml",
    ] {
        let (code, r, out) = in_container(scenario).await;
        assert_eq!(code, exit_codes::PASSED, "{scenario}: {out}");
        let p = proof(fault(&r));
        assert!(
            p.contains("through a helper container")
                && p.contains("a linearizable read through it fails")
                && p.contains("still serve writes"),
            "{scenario}: {p}"
        );
        assert_eq!(r["faults"][0]["lost_acknowledged_writes"], 0);
        assert_eq!(r["faults"][0]["hashkv_equal"], true);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_peer_network_and_a_restore_from_a_container() {
    if docker().await.is_none() {
        return;
    }
    let (code, r, out) = in_container("scenarios/slow-peer-network.yaml").await;
    assert_eq!(code, exit_codes::PASSED, "{out}");
    let p = proof(fault(&r));
    assert!(p.contains("through a helper container"), "{p}");
    assert!(!p.contains(" 0 peer packets dropped"), "{p}");
    // A restore from a container: the snapshot goes to etcdutl as a tar streamed from disk.
    let (code, r, out) = in_container("scenarios/quickstart.yaml").await;
    assert_eq!(code, exit_codes::PASSED, "{out}");
    assert_eq!(r["restore"]["snapshot_delivery"], "tar streamed from disk");
    assert_eq!(r["verification"]["passed"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delay_leader_network_from_a_container_runs_its_proxy_in_a_helper() {
    if docker().await.is_none() {
        return;
    }
    let (code, r, out) = in_container("scenarios/delay-leader-network.yaml").await;
    assert_eq!(code, exit_codes::PASSED, "{out}");
    let p = proof(fault(&r));
    // The harness cannot enter the member's namespace: the proxy runs in etcd-drill's own image
    // in a helper container there, and the round trip measured there grew by the delay.
    assert!(
        p.contains("the proxy etcd-drill's own image in a helper container")
            && p.contains("ms of delay")
            && p.contains("the delay proxy carried")
            && !p.contains("carried 0 peer"),
        "{p}"
    );
    assert_eq!(r["faults"][0]["hashkv_equal"], true);
}

/// Disk faults from a container with only the socket: the members' disk-layer image (made from
/// the harness's own files, this binary with its loader and libraries, when the engine lacks
/// it), the probe mounting FUSE in a container of the engine, and the power cut proving itself
/// as from the host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn power_loss_from_a_container() {
    if docker().await.is_none() {
        return;
    }
    let (code, r, out) = in_container("scenarios/power-loss-leader.yaml").await;
    assert_eq!(code, exit_codes::PASSED, "{out}");
    let f = fault(&r);
    assert!(proof(f).contains("power cut:"), "{}", proof(f));
    assert_eq!(f["lost_acknowledged_writes"], 0, "{f}");
    assert_eq!(f["hashkv_equal"], true, "{f}");
}
