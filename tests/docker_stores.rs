//! `verify-backup` on the stores teams keep, with real etcd in Docker: a folder of snapshots
//! that etcdctl 3.4.23, 3.5.1 and 3.5.30 saved outside the harness, under k3s, dated and plain
//! names, zipped, gzipped and zstd-compressed; an encrypted chain from etcd-drill's own
//! schedule, restored at a revision in the middle of a delta and at a full and compared, key by
//! key, with the cluster that wrote it; a store on moto's S3; and each bad store it must refuse.

mod common;
#[path = "common/s3.rs"]
mod s3;

use common::*;
use etcd_drill::exit_codes;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `etcdctl snapshot save` (3.4.23) of a stand-alone etcd: 70 keys under /registry/pods/ and
/// 40 under /registry/secrets/, revision 131.
const ETCD_3_4: &str = "tests/fixtures/snapshots/external-3.4.23.db";
/// etcdctl 3.5.1: 200 keys under /registry/pods/, 100 under /registry/configmaps/, revision 302.
const ETCD_3_5_1: &str = "tests/fixtures/snapshots/external-3.5.1.db";
/// A Kubernetes-shaped keyspace saved from etcd 3.5.30: 3,000 keys.
const KUBERNETES: &str = "tests/fixtures/snapshots/kubernetes-3.5.30.db";

fn fixture(rel: &str) -> Vec<u8> {
    std::fs::read(crate_dir().join(rel)).expect("fixture")
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// What one `verify-backup` gave: exit code, output, and its report when a run started.
struct Verified {
    code: i32,
    out: String,
    report: serde_json::Value,
    run_dir: Option<PathBuf>,
    _reports: tempfile::TempDir,
}

fn verify_backup(args: &[&str], env: &[(&str, &str)]) -> Verified {
    let reports = tempfile::tempdir().expect("tempdir");
    let mut cmd = bin();
    cmd.arg("verify-backup")
        .args(args)
        .args(["--members", "1", "--report-dir"])
        .arg(reports.path());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let o = cmd.output().expect("the binary runs");
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let started = std::fs::read_dir(reports.path())
        .is_ok_and(|mut d| d.any(|e| e.is_ok_and(|e| e.path().is_dir())));
    let (report, run_dir) = if started {
        let dir = only_run_dir(reports.path());
        (read_report(&dir), Some(dir))
    } else {
        (serde_json::Value::Null, None)
    };
    Verified {
        code: o.status.code().unwrap_or(-1),
        out,
        report,
        run_dir,
        _reports: reports,
    }
}

fn gate<'a>(r: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    r["gates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["gate"] == name)
        .unwrap_or_else(|| panic!("no gate {name}: {}", r["gates"]))
}

fn zip_of(name: &str, body: &[u8], to: &Path) {
    let mut z = zip::ZipWriter::new(std::fs::File::create(to).unwrap());
    z.start_file(name, zip::write::SimpleFileOptions::default())
        .unwrap();
    z.write_all(body).unwrap();
    z.finish().unwrap();
}

fn gzip_of(body: &[u8], to: &Path) {
    let mut w =
        flate2::write::GzEncoder::new(std::fs::File::create(to).unwrap(), Default::default());
    w.write_all(body).unwrap();
    w.finish().unwrap();
}

fn set_modified(path: &Path, ago: Duration) {
    let f = std::fs::File::options().append(true).open(path).unwrap();
    f.set_modified(SystemTime::now() - ago).unwrap();
}

