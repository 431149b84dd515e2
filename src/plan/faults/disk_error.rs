//! `disk-error`: the target's fsyncs, or its writes, fail with EIO (the disk layer).

use super::{
    disk_recover, target, Envelope, FaultAction, FaultCx, FaultKind, FaultNeeds, FaultPlan,
};
use crate::scenario::{DiskCall, DiskErrorSpec, DiskRecover, Problem};
use serde::Serialize;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DiskError {
    pub on: DiskCall,
    pub recover: DiskRecover,
}

impl FaultKind for DiskError {
    type Spec = DiskErrorSpec;
    const VERB: &'static str = "disk-error";

    fn plan(
        spec: &DiskErrorSpec,
        cx: &FaultCx<'_>,
        problems: &mut Vec<Problem>,
    ) -> (FaultPlan, Option<Duration>) {
        let t = target(&spec.target, cx.members, false, problems);
        let recover = disk_recover(&spec.recover, &t, cx.members, problems);
        let envelope = Envelope {
            at: spec.target.referenced,
            name: &spec.name,
            hold: spec.hold,
            timeout: spec.timeout,
        };
        envelope.plan(FaultAction::DiskError(DiskError {
                on: spec.on,
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
