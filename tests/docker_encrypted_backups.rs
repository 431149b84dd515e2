//! Encrypted backups on real etcd: scheduled snapshots encrypted with age before the store sees
//! them, restored with the matching identity; a flipped ciphertext byte refused and fallen back
//! from; a wrong identity refused before any member is touched; no identity refused before
//! anything starts; the identity in no file of the run.

mod common;

use age::secrecy::ExposeSecret;
use common::*;
use etcd_drill::exit_codes;
use std::path::{Path, PathBuf};

/// An age key pair: the identity file and the recipient.
fn key(dir: &Path, name: &str) -> (PathBuf, String, String) {
    let id = age::x25519::Identity::generate();
    let path = dir.join(name);
    let secret = id.to_string().expose_secret().to_string();
    std::fs::write(&path, format!("{secret}\n")).expect("identity written");
    (path, id.to_public().to_string(), secret)
}

fn scenario(dir: &Path, recipient: &str, damage: bool) -> PathBuf {
    let damage = if damage {
        "  - damage-backup: { how: flip-bytes }\n"
    } else {
        ""
    };
    let yaml = format!(
        "name: encrypted-backups\n\
         cluster: {{ members: 3 }}\n\
         seed: {{ keys: 2000, rng-seed: 3 }}\n\
         workload: {{ rate: 20 }}\n\
         backup:\n  every: 2s\n  keep-last: 4\n  encrypt: {{ recipients: [\"{recipient}\"] }}\n\
         steps:\n  - seed: {{}}\n  - wait-backups: {{ fulls: 3 }}\n  - disaster: {{}}\n{damage}  - restore: {{ backup: latest-good }}\n  - verify: {{}}\n\
         expect:\n  rto: 60s\n  integrity: true\n"
    );
    let path = dir.join(format!(
        "encrypted-{damage_len}.yaml",
        damage_len = damage.len()
    ));
    std::fs::write(&path, yaml).expect("scenario written");
    path
}

fn run(scenario: &Path, reports: &Path, identity: Option<&Path>) -> (i32, String) {
    let ran = run_with(scenario, reports, |c| {
        c.env_remove("ETCD_DRILL_AGE_IDENTITY");
        if let Some(id) = identity {
            c.arg("--identity").arg(id);
        }
    });
    (ran.code, ran.out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_backups_restore_with_their_identity_and_refuse_a_flipped_byte_or_a_wrong_key() {
    let Some(d) = docker().await else { return };
    let tmp = tempfile::tempdir().expect("tempdir");
    let (identity, recipient, secret) = key(tmp.path(), "drill.age");
    let (wrong, _, _) = key(tmp.path(), "other.age");

    // No identity: refused before anything starts.
    let reports = tmp.path().join("none");
    let (code, out) = run(&scenario(tmp.path(), &recipient, false), &reports, None);
    assert_eq!(code, exit_codes::BAD_INPUT, "{out}");
    assert!(out.contains("--identity"), "{out}");
    assert!(!reports.exists() || std::fs::read_dir(&reports).unwrap().next().is_none());

    // The newest backup's ciphertext flipped: refused by its SHA-256, the one before restores.
    let reports = tmp.path().join("flipped");
    let (code, out) = run(
        &scenario(tmp.path(), &recipient, true),
        &reports,
        Some(&identity),
    );
    assert_eq!(code, exit_codes::PASSED, "{out}");
    let dir = only_run_dir(&reports);
    let r = read_report(&dir);
    assert!(leftovers(&d, r["run_id"].as_str().unwrap())
        .await
        .is_empty());
    let taken = r["backups"]["taken"].as_array().unwrap();
    assert!(taken.len() >= 2, "{taken:?}");
    for b in taken {
        assert!(b["name"].as_str().unwrap().ends_with(".db.age"), "{b}");
        assert_ne!(b["ciphertext_sha256"], b["sha256"], "{b}");
    }
    let refused = r["restore"]["refused"].as_array().unwrap();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(
        refused[0]["reason"]
            .as_str()
            .unwrap()
            .contains("ciphertext SHA-256"),
        "{refused:?}"
    );
    assert_eq!(r["verification"]["passed"], true, "{}", r["verification"]);
    let phases: Vec<&str> = r["restore"]["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(phases.contains(&"fetch and decrypt backup"), "{phases:?}");
    // The store holds ciphertext only: no stored object is a snapshot etcdutl could read.
    let store = dir.join("backups");
    for f in std::fs::read_dir(&store).expect("local store").flatten() {
        let bytes = std::fs::read(f.path()).unwrap();
        assert!(
            bytes.starts_with(b"age-encryption.org/v1"),
            "{}",
            f.path().display()
        );
    }
    // The identity is in no file of the run.
    assert_no_secret(&dir, &secret);

    // A wrong identity: every backup refused, the restore fails before etcdutl runs.
    let reports = tmp.path().join("wrong");
    let (code, out) = run(
        &scenario(tmp.path(), &recipient, false),
        &reports,
        Some(&wrong),
    );
    assert_eq!(code, exit_codes::DRILL_FAILED, "{out}");
    let dir = only_run_dir(&reports);
    let r = read_report(&dir);
    assert!(leftovers(&d, r["run_id"].as_str().unwrap())
        .await
        .is_empty());
    let restore = r["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"].as_str().unwrap().starts_with("restore"))
        .unwrap()
        .clone();
    let error = restore["error"].as_str().unwrap_or("");
    assert!(error.contains("cannot decrypt"), "{restore}");
    assert!(
        r["restore"].is_null(),
        "no member was restored: {}",
        r["restore"]
    );
}

fn assert_no_secret(dir: &Path, secret: &str) {
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                pending.push(p);
            } else {
                let bytes = std::fs::read(&p).unwrap();
                assert!(
                    !String::from_utf8_lossy(&bytes).contains(secret),
                    "{}",
                    p.display()
                );
            }
        }
    }
}
