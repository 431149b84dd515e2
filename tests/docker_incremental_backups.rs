//! Full plus incremental backups on real etcd: an encrypted chain (a full and its deltas) in a
//! real S3-compatible server restores with the keyspace equal at the last replayed revision and
//! an RPO within the delta interval; a chain whose middle delta was deleted is replayed up to
//! the gap, and the writes after it are counted as lost in the RPO, not as a durability
//! failure. Skips without Docker or moto; fails under CI=true.

mod common;
#[path = "common/s3.rs"]
mod s3;

use common::*;
use etcd_drill::exit_codes;
use std::path::Path;

fn run(scenario: &Path, reports: &Path, identity: Option<&Path>) -> (i32, String) {
    let ran = run_with(scenario, reports, |c| {
        c.env_remove("ETCD_DRILL_AGE_IDENTITY");
        if let Some(id) = identity {
            c.arg("--identity").arg(id);
        }
    });
    (ran.code, ran.out)
}

/// The newest backup (full or delta) stored before `ms`.
fn taken_before(r: &serde_json::Value, ms: u64) -> serde_json::Value {
    r["backups"]["taken"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| u(&t["taken_at_ms"]) < ms)
        .max_by_key(|t| u(&t["taken_at_ms"]))
        .cloned()
        .expect("a backup before the disaster")
}

