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
    // A transaction of 128 puts may wait seconds for a commit while a multi-GiB db is written
    // out; the seed's own deadline per transaction is `seed_data::TXN`.
    let client =
        crate::cluster::connect_with(&ctx.cluster.endpoints(), crate::seed_data::TXN).await?;
    let progress = |n: u64| done.store(n, Ordering::Relaxed);
    let load = crate::seed_data::load(&client, &plan, &progress);
    let stats = ctx
        .with_progress("seeding", "keys", plan.keys, &done, load)
        .await?;
    ctx.seeded = true;
    Ok(StepOutcome::Seeded(stats))
}
