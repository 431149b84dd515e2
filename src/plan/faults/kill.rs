//! `kill`: SIGKILL, held, then the member restarted on its data.

use super::{spec_plan, spec_target, FaultAction, FaultCx, FaultKind, FaultNeeds, FaultPlan};
use crate::scenario::{FaultSpec, Problem};
use serde::Serialize;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Kill;

impl FaultKind for Kill {
    type Spec = FaultSpec;
    const VERB: &'static str = "kill";

    fn plan(
        spec: &FaultSpec,
        cx: &FaultCx<'_>,
        problems: &mut Vec<Problem>,
    ) -> (FaultPlan, Option<Duration>) {
        let target = spec_target(Self::VERB, spec, cx.members, false, problems);
        spec_plan(FaultAction::Kill(Kill), target, spec, cx, problems)
    }

    fn needs(&self) -> FaultNeeds {
        FaultNeeds {
            holds_members_down: true,
            ..Default::default()
        }
    }
}
