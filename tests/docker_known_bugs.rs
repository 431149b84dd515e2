//! Known etcd bugs, caught on the versions that carry them and not on the fixed one: each
//! scenario of `scenarios/known-bugs/` runs on an affected version and on 3.5.30, on real
//! containers. With CI=true, missing Docker fails.

mod common;

use common::*;
use etcd_drill::exit_codes;

/// Runs `scenario` on `affected` and then `fixed` in one matrix, and holds it to what a known-bug
/// drill promises: it exits 0, the affected version's run CAUGHT etcd#`issue`, the fixed one's
/// passed without the violation, and nothing is left behind. The affected run's first violation,
/// as the check named it.
async fn caught_then_passed(
    scenario: &str,
    (affected, fixed): (&str, &str),
    issue: u32,
) -> serde_json::Value {
    let reports = tempfile::tempdir().unwrap();
    let versions = format!("{affected},{fixed}");
    let out = bin()
        .args(["run", "--etcd-version", &versions, scenario, "--report-dir"])
        .arg(reports.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let runs: Vec<serde_json::Value> = std::fs::read_dir(reports.path())
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .map(|p| read_report(&p))
        .collect();
    for r in &runs {
        assert_no_leftovers(r).await;
    }
    let err = String::from_utf8_lossy(&out.stderr);
    // What each run came to, first: a failure's own output is long and may be cut.
    let came_to: Vec<String> = runs.iter().map(came_to).collect();
    assert_eq!(
        out.status.code(),
        Some(exit_codes::PASSED),
        "{}\n{stdout}\n{err}",
        came_to.join("\n")
    );
    let on = |v: &str| {
        let found = runs.iter().find(|r| r["known_bug"]["etcd_version"] == v);
        found
            .unwrap_or_else(|| panic!("no run on {v}: {stdout}"))
            .clone()
    };
    let (a, f) = (on(affected), on(fixed));
    let bug = &a["known_bug"];
    assert_eq!(bug["affected"], true, "{bug}");
    assert!(bug["found"].as_u64().unwrap() > 0, "{bug}");
    assert!(stdout.contains(&format!("CAUGHT etcd#{issue}")), "{stdout}");
    let clean = &f["known_bug"];
    let wanted = (&false.into(), &0.into());
    assert_eq!((&clean["affected"], &clean["found"]), wanted, "{clean}");
    assert_eq!(f["verdict"], "passed", "{}", f["gates"]);
    bug["first"].clone()
}

/// One line for a run: its version, its verdict, what the known-bug judgement found, and
/// every gate that did not pass with why.
fn came_to(r: &serde_json::Value) -> String {
    let bug = &r["known_bug"];
    let failed: Vec<String> = r["gates"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|g| g["passed"] != true)
        .map(|g| g.to_string())
        .collect();
    format!(
        "{} {}: found {} (first {}); gates not passed: [{}]",
        bug["etcd_version"],
        r["verdict"],
        bug["found"],
        bug["first"],
        failed.join(", ")
    )
}

/// etcd#20221: a watch on a future revision, open on a follower that installs a raft snapshot,
/// delivers events below the revision it asked for on 3.5.16; 3.5.30 has the fix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_20221_is_caught_on_3_5_16_and_not_on_3_5_30() {
    if docker().await.is_none() {
        return;
    }
    let scenario = "scenarios/known-bugs/watch-future-revision-after-raft-snapshot.yaml";
    let first = caught_then_passed(scenario, ("3.5.16", "3.5.30"), 20221).await;
    // Named as the check saw it: the stream's start, the member, the revision delivered.
    assert_eq!(first["kind"], "watch-before-start", "{first}");
    let why = first["why"].as_str().unwrap();
    let named = why.contains("opened from revision") && why.contains("on member");
    assert!(named, "{why}");
}

/// etcd#18089: a compaction at a delete's revision drops the delete from a watch opened there
/// on 3.4.23; 3.5.30 (and 3.5.16) have the fix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_18089_is_caught_on_3_4_23_and_not_on_3_5_30() {
    if docker().await.is_none() {
        return;
    }
    let scenario = "scenarios/known-bugs/watch-at-compacted-delete.yaml";
    let first = caught_then_passed(scenario, ("3.4.23", "3.5.30"), 18089).await;
    // The delete at the revision the stream was opened from, on the compactor's key.
    assert_eq!(first["kind"], "watch-missed-event", "{first}");
    assert!(
        first["key"].as_str().unwrap().contains("/compact/"),
        "{first}"
    );
    let why = first["why"].as_str().unwrap();
    assert!(why.contains("not this write at revision"), "{why}");
}

/// etcd#15271: a watch on a member that rejoins by installing the leader's snapshot replays
/// revisions it had delivered, on 3.4.23; 3.5.30 has the fix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_15271_is_caught_on_3_4_23_and_not_on_3_5_30() {
    if docker().await.is_none() {
        return;
    }
    let scenario = "scenarios/known-bugs/watch-back-in-time-after-raft-snapshot.yaml";
    let first = caught_then_passed(scenario, ("3.4.23", "3.5.30"), 15271).await;
    assert_eq!(first["kind"], "watch-out-of-order", "{first}");
    let why = first["why"].as_str().unwrap();
    let replayed = why.contains("twice") || why.contains("after revision");
    assert!(replayed, "{why}");
}

/// etcd#14370: a single member acknowledges a put before it is fsynced, so losing power loses
/// it, on 3.5.1; 3.5.16 has the fix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_14370_is_caught_on_3_5_1_and_not_on_3_5_16() {
    if docker().await.is_none() {
        return;
    }
    let scenario = "scenarios/known-bugs/single-member-power-loss-loses-write.yaml";
    let first = caught_then_passed(scenario, ("3.5.1", "3.5.16"), 14370).await;
    assert_eq!(first["kind"], "durability", "{first}");
    let why = first["why"].as_str().unwrap();
    assert!(
        why.contains("acknowledged writes were not readable"),
        "{why}"
    );
}

/// etcd#17780: the only member, killed while its backend is compacted at a delete, comes back
/// with a lower revision and gives revisions out again, on 3.5.1; 3.5.30 has the fix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_17780_is_caught_on_3_5_1_and_not_on_3_5_30() {
    if docker().await.is_none() {
        return;
    }
    let scenario = "scenarios/known-bugs/revision-decreases-after-crash-during-compaction.yaml";
    let first = caught_then_passed(scenario, ("3.5.1", "3.5.30"), 17780).await;
    // A put acknowledged at one revision, read back at a lower one.
    assert_eq!(first["kind"], "duplicated-write", "{first}");
    let why = first["why"].as_str().unwrap();
    assert!(why.contains("mod_revision"), "{why}");
}
