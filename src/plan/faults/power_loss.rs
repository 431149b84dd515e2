//! `power-loss`: the target loses every write it had not fsynced, held down, then restarted.

use super::{spec_plan, spec_target, FaultAction, FaultCx, FaultKind, FaultNeeds, FaultPlan};
use crate::scenario::{FaultSpec, Problem};
use serde::Serialize;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PowerLoss;

impl FaultKind for PowerLoss {
    type Spec = FaultSpec;
    const VERB: &'static str = "power-loss";

    fn plan(
        spec: &FaultSpec,
        cx: &FaultCx<'_>,
        problems: &mut Vec<Problem>,
    ) -> (FaultPlan, Option<Duration>) {
        let target = spec_target(Self::VERB, spec, cx.members, false, problems);
        spec_plan(FaultAction::PowerLoss(PowerLoss), target, spec, cx, problems)
    }

    fn needs(&self) -> FaultNeeds {
        FaultNeeds {
            holds_members_down: true,
            disk_layer: true,
            ..Default::default()
        }
    }
}