fn u(v: &serde_json::Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("a number: {v}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encrypted_chain_in_s3_restores_with_the_rpo_of_its_last_delta() {
    let Some(d) = docker().await else { return };
    let Some(server) = s3::S3Server::start() else {
        return;
    };
    server.create_bucket("etcd-drill");
    let tmp = tempfile::tempdir().expect("tempdir");
    let yaml =
        std::fs::read_to_string(crate_dir().join("scenarios/encrypted-s3-backup-restore.yaml"))
            .expect("shipped scenario")
            .replace("http://127.0.0.1:9000", &server.endpoint);
    let scenario = tmp.path().join("encrypted-chain.yaml");
    std::fs::write(&scenario, yaml).expect("scenario written");
    let identity = crate_dir().join("tests/fixtures/age/demo-identity.txt");
    let reports = tmp.path().join("reports");
    let (code, out) = run(&scenario, &reports, Some(&identity));
    assert_eq!(code, exit_codes::PASSED, "{out}");
    let dir = only_run_dir(&reports);
    let r = read_report(&dir);
    assert!(leftovers(&d, r["run_id"].as_str().unwrap())
        .await
        .is_empty());

    let replay = &r["restore"]["replay"];
    let deltas = replay["deltas"].as_array().expect("deltas replayed");
    assert!(deltas.len() >= 2, "{replay}");
    assert!(replay["stopped"].is_null(), "{replay}");
    // Every revision replayed as one: the restored cluster reached the chain's last revision,
    // and the keyspace there equals the original's.
    assert_eq!(
        replay["reached_revision"], replay["to_revision"],
        "{replay}"
    );
    assert_eq!(r["restore"]["snapshot_revision"], replay["to_revision"]);
    assert_eq!(r["verification"]["passed"], true, "{}", r["verification"]);
    assert_eq!(r["verification"]["snapshot_digest"]["equal"], true);
    let phases: Vec<&str> = r["restore"]["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(
        phases.contains(&"fetch and decrypt backup and deltas")
            && phases.contains(&"replay deltas"),
        "{phases:?}"
    );
    // The RPO is the last replayed delta's: the newest link stored before the disaster, and
    // the time gap counts from its cut. The full alone would have lost more of the same
    // acknowledged writes.
    let rpo = &r["rpo"];
    let disaster_ms = u(&r["disaster"]["started_ms"]);
    let newest = taken_before(&r, disaster_ms);
    let last = deltas.last().and_then(|d| d.as_str()).unwrap();
    assert_eq!(newest["name"].as_str(), Some(last), "{replay}");
    assert_eq!(
        u(&rpo["time_gap_ms"]),
        disaster_ms - u(&newest["taken_at_ms"]),
        "{rpo}"
    );
    let full = &rpo["fulls_only"];
    assert!(u(&full["time_gap_ms"]) > u(&rpo["time_gap_ms"]), "{rpo}");
    assert!(
        u(&full["lost_acknowledged_writes"]) > u(&rpo["lost_acknowledged_writes"]),
        "{rpo}"
    );
    assert_eq!(r["verification"]["durability"]["lost"], 0);

    // The bucket holds ciphertext only, fulls and deltas.
    let taken = r["backups"]["taken"].as_array().unwrap();
    assert!(taken
        .iter()
        .any(|b| b["name"].as_str().unwrap().ends_with(".delta.age")));
    let store = etcd_drill::backup::store::Store::open(
        &etcd_drill::scenario::StoreSpec::S3 {
            bucket: "etcd-drill".into(),
            prefix: Some("drills/encrypted/".into()),
            endpoint: Some(server.endpoint.clone()),
            region: None,
        },
        &dir,
    )
    .unwrap();
    let held = store.list().await.unwrap();
    assert!(!held.is_empty());
    for o in &held {
        let bytes = store.read(&o.name).await.unwrap();
        assert!(bytes.starts_with(b"age-encryption.org/v1"), "{}", o.name);
    }
    // The identity is in no file of the run, and in nothing the run printed.
    let secret = std::fs::read_to_string(&identity).unwrap();
    let secret = secret
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .unwrap();
    assert!(!out.contains(secret));
    for f in walk(&dir) {
        let text = String::from_utf8_lossy(&std::fs::read(&f).unwrap()).into_owned();
        assert!(!text.contains(secret), "{}", f.display());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_middle_delta_stops_the_replay_there_and_the_rpo_counts_what_it_held() {
    let Some(d) = docker().await else { return };
    let tmp = tempfile::tempdir().expect("tempdir");
    let yaml = "name: broken-chain\n\
         cluster: { members: 3 }\n\
         seed: { keys: 1000, rng-seed: 5 }\n\
         workload: { rate: 50 }\n\
         backup:\n  full-every: 60s\n  delta-every: 1s\n\
         steps:\n  - seed: {}\n  - wait-backups: { fulls: 1, deltas: 5 }\n  - disaster: {}\n  - damage-backup: { how: delete, which: middle-delta }\n  - restore: { backup: latest }\n  - verify: {}\n\
         expect:\n  rto: 60s\n  integrity: true\n";
    let scenario = tmp.path().join("broken-chain.yaml");
    std::fs::write(&scenario, yaml).expect("scenario written");
    let reports = tmp.path().join("reports");
    let (code, out) = run(&scenario, &reports, None);
    assert_eq!(code, exit_codes::PASSED, "{out}");
    let r = read_report(&only_run_dir(&reports));
    assert!(leftovers(&d, r["run_id"].as_str().unwrap())
        .await
        .is_empty());
    let replay = &r["restore"]["replay"];
    let stopped = replay["stopped"].as_str().expect("the chain stopped");
    assert!(stopped.contains("missing from the store"), "{replay}");
    let damaged = r["backups"]["damaged"][0][0]
        .as_str()
        .expect("the damage recorded");
    let not_replayed: Vec<&str> = replay["not_replayed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert!(not_replayed.len() >= 2, "{replay}");
    assert_eq!(not_replayed[0], damaged, "{replay}");
    // Replayed up to the gap, and the keyspace there is the original's.
    assert_eq!(
        replay["reached_revision"], replay["to_revision"],
        "{replay}"
    );
    assert_eq!(r["verification"]["passed"], true, "{}", r["verification"]);
    assert_eq!(r["verification"]["snapshot_digest"]["equal"], true);
    // The links after the gap held acknowledged writes: lost, and counted in the RPO; none of
    // them is a durability failure.
    let rpo = &r["rpo"];
    let lost = u(&rpo["lost_acknowledged_writes"]);
    assert!(lost > 0 && lost <= u(&rpo["revision_gap"]), "{rpo}");
    assert!(u(&rpo["time_gap_ms"]) > 1_000, "{rpo}");
    assert_eq!(r["verification"]["durability"]["lost"], 0);
}

/// A point-in-time restore over the run's own chain: the seeded keys deleted by mistake under
/// load, the deletion and later writes in the store, the cluster lost. Restored to the point
/// before the mistake, the cluster holds exactly the keyspace read at that revision (every key
/// and value, the seeded ones back), and the RPO counts from the point. The same drill restoring
/// the newest chain to its end brings the deletion back with it: the integrity check fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_point_in_time_restore_returns_to_the_revision_before_a_mistake() {
    let Some(d) = docker().await else { return };
    let tmp = tempfile::tempdir().expect("tempdir");
    let shipped = crate_dir().join("scenarios/point-in-time-restore.yaml");
    let reports = tmp.path().join("reports");
    let (code, out) = run(&shipped, &reports, None);
    assert_eq!(code, exit_codes::PASSED, "{out}");
    let r = read_report(&only_run_dir(&reports));
    assert!(leftovers(&d, r["run_id"].as_str().unwrap())
        .await
        .is_empty());
    let restore = &r["restore"];
    let point = &restore["point"];
    assert_eq!(point["before"], "mistake", "{restore}");
    assert_eq!(point["reached"], true, "{restore}");
    assert_eq!(point["deleted_keys"], 5000, "{restore}");
    let at = point["revision"].as_i64().unwrap();
    // In the middle of the chain: a full below the point, deltas replayed up to it exactly,
    // and more of the chain (the deletion) left out.
    let replay = &restore["replay"];
    assert_eq!(replay["reached_revision"], at, "{replay}");
    assert_eq!(replay["to_revision"], at, "{replay}");
    assert!(replay["from_revision"].as_i64().unwrap() < at, "{replay}");
    assert_eq!(restore["snapshot_revision"], at, "{restore}");
    // What came back is the keyspace read at the point: every key and value, seeded keys too.
    let v = &r["verification"];
    assert_eq!(v["passed"], true, "{v}");
    assert_eq!(v["snapshot_digest"]["equal"], true, "{v}");
    assert_eq!(v["snapshot_digest"]["revision"], at, "{v}");
    assert_eq!(v["seed"]["expected"], 5000, "{v}");
    assert_eq!(v["seed"]["missing"], 0, "{v}");
    assert_eq!(v["seed"]["wrong_value"], 0, "{v}");
    assert_eq!(
        v["snapshot_digest"]["actual_keys"], point["keyspace_keys"],
        "{v}"
    );
    assert_eq!(v["durability"]["lost"], 0, "{v}");
    // The RPO counts from the point: the writes acknowledged after the mistake (20 waited for
    // at least) are lost.
    let rpo = &r["rpo"];
    assert_eq!(rpo["snapshot_revision"], at, "{rpo}");
    assert!(u(&rpo["lost_acknowledged_writes"]) >= 20, "{rpo}");

    // The control: the same drill restoring the newest chain to its end.
    let yaml = std::fs::read_to_string(&shipped).unwrap().replace(
        "restore: { backup: latest, before: mistake }",
        "restore: { backup: latest }",
    );
    assert!(!yaml.contains("before: mistake"));
    let control = tmp.path().join("no-point.yaml");
    std::fs::write(&control, yaml).unwrap();
    let reports = tmp.path().join("control");
    let (code, out) = run(&control, &reports, None);
    assert_eq!(code, exit_codes::GATE_FAILED, "{out}");
    let r = read_report(&only_run_dir(&reports));
    let v = &r["verification"];
    assert_eq!(v["passed"], false, "{v}");
    assert_eq!(v["seed"]["missing"], 5000, "{v}");
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
