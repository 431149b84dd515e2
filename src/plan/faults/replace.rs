//! `replace-member`: one member of a 3- or 5-member cluster loses its disk and is replaced
//! (removed, wiped, added back).

use super::{spec_plan, spec_target, FaultAction, FaultCx, FaultKind, FaultNeeds, FaultPlan};
use crate::scenario::{FaultSpec, Problem, Target};
use serde::Serialize;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ReplaceMember;

impl FaultKind for ReplaceMember {
    type Spec = FaultSpec;
    const VERB: &'static str = "replace-member";

    fn plan(
        spec: &FaultSpec,
        cx: &FaultCx<'_>,
        problems: &mut Vec<Problem>,
    ) -> (FaultPlan, Option<Duration>) {
        let single = !matches!(
            spec.target.value,
            Target::Minority | Target::Majority | Target::All
        );
        if !single || cx.members < 3 {
            problems.push(Problem::at(
                &spec.target.referenced,
                "expected one member of a 3- or 5-member cluster to replace",
            ));
        }
        let target = spec_target(Self::VERB, spec, cx.members, false, problems);
        spec_plan(
            FaultAction::ReplaceMember(ReplaceMember),
            target,
            spec,
            cx,
            problems,
        )
    }

    fn needs(&self) -> FaultNeeds {
        FaultNeeds::default()
    }
}
