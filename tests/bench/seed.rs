//! Benchmark: seeding throughput and snapshot speed on a real 3-member cluster.
//! `cargo bench --bench seed` prints the figures; the target is ≥ 30,000 keys/s for 100k keys
//! of 256 bytes on a 2-core machine. Exits non-zero when the target is missed.

use etcd_drill::cluster::{wait_healthy, Cluster};
use etcd_drill::plan::{ClusterPlan, SeedPlan, DEFAULT_IMAGE};
use etcd_drill::sandbox::docker::DockerRuntime;
use etcd_drill::sandbox::Sandbox;
use std::sync::Arc;
use std::time::Duration;

const TARGET_KEYS_PER_SEC: f64 = 30_000.0;

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l.to_string())
        })
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|k| k.parse::<f64>().ok())
        })
        .map(|kib| kib / 1024.0)
        .unwrap_or(f64::NAN)
}

#[tokio::main]
async fn main() {
    let docker = DockerRuntime::connect().await.expect("Docker is running");
    let mut say = |m: String| eprintln!("{m}");
    etcd_drill::image::ensure_image(&docker, DEFAULT_IMAGE, None, &mut say)
        .await
        .expect("image");
    let run_id = etcd_drill::runner::new_run_id();
    let sandbox = Arc::new(Sandbox::new(Arc::new(docker), &run_id));
    let plan = ClusterPlan {
        members: 3,
        image: DEFAULT_IMAGE.into(),
        heartbeat_interval: Duration::from_millis(100),
        election_timeout: Duration::from_millis(1000),
        quota_backend_bytes: None,
        snapshot_count: None,
        pre_vote: None,
        backend_batch_interval: None,
        compaction_batch_limit: None,
        tls: false,
        member_images: Default::default(),
        unsafe_no_fsync: Vec::new(),
        disk_images: Default::default(),
    };
    let mut cluster = Cluster::new(sandbox.clone(), plan, format!("{run_id}-bench"));
    let result = bench(&sandbox, &mut cluster).await;
    let leftovers = sandbox.teardown().await;
    assert!(leftovers.is_empty(), "teardown: {leftovers:?}");
    let ok = result.expect("benchmark ran");
    println!("peak RSS of the harness: {:.1} MiB", peak_rss_mib());
    if !ok {
        eprintln!("below the target of {TARGET_KEYS_PER_SEC} keys/s");
        std::process::exit(1);
    }
}

async fn bench(
    sandbox: &Sandbox,
    cluster: &mut Cluster,
) -> Result<bool, Box<dyn std::error::Error>> {
    sandbox.create_network().await?;
    cluster.create().await?;
    wait_healthy(cluster, Duration::from_secs(60)).await?;
    let client = cluster.client().await?;
    let mut rates = Vec::new();
    for round in 0..3 {
        let seed = SeedPlan {
            keys: 100_000,
            value_size: 256,
            key_prefix: format!("/bench/{round}/"),
            rng_seed: round,
            batch: 128,
            concurrency: 16,
        };
        let s = etcd_drill::seed_data::load(&client, &seed, &|_| {}).await?;
        println!(
            "seed round {round}: {} keys × {} B in {} ms = {:.0} keys/s, {:.1} MB/s ({} txns)",
            s.keys, s.value_size, s.duration_ms, s.keys_per_sec, s.mb_per_sec, s.transactions
        );
        rates.push(s.keys_per_sec);
    }
    let dir = tempfile::tempdir()?;
    let endpoint = cluster.members[0].endpoint();
    let one = etcd_drill::cluster::connect(std::slice::from_ref(&endpoint)).await?;
    let saved = etcd_drill::snapshot_file::save(
        &one,
        &endpoint,
        dir.path(),
        "bench",
        Duration::from_secs(120),
        &Default::default(),
    )
    .await?;
    println!(
        "snapshot: {:.1} MB in {} ms = {:.1} MB/s",
        saved.size as f64 / 1e6,
        saved.duration.as_millis(),
        saved.size as f64 / 1e6 / saved.duration.as_secs_f64()
    );
    rates.sort_by(|a, b| a.total_cmp(b));
    let median = rates[1];
    println!("seed median: {median:.0} keys/s (target ≥ {TARGET_KEYS_PER_SEC:.0})");
    Ok(median >= TARGET_KEYS_PER_SEC)
}
