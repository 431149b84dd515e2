//! Fault steps, validated: targets that exist, options that make sense, names that heal.
//!
//! Each kind is one file here (`FaultKind`: its spec validated into its options, and what it
//! needs) and one in `crate::faults` (what it does). `crate::scenario::fault_kinds!` lists
//! them once; the `FaultAction` enum, its dispatch and the walk's fault steps come from it.

use crate::scenario::{FaultSpec, Problem, Scenario, Step, Target};
use serde::Serialize;
use serde_saphyr::Spanned;
use std::time::Duration;

/// What the walk knows when it plans a fault step.
pub struct FaultCx<'a> {
    pub scenario: &'a Scenario,
    pub members: u32,
    /// The step's place in the drill, counted from 1: default names use it.
    pub index: usize,
}

/// One kind of fault, planned: the scenario's spec validated into the options the fault
/// receives, and what those options need.
pub trait FaultKind: Sized {
    /// The step's options, as the scenario file writes them.
    type Spec;
    /// The step's key, and the fault's name in reports.
    const VERB: &'static str;
    /// Validates `spec` into the fault's plan (problems pushed in the order a reader meets
    /// them), and the step's deadline when the scenario or the kind sets one.
    fn plan(
        spec: &Self::Spec,
        cx: &FaultCx<'_>,
        problems: &mut Vec<Problem>,
    ) -> (FaultPlan, Option<Duration>);
    /// What this fault needs, and what it may do to the cluster.
    fn needs(&self) -> FaultNeeds;
}

/// A kind written as a bare `FaultSpec` (target, hold, name, timeout, nothing of its own): its
/// unit struct, its verb and what it needs, the checks every such kind shares.
macro_rules! plain_kind {
    ($(#[$doc:meta])* $kind:ident, $verb:literal, $needs:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
        pub struct $kind;

        impl super::FaultKind for $kind {
            type Spec = crate::scenario::FaultSpec;
            const VERB: &'static str = $verb;

            fn plan(
                spec: &Self::Spec,
                cx: &super::FaultCx<'_>,
                problems: &mut Vec<crate::scenario::Problem>,
            ) -> (super::FaultPlan, Option<std::time::Duration>) {
                let target = super::spec_target(Self::VERB, spec, cx.members, false, problems);
                super::spec_plan(super::FaultAction::$kind($kind), target, spec, cx, problems)
            }

            fn needs(&self) -> super::FaultNeeds {
                $needs
            }
        }
    };
}

macro_rules! kinds {
    ($($kind:ident $module:ident,)*) => {
        $(mod $module; pub use $module::$kind;)*

        #[derive(Debug, Clone, Serialize)]
        #[serde(rename_all = "kebab-case", tag = "fault")]
        pub enum FaultAction {
            $($kind($kind),)*
        }

        impl FaultAction {
            pub fn verb(&self) -> &'static str {
                match self {
                    $(FaultAction::$kind(_) => <$kind as FaultKind>::VERB,)*
                }
            }

            /// What this fault needs, and what it may do to the cluster.
            pub fn needs(&self) -> FaultNeeds {
                match self {
                    $(FaultAction::$kind(k) => k.needs(),)*
                }
            }
        }

        /// A fault step's verb, plan and deadline; `None` for a step that is not a fault.
        pub(crate) fn plan_step(
            step: &Step,
            cx: &FaultCx<'_>,
            problems: &mut Vec<Problem>,
        ) -> Option<(&'static str, FaultPlan, Option<Duration>)> {
            match step {
                $(Step::$kind(spec) => {
                    let (plan, timeout) = $kind::plan(spec, cx, problems);
                    Some((<$kind as FaultKind>::VERB, plan, timeout))
                })*
                _ => None,
            }
        }
    };
}

crate::scenario::fault_kinds!(kinds);

#[derive(Debug, Clone, Serialize)]
pub struct FaultPlan {
    pub name: String,
    #[serde(flatten)]
    pub action: FaultAction,
    pub target: Target,
    /// `None`: open until a `heal` step names it.
    #[serde(with = "crate::util::opt_millis")]
    pub hold: Option<Duration>,
}

