//! `disk-full`: ENOSPC on the target's data directory once `room-bytes` more are written.

use super::{
    disk_recover, target, Envelope, FaultAction, FaultCx, FaultKind, FaultNeeds, FaultPlan,
};
use crate::scenario::{DiskFullSpec, DiskRecover, Problem};
use serde::Serialize;
use std::time::Duration;

/// The most `room-bytes` may give.
const MAX_ROOM: u64 = 1 << 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DiskFull {
    pub room_bytes: u64,
    pub recover: DiskRecover,
}

impl FaultKind for DiskFull {
    type Spec = DiskFullSpec;
    const VERB: &'static str = "disk-full";

    fn plan(
        spec: &DiskFullSpec,
        cx: &FaultCx<'_>,
        problems: &mut Vec<Problem>,
    ) -> (FaultPlan, Option<Duration>) {
        let t = target(&spec.target, cx.members, false, problems);
        let recover = disk_recover(&spec.recover, &t, cx.members, problems);
        let room_bytes = match &spec.room_bytes {
            Some(r) if r.value > MAX_ROOM => {
                problems.push(Problem::at(
                    &r.referenced,
                    format!("expected room-bytes of at most {MAX_ROOM} (1 GiB)"),
                ));
                MAX_ROOM
            }
            Some(r) => r.value,
            None => 0,
        };
        let envelope = Envelope {
            at: spec.target.referenced,
            name: &spec.name,
            hold: spec.hold,
            timeout: spec.timeout,
        };
        envelope.plan(FaultAction::DiskFull(DiskFull {
                room_bytes,
                recover,
            }), t, cx, problems)
    }

    fn needs(&self) -> FaultNeeds {
        FaultNeeds {
            disk_layer: true,
            ..Default::default()
        }
    }
}
