//! `upgrade`: a rolling upgrade to another etcd version, as etcd's upgrade guide describes it:
//! one member at a time, followers first and the leader last; each is stopped gracefully
//! (SIGTERM), started on the new version's image with its own data dir, and must answer on the
//! new version before the next one goes. Per member: how long it was down, the leader after
//! it, the writes' unavailability. After the last one: the cluster version etcd reports, HashKV
//! on every member and the acknowledged writes lost (there must be none).

use super::{Ctx, StepError};
use crate::checks;
use crate::cluster::{wait_stable, Cluster};
use crate::events::StepOutcome;
use crate::record::{MemberUpgrade, UpgradeRecord};
use std::time::{Duration, Instant};

/// How long a member may take to stop after SIGTERM, and to answer again.
const MEMBER: Duration = Duration::from_secs(60);

/// How long etcd may take to leave after SIGTERM before it is killed: its own shutdown is
/// bounded by its request timeout (5 s plus two election timeouts), and a leader first hands
/// leadership over.
const GRACE: Duration = Duration::from_secs(30);

pub async fn run(ctx: &mut Ctx<'_>, version: &str, image: &str) -> Result<StepOutcome, StepError> {
    ctx.waiting_for("a healthy cluster before the upgrade");
    let health = wait_stable(&ctx.cluster, &[], MEMBER, Duration::ZERO).await?;
    let from = health.version.clone();
    let leader = health.leader.clone();
    // Followers first, the leader last: one leader change, at the end.
    let mut order: Vec<String> = ctx.cluster.names();
    order.sort_by_key(|m| *m == leader);
    ctx.cluster.plan.image = image.to_string();
    let mut members = Vec::new();
    for name in order {
        let stopped_ms = ctx.clock.ms();
        ctx.waiting_for(format!("{name} to leave after SIGTERM"));
        stop(&ctx.cluster, &name).await?;
        let volume = ctx
            .cluster
            .members
            .iter()
            .find(|m| m.name == name)
            .map(|m| m.volume.clone())
            .ok_or_else(|| StepError::Precondition(format!("no member {name}")))?;
        ctx.cluster.plan.member_images.remove(&name);
        ctx.waiting_for(format!("{name} to start on {image}"));
        ctx.cluster.start(&[(name.clone(), volume)]).await?;
        ctx.waiting_for(format!("{name} to answer on etcd {version}"));
        let reported = answers_on(&ctx.cluster, &name, version).await?;
        let settle = ctx.cluster.plan.election_timeout * 2;
        ctx.waiting_for(format!(
            "the cluster to stay healthy for {} after {name}",
            humantime::format_duration(settle)
        ));
        let health = wait_stable(&ctx.cluster, &[], MEMBER, settle).await?;
        ctx.client = ctx.cluster.client().await?;
        super::repoint_workload(ctx, None).await?;
        let serving_ms = ctx.clock.ms();
        members.push(MemberUpgrade {
            was_leader: name == leader,
            member: name,
            stopped_ms,
            serving_ms,
            version: reported,
            leader_after: Some(health.leader),
            unavailable_ms: unavailable(ctx, stopped_ms, serving_ms),
        });
    }
    ctx.waiting_for("the cluster version");
    let cluster_version = cluster_version(&ctx.cluster, version).await;
    ctx.waiting_for("HashKV on every member");
    let hashkv = checks::hashkv::all(&ctx.cluster.members).await?;
    ctx.waiting_for("the acknowledged writes, read back");
    let lost = if ctx.workload.is_some() {
        Some(super::fault::missing_since_restore(ctx).await?)
    } else {
        None
    };
    Ok(StepOutcome::Upgraded(UpgradeRecord {
        from,
        to: version.to_string(),
        image: image.to_string(),
        members,
        cluster_version,
        hashkv_equal: checks::hashkv::equal(&hashkv),
        hashkv,
        lost_acknowledged_writes: lost,
    }))
}

/// SIGTERM (etcd leaves gracefully, a leader hands leadership over), then the container goes.
async fn stop(cluster: &Cluster, name: &str) -> Result<(), StepError> {
    let container = cluster
        .members
        .iter()
        .find(|m| m.name == name)
        .map(|m| m.container.clone())
        .ok_or_else(|| StepError::Precondition(format!("no member {name}")))?;
    let rt = &cluster.sandbox.runtime;
    rt.kill(&container, "SIGTERM").await?;
    if tokio::time::timeout(GRACE, rt.wait(&container))
        .await
        .is_err()
    {
        tracing::warn!(
            member = name,
            "etcd did not leave within {GRACE:?} of SIGTERM: SIGKILL"
        );
        rt.kill(&container, "SIGKILL").await?;
        rt.wait(&container).await?;
    }
    rt.remove_container(&container).await?;
    Ok(())
}

/// Waits until `name` answers and reports `version`; returns what it reported.
async fn answers_on(cluster: &Cluster, name: &str, version: &str) -> Result<String, StepError> {
    let member = cluster
        .members
        .iter()
        .find(|m| m.name == name)
        .ok_or_else(|| StepError::Precondition(format!("no member {name}")))?;
    let wanted = format!("etcd {version} answering after the upgrade");
    let every = Duration::from_millis(100);
    crate::cluster::poll_status(member, &wanted, every, MEMBER, |s| {
        if s.version() == version {
            Ok(s.version().to_string())
        } else {
            Err(format!("version {}", s.version()))
        }
    })
    .await
    .map_err(|e| StepError::Precondition(e.to_string()))
}

/// The longest window without a successful write that overlaps [from, to].
fn unavailable(ctx: &Ctx<'_>, from: u64, to: u64) -> Option<u64> {
    let w = ctx.workload.as_ref()?;
    w.log().unavailable_between(from, to).longest_ms.or(Some(0))
}

/// The cluster version from a member's `/version` (`etcdcluster`): it moves to the new minor
/// version once every member runs it. `None` on a TLS cluster (no client certificate here).
async fn cluster_version(cluster: &Cluster, version: &str) -> Option<String> {
    let m = cluster.members.first().filter(|m| !m.tls)?;
    let url = format!("{}/version", m.endpoint());
    let want = {
        let mut parts = version.split('.');
        format!(
            "{}.{}.0",
            parts.next().unwrap_or("0"),
            parts.next().unwrap_or("0")
        )
    };
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .ok()?;
    let start = Instant::now();
    let mut seen = None;
    // etcd moves the cluster version a few seconds after the last member joins on it.
    while start.elapsed() < Duration::from_secs(30) {
        if let Ok(r) = http.get(&url).send().await {
            let body = r.text().await.unwrap_or_default();
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&body) {
                seen = v["etcdcluster"].as_str().map(String::from);
                if seen.as_deref() == Some(want.as_str()) {
                    break;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    seen
}
