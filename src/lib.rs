//! etcd-drill: rehearse etcd disasters on real containers and prove the recovery.
//!
//! The data flow: `scenario` (the YAML file's serde model, file:line:column errors) → `plan`
//! (validated, defaults resolved; only a `Plan` reaches the runner) → `runner` (set-up, `steps`
//! in order under deadlines, teardown) → `events` (carrying `record`s) → `report::Recorder` →
//! `RunReport` → renderers.
//!
//! The layers, bottom up (`LAYERS`; `tests/layers.rs` fails on an import that climbs, or on a
//! cycle inside a layer):
//! - `util`, `exit_codes`, `versions`: small helpers; what the process returns; what each etcd
//!   release can do and where its binaries come from (the one place version knowledge lives).
//! - `scenario`, then `plan`: the input, as written and as resolved.
//! - `record`: every serialisable fact a drill produces, and `RunReport` (report.json's shape).
//! - `events`: what the runner tells the world; they carry records.
//! - `sandbox` (the Docker seam; bollard stays inside), `tls` (the run's CA and certificates),
//!   `image` (the etcd image); then `cluster` (etcd knowledge: flags, names, clients, health).
//! - The drill's real work: `keyspace` (paged reads, digests), `snapshot_file` (stream a
//!   member's snapshot to a file, check a file) and `prefixes` (keys and bytes by prefix); then `restore_files` (`etcdutl snapshot
//!   restore` into the members' volumes), `seed_data` (generate, load and check the seed),
//!   `workload` (background traffic and the watching client), `backup` (scheduled snapshots,
//!   stores, retention, damage) and `checks` (every correctness check, each a function from
//!   what was observed to a verdict).
//! - `faults`: one file per fault kind (inject, prove, heal), target choice apart from the
//!   action; what a kind is (its options, their checks, its needs) is its file in
//!   `plan::faults`, and `scenario::fault_kinds!` lists the kinds once. Then `steps`: one file
//!   per step.
//! - `runner`: the drill's life cycle.
//! - `report` (Recorder, gates, renderers, manifest; reads records, never Docker or etcd),
//!   `terminal` (progress and the summary on the terminal), `notify` (the webhook and the
//!   Pushgateway), `evidence` (across runs: the chain, signatures, `verify-report`, `history`).
//! - `orchestrate`: drills from start to end between the command line and the runner: the
//!   checks before anything starts, the images, the evidence chain, the run directory, the
//!   signature, the webhook and the Pushgateway; it prints nothing (an `Output` does).
//! - `cli`: parses, wires and prints; no drill logic.

/// The layers of the crate, bottom up. A module may import from its own layer (without a
/// cycle) and from the layers below, never from one above.
pub const LAYERS: &[&[&str]] = &[
    &["util", "exit_codes", "versions"],
    &["scenario"],
    &["plan"],
    &["record"],
    &["events"],
    &["sandbox", "tls", "image"],
    &["cluster"],
    &["keyspace", "snapshot_file", "prefixes"],
    &[
        "restore_files",
        "seed_data",
        "workload",
        "backup",
        "checks",
        "monitoring",
    ],
    &["faults"],
    &["steps"],
    &["runner"],
    &["report", "terminal", "notify", "evidence"],
    &["orchestrate"],
    &["cli"],
];

pub mod backup;
pub mod checks;
pub mod cli;
pub mod cluster;
pub mod events;
pub mod evidence;
pub mod exit_codes;
pub mod faults;
pub mod image;
pub mod keyspace;
pub mod monitoring;
pub mod notify;
pub mod orchestrate;
pub mod plan;
pub mod prefixes;
pub mod record;
pub mod report;
pub mod restore_files;
pub mod runner;
pub mod sandbox;
pub mod scenario;
pub mod seed_data;
pub mod snapshot_file;
pub mod steps;
pub mod terminal;
pub mod tls;
pub mod util;
pub mod versions;
pub mod workload;
