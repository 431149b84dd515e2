//! `partition`: members cut off from their peers (iptables in their network namespaces), held,
//! then joined again; with `until: raft-snapshot`, held until the leader has compacted its log
//! past the member.

use super::{spec_plan, spec_target, FaultAction, FaultCx, FaultKind, FaultNeeds, FaultPlan};
use super::NetTools;
use crate::scenario::{FaultSpec, Problem, Target};
use serde::Serialize;
use std::time::Duration;

/// The largest `snapshot-count` a raft-snapshot partition accepts (it writes 2× this, plus
/// 5,000, while the member is cut off).
const MAX_SNAPSHOT_COUNT: u64 = 10_000;

/// `partition`'s options, resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Partition {
    /// Keep the member cut off until the leader's raft log is compacted past it, and prove on
    /// healing that it installed a snapshot from the leader; the cluster's `snapshot-count`.
    pub until_raft_snapshot: Option<u64>,
}

impl FaultKind for Partition {
    type Spec = FaultSpec;
    const VERB: &'static str = "partition";

    fn plan(
        spec: &FaultSpec,
        cx: &FaultCx<'_>,
        problems: &mut Vec<Problem>,
    ) -> (FaultPlan, Option<Duration>) {
        let opts = until(spec, cx, problems);
        let target = spec_target(Self::VERB, spec, cx.members, true, problems);
        if target == Target::Majority {
            problems.push(Problem::at(
                &spec.target.referenced,
                "expected `minority` for a split: cutting off the majority is the same split, and the fault proves it from the minority's side",
            ));
        }
        if target == Target::All {
            problems.push(Problem::at(
                &spec.target.referenced,
                "expected a partition target that leaves someone to be cut off from: not `all`",
            ));
        }
        if cx.members == 1 {
            problems.push(Problem::at(
                &spec.target.referenced,
                "expected at least 3 members to partition",
            ));
        }
        spec_plan(FaultAction::Partition(opts), target, spec, cx, problems)
    }

    fn needs(&self) -> FaultNeeds {
        FaultNeeds {
            net: NetTools {
                netns: true,
                // `until: raft-snapshot` closes the member's peer connections with `ss -K`.
                ss: self.until_raft_snapshot.is_some(),
                ..Default::default()
            },
            ..Default::default()
        }
    }
}

/// `until: raft-snapshot` needs a small `snapshot-count`: etcd keeps 5,000 entries after each
/// snapshot for slow followers, so the harness writes about 5,000 + 2 × snapshot-count entries
/// while the member is cut off.
fn until(spec: &FaultSpec, cx: &FaultCx<'_>, problems: &mut Vec<Problem>) -> Partition {
    let Some(u) = &spec.until else {
        return Partition::default();
    };
    let count = cx
        .scenario
        .cluster
        .etcd
        .as_ref()
        .and_then(|e| e.value.snapshot_count);
    match count {
        Some(c) if (1..=MAX_SNAPSHOT_COUNT).contains(&c) => {}
        _ => problems.push(Problem::at(
            &u.referenced,
            format!("`until: raft-snapshot` needs `cluster.etcd.snapshot-count` between 1 and {MAX_SNAPSHOT_COUNT}: the harness writes 5,000 + 2 × snapshot-count entries while the member is cut off (etcd keeps 5,000 after each snapshot)"),
        )),
    }
    Partition {
        until_raft_snapshot: Some(count.unwrap_or(MAX_SNAPSHOT_COUNT)),
    }
}
