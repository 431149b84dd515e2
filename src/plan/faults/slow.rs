//! `slow-network`: the member's peer traffic (port 2380) loses packets, is shaped to a
//! bandwidth, or is delayed through a proxy, inside its network namespace; held, then healed.

use super::{target, Envelope, FaultAction, FaultCx, FaultKind, FaultNeeds};
use super::{FaultPlan, NetTools};
use crate::scenario::{Problem, SlowNetworkSpec};
use serde::Serialize;
use std::time::Duration;

/// `slow-network`'s options, resolved: the fault receives exactly these.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SlowNetwork {
    pub loss_percent: Option<f64>,
    pub bandwidth_kbit: Option<u32>,
    #[serde(with = "crate::util::opt_millis")]
    pub delay: Option<Duration>,
    #[serde(with = "crate::util::opt_millis")]
    pub jitter: Option<Duration>,
}

impl FaultKind for SlowNetwork {
    type Spec = SlowNetworkSpec;
    const VERB: &'static str = "slow-network";

    fn plan(
        spec: &SlowNetworkSpec,
        cx: &FaultCx<'_>,
        problems: &mut Vec<Problem>,
    ) -> (FaultPlan, Option<Duration>) {
        let members = cx.members;
        let target = target(&spec.target, members, false, problems);
        if let Some(l) = &spec.loss_percent {
            if !(l.value > 0.0 && l.value <= 100.0) {
                problems.push(Problem::at(
                    &l.referenced,
                    "expected a loss-percent above 0 and at most 100",
                ));
            }
        }
        if let Some(b) = &spec.bandwidth_kbit {
            if b.value < 8 {
                problems.push(Problem::at(
                    &b.referenced,
                    "expected a bandwidth-kbit of at least 8",
                ));
            }
        }
        if spec.loss_percent.is_none() && spec.bandwidth_kbit.is_none() && spec.delay.is_none() {
            problems.push(Problem::at(
                &spec.target.referenced,
                "expected at least one of loss-percent, bandwidth-kbit or delay",
            ));
        }
        if members == 1 {
            problems.push(Problem::at(
                &spec.target.referenced,
                "expected at least 3 members: a single member has no peer traffic to slow",
            ));
        }
        if spec
            .delay
            .is_some_and(|d| d.is_zero() || d > Duration::from_secs(5))
        {
            problems.push(Problem::at(
                &spec.target.referenced,
                "expected a delay above 0 and at most 5s",
            ));
        }
        if spec.jitter.is_some() && spec.delay.is_none() {
            problems.push(Problem::at(
                &spec.target.referenced,
                "expected a delay for the jitter to vary",
            ));
        }
        let action = FaultAction::SlowNetwork(SlowNetwork {
            loss_percent: spec.loss_percent.as_ref().map(|l| l.value),
            bandwidth_kbit: spec.bandwidth_kbit.as_ref().map(|b| b.value),
            delay: spec.delay,
            jitter: spec.jitter,
        });
        let envelope = Envelope {
            at: spec.target.referenced,
            name: &spec.name,
            hold: spec.hold,
            timeout: spec.timeout,
        };
        envelope.plan(action, target, cx, problems)
    }

    fn needs(&self) -> FaultNeeds {
        FaultNeeds {
            net: NetTools {
                netns: true,
                tc: self.bandwidth_kbit.is_some(),
                delay_proxy: self.delay.is_some(),
                ss: false,
            },
            ..Default::default()
        }
    }
}
