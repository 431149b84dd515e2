//! `damage-backup`: truncate, flip bytes in, or delete a stored backup, as a bad disk, a cut
//! upload or an overeager retention script would.

use super::{Ctx, StepError};
use crate::events::{EventKind, StepOutcome};
use crate::scenario::{Damage, DamageWhich};

pub async fn run(
    ctx: &mut Ctx<'_>,
    how: Damage,
    target: (Option<&str>, DamageWhich),
) -> Result<StepOutcome, StepError> {
    let sched = ctx
        .backups
        .as_ref()
        .ok_or_else(|| StepError::Precondition("no backup schedule".into()))?;
    let own = sched.records();
    let (target, what) = crate::backup::damage(&sched.store, &own, target, how).await?;
    if let Ok(mut l) = sched.log.lock() {
        l.damaged.push((target.clone(), what.clone()));
    }
    ctx.emit(EventKind::Note(format!("backup {target}: {what}")));
    Ok(StepOutcome::Done(format!("{target}: {what}")))
}
