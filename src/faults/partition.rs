//! partition: the targets cut off from every other member by DROP rules in the targets'
//! network namespaces (both directions, peers' addresses on the run's network only). The
//! harness still reaches every member's client port, so it can see both sides. Healing deletes
//! exactly those rules.
//!
//! `until: raft-snapshot` keeps a member cut off until it can only catch up from a snapshot:
//! the other members write until the leader's raft log has moved past the member's by more than
//! etcd keeps after a snapshot (5,000 entries) plus two snapshot periods; on healing, the member's
//! own log must show that it received and saved a database snapshot from the leader.

use super::{container_of, netns, poll, Active, FaultError};
use crate::cluster::{connect, within, Cluster};
use crate::plan::faults::Partition;
use std::time::Duration;

/// Each target's namespace with its peers' addresses: every rule this partition installs.
async fn pairs(
    cluster: &Cluster,
    active: &Active,
) -> Result<Vec<(netns::Netns, Vec<String>)>, FaultError> {
    let rt = &cluster.sandbox.runtime;
    let mut out = Vec::new();
    for t in &active.members {
        let mut ips = Vec::new();
        for peer in cluster
            .names()
            .iter()
            .filter(|p| !active.members.contains(p))
        {
            ips.push(
                rt.ip(&container_of(cluster, peer)?, &cluster.sandbox.network)
                    .await?,
            );
        }
        out.push((netns::Netns::of(cluster, t).await?, ips));
    }
    Ok(out)
}

/// Inserts (`-I`) or deletes (`-D`) the DROP rules, one batch per target.
async fn rules(pairs: &[(netns::Netns, Vec<String>)], op: &str) -> Result<(), FaultError> {
    for (ns, ips) in pairs {
        let line = |words: &[&str]| words.iter().map(|w| w.to_string()).collect::<Vec<_>>();
        let commands: Vec<Vec<String>> = ips
            .iter()
            .flat_map(|ip| {
                [
                    line(&["iptables", op, "INPUT", "-s", ip, "-j", "DROP"]),
                    line(&["iptables", op, "OUTPUT", "-d", ip, "-j", "DROP"]),
                ]
            })
            .collect();
        ns.batch(&commands).await?;
    }
    Ok(())
}

pub async fn inject(
    cluster: &mut Cluster,
    active: &mut Active,
    opts: &Partition,
) -> Result<(), FaultError> {
    let pairs = pairs(cluster, active).await?;
    rules(&pairs, "-I").await?;
    active.proof.push(format!(
        "DROP rules for peer traffic installed {}",
        cluster.sandbox.net_via.describe()
    ));
    // Proof, isolated side: a linearizable read through each target cannot be served.
    for t in &active.members {
        let ep = cluster
            .members
            .iter()
            .find(|m| &m.name == t)
            .map(|m| m.endpoint())
            .unwrap_or_default();
        let c = connect(std::slice::from_ref(&ep)).await?;
        let refused = poll(Duration::from_secs(15), || {
            let mut c = c.clone();
            async move {
                within(
                    "get",
                    "isolated member",
                    Duration::from_millis(700),
                    c.get("/drill/health", None),
                )
                .await
                .err()
            }
        })
        .await;
        match refused {
            Some(e) => active.proof.push(format!(
                "{t}: cut off from its peers, a linearizable read through it fails ({e})"
            )),
            None => {
                return Err(FaultError::NoEffect {
                    member: t.clone(),
                    why: "linearizable reads through it still succeed after 15s".into(),
                })
            }
        }
    }
    // Proof, other side: the rest still has a quorum and serves writes.
    let rest: Vec<String> = cluster
        .members
        .iter()
        .filter(|m| !active.members.contains(&m.name))
        .map(|m| m.endpoint())
        .collect();
    if rest.len() * 2 > cluster.members.len() {
        let c = connect(&rest).await?;
        let served = poll(Duration::from_secs(15), || {
            let mut c = c.clone();
            async move {
                within(
                    "put",
                    "majority",
                    Duration::from_millis(700),
                    c.put("/drill/health", "majority", None),
                )
                .await
                .ok()
            }
        })
        .await;
        match served {
            Some(_) => active.proof.push(format!(
                "the other {} members still serve writes",
                rest.len()
            )),
            None => {
                return Err(FaultError::NoEffect {
                    member: "majority".into(),
                    why: "the majority side does not serve writes".into(),
                })
            }
        }
    }
    if let Some(count) = opts.until_raft_snapshot {
        drive_past(cluster, active, count).await?;
    }
    Ok(())
}

pub async fn heal(
    cluster: &mut Cluster,
    active: &mut Active,
    opts: &Partition,
) -> Result<(), FaultError> {
    let pairs = pairs(cluster, active).await?;
    let before = match opts.until_raft_snapshot {
        Some(_) => Some(receipts(cluster, &active.members[0]).await?),
        None => None,
    };
    rules(&pairs, "-D").await?;
    active.proof.push(format!(
        "partition rules removed from {}",
        active.members.join(", ")
    ));
    if let Some(before) = before {
        prove_snapshot_installed(cluster, active, before).await?;
    }
    Ok(())
}

/// Entries etcd keeps in its raft log after a snapshot, for slow followers (etcd's
/// `SnapshotCatchUpEntries`, 5,000 in 3.4 and 3.5).
const CATCH_UP_ENTRIES: u64 = 5_000;

