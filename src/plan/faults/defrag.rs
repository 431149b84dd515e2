//! `defrag`: the targets' databases defragmented one at a time, under load (etcd's robustness
//! tests run it as a fault): how long each member was blocked.

use super::{spec_plan, spec_target, FaultAction, FaultCx, FaultKind, FaultNeeds, FaultPlan};
use crate::scenario::{FaultSpec, Problem};
use serde::Serialize;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Defrag;

impl FaultKind for Defrag {
    type Spec = FaultSpec;
    const VERB: &'static str = "defrag";

    fn plan(
        spec: &FaultSpec,
        cx: &FaultCx<'_>,
        problems: &mut Vec<Problem>,
    ) -> (FaultPlan, Option<Duration>) {
        let target = spec_target(Self::VERB, spec, cx.members, false, problems);
        spec_plan(FaultAction::Defrag(Defrag), target, spec, cx, problems)
    }

    fn needs(&self) -> FaultNeeds {
        FaultNeeds::default()
    }
}
