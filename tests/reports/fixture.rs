//! Reports built the way a real run builds them: a real plan, and the `Recorder` fed the events
//! a drill would emit, with made-up figures.

use etcd_drill::events::{EventKind, RunEvent, StepOutcome};
use etcd_drill::record::*;
use etcd_drill::report::Recorder;
use std::path::Path;
use std::time::{Duration, SystemTime};

pub const SCENARIO: &str = "name: evidence
description: >
  Every kind of record: seed, snapshot, a fault, a disaster, a restore, verification.
cluster:
  members: 3
seed:
  keys: 100
  rng-seed: 7
workload:
  rate: 50
steps:
  - seed: {}
  - snapshot: { name: nightly }
  - kill: { target: leader, hold: 2s }
  - disaster: {}
  - restore: { snapshot: nightly }
  - verify: {}
expect:
  rto: 30s
  rto-verified: 60s
  rpo: 10s
  max-lost-acknowledged-writes: 200
  max-revision-gap: 500
  integrity: true
";

/// A step error with markup in it: every renderer must escape it.
pub const NASTY: &str = "refused <script>alert(\"x\")</script> | & done";

pub fn plan() -> etcd_drill::plan::Plan {
    let file = etcd_drill::scenario::load_str(Path::new("scenarios/evidence.yaml"), SCENARIO)
        .expect("the fixture scenario loads");
    etcd_drill::plan::plan(file).expect("the fixture scenario plans")
}

struct Feed {
    t0: SystemTime,
    rec: Recorder,
}

impl Feed {
    /// Ends the run 22 s after it started.
    fn finish(self) -> RunReport {
        self.rec.finish_at(self.t0 + Duration::from_secs(22))
    }

    fn at(&mut self, ms: u64, kind: EventKind) {
        let elapsed = Duration::from_millis(ms);
        self.rec.on(&RunEvent {
            at: self.t0 + elapsed,
            elapsed,
            kind,
        });
    }

    fn step(&mut self, index: usize, from: u64, to: u64, outcome: StepOutcome) {
        let label = format!("step {index}");
        self.at(
            from,
            EventKind::StepStarted {
                index,
                total: 6,
                label: label.clone(),
            },
        );
        self.at(
            to,
            EventKind::StepFinished {
                index,
                label,
                duration: Duration::from_millis(to - from),
                outcome: Box::new(outcome),
            },
        );
    }
}

fn feed() -> Feed {
    let mut f = Feed {
        // A fixed clock (2026-11-18T21:20:00Z): every run of a test builds the same report.
        t0: SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_036_800),
        rec: Recorder::new(&plan(), "20261124225433-5992"),
    };
    f.at(
        0,
        EventKind::RunStarted {
            run_id: "20261124225433-5992".into(),
            scenario: "evidence".into(),
        },
    );
    f.at(
        1,
        EventKind::Environment {
            docker: "unix:///var/run/docker.sock".into(),
            image: ImageInfo {
                name: "etcd-drill/etcd:v3.5.1".into(),
                id: "sha256:08f40e0c97165c86fe9be6ca37c7c89abcdc025a44756595ff1ffc2aaf217d7f"
                    .into(),
                source: "present".into(),
            },
        },
    );
    f.at(
        800,
        EventKind::Tls(etcd_drill::record::TlsInfo {
            dir: "reports/20261124225433-5992/tls".into(),
            ca: "reports/20261124225433-5992/tls/ca.pem".into(),
            client_cert: "reports/20261124225433-5992/tls/client.pem".into(),
            client_key: "reports/20261124225433-5992/tls/client-key.pem".into(),
            etcdctl: "etcdctl --cacert ca.pem --cert client.pem --key client-key.pem".into(),
        }),
    );
    f.at(
        900,
        EventKind::ClusterHealthy(Health {
            leader: "etcd-2".into(),
            version: "3.5.30".into(),
            versions: ["etcd-1", "etcd-2", "etcd-3"]
                .map(|m| (m.to_string(), "3.5.30".to_string()))
                .into(),
            took_ms: 12,
        }),
    );
    f
}