/// What a fault kind asks of the machine and of the drill, and what it may do to the cluster.
/// The preflight, the disk budget and the fault step ask this, never which kind it is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultNeeds {
    pub net: NetTools,
    pub scratch: Scratch,
    /// It holds its members down (kill, stop, pause): on half the members or more, the
    /// survivors must be seen refusing writes.
    pub holds_members_down: bool,
    /// Healing may leave its member broken on purpose (corrupt with `recover: none`): no
    /// member is waited for, nothing is checked after it.
    pub may_leave_member_broken: bool,
    /// It acts through the disk layer under the members' data directories (`faults::disk`):
    /// every member of the drill runs on it, and the engine must give them `/dev/fuse`.
    pub disk_layer: bool,
    /// It fills each member's database to this many bytes (`nospace`): the volumes' budget.
    pub fills_db: Option<u64>,
}

/// What a fault runs inside the members' network namespaces.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetTools {
    /// It enters them at all (iptables, nsenter).
    pub netns: bool,
    /// A tc qdisc (bandwidth).
    pub tc: bool,
    /// `ss -K`, to make etcd re-dial its peers.
    pub ss: bool,
    /// The delay proxy, in etcd-drill's own image when it runs in a helper.
    pub delay_proxy: bool,
}

/// What a fault passes through this machine's temp dir, one file at a time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Scratch {
    #[default]
    None,
    /// A copy of a member's db: as large as the drill's db.
    MemberDb,
    /// A file of at most this many bytes.
    Bytes(u64),
}

/// etcd's WAL segment (etcd preallocates each): the `corrupt: { what: wal }` fault copies the
/// newest one.
pub const WAL_SEGMENT: u64 = 64 << 20;

pub fn target_label(t: &Target) -> String {
    match t {
        Target::Leader => "leader".into(),
        Target::Follower => "follower".into(),
        Target::Random => "random".into(),
        Target::Minority => "minority".into(),
        Target::Majority => "majority".into(),
        Target::All => "all".into(),
        Target::Member(m) => m.clone(),
    }
}

impl FaultPlan {
    pub fn label(&self) -> String {
        format!("{} {}", self.action.verb(), target_label(&self.target))
    }
}

/// Checks a target against the cluster size; `single` demands one member.
fn target(t: &Spanned<Target>, members: u32, single: bool, problems: &mut Vec<Problem>) -> Target {
    let at = &t.referenced;
    match &t.value {
        Target::Member(m) => {
            if let Some(wrong) = crate::plan::unknown_member(m, members) {
                problems.push(Problem::at(at, wrong));
            }
        }
        Target::Follower | Target::Minority if members < 3 => {
            problems.push(Problem::at(
                at,
                "expected a cluster of 3 or 5 members for a follower or minority target",
            ));
        }
        Target::Minority | Target::Majority | Target::All if single => {
            problems.push(Problem::at(
                at,
                "expected a single-member target: leader, follower, random or { member: NAME }",
            ));
        }
        _ => {}
    }
    t.value.clone()
}

fn name(n: &Option<Spanned<String>>, default: String, problems: &mut Vec<Problem>) -> String {
    match n {
        Some(n) if !crate::plan::is_name(n.value.as_str()) => {
            problems.push(Problem::at(
                &n.referenced,
                "expected a fault name of letters, digits, '-', '_' or '.'",
            ));
            n.value.clone()
        }
        Some(n) => n.value.clone(),
        None => default,
    }
}

/// How a member whose disk failed comes back: a replacement needs one member of a cluster of
/// 3 or 5 (the others remove it and add it back).
fn disk_recover(
    recover: &Option<Spanned<crate::scenario::DiskRecover>>,
    target: &Target,
    members: u32,
    problems: &mut Vec<Problem>,
) -> crate::scenario::DiskRecover {
    use crate::scenario::DiskRecover;
    let Some(r) = recover else {
        return DiskRecover::Restart;
    };
    let single = !matches!(target, Target::Minority | Target::Majority | Target::All);
    if r.value == DiskRecover::Replace && (!single || members < 3) {
        problems.push(Problem::at(
            &r.referenced,
            "expected one member of a 3- or 5-member cluster for `recover: replace`",
        ));
    }
    r.value
}

/// Hold: given → that long; absent with a name → open; absent without → healed at once.
fn hold(h: Option<Duration>, named: bool) -> Option<Duration> {
    match (h, named) {
        (Some(h), _) => Some(h),
        (None, true) => None,
        (None, false) => Some(Duration::ZERO),
    }
}

