//! The fault library: each kind in its own file (`inject` and `heal`, with its options from
//! `plan::faults`), dispatched by the `match` that `crate::scenario::fault_kinds!` writes.
//! A fault proves it took effect (the killed container exited, the partitioned member cannot
//! reach a leader, a peer round trip really got slower, the corrupted file's checksum
//! changed); when it cannot prove it, the step fails: a fault that silently did nothing is the
//! worst failure of a chaos tool.

pub mod delay;
pub mod disk;
pub mod netns;
mod target;

macro_rules! effects {
    ($($kind:ident $module:ident,)*) => {
        $(mod $module;)*

        /// The kind's own injection (and proof).
        async fn inject_kind(
            cluster: &mut Cluster,
            active: &mut Active,
            action: &FaultAction,
        ) -> Result<(), FaultError> {
            match action {
                $(FaultAction::$kind(k) => $module::inject(cluster, active, k).await,)*
            }
        }

        /// The kind's own healing.
        async fn heal_kind(
            cluster: &mut Cluster,
            active: &mut Active,
            action: &FaultAction,
        ) -> Result<(), FaultError> {
            match action {
                $(FaultAction::$kind(k) => $module::heal(cluster, active, k).await,)*
            }
        }
    };
}

crate::scenario::fault_kinds!(effects);

pub use target::{leader_of, member_ids, resolve};

use crate::cluster::{Cluster, ClusterError};
use crate::plan::{FaultAction, FaultPlan};
use crate::sandbox::SandboxError;

#[derive(Debug, thiserror::Error)]
pub enum FaultError {
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error("`{line}` failed: {error}")]
    Command { line: String, error: String },
    #[error("the fault did not take effect on {member}: {why}")]
    NoEffect { member: String, why: String },
    #[error("cannot choose a target: {0}")]
    Target(String),
    #[error("{member} did not come back after the fault: {why}")]
    NotBack { member: String, why: String },
    #[error("cannot corrupt {member}: {why}")]
    Corrupt { member: String, why: String },
}

/// A fault in effect: what to undo when healing.
#[derive(Debug, Clone)]
pub struct Active {
    pub plan: FaultPlan,
    pub members: Vec<String>,
    /// Evidence that the fault took effect, one line each.
    pub proof: Vec<String>,
    /// What etcd did (corruption), if anything worth telling.
    pub reaction: Option<String>,
    /// Delay proxies in the members' network namespaces (slow-network with a delay).
    pub proxies: Vec<slow::ProxyHandle>,
    /// What each member's disk layer and etcd's own figures said before a disk fault.
    pub disk_before: Vec<disk::Before>,
    /// Moments the fault noted for its healing to time from (`nospace`: the alarm).
    pub marks: Vec<(&'static str, std::time::Instant)>,
}

/// Injects the fault on `members` and proves it took effect.
pub async fn inject(
    cluster: &mut Cluster,
    plan: &FaultPlan,
    members: Vec<String>,
) -> Result<Active, FaultError> {
    let mut active = Active {
        plan: plan.clone(),
        members,
        proof: Vec::new(),
        reaction: None,
        proxies: Vec::new(),
        disk_before: Vec::new(),
        marks: Vec::new(),
    };
    inject_kind(cluster, &mut active, &plan.action).await?;
    if plan.action.needs().holds_members_down && active.members.len() * 2 >= cluster.members.len() {
        prove_quorum_lost(cluster, &mut active).await?;
    }
    Ok(active)
}

/// With a majority down, the survivors must refuse writes: the cluster is seen unavailable.
async fn prove_quorum_lost(cluster: &Cluster, active: &mut Active) -> Result<(), FaultError> {
    use crate::cluster::{connect, within};
    let survivors: Vec<String> = cluster
        .members
        .iter()
        .filter(|m| !active.members.contains(&m.name))
        .map(|m| m.endpoint())
        .collect();
    if survivors.is_empty() {
        active
            .proof
            .push("every member is down: the cluster is unavailable".into());
        return Ok(());
    }
    let mut c = connect(&survivors).await?;
    match within(
        "put",
        "the survivors",
        std::time::Duration::from_secs(3),
        c.put("/drill/health", "quorum?", None),
    )
    .await
    {
        Err(e) => {
            active.proof.push(format!(
                "quorum lost: a write through the {} survivor(s) fails ({e})",
                survivors.len()
            ));
            Ok(())
        }
        Ok(_) => Err(FaultError::NoEffect {
            member: active.members.join(","),
            why: "the survivors still accept writes".into(),
        }),
    }
}

/// Undoes the fault. Proof lines gathered while healing are added to `active.proof`.
pub async fn heal(cluster: &mut Cluster, active: &mut Active) -> Result<(), FaultError> {
    let action = active.plan.action.clone();
    heal_kind(cluster, active, &action).await
}

/// The container of a member by name.
pub fn container_of(cluster: &Cluster, member: &str) -> Result<String, FaultError> {
    cluster
        .members
        .iter()
        .find(|m| m.name == member)
        .map(|m| m.container.clone())
        .ok_or_else(|| FaultError::Target(format!("no member named {member}")))
}

/// The member's container, when it is running: a fault on a member that is already down would
/// prove nothing, so the step fails instead (`what` says what could not be done).
pub async fn running_container(
    cluster: &Cluster,
    member: &str,
    what: &str,
) -> Result<String, FaultError> {
    let c = container_of(cluster, member)?;
    match cluster.sandbox.runtime.state(&c).await? {
        crate::sandbox::ContainerState::Running => Ok(c),
        state => Err(FaultError::NoEffect {
            member: member.to_string(),
            why: format!("it is not running ({state:?}), so {what}"),
        }),
    }
}

/// Polls `check` every 50 ms until it returns `Some`, or gives up after `limit`.
pub async fn poll<T, F, Fut>(limit: std::time::Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = std::time::Instant::now();
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if start.elapsed() >= limit {
            return None;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