fn sha(c: char) -> String {
    c.to_string().repeat(64)
}

fn rpo() -> Rpo {
    Rpo {
        snapshot: "nightly".into(),
        snapshot_revision: 120,
        time_gap_ms: 3900,
        last_acknowledged_revision: Some(310),
        revision_gap: Some(190),
        acknowledged_before_disaster: Some(300),
        lost_acknowledged_writes: Some(190),
        lost_examples: vec!["/drill/w/000000000121".into()],
        fulls_only: Some(etcd_drill::record::FullsOnly {
            snapshot: "etcd-20261118T212000.000Z-r0000000100.db".into(),
            snapshot_revision: 100,
            time_gap_ms: 5_900,
            revision_gap: Some(210),
            lost_acknowledged_writes: Some(208),
        }),
    }
}

/// 20 seconds of writes every 20 ms; writes fail from 4.0 s to 5.5 s (the fault) and from
/// 9.0 s to 11.0 s (the disaster and restore).
fn workload() -> WorkloadLog {
    let mut l = WorkloadLog::default();
    for i in 0..1000u64 {
        let at_ms = 1000 + i * 20;
        let ok = !(4000..5500).contains(&at_ms) && !(9000..11000).contains(&at_ms);
        l.attempts += 1;
        l.ops.push(Op {
            kind: OpKind::Put,
            at_ms,
            latency_us: if ok { 1500 + i % 7 * 300 } else { 1_000_000 },
            ok,
        });
        if ok {
            l.acknowledged += 1;
        }
    }
    l.failures.insert("grpc Unavailable".into(), 175);
    l.unavailability = vec![
        etcd_drill::record::Window {
            from_ms: 3980,
            to_ms: Some(5500),
            failed_writes: 75,
        },
        etcd_drill::record::Window {
            from_ms: 8980,
            to_ms: Some(11000),
            failed_writes: 100,
        },
    ];
    l.linearizability = Some(etcd_drill::record::LinearizabilityRecord {
        outcome: etcd_drill::record::LinearizableOutcome::Linearizable,
        operations: 1000,
        checked: 825,
        indeterminate: 175,
        across_restore: 0,
        rolled_back: 1,
        rolled_back_writes: vec![etcd_drill::record::ViolationOp {
            id: 812,
            client: 3,
            watch: false,
            call_us: 11_200_000,
            return_us: 11_204_000,
            text: "put /drill/w/000000000812 = \"812\" → wrote at revision 1340".into(),
        }],
        violations_found: 0,
        violations: Vec::new(),
        watch: etcd_drill::record::WatchHistoryRecord {
            streams: 2,
            events: 825,
            checked: 825,
        },
        leases: etcd_drill::record::LeaseHistoryRecord {
            granted: 4,
            kept_alive: 1,
            revoked: 2,
            expired: 1,
        },
        elapsed_ms: 12,
    });
    l
}

fn fault() -> FaultRecord {
    FaultRecord {
        name: "kill-leader".into(),
        fault: "kill".into(),
        target: "leader".into(),
        members: vec!["etcd-2".into()],
        injected_at: "2026-11-18T21:20:04.000Z".into(),
        injected_ms: 4000,
        healed_ms: Some(6000),
        recovered_ms: Some(6800),
        leader_before: Some("etcd-2".into()),
        leader_after: Some("etcd-1".into()),
        new_leader_after_ms: Some(1400),
        proof: vec!["etcd-2: container state exited (137) after SIGKILL".into()],
        reaction: None,
        unavailable_ms: Some(1520),
        failed_writes: 75,
        lost_acknowledged_writes: Some(0),
        hashkv_equal: Some(true),
        divergence: None,
        health: vec![HealthSample {
            at_ms: 4250,
            member: "etcd-2".into(),
            up: false,
            leader: None,
            raft_term: None,
        }],
    }
}

