//! The plan's model: what a validated, resolved drill is (the runner's whole input).

use super::faults::FaultPlan;
use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;

/// The image of [`crate::versions::DEFAULT_VERSION`].
pub const DEFAULT_IMAGE: &str = "etcd-drill/etcd:v3.5.30";
/// etcd's default `--max-txn-ops`.
pub const MAX_TXN_OPS: u32 = 128;
/// etcd's default `--max-request-bytes` is 1.5 MiB; one value must fit in one request.
pub const MAX_VALUE_SIZE: u32 = 1024 * 1024;

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub name: String,
    pub description: Option<String>,
    pub path: PathBuf,
    pub sha256: String,
    pub cluster: ClusterPlan,
    pub seed: Option<SeedPlan>,
    pub workload: Option<WorkloadPlan>,
    pub steps: Vec<PlannedStep>,
    pub gates: Gates,
    pub notify: Option<NotifyPlan>,
    pub backup: Option<BackupPlan>,
    /// Prometheus and Alertmanager beside the members (an alert drill).
    pub monitoring: Option<crate::plan::MonitoringPlan>,
    /// The etcd bug the drill reproduces.
    pub known_bug: Option<crate::plan::KnownBugPlan>,
}

impl Plan {
    /// The drill starts with no cluster: its first step restores one from a file.
    pub fn starts_empty(&self) -> bool {
        matches!(
            self.steps.first().map(|s| &s.kind),
            Some(StepKind::Restore { source, .. }) if source.is_external()
        )
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct BackupPlan {
    #[serde(with = "crate::util::millis")]
    pub every: Duration,
    pub keep_last: Option<u32>,
    #[serde(with = "crate::util::opt_millis")]
    pub max_age: Option<Duration>,
    /// Incremental backups between fulls (`delta-every`).
    #[serde(with = "crate::util::opt_millis")]
    pub delta_every: Option<Duration>,
    pub store: crate::scenario::StoreSpec,
    /// Encryption at rest: age recipients (public keys), and the identity file restores
    /// decrypt with (from the command line; never in a report).
    pub encrypt: Option<EncryptPlan>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EncryptPlan {
    pub recipients: Vec<String>,
    #[serde(skip)]
    pub identity: Option<std::path::PathBuf>,
}

impl Plan {
    /// Whether a restore of this plan reads a stored backup that is encrypted: then it needs
    /// an identity before anything starts.
    pub fn restores_encrypted_backup(&self) -> bool {
        self.backup.as_ref().is_some_and(|b| b.encrypt.is_some())
            && self.steps.iter().any(|s| {
                matches!(
                    &s.kind,
                    StepKind::Restore {
                        source: RestoreSource::Backup { .. },
                        ..
                    }
                )
            })
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestoreSource {
    Snapshot(String),
    Backup {
        pick: crate::scenario::BackupPick,
        fallback: bool,
        /// Replay the full's deltas after it (a schedule with `delta-every`).
        deltas: bool,
        /// A point in time: the revision just before the `delete-prefix` step of this name.
        #[serde(skip_serializing_if = "Option::is_none")]
        before: Option<String>,
    },
    File(std::path::PathBuf),
    /// A store the drill did not fill.
    Store {
        store: crate::scenario::StoreSpec,
        choice: crate::scenario::StoreChoice,
        fallback: bool,
        /// The age identity for encrypted objects (from the command line; never in a report).
        #[serde(skip)]
        identity: Option<std::path::PathBuf>,
    },
}

impl RestoreSource {
    /// A source from outside the drill (a file, a store): the drill starts with no cluster,
    /// and nothing it recorded says what the snapshot holds.
    pub fn is_external(&self) -> bool {
        matches!(self, RestoreSource::File(_) | RestoreSource::Store { .. })
    }
}

pub fn pick_label(p: &crate::scenario::BackupPick) -> String {
    use crate::scenario::BackupPick::*;
    match p {
        Latest => "latest".into(),
        LatestGood => "latest-good".into(),
        Named(n) => n.clone(),
        Before(d) => format!("before {}", humantime::format_duration(*d)),
    }
}

/// Where the run's summary goes when it ends (never into the report: URLs can hold tokens).
#[derive(Debug, Clone, Serialize)]
pub struct NotifyPlan {
    #[serde(skip)]
    pub url: String,
    pub on: crate::scenario::NotifyOn,
}

impl NotifyPlan {
    /// The webhook `ETCD_DRILL_WEBHOOK_URL` names (empty: none), on every run or, with
    /// `ETCD_DRILL_WEBHOOK_ON=failure`, on failures: the values given, read by the caller.
    pub fn from_env(url: Option<String>, on: Option<String>) -> Option<NotifyPlan> {
        let url = url.filter(|u| !u.is_empty())?;
        let on = match on.as_deref() {
            Some("failure") => crate::scenario::NotifyOn::Failure,
            _ => crate::scenario::NotifyOn::Always,
        };
        Some(NotifyPlan { url, on })
    }
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct ClusterPlan {
    pub members: u32,
    pub image: String,
    #[serde(with = "crate::util::millis")]
    #[schemars(with = "u64")]
    pub heartbeat_interval: Duration,
    #[serde(with = "crate::util::millis")]
    #[schemars(with = "u64")]
    pub election_timeout: Duration,
    pub quota_backend_bytes: Option<u64>,
    pub snapshot_count: Option<u64>,
    pub pre_vote: Option<bool>,
    /// etcd's `--backend-batch-interval`, when the scenario sets it.
    #[serde(default, with = "crate::util::opt_millis")]
    #[schemars(with = "Option<u64>")]
    pub backend_batch_interval: Option<Duration>,
    /// etcd's `--experimental-compaction-batch-limit`, when the scenario sets it.
    #[serde(default)]
    pub compaction_batch_limit: Option<u32>,
    /// Client and peer mTLS with certificates made for the run.
    pub tls: bool,
    /// Members on another version than `image`'s (a mixed-version cluster): member → image.
    #[serde(default)]
    pub member_images: std::collections::BTreeMap<String, String>,
    /// Members started with etcd's `--unsafe-no-fsync`: a control for the power-loss drill.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unsafe_no_fsync: Vec<String>,
    /// In a drill with a disk fault, each etcd image's counterpart with the disk layer
    /// (`image::disk`), filled in when the images are made ready; empty: no layer.
    #[serde(skip)]
    #[schemars(skip)]
    pub disk_images: std::collections::BTreeMap<String, String>,
}

/// How a restore rebuilds the cluster, besides its source.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RestoreOptions {
    /// `--bump-revision N --mark-compacted`: Kubernetes' restore procedure.
    pub bump_revision: Option<u64>,
    /// The restored cluster's image, when it is not the cluster's (a cross-version restore).
    pub image: Option<String>,
}

impl Plan {
    /// The same drill on another etcd release (a version matrix); an error names what the
    /// drill asks that this release cannot do.
    pub fn on_release(&self, release: &crate::versions::Release) -> Result<Plan, String> {
        if !self.cluster.member_images.is_empty() {
            return Err(format!(
                "{}: a mixed-version cluster (member-versions) sets its own versions; run it \
                 without --etcd-version",
                self.name
            ));
        }
        let mut plan = self.clone();
        plan.cluster.image = release.image();
        let mut running = release;
        for s in &plan.steps {
            if let StepKind::Upgrade { version, .. } = &s.kind {
                let to = crate::versions::find(version).expect("a planned version is known");
                crate::versions::upgrade_path(running, to)
                    .map_err(|e| format!("{} on etcd {}: {e}", plan.name, release.version))?;
                running = to;
            }
            if let StepKind::Restore { options, .. } = &s.kind {
                let target = options
                    .image
                    .as_deref()
                    .and_then(crate::versions::of_image)
                    .unwrap_or(release);
                if options.bump_revision.is_some() && !target.can_bump_revision() {
                    return Err(format!(
                        "{}: etcd {} cannot restore with --bump-revision (3.5.10 and later can)",
                        plan.name, target.version
                    ));
                }
            }
        }
        Ok(plan)
    }

    /// Every image the drill runs: the cluster's and any a restore or an upgrade switches to.
    /// Whether a fault of the drill acts through the disk layer: its members run on it.
    pub fn needs_disk_layer(&self) -> bool {
        self.steps.iter().any(|s| match &s.kind {
            StepKind::Fault(f) => f.action.needs().disk_layer,
            _ => false,
        })
    }

    pub fn images(&self) -> Vec<String> {
        let mut images = vec![self.cluster.image.clone()];
        for i in self.cluster.member_images.values() {
            if !images.contains(i) {
                images.push(i.clone());
            }
        }
        for s in &self.steps {
            let other = match &s.kind {
                StepKind::Restore {
                    options: RestoreOptions { image: Some(i), .. },
                    ..
                } => i,
                StepKind::Upgrade { image, .. } => image,
                _ => continue,
            };
            if !images.contains(other) {
                images.push(other.clone());
            }
        }
        images
    }
}

impl ClusterPlan {
    /// The etcd release the image carries, when it is one etcd-drill builds; `None` for an
    /// image named by the scenario.
    pub fn release(&self) -> Option<&'static crate::versions::Release> {
        crate::versions::of_image(&self.image)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SeedPlan {
    pub keys: u64,
    pub value_size: u32,
    pub key_prefix: String,
    pub rng_seed: u64,
    pub batch: u32,
    pub concurrency: u32,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct WorkloadPlan {
    pub rate: u32,
    pub concurrency: u32,
    pub mix: Mix,
    /// Gets read one of the last `read_range` keys written.
    pub read_range: u64,
    pub key_prefix: String,
    #[serde(with = "crate::util::millis")]
    #[schemars(with = "u64")]
    pub timeout: Duration,
    /// The traffic profile the mix came from (`plain` when a mix was given).
    #[serde(default)]
    pub profile: String,
    /// Objects (keys under `/drill/objects/`) that updates, deletes and object reads share.
    #[serde(default)]
    pub objects: u32,
    /// A watch pinned to each member from this many revisions ahead of the workload's first
    /// (`future-watch`; 0 for `watch-each-member`).
    #[serde(default)]
    pub future_watch: Option<u64>,
    /// Compaction at a delete's revision, then a watch opened there, this often.
    #[serde(default, with = "crate::util::opt_millis")]
    #[schemars(with = "Option<u64>")]
    pub compact_every: Option<Duration>,
    /// Whether each compaction waits for the backend (and then opens its watch).
    #[serde(default = "crate::util::yes")]
    pub compact_physical: bool,
}

/// Relative weights of the operations the workload issues: the scenario's `mix`, as the
/// plan and the report keep it.
pub use crate::scenario::Mix;

impl Mix {
    /// The weights of a named traffic profile.
    pub fn profile(name: &str) -> Option<Mix> {
        let m = |put, linearizable_get, serializable_get, update, delete, object_get, lease| Mix {
            put,
            linearizable_get,
            serializable_get,
            update,
            delete,
            object_get,
            lease,
            list: 0,
        };
        Some(match name {
            "plain" => m(1, 0, 0, 0, 0, 0, 0),
            // ... and lists of the objects, page by page at one revision.
            "kubernetes" => Mix {
                list: 2,
                ..m(2, 1, 1, 5, 1, 4, 1)
            },
            // An API server's shape: mostly updates of existing objects (compare-and-swap on
            // mod_revision) and reads, some creates (puts) and deletes, and short leases with
            // keys attached (events, leader-election records).
            "write-heavy" => m(6, 1, 0, 3, 1, 1, 0),
            "read-heavy" => m(1, 4, 2, 1, 0, 4, 0),
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum StepKind {
    WaitHealthy,
    Seed,
    Snapshot {
        name: String,
    },
    Disaster,
    Restore {
        source: RestoreSource,
        options: RestoreOptions,
    },
    DamageBackup {
        how: crate::scenario::Damage,
        name: Option<String>,
        which: crate::scenario::DamageWhich,
    },
    Verify,
    Sleep {
        #[serde(with = "crate::util::millis")]
        duration: Duration,
    },
    /// Deletes every key under `prefix`; the revision before it is the point `name`.
    DeletePrefix {
        prefix: String,
        name: String,
    },
    /// Waits for `count` writes acknowledged above the revision at the step's start.
    WaitWrites {
        count: u64,
    },
    /// Waits until `fulls` full backups are stored, and `deltas` in the current chain.
    WaitBackups {
        fulls: u32,
        deltas: u32,
    },
    Fault(FaultPlan),
    Heal {
        fault: String,
    },
    /// A rolling upgrade to `version` (its image `image`).
    Upgrade {
        version: String,
        image: String,
    },
}

impl StepKind {
    /// Whether the step disturbs the cluster (a fault, the disaster, a restore, an upgrade's
    /// restarts): an alert drill's monitoring must be watching every member before it.
    pub fn disturbs(&self) -> bool {
        match self {
            StepKind::Disaster
            | StepKind::Restore { .. }
            | StepKind::Fault(_)
            | StepKind::Upgrade { .. } => true,
            StepKind::WaitHealthy
            | StepKind::Seed
            | StepKind::Snapshot { .. }
            | StepKind::DamageBackup { .. }
            | StepKind::Verify
            | StepKind::Sleep { .. }
            | StepKind::DeletePrefix { .. }
            | StepKind::WaitWrites { .. }
            | StepKind::WaitBackups { .. }
            | StepKind::Heal { .. } => false,
        }
    }

    pub fn label(&self) -> String {
        match self {
            StepKind::WaitHealthy => "wait-healthy".into(),
            StepKind::Seed => "seed".into(),
            StepKind::Snapshot { name } => format!("snapshot {name}"),
            StepKind::Disaster => "disaster".into(),
            StepKind::Restore {
                source: RestoreSource::Snapshot(s),
                ..
            } => format!("restore {s}"),
            StepKind::Restore {
                source: RestoreSource::Backup { pick, before, .. },
                ..
            } => match before {
                Some(point) => format!("restore backup {} before {point}", pick_label(pick)),
                None => format!("restore backup {}", pick_label(pick)),
            },
            StepKind::Restore {
                source: RestoreSource::File(f),
                ..
            } => format!("restore file {}", f.display()),
            StepKind::Restore {
                source: RestoreSource::Store { store, choice, .. },
                ..
            } => format!("restore {} from {}", choice.label(), store.describe()),
            StepKind::DamageBackup { how, name, .. } => format!(
                "damage-backup {} {}",
                serde_json::to_value(how)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default(),
                name.as_deref().unwrap_or("latest")
            ),
            StepKind::Verify => "verify".into(),
            StepKind::Sleep { duration } => {
                format!("sleep {}", humantime::format_duration(*duration))
            }
            StepKind::WaitWrites { count } => format!("wait-writes {count}"),
            StepKind::DeletePrefix { prefix, name } => format!("delete-prefix {prefix} ({name})"),
            StepKind::WaitBackups { fulls, deltas } => {
                format!("wait-backups {fulls} full, {deltas} delta")
            }
            StepKind::Fault(f) => f.label(),
            StepKind::Heal { fault } => format!("heal {fault}"),
            StepKind::Upgrade { version, .. } => format!("upgrade to {version}"),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PlannedStep {
    #[serde(flatten)]
    pub kind: StepKind,
    /// Deadline of the whole step: a hung etcd never hangs the harness.
    #[serde(with = "crate::util::millis")]
    pub timeout: Duration,
}

/// Expectations, resolved. Absent ones are not checked.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Gates {
    #[serde(with = "crate::util::opt_millis")]
    pub rto: Option<Duration>,
    #[serde(with = "crate::util::opt_millis")]
    pub rto_verified: Option<Duration>,
    #[serde(with = "crate::util::opt_millis")]
    pub rpo: Option<Duration>,
    pub max_lost_acknowledged_writes: Option<u64>,
    pub max_revision_gap: Option<u64>,
    pub integrity: bool,
    pub snapshot_revision: Option<i64>,
    pub snapshot_keys: Option<u64>,
    /// Prefixes a restored external snapshot must hold keys under.
    pub keys_under: Vec<String>,
    /// The newest backup of a restore's store is at most this old.
    #[serde(with = "crate::util::opt_millis")]
    pub backup_max_age: Option<Duration>,
    pub revisions_survive_restore: bool,
    /// The workload's whole history must be linearizable (on by default; only with a workload).
    pub linearizable: bool,
}
