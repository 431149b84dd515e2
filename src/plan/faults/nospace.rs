//! `nospace`: one key rewritten until the database reaches `quota-backend-bytes`, so etcd
//! raises its NOSPACE alarm and refuses writes; healed by the operator's runbook.

use super::{untargeted_at, Envelope, FaultAction, FaultCx, FaultKind, FaultNeeds, FaultPlan};
use crate::scenario::{NospaceSpec, Problem, Target};
use serde::Serialize;
use std::time::Duration;

/// The largest quota a drill fills: beyond it the fill alone takes minutes.
const MAX_QUOTA: u64 = 1 << 30;
const DEFAULT_VALUE: u64 = 512 << 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Nospace {
    /// The quota it fills the database to.
    pub quota_bytes: u64,
    pub value_bytes: u64,
}

impl FaultKind for Nospace {
    type Spec = NospaceSpec;
    const VERB: &'static str = "nospace";

    fn plan(
        spec: &NospaceSpec,
        cx: &FaultCx<'_>,
        problems: &mut Vec<Problem>,
    ) -> (FaultPlan, Option<Duration>) {
        let quota = cx
            .scenario
            .cluster
            .etcd
            .as_ref()
            .and_then(|e| e.value.quota_backend_bytes.as_ref())
            .map(|q| q.value);
        let quota_bytes = match quota {
            Some(q) if q <= MAX_QUOTA => q,
            _ => {
                problems.push(Problem::at(
                    &untargeted_at(&spec.name, cx),
                    format!("expected cluster.etcd.quota-backend-bytes of at most {MAX_QUOTA} (1 GiB) for `nospace`: the database is filled to it"),
                ));
                MAX_QUOTA
            }
        };
        let value_bytes = match &spec.value_bytes {
            Some(v) if !(1024..=1 << 20).contains(&v.value) => {
                problems.push(Problem::at(
                    &v.referenced,
                    "expected value-bytes from 1024 to 1048576 (etcd's request limit is 1.5 MiB)",
                ));
                DEFAULT_VALUE
            }
            Some(v) => v.value,
            None => DEFAULT_VALUE,
        };
        let action = FaultAction::Nospace(Nospace {
            quota_bytes,
            value_bytes,
        });
        let envelope = Envelope {
            at: untargeted_at(&spec.name, cx),
            name: &spec.name,
            hold: Some(spec.hold.unwrap_or_default()),
            timeout: spec.timeout,
        };
        envelope.plan(action, Target::All, cx, problems)
    }

    fn needs(&self) -> FaultNeeds {
        FaultNeeds {
            fills_db: Some(self.quota_bytes),
            ..Default::default()
        }
    }
}
