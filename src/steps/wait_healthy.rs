//! `wait-healthy`: every member answers, one leader, a quorum write succeeds.

use super::{Ctx, StepError};
use crate::events::StepOutcome;
use std::time::Duration;

pub async fn run(ctx: &mut Ctx<'_>, timeout: Duration) -> Result<StepOutcome, StepError> {
    let health = crate::cluster::wait_healthy(&ctx.cluster, timeout).await?;
    Ok(StepOutcome::Healthy(health))
}
