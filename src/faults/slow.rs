//! slow-network: a member's peer traffic (port 2380) slowed inside its network namespace.
//! Loss with iptables' statistic match (both directions); bandwidth with an htb class that only
//! peer traffic is filtered into; delay and jitter with a proxy in the namespace (`delay.rs`),
//! which needs no netem. Each is proven: dropped-packet counters, the shaped class's counters,
//! and a peer round trip timed before and during the fault.

use super::delay::{self, Delay, Placed};
use super::{container_of, netns, Active, FaultError};
use crate::cluster::Cluster;
use crate::plan::SlowNetwork;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const DEV: &str = "eth0";

/// The two rules (`op`: `-I` or `-D`) dropping `p`% of outgoing peer packets.
fn loss_rules(op: &str, p: f64) -> Vec<Vec<String>> {
    let prob = format!("{:.4}", p / 100.0);
    ["--dport", "--sport"]
        .iter()
        .map(|dir| {
            [
                op,
                "OUTPUT",
                "-p",
                "tcp",
                dir,
                "2380",
                "-m",
                "statistic",
                "--mode",
                "random",
                "--probability",
                &prob,
                "-j",
                "DROP",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect()
        })
        .collect()
}

async fn tc(ns: &netns::Netns, args: &str) -> Result<String, FaultError> {
    let a: Vec<&str> = args.split_whitespace().collect();
    ns.run("tc", &a).await
}

pub async fn inject(
    cluster: &mut Cluster,
    active: &mut Active,
    opts: &SlowNetwork,
) -> Result<(), FaultError> {
    let (loss, kbit, delay, jitter) = (
        opts.loss_percent,
        opts.bandwidth_kbit,
        opts.delay,
        opts.jitter,
    );
    for m in active.members.clone() {
        let m = m.as_str();
        let ns = netns::Netns::of(cluster, m).await?;
        active.proof.push(format!(
            "{m}: shaped {}",
            cluster.sandbox.net_via.describe()
        ));
        if let Some(p) = loss {
            for rule in loss_rules("-I", p) {
                ns.iptables(&rule).await?;
            }
            active
                .proof
                .push(format!("{m}: dropping {p}% of peer packets"));
        }
        if let Some(k) = kbit {
            let rate = format!("{k}kbit");
            tc(
                &ns,
                &format!("qdisc add dev {DEV} root handle 1: htb default 10"),
            )
            .await?;
            tc(
                &ns,
                &format!("class add dev {DEV} parent 1: classid 1:10 htb rate 10gbit"),
            )
            .await?;
            tc(
                &ns,
                &format!("class add dev {DEV} parent 1: classid 1:20 htb rate {rate} ceil {rate}"),
            )
            .await?;
            for dir in ["dport", "sport"] {
                tc(&ns, &format!("filter add dev {DEV} protocol ip parent 1: prio 1 u32 match ip {dir} 2380 0xffff flowid 1:20")).await?;
            }
            active
                .proof
                .push(format!("{m}: peer traffic shaped to {rate}"));
        }
        if let Some(base) = delay {
            let d = Delay {
                base,
                jitter: jitter.unwrap_or_default(),
            };
            let line = slow_down(cluster, active, &ns, d).await?;
            active.proof.push(line);
        }
    }
    Ok(())
}

/// A delay proxy in effect on one member; shared so `Active` stays `Clone`. Dropping the last
/// handle stops the proxy (a disaster abandons the fault).
#[derive(Debug, Clone)]
pub struct ProxyHandle {
    pub member: String,
    proxy: Arc<Mutex<Option<Placed>>>,
}

/// Puts the delay proxy on member `m` and proves the link got slower: a request to a peer's
/// port, timed from the member's namespace before and with the proxy, must take at least half
/// the delay longer.
async fn slow_down(
    cluster: &Cluster,
    active: &mut Active,
    ns: &netns::Netns,
    d: Delay,
) -> Result<String, FaultError> {
    let m = ns.member.as_str();
    let rt = &cluster.sandbox.runtime;
    let peer = cluster
        .names()
        .into_iter()
        .find(|p| p != m)
        .ok_or_else(|| FaultError::Target("a delay needs a peer to delay".into()))?;
    let ip: std::net::IpAddr = rt
        .ip(&container_of(cluster, &peer)?, &cluster.sandbox.network)
        .await?
        .parse()
        .map_err(|e| FaultError::Target(format!("{peer}'s address: {e}")))?;
    let to = std::net::SocketAddr::new(ip, 2380);
    let before = delay::round_trip(ns, to).await?;
    let seed = active.plan.name.bytes().fold(0x2380u64, |h, b| {
        h.wrapping_mul(31).wrapping_add(u64::from(b))
    });
    let proxy = delay::install(ns, d, seed).await?;
    let during = match delay::round_trip(ns, to).await {
        Ok(t) => t,
        Err(e) => {
            let _ = delay::remove(ns, proxy).await;
            return Err(e);
        }
    };
    let jitter = if d.jitter.is_zero() {
        String::new()
    } else {
        format!(" ± {} ms", d.jitter.as_millis())
    };
    let line = format!(
        "{m}: peer round trip to {peer}:2380 {:.1} ms before, {:.1} ms with {} ms{jitter} of delay ({})",
        ms(before),
        ms(during),
        d.base.as_millis(),
        proxy.describe()
    );
    if during < before + d.base / 2 {
        // Not in effect: take it away rather than leave a rule nobody will heal.
        let _ = delay::remove(ns, proxy).await;
        return Err(FaultError::NoEffect {
            member: m.to_string(),
            why: line,
        });
    }
    active.proxies.push(ProxyHandle {
        member: m.to_string(),
        proxy: Arc::new(Mutex::new(Some(proxy))),
    });
    Ok(line)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Reads the counters (the proof), then removes the rules and the qdisc.
pub async fn heal(
    cluster: &mut Cluster,
    active: &mut Active,
    opts: &SlowNetwork,
) -> Result<(), FaultError> {
    let (loss, kbit, delay) = (opts.loss_percent, opts.bandwidth_kbit, opts.delay);
    let mut errors = Vec::new();
    for m in active.members.clone() {
        let ns = netns::Netns::of(cluster, &m).await?;
        if let Some(p) = loss {
            let listing = ns
                .run("iptables", &["-L", "OUTPUT", "-v", "-x", "-n"])
                .await?;
            let dropped: u64 = listing
                .lines()
                .filter(|l| l.contains("statistic") && l.contains("DROP"))
                .filter_map(|l| {
                    l.split_whitespace()
                        .next()
                        .and_then(|n| n.parse::<u64>().ok())
                })
                .sum();
            active
                .proof
                .push(format!("{m}: {dropped} peer packets dropped"));
            if dropped == 0 {
                errors.push(format!("{m}: no peer packet was dropped"));
            }
            for rule in loss_rules("-D", p) {
                ns.iptables(&rule).await?;
            }
        }
        if delay.is_some() {
            if let Some(h) = active.proxies.iter().find(|h| h.member == m) {
                let taken = h.proxy.lock().ok().and_then(|mut p| p.take());
                if let Some(proxy) = taken {
                    let carried = delay::remove(&ns, proxy).await?;
                    active.proof.push(format!("{m}: {carried}"));
                }
            }
        }
        if kbit.is_some() {
            let stats = tc(&ns, &format!("-s class show dev {DEV} classid 1:20")).await?;
            let (sent, delayed) = class_counters(&stats);
            active.proof.push(format!("{m}: {sent} peer packets went through the shaped class, {delayed} held back or dropped by it"));
            if sent == 0 {
                errors.push(format!("{m}: no peer packet went through the shaped class"));
            }
            tc(&ns, &format!("qdisc del dev {DEV} root")).await?;
        }
    }
    if !errors.is_empty() {
        return Err(FaultError::NoEffect {
            member: active.members.join(","),
            why: errors.join("; "),
        });
    }
    Ok(())
}

/// From `tc -s class show`: (packets sent, packets dropped + overlimits).
fn class_counters(stats: &str) -> (u64, u64) {
    let words: Vec<&str> = stats
        .split(|c: char| c.is_whitespace() || c == ',' || c == '(' || c == ')')
        .filter(|w| !w.is_empty())
        .collect();
    let after = |key: &str| {
        words
            .iter()
            .position(|w| *w == key)
            .and_then(|i| words.get(i + 1))
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let sent = words
        .iter()
        .position(|w| *w == "pkt")
        .and_then(|i| words.get(i - 1))
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);
    (sent, after("dropped") + after("overlimits"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_tc_class_counters() {
        let s = "class htb 1:20 root prio 0 rate 1Mbit ceil 1Mbit burst 1600b cburst 1600b \n Sent 123456 bytes 789 pkt (dropped 3, overlimits 42 requeues 0) \n backlog 0b 0p requeues 0";
        assert_eq!(class_counters(s), (789, 45));
    }

    #[test]
    fn loss_rules_cover_both_directions_of_peer_traffic() {
        let r = loss_rules("-I", 20.0);
        assert_eq!(r.len(), 2);
        assert!(r[0].contains(&"--dport".to_string()) && r[1].contains(&"--sport".to_string()));
        assert!(r[0].contains(&"0.2000".to_string()));
    }
}
