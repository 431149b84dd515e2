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
    if opts.until_raft_snapshot.is_some() {
        for (ns, _) in &pairs {
            close_peer_connections(ns).await?;
        }
        active.proof.push(format!(
            "{}: open peer connections closed, so nothing the leader already sent arrives after the heal",
            active.members.join(", ")
        ));
    }
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

/// Closes every peer connection of the cut member. The DROP rules leave them open: what the
/// leader keeps sending while it does not know (MsgApps in flight, hundreds of entries) waits in
/// its socket and arrives after the heal by TCP retransmission, which can carry the member
/// past the leader's compaction without a snapshot. Closed, those bytes meet a reset.
async fn close_peer_connections(ns: &netns::Netns) -> Result<(), FaultError> {
    ns.run(
        "ss",
        &["-K", "-t", "-n", "( sport = :2380 or dport = :2380 )"],
    )
    .await
    .map(|_| ())
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
    let others: Vec<&str> = cluster
        .members
        .iter()
        .filter(|m| m.name != member)
        .map(|m| m.name.as_str())
        .collect();
    // Writing stops when every other member (whichever leads after the heal) has compacted its
    // raft log past the entry after the cut: read from their own logs, not inferred from the index.
    let compacted = std::sync::Mutex::new(Vec::<(String, u64)>::new());
    let watch = async {
        let deadline = Duration::from_secs(180);
        while started.elapsed() < deadline {
            let mut c = client.clone();
            if let Ok(s) = within("status", "majority", Duration::from_secs(2), c.status()).await {
                reached.store(s.raft_index(), std::sync::atomic::Ordering::Relaxed);
                if s.raft_index() >= target {
                    let mut seen = Vec::new();
                    for o in &others {
                        if let Ok(Some(i)) = compact_index(cluster, o).await {
                            seen.push((o.to_string(), i));
                        }
                    }
                    let past =
                        seen.len() == others.len() && seen.iter().all(|(_, i)| *i > cut_at + 1);
                    *compacted.lock().unwrap_or_else(|e| e.into_inner()) = seen;
                    if past {
                        break;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
    };
    futures_util::future::join(futures_util::future::join_all(writers), watch).await;
    let reached = reached.load(std::sync::atomic::Ordering::Relaxed);
    let compacted = compacted.into_inner().unwrap_or_else(|e| e.into_inner());
    let shown = compacted
        .iter()
        .map(|(m, i)| format!("{m} to {i}"))
        .collect::<Vec<_>>()
        .join(", ");
    if reached < target
        || compacted.len() < others.len()
        || compacted.iter().any(|(_, i)| *i <= cut_at + 1)
    {
        return Err(FaultError::NoEffect {
            member,
            why: format!(
                "in 180s the other members reached raft index {reached} (wanted {target}) and their logs show raft logs compacted {}: not past the cut at {cut_at}",
                if shown.is_empty() { "nowhere".to_string() } else { shown }
            ),
        });
    }
    active.proof.push(format!(
        "{member} cut off at raft index {cut_at}; the others wrote on to {reached} in {} ms (past {} entries etcd keeps after a snapshot + 2 × snapshot-count {snapshot_count}), and their own logs show raft logs compacted {shown}: the leader's log no longer holds what {member} needs",
        started.elapsed().as_millis(),
        CATCH_UP_ENTRIES
    ));
    Ok(())
}

/// What a member's log says when it dropped raft entries after a snapshot (zap, 3.4 and 3.5).
const COMPACTED: &str = "\"compacted Raft logs\"";

/// The highest index up to which the member's log says it compacted its raft log.
async fn compact_index(cluster: &Cluster, member: &str) -> Result<Option<u64>, FaultError> {
    let container = container_of(cluster, member)?;
    let (out, err) = cluster.sandbox.runtime.logs(&container).await?;
    Ok(out
        .lines()
        .chain(err.lines())
        .filter(|l| l.contains(COMPACTED))
        .filter_map(|l| field_u64(l, "compact-index"))
        .max())
}

/// A numeric field of a zap JSON log line, read without parsing the whole line.
fn field_u64(line: &str, name: &str) -> Option<u64> {
    let at = line.find(&format!("\"{name}\":"))? + name.len() + 3;
    let digits: String = line[at..]
        .chars()
        .skip_while(|c| *c == ' ')
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().ok()
}

/// How many database snapshots the member's log says it received.
async fn receipts(cluster: &Cluster, member: &str) -> Result<usize, FaultError> {
    let container = container_of(cluster, member)?;
    let (out, err) = cluster.sandbox.runtime.logs(&container).await?;
    Ok(out.matches(RECEIVED).count() + err.matches(RECEIVED).count())
}

/// The member's last `n` log messages about raft snapshots (sending, receiving, applying), as
/// `message` fields.
async fn snapshot_lines(
    cluster: &Cluster,
    member: &str,
    n: usize,
) -> Result<Vec<String>, FaultError> {
    let container = container_of(cluster, member)?;
    let (out, err) = cluster.sandbox.runtime.logs(&container).await?;
    let lines: Vec<String> = out
        .lines()
        .chain(err.lines())
        .filter_map(|l| {
            let at = l.find("\"msg\":\"")? + 7;
            let msg = &l[at..];
            let msg = &msg[..msg.find('"')?];
            [
                "database snapshot",
                "merged snapshot",
                "applying snapshot",
                "applied snapshot",
            ]
            .iter()
            .any(|w| msg.contains(w))
            .then(|| msg.to_string())
        })
        .collect();
    Ok(lines[lines.len().saturating_sub(n)..].to_vec())
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
        // What each side said about snapshots, to tell a send that failed from one never tried.
        let mut said = Vec::new();
        for m in &cluster.members {
            if let Ok(lines) = snapshot_lines(cluster, &m.name, 3).await {
                said.extend(lines.into_iter().map(|l| format!("{}: {l}", m.name)));
            }
        }
        return Err(FaultError::NoEffect {
            member,
            why: format!(
                "its log shows no \"{RECEIVED}\" within 60s of the heal; the members' last words on snapshots: {}",
                if said.is_empty() { "none".to_string() } else { said.join(" | ") }
            ),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_compaction_index_is_read_from_etcds_zap_line() {
        let line = r#"{"level":"info","ts":"2026-12-01T03:01:02.345Z","caller":"etcdserver/server.go:2427","msg":"compacted Raft logs","compact-index":5101}"#;
        assert!(line.contains(COMPACTED));
        assert_eq!(field_u64(line, "compact-index"), Some(5101));
        assert_eq!(field_u64(line, "snapshot-index"), None);
    }
}
