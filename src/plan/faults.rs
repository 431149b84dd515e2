//! Fault steps, validated: targets that exist, options that make sense, names that heal.

use crate::scenario::{
    CorruptSpec, CorruptWhat, FaultSpec, Problem, Recover, SlowNetworkSpec, Target,
};
use serde::Serialize;
use serde_saphyr::Spanned;
use std::time::Duration;

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

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case", tag = "fault")]
pub enum FaultAction {
    Kill,
    Stop,
    Pause,
    Partition(Partition),
    SlowNetwork(SlowNetwork),
    Corrupt(Corrupt),
    ReplaceMember,
}

/// `partition`'s options, resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Partition {
    /// Keep the member cut off until the leader's raft log is compacted past it, and prove on
    /// healing that it installed a snapshot from the leader; the cluster's `snapshot-count`.
    pub until_raft_snapshot: Option<u64>,
}

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

/// `corrupt`'s options, resolved: the fault receives exactly these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Corrupt {
    pub what: CorruptWhat,
    pub recover: Recover,
    #[serde(with = "crate::util::millis")]
    pub observe: Duration,
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

impl FaultAction {
    /// What this fault needs, and what it may do to the cluster.
    pub fn needs(&self) -> FaultNeeds {
        let down = FaultNeeds {
            holds_members_down: true,
            ..Default::default()
        };
        match self {
            FaultAction::Kill | FaultAction::Stop | FaultAction::Pause => down,
            FaultAction::Partition(p) => FaultNeeds {
                net: NetTools {
                    netns: true,
                    ss: p.until_raft_snapshot.is_some(),
                    ..Default::default()
                },
                ..Default::default()
            },
            FaultAction::SlowNetwork(s) => FaultNeeds {
                net: NetTools {
                    netns: true,
                    tc: s.bandwidth_kbit.is_some(),
                    delay_proxy: s.delay.is_some(),
                    ss: false,
                },
                ..Default::default()
            },
            FaultAction::Corrupt(c) => FaultNeeds {
                scratch: match c.what {
                    CorruptWhat::Db => Scratch::MemberDb,
                    CorruptWhat::Wal => Scratch::Bytes(WAL_SEGMENT),
                    CorruptWhat::Wipe => Scratch::None,
                },
                may_leave_member_broken: c.recover == Recover::None,
                ..Default::default()
            },
            FaultAction::ReplaceMember => FaultNeeds::default(),
        }
    }

    pub fn verb(&self) -> &'static str {
        match self {
            FaultAction::Kill => "kill",
            FaultAction::Stop => "stop",
            FaultAction::Pause => "pause",
            FaultAction::Partition(_) => "partition",
            FaultAction::SlowNetwork(_) => "slow-network",
            FaultAction::Corrupt(_) => "corrupt",
            FaultAction::ReplaceMember => "replace-member",
        }
    }
}

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

/// Hold: given → that long; absent with a name → open; absent without → healed at once.
fn hold(h: Option<Duration>, named: bool) -> Option<Duration> {
    match (h, named) {
        (Some(h), _) => Some(h),
        (None, true) => None,
        (None, false) => Some(Duration::ZERO),
    }
}

pub fn basic(
    action: FaultAction,
    spec: &FaultSpec,
    members: u32,
    index: usize,
    problems: &mut Vec<Problem>,
) -> FaultPlan {
    let target = target(&spec.target, members, false, problems);
    let partition = matches!(action, FaultAction::Partition(_));
    if let Some(u) = spec.until.as_ref().filter(|_| !partition) {
        problems.push(Problem::at(
            &u.referenced,
            format!("`until` is for `partition` only, not `{}`", action.verb()),
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
    if partition && target == Target::Majority {
        problems.push(Problem::at(
            &spec.target.referenced,
            "expected `minority` for a split: cutting off the majority is the same split, and the fault proves it from the minority's side",
        ));
    }
    if partition && target == Target::All {
        problems.push(Problem::at(
            &spec.target.referenced,
            "expected a partition target that leaves someone to be cut off from: not `all`",
        ));
    }
    if members == 1 && partition {
        problems.push(Problem::at(
            &spec.target.referenced,
            "expected at least 3 members to partition",
        ));
    }
    let default = format!("{}-{}-{index}", action.verb(), target_label(&target));
    FaultPlan {
        name: name(&spec.name, default, problems),
        hold: hold(spec.hold, spec.name.is_some()),
        action,
        target,
    }
}

pub fn slow(
    spec: &SlowNetworkSpec,
    members: u32,
    index: usize,
    problems: &mut Vec<Problem>,
) -> FaultPlan {
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
    let default = format!("slow-network-{}-{index}", target_label(&target));
    FaultPlan {
        name: name(&spec.name, default, problems),
        hold: hold(spec.hold, spec.name.is_some()),
        action,
        target,
    }
}

pub fn corrupt(
    spec: &CorruptSpec,
    members: u32,
    index: usize,
    problems: &mut Vec<Problem>,
) -> FaultPlan {
    let target = target(&spec.target, members, true, problems);
    let recover = spec.recover.unwrap_or(Recover::ReAdd);
    if recover == Recover::ReAdd && members < 3 {
        problems.push(Problem::at(
            &spec.target.referenced,
            "expected 3 or 5 members to re-add a corrupted member (recover: re-add)",
        ));
    }
    let action = FaultAction::Corrupt(Corrupt {
        what: spec.what,
        recover,
        observe: spec.observe.unwrap_or(Duration::from_secs(10)),
    });
    let default = format!("corrupt-{}-{index}", target_label(&target));
    FaultPlan {
        name: default,
        hold: Some(Duration::ZERO),
        action,
        target,
    }
}
