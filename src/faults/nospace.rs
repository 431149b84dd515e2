//! `nospace`: one key rewritten (its history kept: nothing compacts it) until etcd refuses a
//! write with "database space exceeded" and raises its NOSPACE alarm. Proof: the refusal and
//! the alarm. Healing is the operator's runbook, each phase timed: compact to the current
//! revision, defragment every member one at a time, disarm the alarm, then the first write
//! accepted. Its RTO runs from the alarm to that write.

use super::{compact, defrag, Active, FaultError};
use crate::cluster::{within, Cluster};
use crate::plan::faults::Nospace;
use etcd_client::{AlarmAction, AlarmOptions, AlarmType};
use std::time::{Duration, Instant};

const KEY: &str = "/drill/nospace";
const ALARM: &str = "nospace alarm";

pub async fn inject(cluster: &mut Cluster, active: &mut Active, k: &Nospace) -> Result<(), FaultError> {
    let mut c = cluster.client().await?;
    let value = vec![b'n'; k.value_bytes as usize];
    let start = Instant::now();
    // The quota in writes of this size, with room for etcd's own pages and the seed: a fill
    // that never trips the alarm is a fault that did not take effect.
    let most = 4 * (k.quota_bytes / k.value_bytes + 1) + 100;
    let mut written = 0u64;
    let refused = loop {
        if written >= most {
            return Err(FaultError::NoEffect {
                member: "the cluster".into(),
                why: format!("{written} writes of {} bytes and no NOSPACE alarm", k.value_bytes),
            });
        }
        match within("put", "the cluster", Duration::from_secs(10), c.put(KEY, value.clone(), None)).await {
            Ok(_) => written += 1,
            Err(e) if e.to_string().contains("database space exceeded") => break e.to_string(),
            Err(e) => return Err(e.into()),
        }
    };
    active.marks.push((ALARM, Instant::now()));
    let alarms = alarmed(cluster).await?;
    if alarms.is_empty() {
        return Err(FaultError::NoEffect {
            member: "the cluster".into(),
            why: format!("a write was refused ({refused}) but no member reports a NOSPACE alarm"),
        });
    }
    active.proof.push(format!(
        "{written} rewrites of {} KiB in {} ms filled the database to its quota of {} MB: writes refused (database space exceeded), NOSPACE alarm on {} member(s)",
        k.value_bytes / 1024,
        start.elapsed().as_millis(),
        k.quota_bytes / 1_000_000,
        alarms.len()
    ));
    Ok(())
}

/// The members with a NOSPACE alarm raised, by id.
async fn alarmed(cluster: &Cluster) -> Result<Vec<u64>, FaultError> {
    let mut c = cluster.client().await?;
    let got = within(
        "alarm list",
        "the cluster",
        Duration::from_secs(5),
        c.alarm(AlarmAction::Get, AlarmType::None, None),
    )
    .await?;
    Ok(got
        .alarms()
        .iter()
        .filter(|a| a.alarm() == AlarmType::Nospace)
        .map(|a| a.member_id())
        .collect())
}

pub async fn heal(cluster: &mut Cluster, active: &mut Active, _: &Nospace) -> Result<(), FaultError> {
    let alarm_at = active
        .marks
        .iter()
        .find(|(n, _)| *n == ALARM)
        .map(|(_, t)| *t)
        .unwrap_or_else(Instant::now);
    let timed = |start: Instant| start.elapsed().as_millis();
    // 1. Compact away the history that fills the database.
    let t = Instant::now();
    let compacted = compact::compact(cluster, true).await?;
    let compact_ms = timed(t);
    active.proof.push(format!("runbook 1/4: {compacted}"));
    // 2. Defragment each member, one at a time (a defragmenting member is blocked).
    let t = Instant::now();
    for m in cluster.names() {
        let line = defrag::defragment(cluster, &m).await?;
        active.proof.push(format!("runbook 2/4: {line}"));
    }
    let defrag_ms = timed(t);
    // 3. Disarm the alarm on every member that raised it.
    let t = Instant::now();
    let mut c = cluster.client().await?;
    let members = alarmed(cluster).await?;
    for id in &members {
        let mut options = AlarmOptions::new();
        options.with_member(*id);
        within(
            "alarm disarm",
            "the cluster",
            Duration::from_secs(5),
            c.alarm(AlarmAction::Deactivate, AlarmType::Nospace, Some(options)),
        )
        .await?;
    }
    let disarm_ms = timed(t);
    active.proof.push(format!(
        "runbook 3/4: NOSPACE alarm disarmed on {} member(s) in {disarm_ms} ms",
        members.len()
    ));
    // 4. The first write accepted.
    let t = Instant::now();
    let accepted = super::poll(Duration::from_secs(30), || {
        let mut c = c.clone();
        async move {
            within("put", "the cluster", Duration::from_secs(2), c.put(KEY, "space again", None))
                .await
                .ok()
        }
    })
    .await;
    if accepted.is_none() {
        return Err(FaultError::NotBack {
            member: "the cluster".into(),
            why: "no write accepted within 30s of the runbook".into(),
        });
    }
    let write_ms = timed(t);
    active.proof.push(format!(
        "runbook 4/4: first write accepted; RTO from the alarm {} ms (compact {compact_ms} ms, defragment {defrag_ms} ms, disarm {disarm_ms} ms, first write {write_ms} ms)",
        timed(alarm_at)
    ));
    Ok(())
}
