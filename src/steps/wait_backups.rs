//! `wait-backups`: wait until the backup schedule has stored `fulls` full backups, and its
//! newest chain `deltas` incremental ones. A drill that falls back to the previous backup, or
//! replays a chain, needs them before its disaster: a sleep guesses how long a loaded machine
//! takes to cut them, this step knows.

use super::{Ctx, StepError};
use crate::events::{EventKind, StepOutcome};
use crate::record::BackupRecord;
use std::time::{Duration, Instant};

/// Full backups stored, and deltas after the newest of them.
fn stored(taken: &[BackupRecord]) -> (u32, u32) {
    let fulls = taken.iter().filter(|b| b.delta.is_none()).count() as u32;
    let deltas = taken.iter().rev().take_while(|b| b.delta.is_some()).count() as u32;
    (fulls, deltas)
}

pub async fn run(ctx: &mut Ctx<'_>, fulls: u32, deltas: u32) -> Result<StepOutcome, StepError> {
    let mut said = Instant::now();
    loop {
        let Some(schedule) = &ctx.backups else {
            return Err(StepError::Precondition(
                "wait-backups waits for the backup schedule, and none runs".into(),
            ));
        };
        let (f, d) = stored(&schedule.records());
        if f >= fulls && d >= deltas {
            return Ok(StepOutcome::Done(format!(
                "{f} full backups stored, {d} deltas in the newest chain"
            )));
        }
        if said.elapsed() >= Duration::from_millis(500) {
            said = Instant::now();
            ctx.emit(EventKind::Progress {
                phase: "backups stored",
                unit: "backups",
                done: u64::from(f.min(fulls) + d.min(deltas)),
                total: u64::from(fulls + deltas),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backup(delta: bool) -> BackupRecord {
        BackupRecord {
            name: String::new(),
            size_bytes: 0,
            sha256: String::new(),
            ciphertext_sha256: None,
            revision: 0,
            taken_at: String::new(),
            taken_at_ms: 0,
            keyspace_sha256: String::new(),
            keyspace_keys: 0,
            delta: delta.then(|| crate::record::DeltaOf {
                base: String::new(),
                first_revision: 0,
                events: 0,
            }),
        }
    }

    #[test]
    fn deltas_count_only_after_the_newest_full() {
        let taken: Vec<_> = [false, true, true, false, true]
            .into_iter()
            .map(backup)
            .collect();
        assert_eq!(stored(&taken), (2, 1));
        assert_eq!(stored(&taken[..3]), (1, 2));
        assert_eq!(stored(&[]), (0, 0));
    }
}