fn restore() -> RestoreRecord {
    RestoreRecord {
        snapshot: "nightly".into(),
        refused: vec![Refusal {
            name: "2026-11-18T21-20-03Z-rev000000000130.db".into(),
            reason: "sha256 differs from the recorded one".into(),
        }],
        snapshot_revision: 120,
        cluster_token: "etcd-drill-restored".into(),
        phases: vec![
            Phase {
                name: "restore files".into(),
                duration_ms: 800,
                at_ms: 800,
            },
            Phase {
                name: "first write".into(),
                duration_ms: 1200,
                at_ms: 2000,
            },
        ],
        rto_first_write_ms: 2000,
        rto_from_ms: 9300,
        leader: Some("etcd-3".into()),
        snapshot_delivery: "read-only bind mount".into(),
        members_at_once: 3,
        all_members_serving_ms: Some(2_900),
        stored: None,
        point: None,
        image: Some("etcd-drill/etcd:v3.5.30".into()),
        bump_revision: None,
        replay: Some(etcd_drill::record::ReplayRecord {
            deltas: vec!["etcd-20261118T212002.000Z-r0000000120.delta".into()],
            revisions: 20,
            events: 23,
            from_revision: 100,
            to_revision: 120,
            reached_revision: 120,
            duration_ms: 41,
            stopped: Some(
                "etcd-20261118T212004.000Z-r0000000140.delta is missing from the store".into(),
            ),
            not_replayed: vec![
                "etcd-20261118T212004.000Z-r0000000140.delta".into(),
                "etcd-20261118T212006.000Z-r0000000160.delta".into(),
            ],
        }),
        etcd_version: Some("3.5.30".into()),
    }
}

fn verified() -> VerifyRecord {
    VerifyRecord {
        rto_verified_ms: Some(2600),
        seed: Some(SeedCheck {
            expected: 100,
            missing: 0,
            wrong_value: 0,
            examples: Vec::new(),
            in_snapshot_file: false,
        }),
        hashkv: (1..=3)
            .map(|i| MemberHash {
                member: format!("etcd-{i}"),
                hash: 3_642_004_128,
                revision: 121,
            })
            .collect(),
        hashkv_equal: true,
        divergence: None,
        snapshot_digest: Some(DigestCheck {
            snapshot: "nightly".into(),
            revision: 120,
            expected_sha256: sha('c'),
            actual_sha256: sha('c'),
            expected_keys: 117,
            actual_keys: 117,
            equal: true,
        }),
        snapshot_hashkv: Some(etcd_drill::record::HashKvCheck {
            snapshot: "nightly".into(),
            revision: 120,
            expected: etcd_drill::record::SnapshotHashKv {
                member: "etcd-2".into(),
                hash: 3_642_004_128,
                compact_revision: 0,
            },
            actual: (1..=3)
                .map(|i| etcd_drill::record::SnapshotHashKv {
                    member: format!("etcd-{i}"),
                    hash: 3_642_004_128,
                    compact_revision: 0,
                })
                .collect(),
            unreachable: Vec::new(),
            equal: true,
        }),
        keyspace: Some(KeyspaceSummary {
            wanted: Vec::new(),
            counted_in: None,
            revision: 121,
            keys: 217,
            bytes: 58_000,
            depth: 2,
            groups: vec![
                PrefixGroup {
                    prefix: "/drill/w/".into(),
                    keys: 117,
                    bytes: 30_000,
                },
                PrefixGroup {
                    prefix: "/drill/seed/".into(),
                    keys: 90,
                    bytes: 26_000,
                },
            ],
            rest: Some(PrefixGroup {
                prefix: "2 other prefixes".into(),
                keys: 10,
                bytes: 2_000,
            }),
            db_size_bytes: Some(3_797_024),
            quota_bytes: Some(2 << 30),
        }),
        durability: Some(Durability {
            checked: 825,
            lost: 0,
            examples: Vec::new(),
        }),
        passed: true,
    }
}

