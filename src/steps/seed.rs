//! `seed`: load the deterministic data set, reporting progress as events.

use super::{Ctx, StepError};
use crate::events::{EventKind, StepOutcome};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub async fn run(ctx: &mut Ctx<'_>) -> Result<StepOutcome, StepError> {
    let plan = ctx
        .plan
        .seed
        .clone()
        .ok_or_else(|| StepError::Precondition("no seed section".into()))?;
    let done = AtomicU64::new(0);
    let client = ctx.client.clone();
    let progress = |n: u64| done.store(n, Ordering::Relaxed);
    let load = crate::seed_data::load(&client, &plan, &progress);
    tokio::pin!(load);
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    let stats = loop {
        tokio::select! {
            r = &mut load => break r?,
            _ = tick.tick() => ctx.emit(EventKind::SeedProgress { done: done.load(Ordering::Relaxed), total: plan.keys }),
        }
    };
    ctx.emit(EventKind::SeedProgress {
        done: plan.keys,
        total: plan.keys,
    });
    ctx.seeded = true;
    Ok(StepOutcome::Seeded(stats))
}
