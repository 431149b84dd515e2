//! Benchmark: `etcd-drill verify-backup` on a ~1 GiB etcd snapshot kept in an S3 store (moto's
//! server on 127.0.0.1), against the same work done by hand, in one run on one machine.
//! `cargo bench --bench verify_backup` runs 1 GiB of values; `-- --size 100m` picks another size
//! (m = 1,000,000 bytes of values, g = 2^30; values of 1000 bytes). Needs Docker, the local image
//! `etcd-drill/etcd:v3.5.30` (never pulled) and moto (`.ci/setup` installs it, with boto3).
//!
//! Preparation (not compared): a stand-alone etcd loaded by a concurrent batched loader
//! (8 clients, 128 puts a transaction), its snapshot streamed to a file with the maintenance API,
//! that etcd removed, and the file uploaded to moto under a k3s-style name
//! (`etcd-snapshot-bench-<unix seconds>`) with etcd-drill's own streaming multipart upload.
//!
//! The harness: `etcd-drill verify-backup s3://BUCKET/PREFIX --endpoint URL --members 3`, its wall
//! time, its peak RSS read from /proc while it runs, its phases from report.json. It runs first;
//! by hand then runs with caches at least as warm, so the ratio errs in by hand's favour.
//!
//! By hand, as an operator would script it: boto3 lists the store and downloads the newest object
//! (one streaming GET; see `BOTO3_DOWNLOAD`); `etcdutl snapshot restore` for each of the 3
//! members in turn (`docker run --rm`, the file bind-mounted read-only, a volume per member, on
//! the network under the member's alias); 3 members started on those volumes; `docker exec … etcdctl endpoint health` until it answers
//! for every member; `etcdctl endpoint hashkv` on every member, all equal. Plain HTTP (the harness
//! runs its sandbox with TLS). Everything timed, the network and the teardown included.
//!
//! Prints one table: phase, harness, by hand, ratio; the total, the harness's peak RSS and the
//! snapshot size, and whether the project's targets (harness total ≤ 1.1× by hand, peak RSS ≤
//! 64 MiB) are met. Nothing asserts on timing. Every Docker object carries etcd-drill's labels
//! (`etcd-drill clean --run-id <id>` sweeps a crashed run) and a guard removes them on a panic.

#[path = "../common/peak_rss.rs"]
mod peak_rss;
#[path = "../common/s3.rs"]
mod s3;

use etcd_client::{Client, TxnOp};
use etcd_drill::plan::DEFAULT_IMAGE;
use futures_util::{stream, StreamExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const VALUE_SIZE: u64 = 1000;
const BATCH: u64 = 128;
const CLIENTS: usize = 8;
const MEMBERS: u32 = 3;
const BUCKET: &str = "backups";
const PREFIX: &str = "k3s";
/// Where the image keeps etcd, etcdctl and etcdutl (its PATH; it has no shell).
const BIN: &str = "/usr/local/bin";
const DATA_MOUNT: &str = "/var/lib/etcd";
const DATA_DIR: &str = "/var/lib/etcd/data";
/// How long the members may take to serve, by hand.
const SERVE_DEADLINE: Duration = Duration::from_secs(30 * 60);
/// The project's targets.
const MAX_RATIO: f64 = 1.1;
const MAX_RSS_MIB: f64 = 64.0;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let label = args
        .iter()
        .position(|a| a == "--size")
        .map(|i| args.get(i + 1).expect("--size 100m or --size 1g").clone())
        .unwrap_or_else(|| "1g".into());
    let bytes = parse_size(&label);
    let keys = bytes / VALUE_SIZE;
    image_present();

    // moto sets the AWS variables of this process (the children inherit them): before the
    // runtime's threads exist.
    let server = s3::S3Server::start().expect("moto's S3 server (run .ci/setup)");
    server.create_bucket(BUCKET);
    let rt = tokio::runtime::Runtime::new().expect("runtime");

    let unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let guard = Guard {
        run_id: format!("bench-vb-{unix}-{}", std::process::id()),
    };
    eprintln!(
        "== {label}: {keys} keys × {VALUE_SIZE} B; Docker objects labelled etcd-drill.run-id={}",
        guard.run_id
    );
    let work = tempfile::tempdir().expect("tempdir");
    let snapshot = work.path().join("snapshot.db");
    let prep = rt.block_on(make_snapshot(&guard, keys, &snapshot));
    let size = std::fs::metadata(&snapshot).expect("snapshot").len();
    eprintln!(
        "loaded in {:.1} s, snapshot of {size} bytes saved in {:.1} s",
        prep.load, prep.save
    );

    let name = format!("etcd-snapshot-bench-{unix}");
    let t = Instant::now();
    rt.block_on(async {
        let spec = etcd_drill::scenario::StoreSpec::S3 {
            bucket: BUCKET.into(),
            prefix: Some(PREFIX.into()),
            endpoint: Some(server.endpoint.clone()),
            region: None,
        };
        let store =
            etcd_drill::backup::store::Store::open(&spec, work.path()).expect("open the S3 store");
        store
            .upload(&name, &snapshot)
            .await
            .unwrap_or_else(|e| panic!("upload to moto: {e}"));
    });
    let upload = t.elapsed().as_secs_f64();
    eprintln!("uploaded as {BUCKET}/{PREFIX}/{name} in {upload:.1} s");
    // The uploaded copy is what both sides read.
    std::fs::remove_file(&snapshot).expect("remove the local snapshot");

    let h = harness(&server.endpoint);
    let m = by_hand(&guard, &server.endpoint);
    print_table(&label, keys, size, (&prep, upload), &h, &m);
    drop(guard);
    drop(server);
}

