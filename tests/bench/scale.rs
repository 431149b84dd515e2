//! Benchmark: the same recovery drill at production size, by the harness and by hand, in one
//! run on one machine. `cargo bench --bench scale` runs 100 MB and 1 GiB; `-- --4g` adds 4 GiB;
//! `-- --sizes 100m` picks sizes (m = 1,000,000 bytes of values, g = 2^30); `-- --value-size 256`
//! seeds values of 256 bytes instead of 1000.
//!
//! The harness: `etcd-drill run` on a generated scenario (seed, snapshot, disaster, restore,
//! verify; values of 1000 bytes unless told; no workload), its peak RSS read from /proc while it runs, its
//! phases from report.json. By hand: the Docker CLI and the image's own etcdctl and etcdutl
//! (`docker run`), the members started with the harness's flags, a concurrent batched loader
//! (8 clients, 128 puts a transaction, as an operator would script it), `etcdctl snapshot
//! save` + `etcdutl snapshot status`, a serial `etcdutl snapshot restore` loop with the
//! snapshot bind-mounted, and `etcdctl endpoint hashkv` + a key count as the check. Prints one
//! table per size: phase, harness, by hand, ratio.
//!
//! Every Docker object carries etcd-drill's labels (`etcd-drill clean` sweeps a crashed run).

#[path = "../common/peak_rss.rs"]
mod peak_rss;

use etcd_client::{Client, TxnOp};
use etcd_drill::plan::{ClusterPlan, DEFAULT_IMAGE};
use futures_util::{stream, StreamExt};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Bytes a value: 1000, or `-- --value-size N`.
static VALUE_SIZE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1000);

fn value_size() -> usize {
    VALUE_SIZE.load(std::sync::atomic::Ordering::Relaxed)
}
const BATCH: u64 = 128;
const CLIENTS: usize = 8;

#[derive(Default, Clone, Copy)]
struct Phases {
    seed: f64,
    snapshot: f64,
    rto: f64,
    verify: f64,
    total: f64,
    rss_mib: f64,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mut sizes: Vec<(String, u64)> =
        vec![("100 MB".into(), 100_000_000), ("1 GiB".into(), 1 << 30)];
    if args.iter().any(|a| a == "--4g") {
        sizes.push(("4 GiB".into(), 4 << 30));
    }
    if let Some(i) = args.iter().position(|a| a == "--sizes") {
        sizes = args[i + 1]
            .split(',')
            .map(|s| {
                let (n, unit) = s.split_at(s.len() - 1);
                let n: u64 = n.parse().expect("a size like 100m or 1g");
                let bytes = if unit == "g" { n << 30 } else { n * 1_000_000 };
                (s.to_string(), bytes)
            })
            .collect();
    }
    if let Some(i) = args.iter().position(|a| a == "--value-size") {
        let n: usize = args[i + 1].parse().expect("a value size in bytes");
        VALUE_SIZE.store(n, std::sync::atomic::Ordering::Relaxed);
    }
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(ensure_image());
    let mut rows = Vec::new();
    for (label, bytes) in &sizes {
        let keys = bytes / value_size() as u64;
        eprintln!("== {label}: {keys} keys of {} bytes", value_size());
        let harness = harness(keys);
        let by_hand = rt.block_on(by_hand(keys));
        print_table(label, keys, &harness, &by_hand);
        rows.push((label.clone(), harness, by_hand));
    }
    // By hand beside the harness: a phase that grows faster than its size in both is the
    // machine (a db no longer fitting in the page cache), not the harness.
    type Row = (String, Phases, Phases);
    let of_harness: fn(&Row) -> Phases = |r| r.1;
    let of_hand: fn(&Row) -> Phases = |r| r.2;
    for (who, pick) in [("the harness", of_harness), ("by hand", of_hand)] {
        println!("\nseconds per GiB of values, {who} (linear time: each column within ±25%):");
        println!("| size | seed | snapshot | RTO | verify | drill |");
        println!("|---|---|---|---|---|---|");
        for (row, (label, bytes)) in rows.iter().zip(&sizes) {
            let (gib, p) = (*bytes as f64 / (1u64 << 30) as f64, pick(row));
            println!(
                "| {label} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |",
                p.seed / gib,
                p.snapshot / gib,
                p.rto / gib,
                p.verify / gib,
                p.total / gib
            );
        }
    }
}

