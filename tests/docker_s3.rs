//! A drill whose backups go to a real S3-compatible server (moto's, started on 127.0.0.1) and
//! whose restore comes back from it. Skips without Docker or moto; fails under CI=true.

mod common;
#[path = "common/s3.rs"]
mod s3;

use common::*;
use etcd_drill::exit_codes;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_go_to_s3_and_the_restore_from_s3_passes_integrity() {
    let Some(d) = docker().await else { return };
    let Some(server) = s3::S3Server::start() else {
        return;
    };
    server.create_bucket("etcd-drill");
    let yaml = std::fs::read_to_string(crate_dir().join("scenarios/s3-backup-restore.yaml"))
        .unwrap()
        .replace("http://127.0.0.1:9000", &server.endpoint);
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("s3.yaml");
    std::fs::write(&scenario, yaml).unwrap();
    let reports = dir.path().join("reports");
    let out = bin()
        .arg("run")
        .arg(&scenario)
        .arg("--report-dir")
        .arg(&reports)
        .output()
        .unwrap();
    let run_dir = only_run_dir(&reports);
    let r = read_report(&run_dir);
    assert_eq!(
        out.status.code(),
        Some(exit_codes::PASSED),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(r["backups"]["store"]
        .as_str()
        .unwrap()
        .starts_with("s3://etcd-drill/drills/"));
    assert_eq!(r["verification"]["passed"], true);
    assert_eq!(r["verification"]["snapshot_digest"]["equal"], true);
    // What the bucket holds is what the report says remains: keep-last 4.
    let store = etcd_drill::backup::store::Store::open(
        &etcd_drill::scenario::StoreSpec::S3 {
            bucket: "etcd-drill".into(),
            prefix: Some("drills/".into()),
            endpoint: Some(server.endpoint.clone()),
            region: None,
        },
        &run_dir,
    )
    .unwrap();
    let held: Vec<String> = store
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.name)
        .collect();
    let remaining: Vec<String> = r["backups"]["remaining"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_string())
        .collect();
    assert_eq!(held, remaining);
    assert!(held.len() <= 4 && !held.is_empty(), "{held:?}");
    assert!(
        held.contains(&r["restore"]["snapshot"].as_str().unwrap().to_string())
            || r["backups"]["deleted"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x[0] == r["restore"]["snapshot"])
    );
    // No credentials anywhere in the evidence.
    for entry in std::fs::read_dir(&run_dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_file() {
            let text = String::from_utf8_lossy(&std::fs::read(&p).unwrap()).to_string();
            assert!(
                !text.contains(&std::env::var("AWS_SECRET_ACCESS_KEY").unwrap()),
                "{} holds the secret key",
                p.display()
            );
        }
    }
    assert!(leftovers(&d, r["run_id"].as_str().unwrap())
        .await
        .is_empty());
}
