//! slow-network: a member's peer traffic (port 2380, both directions) slowed inside its
//! network namespace. Loss with iptables' statistic match; bandwidth with an htb class that
//! only peer traffic is filtered into; delay and jitter with netem under that class, where the
//! kernel has it (checked before the drill starts). The kernel's own counters prove the effect
//! before healing: dropped packets, or packets the shaper held back.

use super::{container_of, netns, Active, FaultError};
use crate::cluster::Cluster;
use crate::plan::FaultAction;

const DEV: &str = "eth0";

fn loss_rules(p: f64) -> Vec<Vec<String>> {
    let prob = format!("{:.4}", p / 100.0);
    ["--dport", "--sport"]
        .iter()
        .map(|dir| {
            [
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

fn params(
    active: &Active,
) -> (
    Option<f64>,
    Option<u32>,
    Option<std::time::Duration>,
    Option<std::time::Duration>,
) {
    match &active.plan.action {
        FaultAction::SlowNetwork {
            loss_percent,
            bandwidth_kbit,
            delay,
            jitter,
        } => (*loss_percent, *bandwidth_kbit, *delay, *jitter),
        _ => (None, None, None, None),
    }
}

async fn tc(pid: u32, args: &str) -> Result<String, FaultError> {
    let a: Vec<&str> = args.split_whitespace().collect();
    netns::run(pid, "tc", &a).await
}

pub async fn inject(cluster: &mut Cluster, active: &mut Active) -> Result<(), FaultError> {
    let (loss, kbit, delay, jitter) = params(active);
    for m in &active.members {
        let pid = cluster
            .sandbox
            .runtime
            .pid(&container_of(cluster, m)?)
            .await?;
        if let Some(p) = loss {
            for rule in loss_rules(p) {
                let mut args = vec!["-I".to_string()];
                args.extend(rule);
                netns::run(
                    pid,
                    "iptables",
                    &args.iter().map(String::as_str).collect::<Vec<_>>(),
                )
                .await?;
            }
            active
                .proof
                .push(format!("{m}: dropping {p}% of peer packets"));
        }
        if kbit.is_some() || delay.is_some() {
            let rate = kbit
                .map(|k| format!("{k}kbit"))
                .unwrap_or_else(|| "10gbit".into());
            tc(
                pid,
                &format!("qdisc add dev {DEV} root handle 1: htb default 10"),
            )
            .await?;
            tc(
                pid,
                &format!("class add dev {DEV} parent 1: classid 1:10 htb rate 10gbit"),
            )
            .await?;
            tc(
                pid,
                &format!("class add dev {DEV} parent 1: classid 1:20 htb rate {rate} ceil {rate}"),
            )
            .await?;
            if let Some(d) = delay {
                let j = jitter
                    .map(|j| format!(" {}ms", j.as_millis()))
                    .unwrap_or_default();
                tc(
                    pid,
                    &format!(
                        "qdisc add dev {DEV} parent 1:20 handle 20: netem delay {}ms{j}",
                        d.as_millis()
                    ),
                )
                .await?;
            }
            for dir in ["dport", "sport"] {
                tc(pid, &format!("filter add dev {DEV} protocol ip parent 1: prio 1 u32 match ip {dir} 2380 0xffff flowid 1:20")).await?;
            }
            active.proof.push(format!(
                "{m}: peer traffic shaped to {rate}{}",
                delay
                    .map(|d| format!(", delayed {}ms", d.as_millis()))
                    .unwrap_or_default()
            ));
        }
    }
    Ok(())
}

/// Reads the counters (the proof), then removes the rules and the qdisc.
pub async fn heal(cluster: &mut Cluster, active: &mut Active) -> Result<(), FaultError> {
    let (loss, kbit, delay, _) = params(active);
    let mut errors = Vec::new();
    for m in active.members.clone() {
        let pid = cluster
            .sandbox
            .runtime
            .pid(&container_of(cluster, &m)?)
            .await?;
        if let Some(p) = loss {
            let listing = netns::run(pid, "iptables", &["-L", "OUTPUT", "-v", "-x", "-n"]).await?;
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
            for rule in loss_rules(p) {
                let mut args = vec!["-D".to_string()];
                args.extend(rule);
                netns::run(
                    pid,
                    "iptables",
                    &args.iter().map(String::as_str).collect::<Vec<_>>(),
                )
                .await?;
            }
        }
        if kbit.is_some() || delay.is_some() {
            let stats = tc(pid, &format!("-s class show dev {DEV} classid 1:20")).await?;
            let (sent, delayed) = class_counters(&stats);
            active.proof.push(format!("{m}: {sent} peer packets went through the shaped class, {delayed} held back or dropped by it"));
            if sent == 0 {
                errors.push(format!("{m}: no peer packet went through the shaped class"));
            }
            tc(pid, &format!("qdisc del dev {DEV} root")).await?;
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
        let r = loss_rules(20.0);
        assert_eq!(r.len(), 2);
        assert!(r[0].contains(&"--dport".to_string()) && r[1].contains(&"--sport".to_string()));
        assert!(r[0].contains(&"0.2000".to_string()));
    }
}