/// `100m` (10^6 bytes) or `1g` (2^30 bytes) of values.
fn parse_size(s: &str) -> u64 {
    let (n, unit) = s.split_at(s.len().saturating_sub(1));
    let n: u64 = n.parse().expect("a size like 100m or 1g");
    match unit {
        "g" => n << 30,
        "m" => n * 1_000_000,
        _ => panic!("a size like 100m or 1g, not {s}"),
    }
}

/// The image is local: nothing is pulled.
fn image_present() {
    let ok = Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Id}}", DEFAULT_IMAGE])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "the image {DEFAULT_IMAGE} is not present (etcd-drill image build); nothing is pulled"
    );
}

/// `docker …`, failing the benchmark on an error; its stdout, trimmed.
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

fn strs(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

fn docker_owned(args: &[String]) -> String {
    docker(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// Every Docker object of this run; removed when dropped, on a panic too.
struct Guard {
    run_id: String,
}

impl Guard {
    fn name(&self, what: &str) -> String {
        format!("etcd-drill-{}-{what}", self.run_id)
    }

    fn labels(&self) -> Vec<String> {
        vec![
            "--label".into(),
            "etcd-drill.managed=true".into(),
            "--label".into(),
            format!("etcd-drill.run-id={}", self.run_id),
        ]
    }

    /// `docker network create` / `docker volume create` with the labels.
    fn create(&self, kind: &str, name: &str) {
        let mut a = vec![kind.to_string(), "create".into()];
        a.extend(self.labels());
        a.push(name.into());
        docker_owned(&a);
    }

    /// Removes what carries this run's label; errors ignored (it runs in Drop).
    fn sweep(&self) {
        let filter = format!("label=etcd-drill.run-id={}", self.run_id);
        let list = |args: &[&str]| -> Vec<String> {
            Command::new("docker")
                .args(args)
                .output()
                .map(|o| {
                    String::from_utf8_lossy(&o.stdout)
                        .lines()
                        .filter(|l| !l.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
        };
        for id in list(&["ps", "-aq", "--filter", &filter]) {
            let _ = Command::new("docker")
                .args(["rm", "-f", "-v", &id])
                .output();
        }
        for id in list(&["volume", "ls", "-q", "--filter", &filter]) {
            let _ = Command::new("docker")
                .args(["volume", "rm", "-f", &id])
                .output();
        }
        for id in list(&["network", "ls", "-q", "--filter", &filter]) {
            let _ = Command::new("docker").args(["network", "rm", &id]).output();
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.sweep();
    }
}

/// The client URL of a container's port 2379, published on 127.0.0.1.
fn client_url(container: &str) -> String {
    let mapped = docker(&["port", container, "2379/tcp"]);
    let addr = mapped
        .lines()
        .find(|l| l.starts_with("127.0.0.1:"))
        .unwrap_or_else(|| panic!("{container}: 2379 not published on 127.0.0.1: {mapped}"));
    format!("http://{addr}")
}

struct Prep {
    load: f64,
    save: f64,
}

/// A stand-alone etcd loaded with `keys` values, its snapshot streamed to `out`, then removed.
async fn make_snapshot(g: &Guard, keys: u64, out: &Path) -> Prep {
    let net = g.name("load-net");
    g.create("network", &net);
    let container = g.name("load");
    let quota = (keys * (VALUE_SIZE + 100) * 3).max(4 << 30);
    let mut run: Vec<String> = vec![
        "run".into(),
        "-d".into(),
        "--name".into(),
        container.clone(),
    ];
    run.extend(g.labels());
    run.extend(strs(&[
        "--network",
        &net,
        "--network-alias",
        "etcd-load",
        "-p",
        "127.0.0.1::2379",
        DEFAULT_IMAGE,
        "--name=load",
        "--data-dir=/tmp/data",
        "--listen-client-urls=http://0.0.0.0:2379",
        "--advertise-client-urls=http://etcd-load:2379",
        // The raft entries since the last snapshot stay in memory: keep them few.
        "--snapshot-count=10000",
        "--log-level=warn",
    ]));
    run.push(format!("--quota-backend-bytes={quota}"));
    docker_owned(&run);
    let url = client_url(&container);
    let deadline = Instant::now() + Duration::from_secs(60);
    let client = loop {
        if let Ok(mut c) = Client::connect([url.as_str()], None).await {
            if c.status().await.is_ok() {
                break c;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the loader's etcd did not answer"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    let t = Instant::now();
    let value = vec![b'v'; VALUE_SIZE as usize];
    stream::iter(0..keys.div_ceil(BATCH))
        .map(|b| {
            let mut c = client.clone();
            let value = value.clone();
            async move {
                let ops: Vec<TxnOp> = (b * BATCH..((b + 1) * BATCH).min(keys))
                    .map(|i| TxnOp::put(format!("/bench/{i:012}"), value.clone(), None))
                    .collect();
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
    let load = t.elapsed().as_secs_f64();

    let t = Instant::now();
    {
        use tokio::io::AsyncWriteExt;
        let mut c = client.clone();
        let mut s = c.snapshot().await.expect("snapshot");
        let mut f = tokio::io::BufWriter::with_capacity(
            1 << 20,
            tokio::fs::File::create(out).await.expect("snapshot file"),
        );
        while let Some(m) = s.message().await.expect("snapshot stream") {
            f.write_all(m.blob()).await.expect("write snapshot");
        }
        f.flush().await.expect("flush snapshot");
        f.into_inner().sync_all().await.expect("sync snapshot");
    }
    let save = t.elapsed().as_secs_f64();
    drop(client);
    docker(&["rm", "-f", "-v", &container]);
    docker(&["network", "rm", &net]);
    Prep { load, save }
}

/// What the harness's run gave.
struct Harness {
    bin: PathBuf,
    total: f64,
    rss_kib: u64,
    /// (name, seconds) as report.json lists them.
    phases: Vec<(String, f64)>,
    rto: f64,
    restore_step: f64,
    verify_step: f64,
    all_serving: f64,
    /// Where the keys per prefix were counted (the snapshot file, or the restored cluster).
    counted_in: String,
}

impl Harness {
    /// The sum of the phases whose name starts with one of `names` (NaN when none does).
    fn phase(&self, names: &[&str]) -> f64 {
        let found: Vec<f64> = self
            .phases
            .iter()
            .filter(|(n, _)| names.iter().any(|p| n.starts_with(p)))
            .map(|(_, s)| *s)
            .collect();
        if found.is_empty() {
            f64::NAN
        } else {
            found.iter().sum()
        }
    }
}

/// `etcd-drill verify-backup` on the store, timed, its peak RSS read while it runs.
fn harness(endpoint: &str) -> Harness {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_etcd-drill"));
    let dir = tempfile::tempdir().expect("tempdir");
    let reports = dir.path().join("reports");
    eprintln!("== the harness: {} verify-backup", bin.display());
    let start = Instant::now();
    let mut child = Command::new(&bin)
        .arg("verify-backup")
        .arg(format!("s3://{BUCKET}/{PREFIX}"))
        .args(["--endpoint", endpoint, "--members", &MEMBERS.to_string()])
        .arg("--report-dir")
        .arg(&reports)
        .env("AWS_ACCESS_KEY_ID", s3::ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", s3::SECRET_ACCESS_KEY)
        .env("AWS_REGION", "us-east-1")
        .env("NO_PROXY", "127.0.0.1")
        .env("no_proxy", "127.0.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("run etcd-drill");
    let (code, rss_kib) = peak_rss::wait_with_peak_rss(&mut child);
    let total = start.elapsed().as_secs_f64();
    assert_eq!(code, Some(0), "etcd-drill verify-backup passes");
    let run = std::fs::read_dir(&reports)
        .expect("reports")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.is_dir())
        .expect("a run dir");
    let r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("report.json")).expect("report.json"))
            .expect("report.json is JSON");
    let secs = |v: &serde_json::Value| v.as_f64().unwrap_or(f64::NAN) / 1000.0;
    let step = |name: &str| {
        r["steps"]
            .as_array()
            .and_then(|s| {
                s.iter()
                    .find(|x| x["step"].as_str().is_some_and(|l| l.starts_with(name)))
            })
            .map(|x| secs(&x["duration_ms"]))
            .unwrap_or(f64::NAN)
    };
    let restore = &r["restore"];
    let phases = restore["phases"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .map(|p| {
                    (
                        p["name"].as_str().unwrap_or("?").to_string(),
                        secs(&p["duration_ms"]),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    Harness {
        bin,
        total,
        rss_kib,
        phases,
        rto: secs(&restore["rto_first_write_ms"]),
        restore_step: step("restore"),
        verify_step: step("verify"),
        all_serving: secs(&restore["all_members_serving_ms"]),
        counted_in: r["verification"]["keyspace"]["counted_in"]
            .as_str()
            .unwrap_or("nowhere: no keyspace summary")
            .to_string(),
    }
}

/// What the operator's script took, phase by phase.
struct Hand {
    setup: f64,
    download: f64,
    restore: f64,
    start: f64,
    serving: f64,
    rto: f64,
    hashkv: f64,
    teardown: f64,
    total: f64,
}

/// Lists the store, picks the newest object, downloads it in one streaming GET, as the harness
/// does; prints its key. Not boto3's default concurrent ranged GETs: moto answers each range
/// by copying the whole object, so those grow with the square of the size (178 s for 1.4 GB
/// here, against 9 s for one GET); real S3 does not.
const BOTO3_DOWNLOAD: &str = r#"
import sys, boto3
from boto3.s3.transfer import TransferConfig
bucket, prefix, out, endpoint = sys.argv[1:5]
s3 = boto3.client("s3", endpoint_url=endpoint)
objects = []
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/"):
    objects += page.get("Contents", [])
newest = max(objects, key=lambda o: (o["LastModified"], o["Key"]))
one_get = TransferConfig(multipart_threshold=1 << 62, use_threads=False)
s3.download_file(bucket, newest["Key"], out, Config=one_get)
print(newest["Key"])
"#;

fn by_hand(g: &Guard, endpoint: &str) -> Hand {
    let work = tempfile::tempdir().expect("tempdir");
    let file = work.path().join("snapshot.db");
    let names = etcd_drill::plan::member_names(MEMBERS);
    let initial = names
        .iter()
        .map(|m| format!("{m}=http://{m}:2380"))
        .collect::<Vec<_>>()
        .join(",");
    let token = format!("hand-{}", g.run_id);
    let net = g.name("hand-net");
    eprintln!("== by hand");

    let t0 = Instant::now();
    g.create("network", &net);
    let setup = t0.elapsed().as_secs_f64();

    let t = Instant::now();
    let out = Command::new("python3")
        .args(["-c", BOTO3_DOWNLOAD, BUCKET, PREFIX])
        .arg(&file)
        .arg(endpoint)
        .env("AWS_ACCESS_KEY_ID", s3::ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", s3::SECRET_ACCESS_KEY)
        .env("AWS_REGION", "us-east-1")
        .env("NO_PROXY", "127.0.0.1")
        .env("no_proxy", "127.0.0.1")
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "boto3 download: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let download = t.elapsed().as_secs_f64();
    eprintln!(
        "downloaded {} ({} bytes) in {download:.1} s",
        String::from_utf8_lossy(&out.stdout).trim(),
        std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0)
    );

    // etcdutl snapshot restore, member after member, under the member's alias (etcdutl
    // resolves its own peer URL), into a volume each.
    let t = Instant::now();
    let snapshot_mount = format!("{}:/backup/snapshot.db:ro", file.display());
    for m in &names {
        let volume = g.name(&format!("{m}-data"));
        g.create("volume", &volume);
        let mut a: Vec<String> = vec!["run".into(), "--rm".into()];
        a.extend(g.labels());
        a.extend(strs(&[
            "--network",
            &net,
            "--network-alias",
            m,
            "-v",
            &snapshot_mount,
            "-v",
            &format!("{volume}:{DATA_MOUNT}"),
            "--entrypoint",
            &format!("{BIN}/etcdutl"),
            DEFAULT_IMAGE,
            "snapshot",
            "restore",
            "/backup/snapshot.db",
            &format!("--name={m}"),
            &format!("--initial-cluster={initial}"),
            &format!("--initial-cluster-token={token}"),
            &format!("--initial-advertise-peer-urls=http://{m}:2380"),
            &format!("--data-dir={DATA_DIR}"),
        ]));
        docker_owned(&a);
    }
    let restore = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let mut containers = Vec::new();
    for m in &names {
        let container = g.name(m);
        let mut a: Vec<String> = vec![
            "run".into(),
            "-d".into(),
            "--name".into(),
            container.clone(),
        ];
        a.extend(g.labels());
        a.extend(strs(&[
            "--network",
            &net,
            "--network-alias",
            m,
            "-p",
            "127.0.0.1::2379",
            "-v",
            &format!("{}:{DATA_MOUNT}", g.name(&format!("{m}-data"))),
            DEFAULT_IMAGE,
            &format!("--name={m}"),
            &format!("--data-dir={DATA_DIR}"),
            "--listen-client-urls=http://0.0.0.0:2379",
            &format!("--advertise-client-urls=http://{m}:2379"),
            "--listen-peer-urls=http://0.0.0.0:2380",
            &format!("--initial-advertise-peer-urls=http://{m}:2380"),
            &format!("--initial-cluster={initial}"),
            &format!("--initial-cluster-token={token}"),
            "--initial-cluster-state=new",
        ]));
        docker_owned(&a);
        containers.push(container);
    }
    let start = t.elapsed().as_secs_f64();

    // etcdctl in the first member's container: every member healthy (a quorum read each).
    let endpoints = format!(
        "--endpoints={}",
        names
            .iter()
            .map(|m| format!("http://{m}:2379"))
            .collect::<Vec<_>>()
            .join(",")
    );
    let etcdctl = |args: &[&str]| {
        Command::new("docker")
            .args([
                "exec",
                &containers[0],
                &format!("{BIN}/etcdctl"),
                &endpoints,
            ])
            .args(args)
            .output()
            .expect("docker exec etcdctl")
    };
    let t = Instant::now();
    loop {
        let o = etcdctl(&["--command-timeout=2s", "endpoint", "health"]);
        if o.status.success() {
            break;
        }
        assert!(
            t.elapsed() < SERVE_DEADLINE,
            "by hand: not healthy within {SERVE_DEADLINE:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let serving = t.elapsed().as_secs_f64();
    let rto = t0.elapsed().as_secs_f64() - setup;
    // The published ports are where clients would come back.
    for c in &containers {
        client_url(c);
    }

    let t = Instant::now();
    let o = etcdctl(&["--command-timeout=300s", "endpoint", "hashkv", "-w", "json"]);
    assert!(
        o.status.success(),
        "hashkv: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let hashes: serde_json::Value = serde_json::from_slice(&o.stdout).expect("hashkv JSON");
    let hashes: Vec<u64> = hashes
        .as_array()
        .expect("a list")
        .iter()
        .map(|e| e["HashKV"]["hash"].as_u64().expect("a hash"))
        .collect();
    let hashkv = t.elapsed().as_secs_f64();
    assert_eq!(hashes.len(), MEMBERS as usize, "a HashKV per member");
    assert!(
        hashes.windows(2).all(|w| w[0] == w[1]),
        "by hand: HashKV differs across members: {hashes:?}"
    );

    let t = Instant::now();
    for c in &containers {
        docker(&["rm", "-f", "-v", c]);
    }
    for m in &names {
        docker(&["volume", "rm", &g.name(&format!("{m}-data"))]);
    }
    docker(&["network", "rm", &net]);
    std::fs::remove_file(&file).expect("remove the download");
    let teardown = t.elapsed().as_secs_f64();
    Hand {
        setup,
        download,
        restore,
        start,
        serving,
        rto,
        hashkv,
        teardown,
        total: t0.elapsed().as_secs_f64(),
    }
}

fn print_table(label: &str, keys: u64, size: u64, prep: (&Prep, f64), h: &Harness, m: &Hand) {
    let (prep, upload) = prep;
    println!(
        "\nverify-backup, {label} of values ({keys} keys × {VALUE_SIZE} B): snapshot of {size} bytes ({:.2} GiB) in moto's S3",
        size as f64 / (1u64 << 30) as f64
    );
    println!(
        "(preparation, not compared: load {:.1} s, snapshot save {:.1} s, upload {upload:.1} s; harness {})\n",
        prep.load,
        prep.save,
        h.bin.display()
    );
    println!("| phase | harness | by hand | ratio |");
    println!("|---|---|---|---|");
    let row = |name: &str, a: f64, b: f64| {
        println!("| {name} | {a:.1} s | {b:.1} s | {:.2} |", a / b.max(1e-9));
    };
    row(
        "list + download (harness: fetch, unpack and check backup; by hand: boto3)",
        h.phase(&["fetch"]),
        m.download,
    );
    row(
        "restore files (harness: a quorum's; by hand: 3 members in turn)",
        h.phase(&["restore"]),
        m.restore,
    );
    row(
        "start members (harness: the quorum)",
        h.phase(&["start"]),
        m.start,
    );
    row(
        "until serving (harness: load db, leader, first write; by hand: endpoint health)",
        h.phase(&["members load", "leader", "replay", "first write"]),
        m.serving,
    );
    row(
        "RTO (harness: to the first write; by hand: to all healthy)",
        h.rto,
        m.rto,
    );
    row(
        "restore step, every member serving (by hand: = RTO)",
        h.restore_step,
        m.rto,
    );
    row("verify: HashKV on every member", h.verify_step, m.hashkv);
    row(
        "the rest (setup, teardown, report; by hand: network, teardown)",
        h.total - h.restore_step - h.verify_step,
        m.setup + m.teardown,
    );
    row("total wall time", h.total, m.total);
    let rss_mib = h.rss_kib as f64 / 1024.0;
    println!(
        "| peak RSS of the harness | {rss_mib:.1} MiB ({:.1} MB) | | |",
        h.rss_kib as f64 * 1024.0 / 1e6
    );
    println!(
        "\nkeys and bytes per prefix counted in {} (by hand: none)",
        h.counted_in
    );
    println!(
        "\nharness phases: {}; all members serving at {:.1} s",
        h.phases
            .iter()
            .map(|(n, s)| format!("{n} {s:.1} s"))
            .collect::<Vec<_>>()
            .join(" · "),
        h.all_serving
    );
    let ratio = h.total / m.total;
    let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
    println!(
        "target: harness total ≤ {MAX_RATIO}× by hand: {} ({ratio:.2}×)",
        verdict(ratio <= MAX_RATIO)
    );
    println!(
        "target: harness peak RSS ≤ {MAX_RSS_MIB:.0} MiB: {} ({rss_mib:.1} MiB)",
        verdict(rss_mib <= MAX_RSS_MIB)
    );
}