fn backups() -> BackupLog {
    BackupLog {
        store: "s3://drill-backups/etcd".into(),
        taken: vec![
            BackupRecord {
                name: "2026-11-18T21-20-02Z-rev000000000125.db".into(),
                size_bytes: 3_800_000,
                sha256: sha('d'),
                ciphertext_sha256: Some(sha('f')),
                revision: 125,
                taken_at: "2026-11-18T21:20:02.000Z".into(),
                taken_at_ms: 2000,
                keyspace_sha256: sha('e'),
                keyspace_keys: 121,
                delta: None,
            },
            BackupRecord {
                name: "etcd-20261118T212002.000Z-r0000000130.delta".into(),
                size_bytes: 4_100,
                sha256: sha('a'),
                ciphertext_sha256: None,
                revision: 130,
                taken_at: "2026-11-18T21:20:02.500Z".into(),
                taken_at_ms: 2500,
                keyspace_sha256: sha('b'),
                keyspace_keys: 124,
                delta: Some(etcd_drill::record::DeltaOf {
                    base: "2026-11-18T21-20-02Z-rev000000000125.db".into(),
                    first_revision: 126,
                    events: 5,
                }),
            },
        ],
        failures: vec![(3000, "no snapshot within the deadline".into())],
        deleted: vec![(
            "2026-11-18T21-19-00Z-rev000000000090.db".into(),
            "keep-last 1".into(),
        )],
        remaining: vec!["2026-11-18T21-20-02Z-rev000000000125.db".into()],
        damaged: Vec::new(),
    }
}

/// A drill that ran every step: every optional part of the report is present.
pub fn full_report() -> RunReport {
    let mut f = feed();
    let seeded = SeedStats {
        keys: 100,
        value_size: 256,
        bytes: 27_800,
        transactions: 1,
        duration_ms: 20,
        keys_per_sec: 5000.0,
        mb_per_sec: 1.39,
        revision: 101,
    };
    f.step(1, 1000, 1020, StepOutcome::Seeded(seeded));
    let snapshot = SnapshotRecord {
        name: "nightly".into(),
        file: "reports/20261124225433-5992/snapshots/nightly.db".into(),
        size_bytes: 3_797_024,
        sha256: sha('a'),
        revision: 120,
        total_keys: 117,
        etcd_hash: 1_234_567,
        taken_at: "2026-11-18T21:20:01.100Z".into(),
        taken_at_ms: 1100,
        duration_ms: 400,
        mb_per_sec: 9.5,
        keyspace_sha256: sha('c'),
        keyspace_keys: 117,
        // A real snapshot holds one of the two; the fixture both, to exercise the schema.
        hashkv: Some(etcd_drill::record::SnapshotHashKv {
            member: "etcd-2".into(),
            hash: 3_642_004_128,
            compact_revision: 0,
        }),
        seed: None,
    };
    f.step(2, 1050, 1500, StepOutcome::Snapshot(snapshot));
    f.step(3, 3990, 6900, StepOutcome::Fault(fault()));
    let disaster = DisasterRecord {
        started_ms: 9000,
        ended_ms: 9300,
        ended_at: "2026-11-18T21:20:09.300Z".into(),
        destroyed_containers: vec!["etcd-1".into(), "etcd-2".into(), "etcd-3".into()],
        destroyed_volumes: vec!["etcd-drill-5992-etcd-1".into()],
    };
    f.step(4, 9000, 9300, StepOutcome::Disaster(disaster));
    f.step(
        5,
        9300,
        11300,
        StepOutcome::Restored(restore(), Some(rpo())),
    );
    f.step(
        6,
        11300,
        11900,
        StepOutcome::Verified(verified(), Some(rpo())),
    );
    f.at(21_000, EventKind::WorkloadStopped(Box::new(workload())));
    f.at(21_001, EventKind::BackupsStopped(backups()));
    let mut r = f.finish();
    // What `run` adds after the drill: the link to last month's run and the signing key's id.
    r.evidence = Some(EvidenceInfo {
        previous: Some(ChainLink {
            run_id: "20261018-212000-4711".into(),
            started_at: "2026-10-18T21:20:00.000Z".into(),
            manifest_sha256: "d".repeat(64),
            last_passed_at: Some("2026-10-18T21:20:22.000Z".into()),
        }),
        signed_by_key_id: Some("0123456789ABCDEF".into()),
    });
    // An alert drill's section, tied to the fixture's incidents as the recorder ties them.
    let mut alerts = alerts();
    alerts.attribute(&etcd_drill::report::alerts::incidents(&r));
    r.alerts = Some(alerts);
    // A known-bug drill's finding, on a version with the fix.
    r.known_bug = Some(KnownBugRecord {
        issue: 20221,
        etcd_version: "3.5.30".into(),
        affected: false,
        fixed_in: vec!["3.4.38".into(), "3.5.22".into()],
        fails_with: "watch-before-start".into(),
        found: 0,
        first: None,
    });
    r
}