/// Concurrent writers driving the leader's log.
const WRITERS: usize = 16;

/// What a member's log says when it received a database snapshot from the leader (3.4 and 3.5,
/// zap or capnslog).
const RECEIVED: &str = "received and saved database snapshot";

fn member_endpoint(cluster: &Cluster, name: &str) -> String {
    cluster
        .members
        .iter()
        .find(|m| m.name == name)
        .map(|m| m.endpoint())
        .unwrap_or_default()
}

/// Writes through the other members until the leader's raft index is past the cut-off member's
/// by `CATCH_UP_ENTRIES` + 2 × `snapshot_count`: by then the leader has taken a snapshot and
/// compacted its log beyond what the member holds.
async fn drive_past(
    cluster: &Cluster,
    active: &mut Active,
    snapshot_count: u64,
) -> Result<(), FaultError> {
    let member = active.members[0].clone();
    let mut c = connect(&[member_endpoint(cluster, &member)]).await?;
    let cut_at = within("status", &member, Duration::from_secs(3), c.status())
        .await?
        .raft_index();
    let target = cut_at + CATCH_UP_ENTRIES + 2 * snapshot_count + 100;
    let rest: Vec<String> = cluster
        .members
        .iter()
        .filter(|m| m.name != member)
        .map(|m| m.endpoint())
        .collect();
    let client = connect(&rest).await?;
    let started = std::time::Instant::now();
    let reached = std::sync::atomic::AtomicU64::new(0);
    let done = std::sync::atomic::AtomicBool::new(false);
    let writers = (0..WRITERS).map(|w| {
        let (client, done) = (client.clone(), &done);
        async move {
            let key = format!("/drill/raft-fill/{w:02}");
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let mut c = client.clone();
                let _ = within(
                    "put",
                    "majority",
                    Duration::from_secs(2),
                    c.put(key.as_str(), "x", None),
                )
                .await;
            }
        }
    });
    let watch = async {
        let deadline = Duration::from_secs(180);
        while started.elapsed() < deadline {
            let mut c = client.clone();
            if let Ok(s) = within("status", "majority", Duration::from_secs(2), c.status()).await {
                reached.store(s.raft_index(), std::sync::atomic::Ordering::Relaxed);
                if s.raft_index() >= target {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
    };
    futures_util::future::join(futures_util::future::join_all(writers), watch).await;
    let reached = reached.load(std::sync::atomic::Ordering::Relaxed);
    if reached < target {
        return Err(FaultError::NoEffect {
            member,
            why: format!(
                "the other members reached raft index {reached} in 180s, short of {target}"
            ),
        });
    }
    active.proof.push(format!(
        "{member} cut off at raft index {cut_at}; the others wrote on to {reached} in {} ms, past {} entries etcd keeps after a snapshot + 2 × snapshot-count {snapshot_count}: the leader's log no longer holds what {member} needs",
        started.elapsed().as_millis(),
        CATCH_UP_ENTRIES
    ));
    Ok(())
}

/// How many database snapshots the member's log says it received.
async fn receipts(cluster: &Cluster, member: &str) -> Result<usize, FaultError> {
    let container = container_of(cluster, member)?;
    let (out, err) = cluster.sandbox.runtime.logs(&container).await?;
    Ok(out.matches(RECEIVED).count() + err.matches(RECEIVED).count())
}

/// After the heal: the member's own log shows a database snapshot received from the leader, and
/// its applied index reaches the leader's.
async fn prove_snapshot_installed(
    cluster: &Cluster,
    active: &mut Active,
    before: usize,
) -> Result<(), FaultError> {
    let member = active.members[0].clone();
    let healed = std::time::Instant::now();
    let mut others = connect(
        &cluster
            .members
            .iter()
            .filter(|m| m.name != member)
            .map(|m| m.endpoint())
            .collect::<Vec<_>>(),
    )
    .await?;
    let leader_index = within(
        "status",
        "majority",
        Duration::from_secs(3),
        others.status(),
    )
    .await?
    .raft_index();
    let received = poll(Duration::from_secs(60), || async {
        receipts(cluster, &member)
            .await
            .ok()
            .filter(|n| *n > before)
    })
    .await;
    if received.is_none() {
        return Err(FaultError::NoEffect {
            member,
            why: format!("its log shows no \"{RECEIVED}\" within 60s of the heal: it caught up without a raft snapshot"),
        });
    }
    let received_ms = healed.elapsed().as_millis();
    let c = connect(&[member_endpoint(cluster, &member)]).await?;
    let caught_up = poll(Duration::from_secs(60), || {
        let mut c = c.clone();
        async move {
            within("status", "member", Duration::from_secs(2), c.status())
                .await
                .ok()
                .filter(|s| s.raft_applied_index() >= leader_index)
        }
    })
    .await;
    let Some(s) = caught_up else {
        return Err(FaultError::NoEffect {
            member,
            why: format!("its applied index did not reach the leader's {leader_index} within 60s of the heal"),
        });
    };
    active.proof.push(format!(
        "{member} received and installed a raft snapshot from the leader {received_ms} ms after the heal (its log: \"{RECEIVED}\"), and applied up to {} (the leader's {leader_index}) {} ms after the heal",
        s.raft_applied_index(),
        healed.elapsed().as_millis()
    ));
    Ok(())
}
