//! Known etcd bugs, caught on the versions that carry them and not on the fixed one: each
//! scenario of `scenarios/known-bugs/` runs on an affected version and on 3.5.30, on real
//! containers. With CI=true, missing Docker fails.

mod common;

use common::*;
use etcd_drill::exit_codes;

/// Runs `scenario` on `versions` (affected, fixed) in one matrix; (exit code, stdout, reports
/// by version).
async fn on_affected_and_fixed(
    scenario: &str,
    versions: &str,
) -> (i32, String, Vec<(String, serde_json::Value)>) {
    let reports = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["run", "--etcd-version", versions, scenario, "--report-dir"])
        .arg(reports.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut runs: Vec<(String, serde_json::Value)> = std::fs::read_dir(reports.path())
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .map(|p| read_report(&p))
        .map(|r| {
            (
                r["known_bug"]["etcd_version"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
                r,
            )
        })
        .collect();
    runs.sort_by(|a, b| a.0.cmp(&b.0));
    for (_, r) in &runs {
        assert_no_leftovers(r).await;
    }
    let code = out.status.code().unwrap_or(-1);
    if code != exit_codes::PASSED {
        eprintln!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    }
    (code, stdout, runs)
}

/// etcd#20221: a watch on a future revision, open on a follower that installs a raft snapshot,
/// delivers events below the revision it asked for on 3.5.16; 3.5.30 has the fix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_20221_is_caught_on_3_5_16_and_not_on_3_5_30() {
    if docker().await.is_none() {
        return;
    }
    let scenario = "scenarios/known-bugs/watch-future-revision-after-raft-snapshot.yaml";
    let (code, stdout, runs) = on_affected_and_fixed(scenario, "3.5.16,3.5.30").await;
    assert_eq!(code, exit_codes::PASSED, "{stdout}");
    let versions: Vec<&str> = runs.iter().map(|(v, _)| v.as_str()).collect();
    assert_eq!(versions, ["3.5.16", "3.5.30"]);
    let (affected, fixed) = (&runs[0].1, &runs[1].1);
    let bug = &affected["known_bug"];
    assert_eq!(bug["affected"], true, "{bug}");
    assert!(bug["found"].as_u64().unwrap() > 0, "{bug}");
    // Named as the check saw it: the stream's start, the member, the revision delivered.
    let first = &bug["first"];
    assert_eq!(first["kind"], "watch-before-start", "{first}");
    let why = first["why"].as_str().unwrap();
    assert!(
        why.contains("opened from revision") && why.contains("on member"),
        "{why}"
    );
    assert!(stdout.contains("CAUGHT etcd#20221"), "{stdout}");
    let bug = &fixed["known_bug"];
    assert_eq!(
        (&bug["affected"], &bug["found"]),
        (&false.into(), &0.into()),
        "{bug}"
    );
    assert_eq!(fixed["verdict"], "passed", "{}", fixed["gates"]);
}

/// etcd#18089: a compaction at a delete's revision drops the delete from a watch opened there
/// on 3.4.23; 3.5.30 (and 3.5.16) have the fix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_18089_is_caught_on_3_4_23_and_not_on_3_5_30() {
    if docker().await.is_none() {
        return;
    }
    let scenario = "scenarios/known-bugs/watch-at-compacted-delete.yaml";
    let (code, stdout, runs) = on_affected_and_fixed(scenario, "3.4.23,3.5.30").await;
    assert_eq!(code, exit_codes::PASSED, "{stdout}");
    let versions: Vec<&str> = runs.iter().map(|(v, _)| v.as_str()).collect();
    assert_eq!(versions, ["3.4.23", "3.5.30"]);
    let (affected, fixed) = (&runs[0].1, &runs[1].1);
    let first = &affected["known_bug"]["first"];
    assert_eq!(first["kind"], "watch-missed-event", "{first}");
    // The delete at the revision the stream was opened from, on the compactor's key.
    let why = first["why"].as_str().unwrap();
    assert!(
        first["key"].as_str().unwrap().contains("/compact/"),
        "{first}"
    );
    assert!(why.contains("not this write at revision"), "{why}");
    assert!(stdout.contains("CAUGHT etcd#18089"), "{stdout}");
    let bug = &fixed["known_bug"];
    assert_eq!(
        (&bug["affected"], &bug["found"]),
        (&false.into(), &0.into()),
        "{bug}"
    );
    assert_eq!(fixed["verdict"], "passed", "{}", fixed["gates"]);
}
