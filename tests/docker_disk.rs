//! Disk faults on real containers, through the disk layer (FUSE) under each member's data
//! directory: each shows its effect from etcd's own signals (its metrics, its last words, what
//! it restarted with), the cluster recovers, and the power cut's control fails for the reason
//! the fault exists to catch. With CI=true, missing Docker fails.

mod common;

use common::*;
use etcd_drill::exit_codes;
use serde_json::Value;

fn recovered_intact(f: &Value) {
    assert!(f["recovered_ms"].as_u64().unwrap() >= f["healed_ms"].as_u64().unwrap());
    assert_eq!(f["lost_acknowledged_writes"], 0, "{f}");
    assert_eq!(f["hashkv_equal"], true, "{f}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_power_cut_of_the_whole_cluster_loses_no_acknowledged_write() {
    if docker().await.is_none() {
        return;
    }
    let (code, r) = drill("scenarios/power-loss-cluster.yaml").await;
    assert_eq!(code, exit_codes::PASSED, "{}", r["error"]);
    let f = fault(&r);
    let p = proof(f);
    assert_eq!(p.matches("power cut:").count(), 3, "{p}");
    assert_eq!(p.matches("exited with code 137").count(), 3, "{p}");
    recovered_intact(f);
}

/// The control: the same cut on members that acknowledge what they never fsynced. The layer
/// throws away what they wrote without an fsync, and the drill must fail for the loss: either a member cannot come back on what survived (named with what
/// etcd restarted with: a raft log and a store behind what it acknowledged), or acknowledged
/// writes are gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_power_cut_control_without_fsync_fails_and_names_the_loss() {
    if docker().await.is_none() {
        return;
    }
    let (code, r) = drill("scenarios/power-loss-no-fsync.yaml").await;
    assert_ne!(
        code,
        exit_codes::PASSED,
        "the control passed: {}",
        r["faults"]
    );
    let error = r["error"].as_str().unwrap_or_default();
    let lost = r["faults"][0]["lost_acknowledged_writes"]
        .as_u64()
        .unwrap_or(0);
    let step = &r["steps"][2];
    let not_back = step["step"] == "power-loss all"
        && step["status"] == "failed"
        && error.contains("did not come back after the fault");
    assert!(
        not_back || lost > 0,
        "failed for another reason: {error} (lost {lost})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_disk_holds_every_fsync_and_etcd_measures_it() {
    if docker().await.is_none() {
        return;
    }
    let (code, r) = drill("scenarios/slow-disk-leader.yaml").await;
    assert_eq!(code, exit_codes::PASSED, "{}", r["error"]);
    let f = fault(&r);
    let p = proof(f);
    assert!(p.contains("fsyncs held 150±50 ms by the disk layer"), "{p}");
    // etcd's own WAL fsync histogram over the fault: each held at least 100 ms by the layer;
    // one in flight when the delay began may have escaped it, hence half.
    let wal = p
        .lines()
        .find_map(|l| l.split("WAL fsyncs while held: ").nth(1))
        .expect("etcd's own WAL figures");
    let (n, ms) = wal.split_once(" at ").unwrap();
    let n: u64 = n.parse().unwrap();
    let ms: f64 = ms.split(' ').next().unwrap().parse().unwrap();
    assert!(n >= 5 && ms >= 50.0, "{wal}");
    recovered_intact(f);
}

/// A disk that fails (ENOSPC or EIO) on a follower: etcd exits with its last words recorded,
/// the two others keep serving, and the follower comes back: on its data (`restart`), or on a
/// new disk as a re-added member (`replace`), as `came_back` says.
async fn failing_disk(scenario: &str, words: &str, came_back: &[&str]) {
    if docker().await.is_none() {
        return;
    }
    let (code, r) = drill(scenario).await;
    assert_eq!(code, exit_codes::PASSED, "{}", r["error"]);
    let f = fault(&r);
    let p = proof(f);
    let reaction = f["reaction"].as_str().unwrap_or_default();
    assert!(
        reaction.contains(words) || p.contains("call(s) failed"),
        "{p}\n{reaction}"
    );
    assert!(came_back.iter().any(|c| p.contains(c)), "{p}");
    recovered_intact(f);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_stops_the_follower_and_it_recovers() {
    failing_disk(
        "scenarios/disk-full-follower.yaml",
        "no space left on device",
        &["restarted", "sound again"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_fsync_stops_the_follower_and_its_replacement_resyncs() {
    failing_disk(
        "scenarios/disk-error-follower.yaml",
        "input/output error",
        &["re-added and started on the empty volume"],
    )
    .await;
}

/// The database at its quota: writes refused and the alarm raised, then the runbook's four
/// phases, each timed; the RTO runs from the alarm, so it holds the 2 s the scenario waits
/// before the runbook.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_database_recovers_by_the_runbook_with_its_phases_timed() {
    if docker().await.is_none() {
        return;
    }
    let (code, r) = drill("scenarios/nospace-runbook.yaml").await;
    assert_eq!(code, exit_codes::PASSED, "{}", r["error"]);
    let f = fault(&r);
    let p = proof(f);
    assert!(
        p.contains("writes refused (database space exceeded), NOSPACE alarm on"),
        "{p}"
    );
    for phase in [
        "runbook 1/4: compacted",
        "runbook 3/4: NOSPACE alarm disarmed",
    ] {
        assert!(p.contains(phase), "{phase}: {p}");
    }
    assert_eq!(p.matches("runbook 2/4: ").count(), 3, "{p}");
    let rto: u64 = p
        .split("RTO from the alarm ")
        .nth(1)
        .and_then(|s| s.split(' ').next()?.parse().ok())
        .expect("the runbook's RTO");
    assert!(rto >= 2000, "{p}");
    assert!(f["unavailable_ms"].as_u64().unwrap() > 0, "{f}");
    recovered_intact(f);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_and_defragmentation_under_load_lose_nothing() {
    if docker().await.is_none() {
        return;
    }
    let (code, r) = drill("scenarios/defrag-under-load.yaml").await;
    assert_eq!(code, exit_codes::PASSED, "{}", r["error"]);
    let (compact, defrag) = (&r["faults"][0], &r["faults"][1]);
    assert!(
        proof(compact).contains("compacted to revision"),
        "{compact}"
    );
    assert_eq!(
        proof(defrag).matches("defragmented, blocked").count(),
        3,
        "{defrag}"
    );
    recovered_intact(compact);
    recovered_intact(defrag);
}

/// The host's mounts of the disk layer (its filesystem's name), as `/proc/mounts` lists them.
/// Not every FUSE mount: Docker's own storage driver may be fuse-overlayfs, with a mount per
/// running container.
fn layer_mounts() -> Vec<String> {
    std::fs::read_to_string("/proc/mounts")
        .unwrap()
        .lines()
        .filter(|l| l.contains("etcd-drill-disk"))
        .map(String::from)
        .collect()
}

/// Ctrl-C with a disk fault in effect: the run ends as interrupted, nothing of it is left in
/// the engine, and no mount of the layer shows on the host (it lives in the members' own mount
/// namespaces).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_with_a_disk_fault_in_effect_leaves_nothing_behind() {
    if docker().await.is_none() {
        return;
    }
    let (code, _, r) = interrupted_at(
        "tests/scenarios/disk-fault-interrupted.yaml",
        "step 3/4 sleep",
    )
    .await;
    assert_eq!(code, Some(exit_codes::INTERRUPTED));
    assert_eq!(r["verdict"], "interrupted");
    assert_eq!(layer_mounts(), Vec::<String>::new());
}