fn alerts() -> AlertsRecord {
    let alert = |name: &str, instance: &str, fired_ms: u64, resolved_ms: Option<u64>| AlertRecord {
        name: name.into(),
        labels: [
            ("instance", instance),
            ("job", "etcd"),
            ("severity", "critical"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
        fired_ms,
        notified_ms: Some(fired_ms + 14),
        resolved_ms,
        after: None,
        detect_ms: None,
        notify_ms: None,
        resolve_ms: None,
    };
    AlertsRecord {
        prometheus: "2.42.0".into(),
        alertmanager: "0.25.0".into(),
        rules: vec!["etcd-alerts.yml (etcd-drill's rules for etcd)".into()],
        defined: vec![
            "EtcdMemberDown".into(),
            "EtcdNoLeader".into(),
            "EtcdFrequentLeaderChanges".into(),
        ],
        scrape_interval_ms: 1000,
        watching_from_ms: 900,
        alerts: vec![
            alert("EtcdNoLeader", "etcd-2:2379", 950, Some(2_950)),
            alert("EtcdMemberDown", "etcd-1:2379", 9_400, Some(16_200)),
            alert("EtcdNoLeader", "etcd-3:2379", 9_900, None),
        ],
        notifications: 5,
        failed_scrapes: [
            ("etcd-1:2379".to_string(), 7),
            ("etcd-2:2379".to_string(), 0),
        ]
        .into_iter()
        .collect(),
        never_fired: vec!["EtcdFrequentLeaderChanges".into()],
    }
}

/// A drill whose snapshot step failed: later steps never ran, most records are absent.
pub fn failed_report() -> RunReport {
    let mut f = feed();
    f.at(
        1000,
        EventKind::StepStarted {
            index: 1,
            total: 6,
            label: "seed".into(),
        },
    );
    f.at(
        1300,
        EventKind::StepFailed {
            index: 1,
            label: "seed".into(),
            duration: Duration::from_millis(300),
            error: NASTY.into(),
            kind: FailureKind::Cluster,
        },
    );
    f.finish()
}

/// The reports every renderer is held to: the shipped example (a real kill-leader drill) and
/// the fixtures that fill every part of a report, passed and failed.
#[allow(dead_code)]
pub fn rendered_reports() -> Vec<(&'static str, RunReport)> {
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("reports/examples/kill-leader/report.json");
    let example: RunReport = serde_json::from_str(
        &std::fs::read_to_string(example).expect("the shipped example report"),
    )
    .expect("the example parses");
    vec![
        ("example-kill-leader", example),
        ("fixture-full", full_report()),
        ("fixture-failed", failed_report()),
    ]
}
