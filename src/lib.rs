//! etcd-drill: rehearse etcd disasters on real containers and prove the recovery.
//!
//! The data flow, one module per stage:
//! - `scenario`: the YAML file's serde model and loading, with file:line:column errors.
//! - `plan`: validation and defaults; only a `Plan` reaches the runner.
//! - `runner`: set-up, `steps` in order under deadlines, teardown; emits `events`.
//! - `steps`: one file per step (wait-healthy, seed, snapshot, disaster, restore, verify, sleep,
//!   fault, heal, damage-backup).
//! - `faults`: one file per fault (kill, stop, pause, partition, slow, corrupt), target choice
//!   apart from the action, and the proof that each took effect.
//! - `sandbox`: the Docker seam (`Runtime`), labels, teardown; `sandbox::docker` is bollard.
//! - `cluster`: etcd knowledge (flags, names, clients, health); `image`: the etcd image;
//!   `tls`: the run's CA and certificates.
//! - `seed`, `workload`, `snapshot`, `restore`, `keyspace`: the drill's real work;
//!   `backup`: scheduled snapshots, stores (local, S3), retention, backup-file faults.
//! - `checks`: correctness checkers fed by what clients saw (watch continuity; durability and
//!   revision order live beside the workload).
//! - `report`: `Recorder` turns events into a `RunReport`; gates, stats and renderers (table,
//!   JSON, JUnit, Markdown, HTML) and the manifest; `reporter` prints events on the terminal;
//!   `notify` posts the summary to a webhook.
//! - `exit_codes`: what the process returns, documented in one place; `util`: small helpers.

pub mod backup;
pub mod checks;
pub mod cli;
pub mod cluster;
pub mod events;
pub mod exit_codes;
pub mod faults;
pub mod image;
pub mod keyspace;
pub mod notify;
pub mod plan;
pub mod report;
pub mod reporter;
pub mod restore;
pub mod runner;
pub mod sandbox;
pub mod scenario;
pub mod seed;
pub mod snapshot;
pub mod steps;
pub mod tls;
pub mod util;
pub mod workload;
