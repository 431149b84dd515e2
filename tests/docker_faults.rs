//! Every fault on real containers: it took effect (the proof), the cluster recovered, and the
//! numbers are plausible. With CI=true, missing Docker fails.

mod common;

use common::*;
use etcd_drill::exit_codes;
use serde_json::{json, Value};
use std::path::Path;

/// The common promise of every fault that leaves a quorum's data intact.
fn recovered_intact(f: &Value) {
    assert!(f["healed_ms"].as_u64().is_some(), "{f}");
    assert!(f["recovered_ms"].as_u64().unwrap() >= f["healed_ms"].as_u64().unwrap());
    assert_eq!(f["lost_acknowledged_writes"], 0, "{f}");
    assert_eq!(f["hashkv_equal"], true, "{f}");
    assert!(
        !f["health"].as_array().unwrap().is_empty(),
        "health sampled while the fault held"
    );
}

/// etcd 3.5.0 to 3.5.2 can lose applied entries on a member SIGKILLed under load
/// (etcd-io/etcd#13766, fixed in 3.5.3); `kill-leader-etcd-3.5.1` runs 3.5.1. The drill then rightly
/// reports the killed member's HashKV as different and fails its HashKV gates (seen in about
/// one kill drill in ten on this 2-core machine under load). A kill test accepts that outcome
/// in exactly that shape and no other: every divergence found names killed members only, no
/// acknowledged write is lost, every seeded key is intact, and every failed gate is a HashKV
/// one. Anything else fails as before. Returns whether etcd's bug showed.
fn passed_or_etcd_13766(code: i32, r: &Value) -> bool {
    let f = fault(r);
    if code == exit_codes::PASSED {
        recovered_intact(f);
        return false;
    }
    assert_eq!(code, exit_codes::GATE_FAILED, "{}", r["error"]);
    let killed = f["members"].as_array().unwrap();
    let found: Vec<&Value> = [&f["divergence"], &r["verification"]["divergence"]]
        .into_iter()
        .filter(|d| !d.is_null())
        .collect();
    assert!(
        !found.is_empty(),
        "a gate failed without a divergence: {}",
        r["gates"]
    );
    for d in &found {
        let odd = d["members"].as_array().unwrap();
        assert!(
            !odd.is_empty() && odd.iter().all(|m| killed.contains(m)),
            "the divergence is not the killed member's: {d}"
        );
    }
    assert_eq!(f["lost_acknowledged_writes"], 0, "{f}");
    let seed = &r["verification"]["seed"];
    assert_eq!(
        (&seed["missing"], &seed["wrong_value"]),
        (&json!(0), &json!(0)),
        "{seed}"
    );
    for g in r["gates"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["passed"] == false)
    {
        let name = g["gate"].as_str().unwrap();
        assert!(name.contains("HashKV") || name == "integrity", "{g}");
    }
    eprintln!("etcd-io/etcd#13766 showed (etcd 3.5.1): {}", found[0]);
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_leader_elects_a_new_leader_within_a_few_election_timeouts() {
    if docker().await.is_none() {
        return;
    }
    let (code, r) = drill("scenarios/kill-leader.yaml").await;
    // The default etcd (3.5.30) has etcd#13766 fixed: no tolerance.
    assert_eq!(code, exit_codes::PASSED, "{}", r["gates"]);
    let f = fault(&r);
    recovered_intact(f);
    assert!(
        proof(f).contains("exited with code 137 after SIGKILL"),
        "{}",
        proof(f)
    );
    let old = f["leader_before"].as_str().unwrap();
    assert_eq!(f["members"][0], old, "the leader was the one killed");
    assert_ne!(f["leader_after"].as_str().unwrap(), old);
    // Election timeout 1 s: no follower campaigns before it has passed without a heartbeat
    // (less the heartbeat interval it may have been into). The upper bound only catches a
    // leader that never came: ten election timeouts.
    let new_leader = f["new_leader_after_ms"].as_u64().unwrap();
    assert!(
        (900..=10_000).contains(&new_leader),
        "new leader after {new_leader} ms"
    );
    let gap = f["unavailable_ms"].as_u64().unwrap();
    assert!((500..=10_000).contains(&gap), "writes unavailable {gap} ms");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_leader_on_etcd_3_5_1_passes_or_shows_etcd_13766_in_its_exact_shape() {
    if docker().await.is_none() {
        return;
    }
    let (code, r) = drill("scenarios/kill-leader-etcd-3.5.1.yaml").await;
    assert_eq!(
        r["environment"]["etcd_version"], "3.5.1",
        "{}",
        r["environment"]
    );
    passed_or_etcd_13766(code, &r);
    assert_ne!(fault(&r)["leader_after"], fault(&r)["leader_before"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_follower_costs_no_election() {
    if docker().await.is_none() {
        return;
    }
    let (code, r) = drill("scenarios/kill-follower.yaml").await;
    assert_eq!(code, exit_codes::PASSED, "{}", r["gates"]);
    let f = fault(&r);
    recovered_intact(f);
    assert_ne!(f["members"][0], f["leader_before"]);
    assert!(
        f["new_leader_after_ms"].is_null(),
        "no election expected: {f}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_leader_freezes_it_and_the_others_take_over() {
    if docker().await.is_none() {
        return;
    }
    let (code, r) = drill("scenarios/pause-leader.yaml").await;
    assert_eq!(code, exit_codes::PASSED);
    let f = fault(&r);
    recovered_intact(f);
    assert!(proof(f).contains("container paused"));
    let new_leader = f["new_leader_after_ms"].as_u64().unwrap();
    assert!(
        (900..=10_000).contains(&new_leader),
        "new leader after {new_leader} ms"
    );
    assert_ne!(f["leader_after"], f["leader_before"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partition_leader_isolates_it_and_the_rest_serves() {
    if docker().await.is_none() {
        return;
    }
    let (code, r) = drill("scenarios/partition-leader.yaml").await;
    assert_eq!(code, exit_codes::PASSED);
    let f = fault(&r);
    recovered_intact(f);
    let p = proof(f);
    assert!(
        p.contains("a linearizable read through it fails") && p.contains("still serve writes"),
        "{p}"
    );
    assert_ne!(f["leader_after"], f["leader_before"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partition_minority_keeps_the_majority_serving_and_the_minority_catches_up() {
    if docker().await.is_none() {
        return;
    }
    let (code, r) = drill("scenarios/partition-minority.yaml").await;
    assert_eq!(code, exit_codes::PASSED);
    let f = fault(&r);
    recovered_intact(f);
    assert_eq!(f["members"].as_array().unwrap().len(), 2, "2 of 5 cut off");
    assert!(
        !f["members"]
            .as_array()
            .unwrap()
            .contains(&f["leader_before"]),
        "the leader stays with the majority"
    );
    assert!(proof(f).contains("the other 3 members still serve writes"));
    // The majority kept serving: the writer only waited for its writes to the cut-off members
    // to time out (500 ms each) before it moved on, never for the whole 6 s hold (5 s leaves a
    // loaded machine room).
    assert!(f["unavailable_ms"].as_u64().unwrap_or(0) < 5000, "{f}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_peer_network_drops_and_shapes_real_packets() {
    if docker().await.is_none() {
        return;
    }
    let (code, r) = drill("scenarios/slow-peer-network.yaml").await;
    assert_eq!(code, exit_codes::PASSED);
    let f = fault(&r);
    recovered_intact(f);
    let p = proof(f);
    let dropped: u64 = p
        .lines()
        .find(|l| l.contains("peer packets dropped"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(dropped > 0, "{p}");
    assert!(p.contains("went through the shaped class"), "{p}");
}

/// The number of milliseconds written just before `unit` in `line` ("… 158.8 ms with …").
fn ms_before(line: &str, after: &str) -> f64 {
    let rest = &line[line
        .find(after)
        .unwrap_or_else(|| panic!("{after:?} in {line}"))
        + after.len()..];
    rest.split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a number after {after:?} in {line}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delay_lengthens_the_leaders_round_trips_and_its_writes() {
    if docker().await.is_none() {
        return;
    }
    let (code, r) = drill("scenarios/delay-leader-network.yaml").await;
    assert_eq!(code, exit_codes::PASSED);
    let f = fault(&r);
    recovered_intact(f);
    let p = proof(f);
    // The link itself, measured from inside the leader's namespace: 150 ms ± 30 ms added.
    let line = p
        .lines()
        .find(|l| l.contains("peer round trip"))
        .unwrap_or_else(|| panic!("{p}"));
    let before = ms_before(line, "2380 ");
    let during = ms_before(line, "before, ");
    assert!(during >= before + 100.0, "{line}");
    // Only a gross error (the delay applied many times over) shows above this; a loaded
    // machine adds its own scheduling to the proxy's.
    assert!(during < before + 1000.0, "{line}");
    assert!(p.contains("the delay proxy carried"), "{p}");
    // And what clients see: while the delay holds, every write waits for a follower's answer
    // through the delayed link (a loaded machine only adds to it). The phase also holds the
    // fault's set-up and heal at full speed, but the 8 s hold's writes are far more than a
    // tenth of it: its p90 is at least most of the delay. After the heal, the median write
    // is fast again.
    let phases = r["workload"]["phases"].as_array().unwrap();
    let ms = |name: &str, at: &str| {
        phases
            .iter()
            .find(|ph| ph["name"].as_str().unwrap().starts_with(name))
            .unwrap_or_else(|| panic!("phase {name}"))[at]
            .as_f64()
            .unwrap()
    };
    assert!(ms("during", "p90_ms") >= 100.0, "{phases:?}");
    assert!(ms("after", "p50_ms") < ms("during", "p90_ms"), "{phases:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_member_db_is_recorded_and_the_member_resyncs() {
    if docker().await.is_none() {
        return;
    }
    let (code, r) = drill("scenarios/corrupt-member-db.yaml").await;
    assert_eq!(code, exit_codes::PASSED);
    let f = fault(&r);
    recovered_intact(f);
    let p = proof(f);
    assert!(
        p.contains("member/snap/db") && p.contains("→"),
        "checksum change recorded: {p}"
    );
    // The db went through a file on this machine and came back garbled: another checksum.
    let (before, after) = p
        .split_once("sha256 ")
        .and_then(|(_, rest)| rest.split_once(" → "))
        .map(|(b, a)| (b.trim_end_matches('…'), a.split('…').next().unwrap_or("")))
        .unwrap_or_else(|| panic!("no checksums in {p}"));
    assert_eq!(before.len(), 16, "{p}");
    assert_eq!(after.len(), 16, "{p}");
    assert_ne!(before, after, "{p}");
    assert!(p.contains("re-added"), "{p}");
    assert!(!f["reaction"].as_str().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_member_wal_is_recorded_and_the_member_resyncs() {
    if docker().await.is_none() {
        return;
    }
    let (code, r) = drill("scenarios/corrupt-member-wal.yaml").await;
    assert_eq!(code, exit_codes::PASSED);
    let f = fault(&r);
    recovered_intact(f);
    let p = proof(f);
    // The newest segment went through a file on this machine and came back garbled.
    assert!(p.contains(".wal (") && p.contains(" bytes) sha256 "), "{p}");
    let (before, after) = p
        .split_once("sha256 ")
        .and_then(|(_, rest)| rest.split_once(" → "))
        .map(|(b, a)| (b.trim_end_matches('…'), a.split('…').next().unwrap_or("")))
        .unwrap_or_else(|| panic!("no checksums in {p}"));
    assert_eq!((before.len(), after.len()), (16, 16), "{p}");
    assert_ne!(before, after, "{p}");
    assert!(!f["reaction"].as_str().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quorum_loss_is_seen_and_a_restore_brings_the_cluster_back() {
    if docker().await.is_none() {
        return;
    }
    let (code, r) = drill("scenarios/quorum-loss-restore.yaml").await;
    assert_eq!(code, exit_codes::PASSED);
    let f = fault(&r);
    assert!(
        proof(f).contains("quorum lost: a write through the 1 survivor(s) fails"),
        "{}",
        proof(f)
    );
    assert!(r["restore"]["rto_first_write_ms"].as_u64().unwrap() > 0);
    assert_eq!(r["verification"]["passed"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_that_cannot_take_effect_fails_the_step() {
    if docker().await.is_none() {
        return;
    }
    let (code, r) = drill("tests/scenarios/fault-no-effect.yaml").await;
    assert_eq!(code, exit_codes::DRILL_FAILED);
    let step = &r["steps"][1];
    assert_eq!(step["status"], "failed");
    let error = step["error"].as_str().unwrap();
    assert!(
        error.contains("did not take effect on etcd-2") && error.contains("not running"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replace_member_removes_re_adds_and_resyncs_a_follower() {
    if docker().await.is_none() {
        return;
    }
    let (code, r) = drill("scenarios/replace-member.yaml").await;
    assert_eq!(code, exit_codes::PASSED);
    let f = fault(&r);
    recovered_intact(f);
    let p = proof(f);
    assert!(
        p.contains("exited with code 137") && p.contains("removed (id") && p.contains("re-added"),
        "{p}"
    );
    assert_ne!(
        f["members"][0], f["leader_before"],
        "a follower was replaced"
    );
}

// This drill failed about one run in seven: the follower caught up from the leader's log, though
// the leader had compacted past its index. The DROP rules left the peer connections open, so
// MsgApps the leader had sent in flight waited in its socket and arrived by TCP retransmission
// after the heal. The fault now closes the member's peer connections when it cuts it off (9
// runs in a row passed here after that: 8 from the host, 1 through helpers).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_cut_off_past_the_leaders_log_installs_a_raft_snapshot() {
    if docker().await.is_none() {
        return;
    }
    let (code, r) = drill("scenarios/follower-needs-raft-snapshot.yaml").await;
    assert_eq!(code, exit_codes::PASSED);
    let f = fault(&r);
    recovered_intact(f);
    let p = proof(f);
    // The leader's log moved past the follower by more than etcd keeps after a snapshot...
    assert!(p.contains("open peer connections closed"), "{p}");
    assert!(
        p.contains("the leader's log no longer holds what")
            && p.contains("snapshot-count 100")
            && p.contains("their own logs show raft logs compacted"),
        "{p}"
    );
    // ...and the follower's own log shows the snapshot it received, and it caught up.
    assert!(
        p.contains("received and installed a raft snapshot from the leader")
            && p.contains("received and saved database snapshot"),
        "{p}"
    );
    assert_eq!(r["verification"]["passed"], true, "{}", r["verification"]);
}

/// A drill with network faults forced through helper containers (as where the harness cannot
/// enter the members' namespaces from its host): exit code and report.
async fn through_helpers(scenario: &str) -> (i32, Value, String) {
    let reports = tempfile::tempdir().expect("a temp dir");
    let ran = run_with(Path::new(scenario), reports.path(), |c| {
        c.env("ETCD_DRILL_NET_FAULTS", "helper");
    });
    if !ran.report.is_null() {
        // The helper containers carry the run's labels and are gone with it.
        assert_no_leftovers(&ran.report).await;
    }
    (ran.code, ran.report, ran.out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partition_through_helper_containers_proves_the_same_as_from_the_host() {
    if docker().await.is_none() {
        return;
    }
    let (code, r, out) = through_helpers("scenarios/partition-leader.yaml").await;
    assert_eq!(code, exit_codes::PASSED, "{out}");
    let f = fault(&r);
    recovered_intact(f);
    let p = proof(f);
    assert!(
        p.contains("through a helper container (etcd-drill/net-tools:")
            && p.contains("a linearizable read through it fails")
            && p.contains("still serve writes"),
        "{p}"
    );
    assert_ne!(f["leader_after"], f["leader_before"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_network_loss_and_bandwidth_through_helper_containers_drop_and_shape_real_packets() {
    if docker().await.is_none() {
        return;
    }
    let (code, r, out) = through_helpers("scenarios/slow-peer-network.yaml").await;
    assert_eq!(code, exit_codes::PASSED, "{out}");
    let f = fault(&r);
    recovered_intact(f);
    let p = proof(f);
    assert!(p.contains("through a helper container"), "{p}");
    let counted = |what: &str| {
        p.lines()
            .find(|l| l.contains(what))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0)
    };
    assert!(counted("peer packets dropped") > 0, "{p}");
    assert!(
        counted("peer packets went through the shaped class") > 0,
        "{p}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delay_through_helper_containers_proves_the_same_as_from_the_host() {
    if docker().await.is_none() {
        return;
    }
    let (code, r, out) = through_helpers("scenarios/delay-leader-network.yaml").await;
    assert_eq!(code, exit_codes::PASSED, "{out}");
    // Said before the run: which way the scenario's network faults go, and why.
    assert!(
        out.contains("delay-leader-network.yaml: network faults through helper containers, the delay proxy in etcd-drill's own image: ETCD_DRILL_NET_FAULTS=helper"),
        "{out}"
    );
    let f = fault(&r);
    let p = proof(f);
    // The proxy ran in a helper container (etcd-drill's own image) in the member's namespace,
    // the round trip measured there got longer by the delay, and the proxy carried the links.
    assert!(p.contains("through a helper container"), "{p}");
    assert!(
        p.contains("peer round trip to") && p.contains("ms of delay"),
        "{p}"
    );
    assert!(
        p.contains("the delay proxy carried") && !p.contains("carried 0 peer"),
        "{p}"
    );
    recovered_intact(f);
}
