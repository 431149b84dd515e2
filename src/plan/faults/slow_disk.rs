//! `slow-disk`: every fsync on the target held `delay ± jitter` by the disk layer.

use super::{target, Envelope, FaultAction, FaultCx, FaultKind, FaultNeeds, FaultPlan};
use crate::scenario::{Problem, SlowDiskSpec};
use serde::Serialize;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SlowDisk {
    #[serde(with = "crate::util::millis")]
    pub delay: Duration,
    #[serde(with = "crate::util::millis")]
    pub jitter: Duration,
}

impl FaultKind for SlowDisk {
    type Spec = SlowDiskSpec;
    const VERB: &'static str = "slow-disk";

    fn plan(
        spec: &SlowDiskSpec,
        cx: &FaultCx<'_>,
        problems: &mut Vec<Problem>,
    ) -> (FaultPlan, Option<Duration>) {
        let t = target(&spec.target, cx.members, false, problems);
        let jitter = spec.jitter.unwrap_or_default();
        if spec.delay < Duration::from_millis(1) || spec.delay > Duration::from_secs(10) {
            problems.push(Problem::at(
                &spec.target.referenced,
                format!(
                    "expected a slow-disk delay from 1ms to 10s, not {}",
                    humantime::format_duration(spec.delay)
                ),
            ));
        } else if jitter > spec.delay {
            problems.push(Problem::at(
                &spec.target.referenced,
                "expected a slow-disk jitter of at most its delay",
            ));
        }
        let action = FaultAction::SlowDisk(SlowDisk {
            delay: spec.delay,
            jitter,
        });
        let envelope = Envelope {
            at: spec.target.referenced,
            name: &spec.name,
            hold: spec.hold,
            timeout: spec.timeout,
        };
        envelope.plan(action, t, cx, problems)
    }

    fn needs(&self) -> FaultNeeds {
        FaultNeeds {
            disk_layer: true,
            ..Default::default()
        }
    }
}
