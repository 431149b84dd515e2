//! `pause`: the member's processes frozen (the cgroup freezer), held, then thawed.

use super::{spec_plan, spec_target, FaultAction, FaultCx, FaultKind, FaultNeeds, FaultPlan};
use crate::scenario::{FaultSpec, Problem};
use serde::Serialize;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Pause;

impl FaultKind for Pause {
    type Spec = FaultSpec;
    const VERB: &'static str = "pause";

    fn plan(
        spec: &FaultSpec,
        cx: &FaultCx<'_>,
        problems: &mut Vec<Problem>,
    ) -> (FaultPlan, Option<Duration>) {
        let target = spec_target(Self::VERB, spec, cx.members, false, problems);
        spec_plan(FaultAction::Pause(Pause), target, spec, cx, problems)
    }

    fn needs(&self) -> FaultNeeds {
        FaultNeeds {
            holds_members_down: true,
            ..Default::default()
        }
    }
}
