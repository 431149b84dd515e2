//! `compact`: the keyspace compacted to the current revision, under load (cluster-wide).

use super::{untargeted_at, Envelope, FaultAction, FaultCx, FaultKind, FaultNeeds, FaultPlan};
use crate::scenario::{CompactSpec, Problem, Target};
use serde::Serialize;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Compact {
    pub physical: bool,
}

impl FaultKind for Compact {
    type Spec = CompactSpec;
    const VERB: &'static str = "compact";

    fn plan(
        spec: &CompactSpec,
        cx: &FaultCx<'_>,
        problems: &mut Vec<Problem>,
    ) -> (FaultPlan, Option<Duration>) {
        let action = FaultAction::Compact(Compact {
            physical: spec.physical.unwrap_or(true),
        });
        let envelope = Envelope {
            at: untargeted_at(&spec.name, cx),
            name: &spec.name,
            hold: None,
            timeout: spec.timeout,
        };
        envelope.plan(action, Target::All, cx, problems)
    }

    fn needs(&self) -> FaultNeeds {
        FaultNeeds::default()
    }
}
