//! `wait-writes`: wait until the workload has `count` writes acknowledged at revisions above
//! the cluster's revision when the step starts, and its watcher has been delivered them. Placed
//! after a snapshot, they are writes a restore from it must lose: the drill makes the RPO it
//! measures happen, instead of hoping a write lands in the milliseconds before the disaster.

use super::{Ctx, StepError};
use crate::cluster::ClusterError;
use crate::events::{EventKind, StepOutcome};
use etcd_client::GetOptions;
use std::time::{Duration, Instant};

pub async fn run(ctx: &mut Ctx<'_>, count: u64) -> Result<StepOutcome, StepError> {
    let since_ms = ctx.clock.ms();
    // A linearizable read: every write acknowledged after it is at a revision above this one.
    let above = ctx
        .client
        .clone()
        .get("/", Some(GetOptions::new().with_count_only()))
        .await
        .map_err(|source| ClusterError::Etcd {
            op: "get",
            target: "the cluster".into(),
            source,
        })?
        .header()
        .map(|h| h.revision())
        .unwrap_or(0);
    let mut said = Instant::now();
    loop {
        let Some(w) = &ctx.workload else {
            return Err(StepError::Precondition(
                "wait-writes counts the workload's writes, and no workload runs".into(),
            ));
        };
        let (n, highest) = w.writes_above(since_ms, above);
        if n >= count && w.watched_revision() >= highest {
            return Ok(StepOutcome::Done(format!(
                "{n} writes acknowledged above revision {above}, the last at {highest}, and watched"
            )));
        }
        if said.elapsed() >= Duration::from_millis(200) {
            said = Instant::now();
            ctx.emit(EventKind::Progress {
                phase: "acknowledged writes",
                unit: "writes",
                done: n.min(count),
                total: count,
            });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
