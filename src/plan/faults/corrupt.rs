//! `corrupt`: a member's bbolt db or newest WAL segment garbled, or its data dir wiped; etcd's
//! reaction observed; the member then removed and re-added (or left as it is).

use super::{target, target_label, FaultAction, FaultCx, FaultKind, FaultNeeds, FaultPlan};
use super::{Scratch, WAL_SEGMENT};
use crate::scenario::{CorruptSpec, CorruptWhat, Problem, Recover};
use serde::Serialize;
use std::time::Duration;

/// `corrupt`'s options, resolved: the fault receives exactly these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Corrupt {
    pub what: CorruptWhat,
    pub recover: Recover,
    #[serde(with = "crate::util::millis")]
    pub observe: Duration,
}

impl FaultKind for Corrupt {
    type Spec = CorruptSpec;
    const VERB: &'static str = "corrupt";

    /// Default deadline: the observation window + 3 min to recover.
    fn plan(
        spec: &CorruptSpec,
        cx: &FaultCx<'_>,
        problems: &mut Vec<Problem>,
    ) -> (FaultPlan, Option<Duration>) {
        let target = target(&spec.target, cx.members, true, problems);
        let recover = spec.recover.unwrap_or(Recover::ReAdd);
        if recover == Recover::ReAdd && cx.members < 3 {
            problems.push(Problem::at(
                &spec.target.referenced,
                "expected 3 or 5 members to re-add a corrupted member (recover: re-add)",
            ));
        }
        let observe = spec.observe.unwrap_or(Duration::from_secs(10));
        let action = FaultAction::Corrupt(Corrupt {
            what: spec.what,
            recover,
            observe,
        });
        let plan = FaultPlan {
            name: format!("corrupt-{}-{}", target_label(&target), cx.index),
            hold: Some(Duration::ZERO),
            action,
            target,
        };
        let timeout = spec
            .timeout
            .unwrap_or(observe.saturating_add(Duration::from_secs(180)));
        (plan, Some(timeout))
    }

    fn needs(&self) -> FaultNeeds {
        FaultNeeds {
            scratch: match self.what {
                CorruptWhat::Db => Scratch::MemberDb,
                CorruptWhat::Wal => Scratch::Bytes(WAL_SEGMENT),
                CorruptWhat::Wipe => Scratch::None,
            },
            may_leave_member_broken: self.recover == Recover::None,
            ..Default::default()
        }
    }
}
