//! A fault step, in etcd's functional-tester order: wait healthy → inject (with proof) → hold →
//! heal → wait healthy → check (no acknowledged write lost, HashKV equal). A fault without a
//! hold but with a name stays in effect until a `heal` step.

use super::health_sampler::Watcher;
use super::{Ctx, StepError};
use crate::checks;
use crate::cluster::{wait_healthy_except, wait_stable};
use crate::events::StepOutcome;
use crate::faults::{self, Active};
use crate::plan::FaultPlan;
use crate::record::FaultRecord;
use std::time::Duration;

/// A fault in effect, kept between its step and its `heal` step.
pub struct OpenFault {
    active: Active,
    watcher: Watcher,
    record: FaultRecord,
}

impl OpenFault {
    /// Stops watching a fault whose members are about to be destroyed.
    pub fn abandon(self) {
        self.watcher.abort();
    }
}

pub async fn run(
    ctx: &mut Ctx<'_>,
    plan: &FaultPlan,
    index: usize,
) -> Result<StepOutcome, StepError> {
    // Members another fault still holds down are not expected to answer.
    let held: Vec<String> = ctx
        .open_faults
        .values()
        .flat_map(|f| f.active.members.clone())
        .collect();
    wait_healthy_except(&ctx.cluster, &held, Duration::from_secs(30)).await?;
    let leader_before = faults::leader_of(&ctx.cluster).await;
    let seed = ctx
        .plan
        .seed
        .as_ref()
        .map(|s| s.rng_seed)
        .unwrap_or(1)
        .wrapping_mul(1_000_003)
        .wrapping_add(index as u64);
    let members = faults::resolve(&ctx.cluster, &plan.target, seed).await?;
    let injected_ms = ctx.clock.ms();
    let ids = faults::member_ids(&ctx.cluster).await;
    let watcher = Watcher::start(endpoints(ctx), ids, leader_before.clone(), ctx.clock);
    let active = match faults::inject(&mut ctx.cluster, plan, members).await {
        Ok(a) => a,
        Err(e) => {
            watcher.stop().await;
            return Err(e.into());
        }
    };
    let record = FaultRecord {
        name: plan.name.clone(),
        fault: plan.action.verb().into(),
        target: crate::plan::faults::target_label(&plan.target),
        members: active.members.clone(),
        injected_at: crate::util::utc(ctx.clock.wall_at_ms(injected_ms)),
        injected_ms,
        healed_ms: None,
        recovered_ms: None,
        leader_before,
        leader_after: None,
        new_leader_after_ms: None,
        proof: active.proof.clone(),
        reaction: active.reaction.clone(),
        unavailable_ms: None,
        failed_writes: 0,
        lost_acknowledged_writes: None,
        hashkv_equal: None,
        divergence: None,
        health: Vec::new(),
    };
    let open = OpenFault {
        active,
        watcher,
        record,
    };
    match plan.hold {
        None => {
            let snapshot = open.record.clone();
            ctx.open_faults.insert(plan.name.clone(), open);
            Ok(StepOutcome::Fault(snapshot))
        }
        Some(hold) => {
            tokio::time::sleep(hold).await;
            Ok(StepOutcome::Fault(finish(ctx, open).await?))
        }
    }
}

/// The `heal` step: heals a fault left open by an earlier step.
pub async fn heal(ctx: &mut Ctx<'_>, name: &str) -> Result<StepOutcome, StepError> {
    let open = ctx
        .open_faults
        .remove(name)
        .ok_or_else(|| StepError::Precondition(format!("no fault named {name} is in effect")))?;
    Ok(StepOutcome::Fault(finish(ctx, open).await?))
}

fn endpoints(ctx: &Ctx<'_>) -> Vec<(String, String)> {
    ctx.cluster
        .members
        .iter()
        .map(|m| (m.name.clone(), m.endpoint()))
        .collect()
}

async fn finish(ctx: &mut Ctx<'_>, open: OpenFault) -> Result<FaultRecord, StepError> {
    let OpenFault {
        mut active,
        watcher,
        mut record,
    } = open;
    let healed = faults::heal(&mut ctx.cluster, &mut active).await;
    record.healed_ms = Some(ctx.clock.ms());
    let _ = watcher.endpoints.send(endpoints(ctx));
    let left_broken = active.plan.action.needs().may_leave_member_broken;
    let recovered = match (&healed, left_broken) {
        (Ok(()), false) => {
            let settle = ctx.cluster.plan.election_timeout * 3;
            // Members other faults still hold are not expected back yet.
            let held: Vec<String> = ctx
                .open_faults
                .values()
                .flat_map(|f| f.active.members.clone())
                .collect();
            Some(wait_stable(&ctx.cluster, &held, Duration::from_secs(60), settle).await)
        }
        _ => None,
    };
    let seen = watcher.stop().await;
    record.proof = active.proof.clone();
    record.reaction = active.reaction.clone();
    record.health = seen.samples;
    record.leader_after = seen.last_leader;
    record.new_leader_after_ms = seen
        .new_leader
        .map(|(at, _)| at.saturating_sub(record.injected_ms));
    if healed.is_err() {
        ctx.emit(crate::events::EventKind::FaultObserved(Box::new(
            record.clone(),
        )));
    }
    healed?;
    if let Some(r) = recovered {
        r?;
        record.recovered_ms = Some(ctx.clock.ms());
        ctx.client = ctx.cluster.client().await?;
        super::repoint_workload(ctx, None).await?;
        // No compaction of the workload's passes the revisions hashed and read below.
        let _held = super::hold_compaction(ctx).await;
        let hashes = checks::hashkv::all(&ctx.cluster.members).await?;
        record.hashkv_equal = Some(checks::hashkv::equal(&hashes));
        record.divergence = checks::divergence::explain(&ctx.cluster, &hashes).await?;
        if ctx.workload.is_some() {
            record.lost_acknowledged_writes = Some(missing_since_restore(ctx).await?);
        }
    }
    if let Some(w) = &ctx.workload {
        let end = record.recovered_ms.unwrap_or(ctx.clock.ms());
        let u = w.log().unavailable_between(record.injected_ms, end);
        // A writer ran: no window is a measured zero, not a missing figure.
        record.unavailable_ms = u.longest_ms.or(Some(0));
        record.failed_writes = u.failed_writes;
    }
    Ok(record)
}

/// Acknowledged writes missing now, not counting those an earlier restore rolled back (they are
/// that restore's RPO, not this fault's loss).
pub(super) async fn missing_since_restore(ctx: &Ctx<'_>) -> Result<u64, StepError> {
    let Some(w) = &ctx.workload else {
        return Ok(0);
    };
    let acks = w.log().acks;
    let prefix = w.plan().key_prefix.as_bytes();
    let missing = checks::durability::missing(&ctx.client, prefix, &acks).await?;
    let since = ctx.restore.as_ref().map(|r| r.rto_from_ms).unwrap_or(0);
    Ok(checks::durability::lost_since(&acks, &missing, since))
}