/// The checks every kind written as a `FaultSpec` (kill, stop, pause, partition,
/// replace-member) shares, in the order their problems are pushed: the target, `until` (for a
/// partition only, on a single member), then, for a partition, targets that leave no split.
/// Returns the target.
fn spec_target(
    verb: &str,
    spec: &FaultSpec,
    members: u32,
    partition: bool,
    problems: &mut Vec<Problem>,
) -> Target {
    let target = target(&spec.target, members, false, problems);
    if let Some(u) = spec.until.as_ref().filter(|_| !partition) {
        problems.push(Problem::at(
            &u.referenced,
            format!("`until` is for `partition` only, not `{verb}`"),
        ));
    }
    if let Some(u) = &spec.until {
        if matches!(target, Target::Minority | Target::Majority | Target::All) {
            problems.push(Problem::at(
                &u.referenced,
                "expected a single-member target with `until: raft-snapshot` (a follower, random or { member: NAME })",
            ));
        }
    }
    target
}

/// The plan of a kind written as a `FaultSpec`, once its target and options are checked.
fn spec_plan(
    action: FaultAction,
    target: Target,
    spec: &FaultSpec,
    cx: &FaultCx<'_>,
    problems: &mut Vec<Problem>,
) -> (FaultPlan, Option<Duration>) {
    let envelope = Envelope {
        at: spec.target.referenced,
        name: &spec.name,
        hold: spec.hold,
        timeout: spec.timeout,
    };
    envelope.plan(action, target, cx, problems)
}

/// What every fault step says besides its target and its kind's options; `at` is where its
/// problems point (the step's target, or its name).
struct Envelope<'a> {
    at: serde_saphyr::Location,
    name: &'a Option<Spanned<String>>,
    hold: Option<Duration>,
    timeout: Option<Duration>,
}

/// Where the problems of a fault without a target point: its name, else the cluster's size.
fn untargeted_at(name: &Option<Spanned<String>>, cx: &FaultCx<'_>) -> serde_saphyr::Location {
    name.as_ref()
        .map_or(cx.scenario.cluster.members.referenced, |n| n.referenced)
}

/// The longest `hold`, as for `sleep`.
const MAX_HOLD: Duration = Duration::from_secs(3600);

impl Envelope<'_> {
    fn plan(
        &self,
        action: FaultAction,
        target: Target,
        cx: &FaultCx<'_>,
        problems: &mut Vec<Problem>,
    ) -> (FaultPlan, Option<Duration>) {
        let default = format!("{}-{}-{}", action.verb(), target_label(&target), cx.index);
        if let Some(h) = self.hold.filter(|h| *h > MAX_HOLD) {
            problems.push(Problem::at(
                &self.at,
                format!("expected a hold of at most 1h, not {}h", h.as_secs() / 3600),
            ));
        }
        if let (Some(h), Some(t)) = (self.hold, self.timeout) {
            if t <= h {
                problems.push(Problem::at(
                    &self.at,
                    format!(
                        "expected a timeout longer than the hold ({}): the step could only time out",
                        humantime::format_duration(h)
                    ),
                ));
            }
        }
        let plan = FaultPlan {
            name: name(self.name, default, problems),
            hold: hold(self.hold, self.name.is_some()),
            action,
            target,
        };
        (plan, self.timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A kind without options is still written as its tag alone.
    #[test]
    fn a_plan_names_its_kind_as_before() {
        let json = |a: FaultAction| serde_json::to_value(a).unwrap();
        assert_eq!(
            json(FaultAction::Kill(Kill)),
            serde_json::json!({ "fault": "kill" })
        );
        assert_eq!(
            json(FaultAction::ReplaceMember(ReplaceMember)),
            serde_json::json!({ "fault": "replace-member" })
        );
        assert_eq!(
            json(FaultAction::Partition(Partition {
                until_raft_snapshot: Some(100)
            })),
            serde_json::json!({ "fault": "partition", "until_raft_snapshot": 100 })
        );
        assert_eq!(
            FaultAction::SlowNetwork(SlowNetwork {
                loss_percent: None,
                bandwidth_kbit: None,
                delay: None,
                jitter: None,
            })
            .verb(),
            "slow-network"
        );
    }
}