fn print_table(label: &str, keys: u64, h: &Phases, m: &Phases) {
    println!("\n{label} ({keys} keys × {} B)\n", value_size());
    println!("| phase | harness | by hand | ratio |");
    println!("|---|---|---|---|");
    let row = |name: &str, a: f64, b: f64| {
        println!("| {name} | {a:.1} s | {b:.1} s | {:.2} |", a / b.max(1e-9));
    };
    row("seed", h.seed, m.seed);
    row(
        "snapshot (save + status; harness: status, HashKV and seed in one read, or digest)",
        h.snapshot,
        m.snapshot,
    );
    row("RTO to the first write", h.rto, m.rto);
    row("verify (by hand: hashkv + count)", h.verify, m.verify);
    row("whole drill", h.total, m.total);
    println!("| peak RSS of the harness | {:.0} MiB | | |", h.rss_mib);
}

async fn ensure_image() {
    let docker = etcd_drill::sandbox::docker::DockerRuntime::connect()
        .await
        .expect("Docker is running");
    let mut say = |m: String| eprintln!("{m}");
    etcd_drill::image::ensure_image(&docker, DEFAULT_IMAGE, None, &mut say)
        .await
        .expect("the etcd image");
}

/// etcd keeps the raft entries since its last snapshot in memory: 100,000 by default, and a seed
/// transaction of 128 puts of 1000 bytes is a 130 KB entry, so the default let each member grow
/// past 7 GB at 2.8 million keys and the 4 GiB drill ran this 24 GB machine out of memory.
/// Harness and by hand run with the same flag.
const SNAPSHOT_COUNT: u64 = 10_000;

/// A quota that holds the seed with room to spare (etcd's default is 2 GiB).
fn quota(keys: u64) -> u64 {
    (keys * (value_size() as u64 + 100) * 2).max(2 << 30)
}

fn harness(keys: u64) -> Phases {
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario = dir.path().join("scale.yaml");
    std::fs::write(
        &scenario,
        format!(
            "name: scale-{keys}
cluster: {{ members: 3, etcd: {{ quota-backend-bytes: {}, snapshot-count: {SNAPSHOT_COUNT} }} }}
seed: {{ keys: {keys}, value-size: {value}, rng-seed: 1 }}
steps:
  - seed: {{ timeout: 60m }}
  - snapshot: {{ name: scale, timeout: 60m }}
  - disaster: {{}}
  - restore: {{ snapshot: scale, timeout: 60m }}
  - verify: {{ timeout: 60m }}
expect:
  integrity: true
",
            quota(keys),
            value = value_size(),
        ),
    )
    .expect("scenario");
    let reports = dir.path().join("reports");
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_etcd-drill"))
        .arg("run")
        .arg(&scenario)
        .arg("--report-dir")
        .arg(&reports)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("etcd-drill");
    let (code, peak_kib) = peak_rss::wait_with_peak_rss(&mut child);
    let total = start.elapsed().as_secs_f64();
    assert_eq!(code, Some(0), "the harness's drill passes");
    let run = std::fs::read_dir(&reports)
        .expect("reports")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.is_dir())
        .expect("a run dir");
    let r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("report.json")).expect("report"))
            .expect("json");
    let step = |name: &str| {
        r["steps"]
            .as_array()
            .and_then(|s| {
                s.iter()
                    .find(|x| x["step"].as_str().is_some_and(|l| l.starts_with(name)))
            })
            .and_then(|x| x["duration_ms"].as_f64())
            .unwrap_or(f64::NAN)
            / 1000.0
    };
    Phases {
        seed: step("seed"),
        snapshot: step("snapshot"),
        rto: r["restore"]["rto_first_write_ms"]
            .as_f64()
            .unwrap_or(f64::NAN)
            / 1000.0,
        verify: step("verify"),
        total,
        rss_mib: peak_kib as f64 / 1024.0,
    }
}

