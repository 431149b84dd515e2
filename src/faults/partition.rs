//! partition: the targets cut off from every other member by DROP rules in the targets'
//! network namespaces (both directions, peers' addresses on the run's network only). The
//! harness still reaches every member's client port, so it can see both sides. Healing deletes
//! exactly those rules.

use super::{container_of, netns, poll, Active, FaultError};
use crate::cluster::{connect, within, Cluster};
use std::time::Duration;

/// (target pid, peer ip) pairs: every rule this partition installs.
async fn pairs(
    cluster: &Cluster,
    active: &Active,
) -> Result<Vec<(String, u32, String)>, FaultError> {
    let rt = &cluster.sandbox.runtime;
    let mut out = Vec::new();
    for t in &active.members {
        let pid = rt.pid(&container_of(cluster, t)?).await?;
        for peer in cluster
            .names()
            .iter()
            .filter(|p| !active.members.contains(p))
        {
            let ip = rt
                .ip(&container_of(cluster, peer)?, &cluster.sandbox.network)
                .await?;
            out.push((t.clone(), pid, ip));
        }
    }
    Ok(out)
}

async fn rules(pairs: &[(String, u32, String)], op: &str) -> Result<(), FaultError> {
    for (_, pid, ip) in pairs {
        netns::run(*pid, "iptables", &[op, "INPUT", "-s", ip, "-j", "DROP"]).await?;
        netns::run(*pid, "iptables", &[op, "OUTPUT", "-d", ip, "-j", "DROP"]).await?;
    }
    Ok(())
}

pub async fn inject(cluster: &mut Cluster, active: &mut Active) -> Result<(), FaultError> {
    let pairs = pairs(cluster, active).await?;
    rules(&pairs, "-I").await?;
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
    Ok(())
}

pub async fn heal(cluster: &mut Cluster, active: &mut Active) -> Result<(), FaultError> {
    let pairs = pairs(cluster, active).await?;
    rules(&pairs, "-D").await?;
    active.proof.push(format!(
        "partition rules removed from {}",
        active.members.join(", ")
    ));
    Ok(())
}
