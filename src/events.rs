//! What the runner tells the world. The runner never prints: it emits `RunEvent`s, and the
//! terminal reporter and the report recorder each make what they need of them.

use crate::record::Health;
use crate::record::ImageInfo;
use crate::record::SeedStats;
use crate::record::WorkloadLog;
use crate::record::{
    DisasterRecord, FaultRecord, RestoreRecord, Rpo, SnapshotRecord, UpgradeRecord, VerifyRecord,
};
use std::time::{Duration, Instant, SystemTime};

#[derive(Debug, Clone)]
pub struct RunEvent {
    pub at: SystemTime,
    /// Since the run started.
    pub elapsed: Duration,
    pub kind: EventKind,
}

#[derive(Debug, Clone)]
pub enum EventKind {
    RunStarted {
        run_id: String,
        scenario: String,
    },
    /// A decision or fact worth telling a person, e.g. how the image was obtained.
    Note(String),
    Environment {
        docker: String,
        image: ImageInfo,
    },
    ClusterCreated {
        members: Vec<(String, String)>,
    },
    ClusterHealthy(Health),
    StepStarted {
        index: usize,
        total: usize,
        label: String,
    },
    /// How far a long phase is: `done` of `total` `unit`s (0 = total unknown).
    Progress {
        phase: &'static str,
        unit: &'static str,
        done: u64,
        total: u64,
    },
    StepFinished {
        index: usize,
        label: String,
        duration: Duration,
        outcome: Box<StepOutcome>,
    },
    StepFailed {
        index: usize,
        label: String,
        duration: Duration,
        /// The error and its causes, on one line.
        error: String,
        kind: crate::record::FailureKind,
    },
    /// What a fault showed before its step failed (a member that did not come back): kept in
    /// the report beside the step's error.
    FaultObserved(Box<crate::record::FaultRecord>),
    WorkloadStopped(Box<WorkloadLog>),
    /// The backup schedule ended: what it took, deleted and left in the store.
    BackupsStopped(crate::record::BackupLog),
    /// The monitoring stopped: every alert it raised.
    AlertsStopped(Box<crate::record::AlertsRecord>),
    /// The cluster speaks TLS: where the run's certificates are (paths only).
    Tls(crate::record::TlsInfo),
    /// The sandbox or cluster could not be set up; no step ran.
    SetupFailed(String),
    /// The sandbox was kept (`--keep`): how to reach it.
    Kept {
        hint: String,
    },
    TornDown {
        leftovers: Vec<String>,
    },
    Interrupted,
}

#[derive(Debug, Clone)]
pub enum StepOutcome {
    Healthy(Health),
    Seeded(SeedStats),
    Snapshot(SnapshotRecord),
    Disaster(DisasterRecord),
    /// The restore, and what it gave up (`None` for an external file: no disaster to measure).
    Restored(RestoreRecord, Option<Rpo>),
    /// Verification, and the RPO with the acknowledged writes the restore rolled back counted.
    Verified(VerifyRecord, Option<Rpo>),
    /// A step whose result is only a line for the operator (a sleep, a wait, a deletion, a
    /// damaged backup): the report keeps nothing of it beyond the step's row.
    Done(String),
    /// A fault injected, held and healed; or injected and left open until a `heal` step.
    Fault(FaultRecord),
    /// A rolling upgrade.
    Upgraded(UpgradeRecord),
}

impl StepOutcome {
    /// What the step gave, for the line that says it finished (empty, or " (…)").
    pub fn summary(&self) -> String {
        match self {
            Self::Healthy(h) => format!(" (leader {})", h.leader),
            Self::Seeded(s) => format!(" ({} keys, {:.0} keys/s)", s.keys, s.keys_per_sec),
            Self::Snapshot(s) => format!(
                " (revision {}, {} keys, {} bytes)",
                s.revision, s.total_keys, s.size_bytes
            ),
            Self::Disaster(d) => {
                format!(" ({} members destroyed)", d.destroyed_containers.len())
            }
            Self::Restored(r, _) => format!(" (RTO to first write {} ms)", r.rto_first_write_ms),
            Self::Verified(v, _) => format!(
                " ({})",
                if v.passed {
                    "integrity ok"
                } else {
                    "INTEGRITY VIOLATED"
                }
            ),
            Self::Done(line) if line.is_empty() => String::new(),
            Self::Done(line) => format!(" ({line})"),
            Self::Fault(f) => format!(" ({})", f.summary().join(", ")),
            Self::Upgraded(u) => format!(
                " ({} → {}, {}; cluster version {})",
                u.from,
                u.to,
                u.members
                    .iter()
                    .map(|m| format!(
                        "{} down {} ms",
                        m.member,
                        m.serving_ms.saturating_sub(m.stopped_ms)
                    ))
                    .collect::<Vec<_>>()
                    .join(", "),
                u.cluster_version.as_deref().unwrap_or("-")
            ),
        }
    }
}

/// A point in time a restore can return to: the revision just before a `delete-prefix` step,
/// when it was, and the digest of every key and value at it, read from the cluster then.
#[derive(Debug, Clone)]
pub struct Point {
    pub name: String,
    pub prefix: String,
    /// Keys the deletion removed.
    pub deleted: i64,
    pub revision: i64,
    pub at_ms: u64,
    pub keyspace_keys: u64,
    pub keyspace_sha256: String,
}

/// Stamps events with wall-clock and run-relative time.
#[derive(Clone, Copy)]
pub struct Clock {
    pub t0: Instant,
    pub wall0: SystemTime,
}

impl Clock {
    pub fn start() -> Self {
        Clock {
            t0: Instant::now(),
            wall0: SystemTime::now(),
        }
    }

    pub fn event(&self, kind: EventKind) -> RunEvent {
        let elapsed = self.t0.elapsed();
        RunEvent {
            at: self.wall0 + elapsed,
            elapsed,
            kind,
        }
    }

    pub fn ms(&self) -> u64 {
        self.t0.elapsed().as_millis() as u64
    }

    /// The run-relative time of an RFC 3339 timestamp (another process's), 0 before the start.
    pub fn ms_at(&self, rfc3339: &str) -> Option<u64> {
        let t = chrono::DateTime::parse_from_rfc3339(rfc3339).ok()?;
        let wall = SystemTime::from(t.with_timezone(&chrono::Utc));
        Some(
            wall.duration_since(self.wall0)
                .map_or(0, |d| d.as_millis() as u64),
        )
    }

    pub fn wall_at_ms(&self, ms: u64) -> SystemTime {
        self.wall0 + Duration::from_millis(ms)
    }
}