/// A folder as a team keeps it: k3s's newest zip (etcd 3.4.23, an hour old), a dated gzip, a
/// zstd file whose only time is the file's, and files that are no backup.
fn team_folder() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let k3s = format!("etcd-snapshot-server-1-{}", unix_now() - 3600);
    zip_of(
        &k3s,
        &fixture(ETCD_3_4),
        &dir.path().join(format!("{k3s}.zip")),
    );
    gzip_of(
        &fixture(KUBERNETES),
        &dir.path().join("nightly-2026-12-01_02-00-00.db.gz"),
    );
    let zst = dir.path().join("manual-before-upgrade.db.zst");
    std::fs::write(
        &zst,
        ruzstd::encoding::compress_to_vec(
            &fixture(ETCD_3_5_1)[..],
            ruzstd::encoding::CompressionLevel::Fastest,
        ),
    )
    .unwrap();
    set_modified(&zst, Duration::from_secs(5 * 3600));
    std::fs::write(dir.path().join("notes.txt"), "restore runbook\n").unwrap();
    std::fs::create_dir(dir.path().join(".metadata")).unwrap();
    std::fs::write(dir.path().join(".metadata").join(&k3s), "{}").unwrap();
    (dir, format!("{k3s}.zip"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_teams_folder_restores_its_newest_and_any_backup_it_names() {
    let Some(d) = docker().await else { return };
    let (folder, k3s) = team_folder();
    let store = folder.path().to_str().unwrap();

    // The newest: k3s's zip, saved by etcdctl 3.4.23, restored on 3.4.23 as production runs.
    let v = verify_backup(
        &[
            store,
            "--etcd-version",
            "3.4.23",
            "--max-age",
            "2h",
            "--expect-prefix",
            "/registry/pods/",
            "--expect-keys",
            "110",
            "--expect-revision",
            "131",
        ],
        &[],
    );
    assert_eq!(v.code, exit_codes::PASSED, "{}", v.out);
    let r = &v.report;
    assert!(leftovers(&d, r["run_id"].as_str().unwrap())
        .await
        .is_empty());
    let s = &r["restore"]["stored"];
    assert_eq!(s["picked"], k3s.as_str(), "{s}");
    assert_eq!(
        (s["layout"].as_str(), s["packing"].as_str()),
        (Some("k3s"), Some("zip"))
    );
    assert_eq!(
        (s["backups"].as_u64(), s["fulls"].as_u64()),
        (Some(3), Some(3)),
        "{s}"
    );
    let age = s["newest_age_ms"].as_u64().unwrap();
    assert!((3_600_000..3_900_000).contains(&age), "an hour old: {age}");
    let ignored: Vec<&str> = s["ignored"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert!(
        ignored.contains(&"notes.txt") && ignored.iter().any(|n| n.starts_with(".metadata/")),
        "{s}"
    );
    assert_eq!(r["restore"]["etcd_version"], "3.4.23", "{}", r["restore"]);
    for g in [
        "backup-max-age",
        "keys-under /registry/pods/",
        "snapshot-keys",
        "snapshot-revision",
    ] {
        assert_eq!(gate(r, g)["passed"], true, "{g}: {}", r["gates"]);
    }
    let dir = v.run_dir.unwrap();
    let metrics = std::fs::read_to_string(dir.join("metrics.prom")).unwrap();
    assert!(
        metrics.contains("etcd_drill_backup_age_seconds{"),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!("store=\"local {store}\"")),
        "{metrics}"
    );
    // What was fetched left with the restore: the evidence holds no copy of the data.
    assert!(!dir.join("restore-fetched").exists());
    assert!(
        v.out.contains("backup restored") && v.out.contains(&k3s),
        "{}",
        v.out
    );

    // A backup by name: the dated gzip, 3,000 keys, on the default version. The newest is an
    // hour old, so a 30-minute freshness gate fails, and only it.
    let v = verify_backup(
        &[
            store,
            "--pick",
            "nightly-2026-12-01_02-00-00.db.gz",
            "--expect-keys",
            "3000",
            "--max-age",
            "30m",
        ],
        &[],
    );
    assert_eq!(v.code, exit_codes::GATE_FAILED, "{}", v.out);
    let r = &v.report;
    assert_eq!(r["restore"]["stored"]["packing"], "gzip");
    assert_eq!(r["restore"]["stored"]["layout"], "time-in-name");
    assert_eq!(gate(r, "snapshot-keys")["passed"], true);
    assert_eq!(gate(r, "backup-max-age")["passed"], false);
    assert_eq!(gate(r, "integrity")["passed"], true);

    // The zstd file has no time in its name: the file's time (5 hours ago) orders it.
    let v = verify_backup(
        &[
            store,
            "--pick",
            "manual-before-upgrade.db.zst",
            "--expect-revision",
            "302",
        ],
        &[],
    );
    assert_eq!(v.code, exit_codes::PASSED, "{}", v.out);
    let s = &v.report["restore"]["stored"];
    assert_eq!(
        (s["layout"].as_str(), s["packing"].as_str()),
        (Some("object-time"), Some("zstd"))
    );
    assert_eq!(s["time_from"], "the store's modification time");
    let age = s["picked_age_ms"].as_u64().unwrap();
    assert!(
        (5 * 3_600_000..5 * 3_600_000 + 300_000).contains(&age),
        "{age}"
    );
}

/// `etcd-drill run` of a scenario that keeps encrypted fulls and deltas in `store`, kept
/// running (`--keep always`) so that its keyspace at any revision can be read back.
fn encrypted_chain(store: &Path) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("chain.yaml");
    std::fs::write(
        &scenario,
        format!(
            "name: chain-maker\n\
             cluster: {{ members: 1 }}\n\
             workload: {{ rate: 100 }}\n\
             backup:\n  full-every: 4s\n  delta-every: 1s\n  \
             encrypt: {{ recipients: [\"age1nntpjahhnvg4wml43zd0l75634ndklk2jhlc3vdx62wz2xjp3vaqy28f2f\"] }}\n  \
             store: {{ local: {{ dir: {:?} }} }}\n\
             steps:\n  - wait-backups: {{ fulls: 2, deltas: 4 }}\n",
            store.display().to_string()
        ),
    )
    .unwrap();
    let reports = tempfile::tempdir().unwrap();
    let ran = run_with(&scenario, reports.path(), |c| {
        c.args(["--keep", "always"]);
    });
    assert_eq!(ran.code, exit_codes::PASSED, "{}", ran.out);
    ran.report
}

/// Every key at `rev` as the member `container` holds it: key, value, create and mod revision,
/// version (read inside the container; a TLS member with the run's client certificate).
fn keyspace_at(container: &str, tls: bool, rev: i64) -> Vec<(String, String, i64, i64, i64)> {
    let mut cmd = std::process::Command::new("docker");
    cmd.args(["exec", container, "etcdctl"]);
    if tls {
        let t = etcd_drill::tls::IN_CONTAINER;
        cmd.args([
            format!("--cacert={t}/ca.crt"),
            format!("--cert={t}/client.crt"),
            format!("--key={t}/client.key"),
            "--endpoints=https://127.0.0.1:2379".into(),
        ]);
    }
    cmd.args(["get", "", "--prefix", "-w", "json"])
        .arg(format!("--rev={rev}"));
    let o = cmd.output().expect("docker exec");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v["kvs"]
        .as_array()
        .map(|kvs| {
            kvs.iter()
                .map(|k| {
                    (
                        k["key"].as_str().unwrap().to_string(),
                        k["value"].as_str().unwrap_or("").to_string(),
                        k["create_revision"].as_i64().unwrap(),
                        k["mod_revision"].as_i64().unwrap(),
                        k["version"].as_i64().unwrap(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The one member container of a kept run.
fn member_of(run_id: &str) -> String {
    let o = std::process::Command::new("docker")
        .args(["ps", "--format", "{{.Names}}", "--filter"])
        .arg(format!("label=etcd-drill.run-id={run_id}"))
        .output()
        .unwrap();
    let names = String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert!(!names.is_empty() && !names.contains('\n'), "{names:?}");
    names
}

fn clean(run_id: &str) {
    let o = bin().args(["clean", "--run-id", run_id]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encrypted_chain_restores_exactly_at_a_revision() {
    let Some(d) = docker().await else { return };
    let store = tempfile::tempdir().unwrap();
    let made = encrypted_chain(store.path());
    let original_id = made["run_id"].as_str().unwrap().to_string();
    let original = member_of(&original_id);
    let taken = made["backups"]["taken"].as_array().unwrap().clone();
    // The first full with two deltas after it; a revision inside the second delta.
    let first_full = &taken[0];
    assert!(first_full["delta"].is_null(), "{first_full}");
    let second = taken
        .iter()
        .filter(|t| t["delta"]["base"] == first_full["name"])
        .nth(1)
        .unwrap_or_else(|| panic!("two deltas of the first full: {taken:?}"));
    let (lo, hi) = (
        second["delta"]["first_revision"].as_i64().unwrap(),
        second["revision"].as_i64().unwrap(),
    );
    assert!(hi - lo >= 2, "a delta of several revisions: {second}");
    let mid = (lo + hi) / 2;
    // The store restored at `rev`, the scene kept to read it back; its run id.
    let restore_at = |rev: i64| {
        let identity = crate_dir().join("tests/fixtures/age/demo-identity.txt");
        let at = rev.to_string();
        let v = verify_backup(
            &[
                store.path().to_str().unwrap(),
                "--at-revision",
                &at,
                "--identity",
                identity.to_str().unwrap(),
                "--keep",
                "always",
            ],
            &[],
        );
        let id = v.report["run_id"].as_str().unwrap_or_default().to_string();
        assert_eq!(v.code, exit_codes::PASSED, "{}", v.out);
        (v, id)
    };
    let (v, restored_id) = restore_at(mid);
    let r = &v.report;
    assert_eq!(
        r["restore"]["stored"]["picked"], first_full["name"],
        "{}",
        r["restore"]
    );
    assert_eq!(r["restore"]["stored"]["until_revision"], mid);
    // Deltas replayed: the file is not what the cluster holds, so the cluster is read.
    assert_eq!(
        r["verification"]["keyspace"]["counted_in"], "the restored cluster",
        "{}",
        r["verification"]
    );
    assert_eq!(
        r["restore"]["replay"]["reached_revision"], mid,
        "{}",
        r["restore"]
    );
    assert_eq!(
        r["restore"]["replay"]["deltas"].as_array().unwrap().len(),
        2
    );
    assert_eq!(r["restore"]["snapshot_revision"], mid);
    // Key by key, with values and revisions: what the restored member holds at `mid` is what
    // the cluster that wrote the backups held there.
    let want = keyspace_at(&original, false, mid);
    assert!(want.len() > 10, "{}", want.len());
    let got = keyspace_at(&member_of(&restored_id), true, mid);
    assert_eq!(got, want, "the keyspace at revision {mid}");
    clean(&restored_id);

    // Exactly at the second full: nothing replayed, the same comparison.
    let full2 = taken
        .iter()
        .filter(|t| t["delta"].is_null())
        .nth(1)
        .expect("a second full");
    let rev2 = full2["revision"].as_i64().unwrap();
    let (v, restored_id) = restore_at(rev2);
    assert_eq!(v.report["restore"]["stored"]["picked"], full2["name"]);
    assert!(
        v.report["restore"]["replay"].is_null(),
        "{}",
        v.report["restore"]
    );
    let got = keyspace_at(&member_of(&restored_id), true, rev2);
    assert_eq!(
        got,
        keyspace_at(&original, false, rev2),
        "at revision {rev2}"
    );
    clean(&restored_id);
    clean(&original_id);
    assert!(leftovers(&d, &original_id).await.is_empty());
    assert!(leftovers(&d, &restored_id).await.is_empty());

    // Without the identity, the encrypted backup is refused, naming it.
    let v = verify_backup(&[store.path().to_str().unwrap()], &[]);
    assert_eq!(v.code, exit_codes::DRILL_FAILED, "{}", v.out);
    assert!(v.out.contains("encrypted, and no identity"), "{}", v.out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_store_scenario_restores_k3s_newest_on_3_4() {
    if docker().await.is_none() {
        return;
    }
    let (code, r) = drill("scenarios/restore-from-store.yaml").await;
    assert_eq!(code, exit_codes::PASSED, "{}", r["gates"]);
    let s = &r["restore"]["stored"];
    assert_eq!(s["picked"], "etcd-snapshot-server-1-1796645964.zip", "{s}");
    assert_eq!(s["backups"], 2, "{s}");
    assert_eq!(s["ignored"][0]["name"], "README.txt", "{s}");
    assert_eq!(r["restore"]["etcd_version"], "3.4.23");
    let k = &r["verification"]["keyspace"];
    assert_eq!(
        (k["revision"].as_i64(), k["keys"].as_u64()),
        (Some(131), Some(110)),
        "{k}"
    );
    // Restored as it is: counted from the file while the members restored it (the same 110
    // keys etcd counts; HashKV equal on every member says they hold it).
    assert_eq!(k["counted_in"], "the snapshot file", "{k}");
    assert_eq!(r["verification"]["hashkv_equal"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_stores_one_at_a_time_with_one_summary() {
    let Some(d) = docker().await else { return };
    // Two clusters' folders: one backed up an hour ago, one five hours ago.
    let folder = |age: u64| {
        let dir = tempfile::tempdir().unwrap();
        let name = format!("etcd-snapshot-cp-1-{}", unix_now() - age);
        std::fs::write(dir.path().join(name), fixture(ETCD_3_4)).unwrap();
        dir
    };
    let (fresh, stale) = (folder(3600), folder(5 * 3600));
    let reports = tempfile::tempdir().unwrap();
    let o = bin()
        .arg("verify-backup")
        .args([fresh.path(), stale.path()])
        .args(["--members", "1", "--max-age", "2h", "--report-dir"])
        .arg(reports.path())
        .output()
        .unwrap();
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    // The stale folder fails its freshness gate, the fresh one passes: the exit code is the
    // worse of the two.
    assert_eq!(o.status.code(), Some(exit_codes::GATE_FAILED), "{out}");
    let runs: Vec<serde_json::Value> = std::fs::read_dir(reports.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .map(|p| read_report(&p))
        .collect();
    assert_eq!(runs.len(), 2);
    for r in &runs {
        assert!(leftovers(&d, r["run_id"].as_str().unwrap())
            .await
            .is_empty());
        let stale_one = r["restore"]["stored"]["store"]
            .as_str()
            .unwrap()
            .ends_with(stale.path().to_str().unwrap());
        assert_eq!(
            gate(r, "backup-max-age")["passed"],
            !stale_one,
            "{}",
            r["restore"]["stored"]
        );
    }
    let metrics = std::fs::read_to_string(reports.path().join("metrics.prom")).unwrap();
    assert_eq!(
        metrics
            .matches("# TYPE etcd_drill_backup_age_seconds gauge")
            .count(),
        1,
        "{metrics}"
    );
    assert_eq!(
        metrics.matches("etcd_drill_backup_age_seconds{").count(),
        2,
        "{metrics}"
    );
    assert!(reports.path().join("junit.xml").is_file());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_stores_are_refused_naming_the_object_and_why() {
    let Some(d) = docker().await else { return };
    // No such folder: bad input, nothing started.
    let v = verify_backup(&["/no/such/folder"], &[]);
    assert_eq!(v.code, exit_codes::BAD_INPUT, "{}", v.out);
    assert!(
        v.out.contains("/no/such/folder: no such folder"),
        "{}",
        v.out
    );
    assert!(v.run_dir.is_none());

    // Empty, then holding no backup.
    let empty = tempfile::tempdir().unwrap();
    let v = verify_backup(&[empty.path().to_str().unwrap()], &[]);
    assert_eq!(v.code, exit_codes::DRILL_FAILED, "{}", v.out);
    assert!(v.out.contains("the store holds no object"), "{}", v.out);
    assert!(leftovers(&d, v.report["run_id"].as_str().unwrap())
        .await
        .is_empty());
    std::fs::write(empty.path().join("README.md"), "backups go here\n").unwrap();
    let v = verify_backup(&[empty.path().to_str().unwrap()], &[]);
    assert_eq!(v.code, exit_codes::DRILL_FAILED, "{}", v.out);
    assert!(
        v.out.contains("holds no backup")
            && v.out.contains("README.md: not a snapshot: a .md file"),
        "{}",
        v.out
    );

    // The newest is damaged (16 bytes flipped: its SHA-256 trailer no longer matches); an
    // older one is good. Without --fallback the drill fails naming it; with it, the older one
    // is restored and the refusal is in the report.
    let dir = tempfile::tempdir().unwrap();
    let good = "etcd-snapshot-server-1-1796000000";
    std::fs::write(dir.path().join(good), fixture(ETCD_3_4)).unwrap();
    let bad = format!("etcd-snapshot-server-1-{}", unix_now() - 60);
    let mut bytes = fixture(ETCD_3_4);
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid..mid + 16] {
        *b ^= 0xFF;
    }
    std::fs::write(dir.path().join(&bad), bytes).unwrap();
    let store = dir.path().to_str().unwrap();
    let v = verify_backup(&[store], &[]);
    assert_eq!(v.code, exit_codes::DRILL_FAILED, "{}", v.out);
    assert!(
        v.out.contains(&bad) && v.out.contains("not a usable etcd snapshot"),
        "{}",
        v.out
    );
    let v = verify_backup(&[store, "--fallback", "--expect-keys", "110"], &[]);
    assert_eq!(v.code, exit_codes::PASSED, "{}", v.out);
    assert_eq!(v.report["restore"]["stored"]["picked"], good);
    assert_eq!(v.report["restore"]["refused"][0]["name"], bad.as_str());
    let cost = v.report["restore"]["stored"]["fallback_cost"]
        .as_str()
        .unwrap();
    assert!(
        cost.starts_with("1 refused; the backup restored was taken "),
        "{cost}"
    );
    assert!(v.out.contains(cost), "{}", v.out);

    // A point in time before the oldest full, and by revision where names carry none.
    std::fs::write(
        dir.path().join("etcd-20261207T100000.000Z-r0000000131.db"),
        fixture(ETCD_3_4),
    )
    .unwrap();
    let v = verify_backup(&[store, "--at-revision", "50"], &[]);
    assert_eq!(v.code, exit_codes::DRILL_FAILED, "{}", v.out);
    assert!(v.out.contains("revision 50 is before the oldest full backup (etcd-20261207T100000.000Z-r0000000131.db, revision 131)"), "{}", v.out);
    let v = verify_backup(&[store, "--at", "2020-01-01T00:00:00Z"], &[]);
    assert_eq!(v.code, exit_codes::DRILL_FAILED, "{}", v.out);
    assert!(
        v.out
            .contains("2020-01-01T00:00:00.000Z is before the oldest full backup"),
        "{}",
        v.out
    );

    // Not what its name says: a "gzip" that is not one, a snapshot that is text.
    let odd = tempfile::tempdir().unwrap();
    std::fs::write(
        odd.path().join("snap-20261207T010000.db.gz"),
        "not gzip at all",
    )
    .unwrap();
    std::fs::write(odd.path().join("snap-20261206T010000.db"), "hello").unwrap();
    let v = verify_backup(&[odd.path().to_str().unwrap(), "--fallback"], &[]);
    assert_eq!(v.code, exit_codes::DRILL_FAILED, "{}", v.out);
    assert!(
        v.out
            .contains("snap-20261207T010000.db.gz (cannot unpack (Gzip)"),
        "{}",
        v.out
    );
    assert!(
        v.out
            .contains("snap-20261206T010000.db (not a usable etcd snapshot"),
        "{}",
        v.out
    );
    assert!(leftovers(&d, v.report["run_id"].as_str().unwrap())
        .await
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_the_bucket_refuses_are_said_and_start_nothing() {
    let Some(d) = docker().await else { return };
    let Some(server) = s3::S3Server::start_refusing_credentials() else {
        return;
    };
    server.create_bucket("backups");
    let env = [
        ("AWS_ACCESS_KEY_ID", s3::ACCESS_KEY_ID),
        ("AWS_SECRET_ACCESS_KEY", s3::SECRET_ACCESS_KEY),
        ("AWS_REGION", "us-east-1"),
    ];
    let v = verify_backup(&["s3://backups/prod", "--endpoint", &server.endpoint], &env);
    assert_eq!(v.code, exit_codes::DRILL_FAILED, "{}", v.out);
    assert!(
        v.out.contains("backup store s3://backups/prod at"),
        "the store is named: {}",
        v.out
    );
    assert!(
        v.out.contains("access refused: the credentials")
            && v.out
                .contains("InvalidAccessKeyId: The AWS Access Key Id you provided"),
        "S3's reason is said: {}",
        v.out
    );
    assert!(!v.out.contains(s3::SECRET_ACCESS_KEY), "{}", v.out);
    if let Some(dir) = &v.run_dir {
        for f in std::fs::read_dir(dir).unwrap().flatten() {
            let text = std::fs::read(f.path()).unwrap_or_default();
            assert!(
                !String::from_utf8_lossy(&text).contains(s3::SECRET_ACCESS_KEY),
                "{} holds the secret",
                f.path().display()
            );
        }
        assert!(leftovers(&d, v.report["run_id"].as_str().unwrap())
            .await
            .is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_on_s3_is_verified_and_its_secret_stays_out() {
    let Some(_d) = docker().await else { return };
    let Some(server) = s3::S3Server::start() else {
        return;
    };
    server.create_bucket("backups");
    let spec = etcd_drill::scenario::StoreSpec::S3 {
        bucket: "backups".into(),
        prefix: Some("clusters/prod".into()),
        endpoint: Some(server.endpoint.clone()),
        region: None,
    };
    let tmp = tempfile::tempdir().unwrap();
    let store = etcd_drill::backup::store::Store::open(&spec, tmp.path()).unwrap();
    let k3s = format!("etcd-snapshot-cp-1-{}", unix_now() - 600);
    let file = tmp.path().join("snap");
    std::fs::write(&file, fixture(ETCD_3_5_1)).unwrap();
    store.upload(&k3s, &file).await.unwrap();
    std::fs::write(&file, "checksums\n").unwrap();
    store.upload(&format!("{k3s}.sha256"), &file).await.unwrap();
    let env = [
        ("AWS_ACCESS_KEY_ID", s3::ACCESS_KEY_ID),
        ("AWS_SECRET_ACCESS_KEY", s3::SECRET_ACCESS_KEY),
        ("AWS_REGION", "us-east-1"),
    ];
    let v = verify_backup(
        &[
            "s3://backups/clusters/prod",
            "--endpoint",
            &server.endpoint,
            "--max-age",
            "1h",
            "--expect-revision",
            "302",
        ],
        &env,
    );
    assert_eq!(v.code, exit_codes::PASSED, "{}", v.out);
    let s = &v.report["restore"]["stored"];
    assert_eq!(s["picked"], k3s.as_str(), "{s}");
    assert!(
        s["store"]
            .as_str()
            .unwrap()
            .starts_with("s3://backups/clusters/prod"),
        "{s}"
    );
    assert_eq!(s["ignored"][0]["reason"], "not a snapshot: a .sha256 file");
    for f in std::fs::read_dir(v.run_dir.unwrap()).unwrap().flatten() {
        if f.path().is_file() {
            let text = String::from_utf8_lossy(&std::fs::read(f.path()).unwrap()).into_owned();
            assert!(
                !text.contains(s3::SECRET_ACCESS_KEY),
                "{}",
                f.path().display()
            );
        }
    }
    // A bucket that does not exist: the drill fails and says which store.
    let v = verify_backup(
        &["s3://no-such-bucket/x", "--endpoint", &server.endpoint],
        &env,
    );
    assert_eq!(v.code, exit_codes::DRILL_FAILED, "{}", v.out);
    assert!(v.out.contains("s3://no-such-bucket/x"), "{}", v.out);
}
