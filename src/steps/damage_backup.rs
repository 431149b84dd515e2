//! `damage-backup`: truncate, flip bytes in, or delete a stored backup, as a bad disk, a cut
//! upload or an overeager retention script would.

use super::{Ctx, StepError};
use crate::events::{EventKind, StepOutcome};
use crate::scenario::Damage;

pub async fn run(
    ctx: &mut Ctx<'_>,
    how: Damage,
    name: Option<&str>,
) -> Result<StepOutcome, StepError> {
    let sched = ctx
        .backups
        .as_ref()
        .ok_or_else(|| StepError::Precondition("no backup schedule".into()))?;
    let own: Vec<String> = sched.records().into_iter().map(|r| r.name).collect();
    let (target, what) = crate::backup::damage(&sched.store, &own, name, how).await?;
    ctx.emit(EventKind::Note(format!("backup {target}: {what}")));
    Ok(StepOutcome::BackupDamaged { name: target, what })
}