/// `docker …`, failing the benchmark on an error.
fn docker(args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("docker CLI");
    assert!(
        out.status.success(),
        "docker {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

struct ByHand {
    id: String,
    labels: Vec<String>,
}

/// A by-hand run that panics (a command failed) still leaves nothing behind.
impl Drop for ByHand {
    fn drop(&mut self) {
        self.sweep();
    }
}

impl ByHand {
    fn name(&self, what: &str) -> String {
        format!("etcd-drill-{}-{what}", self.id)
    }

    fn label_args(&self) -> Vec<String> {
        self.labels
            .iter()
            .flat_map(|l| ["--label".into(), l.clone()])
            .collect()
    }

    fn start_member(&self, plan: &ClusterPlan, m: &str, token: &str, volume: &str) -> String {
        let mut args: Vec<String> = vec!["run".into(), "-d".into(), "--name".into()];
        args.push(self.name(&format!("{m}-{token}")));
        args.extend(self.label_args());
        args.extend([
            "--network".into(),
            self.name("net"),
            "--network-alias".into(),
            m.into(),
            "-p".into(),
            "127.0.0.1::2379".into(),
            "-v".into(),
            format!("{volume}:{}", etcd_drill::cluster::DATA_MOUNT),
            DEFAULT_IMAGE.into(),
        ]);
        args.extend(etcd_drill::cluster::etcd_args(plan, m, token));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        docker(&refs)
    }

    /// `etcdctl` or `etcdutl` in a one-shot container on the run's network.
    fn tool(&self, extra: &[&str], cmd: &[&str]) -> String {
        let mut args: Vec<String> = vec!["run".into(), "--rm".into()];
        args.extend(self.label_args());
        args.extend(["--network".into(), self.name("net")]);
        args.extend(extra.iter().map(|s| s.to_string()));
        args.push("--entrypoint".into());
        args.push(format!("/usr/local/bin/{}", cmd[0]));
        args.push(DEFAULT_IMAGE.into());
        args.extend(cmd[1..].iter().map(|s| s.to_string()));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        docker(&refs)
    }

    fn sweep(&self) {
        let filter = format!("label=etcd-drill.run-id={}", self.id);
        for kind in [["ps", "-aq"], ["volume", "ls"], ["network", "ls"]] {
            let mut list = vec![kind[0], kind[1], "--filter", filter.as_str()];
            if kind[0] != "ps" {
                list.push("-q");
            }
            let ids = docker(&list);
            for id in ids.lines().filter(|l| !l.is_empty()) {
                let rm = match kind[0] {
                    "ps" => vec!["rm", "-f", "-v", id],
                    "volume" => vec!["volume", "rm", "-f", id],
                    _ => vec!["network", "rm", id],
                };
                let _ = Command::new("docker").args(&rm).output();
            }
        }
    }
}

async fn first_write(endpoints: &[String]) -> Instant {
    loop {
        if let Ok(mut c) = Client::connect(endpoints, None).await {
            let put = c.put("/first-write", "1", None);
            if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_millis(500), put).await {
                return Instant::now();
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn port(container: &str) -> String {
    let mapped = docker(&["port", container, "2379/tcp"]);
    let p = mapped
        .lines()
        .next()
        .unwrap_or("")
        .rsplit(':')
        .next()
        .unwrap_or("");
    format!("http://127.0.0.1:{p}")
}

async fn by_hand(keys: u64) -> Phases {
    let id = format!("bench-{}", std::process::id());
    let h = ByHand {
        labels: vec![
            "etcd-drill.managed=true".into(),
            format!("etcd-drill.run-id={id}"),
        ],
        id,
    };
    let plan = ClusterPlan {
        members: 3,
        image: DEFAULT_IMAGE.into(),
        heartbeat_interval: Duration::from_millis(100),
        election_timeout: Duration::from_millis(1000),
        quota_backend_bytes: Some(quota(keys)),
        snapshot_count: Some(SNAPSHOT_COUNT),
        pre_vote: None,
        backend_batch_interval: None,
        compaction_batch_limit: None,
        tls: false,
        member_images: Default::default(),
        unsafe_no_fsync: Vec::new(),
        disk_images: Default::default(),
    };
    let names = etcd_drill::plan::member_names(3);
    let start = Instant::now();
    let mut net = vec!["network".to_string(), "create".into()];
    net.extend(h.label_args());
    net.push(h.name("net"));
    docker(&net.iter().map(String::as_str).collect::<Vec<_>>());
    let mut containers = Vec::new();
    for m in &names {
        let volume = h.name(&format!("{m}-data"));
        let mut v = vec!["volume".to_string(), "create".into()];
        v.extend(h.label_args());
        v.push(volume.clone());
        docker(&v.iter().map(String::as_str).collect::<Vec<_>>());
        h.start_member(&plan, m, "t0", &volume);
        containers.push(h.name(&format!("{m}-t0")));
    }
    let endpoints: Vec<String> = containers.iter().map(|c| port(c)).collect();
    first_write(&endpoints).await;

    // Load: 8 clients, 128 puts a transaction.
    let t = Instant::now();
    let client = Client::connect(&endpoints, None).await.expect("connect");
    let value = vec![b'v'; value_size()];
    stream::iter(0..keys.div_ceil(BATCH))
        .map(|b| {
            let mut c = client.clone();
            let value = value.clone();
            async move {
                let ops: Vec<TxnOp> = (b * BATCH..((b + 1) * BATCH).min(keys))
                    .map(|i| TxnOp::put(format!("/bench/{i:012}"), value.clone(), None))
                    .collect();
                // As the harness does: a transaction that times out (a disk that fell
                // behind) is tried again after a pause that doubles.
                for tries in 1.. {
                    match c.txn(etcd_client::Txn::new().and_then(ops.clone())).await {
                        Ok(_) => break,
                        Err(e) if tries < 6 && e.to_string().contains("timed out") => {
                            tokio::time::sleep(Duration::from_secs(1 << tries)).await
                        }
                        Err(e) => panic!("txn: {e}"),
                    }
                }
            }
        })
        .buffer_unordered(CLIENTS)
        .collect::<Vec<_>>()
        .await;
    let seed = t.elapsed().as_secs_f64();

    // Snapshot: etcdctl snapshot save, then etcdutl snapshot status.
    let out = tempfile::tempdir().expect("tempdir");
    let host = out.path().to_string_lossy().to_string();
    let t = Instant::now();
    let mount = format!("{host}:/out");
    h.tool(
        &["-v", &mount],
        &[
            "etcdctl",
            "--endpoints=http://etcd-1:2379",
            "snapshot",
            "save",
            "/out/snap.db",
        ],
    );
    h.tool(
        &["-v", &mount],
        &[
            "etcdutl",
            "snapshot",
            "status",
            "/out/snap.db",
            "-w",
            "json",
        ],
    );
    let snapshot = t.elapsed().as_secs_f64();

    // Disaster: members and data gone.
    for c in &containers {
        docker(&["rm", "-f", "-v", c]);
    }
    for m in &names {
        docker(&["volume", "rm", &h.name(&format!("{m}-data"))]);
    }
    let disaster_end = Instant::now();

    // Restore: etcdutl snapshot restore per member, serially, the snapshot bind-mounted.
    let initial = etcd_drill::cluster::initial_cluster(&names, false);
    let mut containers = Vec::new();
    for m in &names {
        let volume = h.name(&format!("{m}-r1"));
        let mut v = vec!["volume".to_string(), "create".into()];
        v.extend(h.label_args());
        v.push(volume.clone());
        docker(&v.iter().map(String::as_str).collect::<Vec<_>>());
        let data = format!("{volume}:{}", etcd_drill::cluster::DATA_MOUNT);
        let ro = format!("{host}:/restore:ro");
        let name = format!("--name={m}");
        let cluster = format!("--initial-cluster={initial}");
        let peer = format!("--initial-advertise-peer-urls=http://{m}:2380");
        let data_dir = format!("--data-dir={}", etcd_drill::cluster::DATA_DIR);
        h.tool(
            &["--network-alias", m, "-v", &data, "-v", &ro],
            &[
                "etcdutl",
                "snapshot",
                "restore",
                "/restore/snap.db",
                &name,
                &cluster,
                "--initial-cluster-token=r1",
                &peer,
                &data_dir,
            ],
        );
        h.start_member(&plan, m, "r1", &volume);
        containers.push(h.name(&format!("{m}-r1")));
    }
    let endpoints: Vec<String> = containers.iter().map(|c| port(c)).collect();
    let written = first_write(&endpoints).await;
    let rto = written.duration_since(disaster_end).as_secs_f64();

    // Check: HashKV on every member and the key count.
    let t = Instant::now();
    h.tool(
        &[],
        &[
            "etcdctl",
            "--endpoints=http://etcd-1:2379",
            // HashKV reads the whole db: at 4 GiB it takes longer than the 5 s default.
            "--command-timeout=300s",
            "endpoint",
            "hashkv",
            "--cluster",
        ],
    );
    let count = h.tool(
        &[],
        &[
            "etcdctl",
            "--endpoints=http://etcd-1:2379",
            "--command-timeout=300s",
            "get",
            "/bench/",
            "--prefix",
            "--count-only",
            "-w",
            "fields",
        ],
    );
    let verify = t.elapsed().as_secs_f64();
    assert!(
        count.contains(&format!("\"Count\" : {keys}")),
        "by hand restored {count}"
    );
    let total = start.elapsed().as_secs_f64();
    h.sweep();
    Phases {
        seed,
        snapshot,
        rto,
        verify,
        total,
        rss_mib: f64::NAN,
    }
}
