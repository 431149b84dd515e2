//! `disaster`: every member destroyed with its data volume. The writer is left pointing at the
//! dead endpoints, so it sees what a real client would.

use super::{Ctx, StepError};
use crate::events::StepOutcome;
use crate::record::DisasterRecord;

pub async fn run(ctx: &mut Ctx<'_>) -> Result<StepOutcome, StepError> {
    let started_ms = ctx.clock.ms();
    let containers = ctx
        .cluster
        .members
        .iter()
        .map(|m| m.container.clone())
        .collect();
    let volumes = ctx
        .cluster
        .members
        .iter()
        .map(|m| m.volume.clone())
        .collect();
    // Faults still in effect go with the cluster.
    for (_, open) in ctx.open_faults.drain() {
        open.abandon();
    }
    ctx.cluster.destroy().await?;
    let ended_ms = ctx.clock.ms();
    let record = DisasterRecord {
        started_ms,
        ended_ms,
        ended_at: crate::util::utc(ctx.clock.wall_at_ms(ended_ms)),
        destroyed_containers: containers,
        destroyed_volumes: volumes,
    };
    ctx.disaster = Some(record.clone());
    Ok(StepOutcome::Disaster(record))
}
