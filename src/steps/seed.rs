//! `seed`: load the deterministic data set, reporting progress as events.

use super::{Ctx, StepError};
use crate::events::StepOutcome;
use std::sync::atomic::{AtomicU64, Ordering};

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
    let stats = ctx
        .with_progress("seeding", "keys", plan.keys, &done, load)
        .await?;
    ctx.seeded = true;
    Ok(StepOutcome::Seeded(stats))
}
