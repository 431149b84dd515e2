//! Choosing the members a fault hits, apart from the fault itself (as etcd's functional tester
//! keeps target choice apart from the case).

use super::FaultError;
use crate::cluster::{connect, within, Cluster};
use crate::scenario::Target;
use rand::seq::IndexedRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::time::Duration;

/// Member id → name, from each member's own status header.
pub async fn member_ids(cluster: &Cluster) -> std::collections::HashMap<u64, String> {
    let mut ids = std::collections::HashMap::new();
    for m in &cluster.members {
        let Ok(mut c) = connect(&[m.endpoint()]).await else {
            continue;
        };
        if let Ok(s) = within("status", &m.name, Duration::from_millis(500), c.status()).await {
            if let Some(h) = s.header() {
                ids.insert(h.member_id(), m.name.clone());
            }
        }
    }
    ids
}

/// The current leader's member name, asking each member in turn.
pub async fn leader_of(cluster: &Cluster) -> Option<String> {
    let mut answers = Vec::new();
    for m in &cluster.members {
        let Ok(mut c) = connect(&[m.endpoint()]).await else {
            continue;
        };
        if let Ok(s) = within("status", &m.name, Duration::from_millis(500), c.status()).await {
            answers.push((m.name.as_str(), s));
        }
    }
    let answers: Vec<_> = answers.iter().map(|(n, s)| (*n, s)).collect();
    crate::cluster::leader_in(&answers).map(|(name, _)| name)
}

/// Resolves a target to member names. `seed` makes `random` and `follower` repeatable.
/// Minority picks followers only, so the leader stays with the majority; majority includes
/// the leader.
pub async fn resolve(
    cluster: &Cluster,
    target: &Target,
    seed: u64,
) -> Result<Vec<String>, FaultError> {
    let names = cluster.names();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let leader = match target {
        Target::Leader | Target::Follower | Target::Minority | Target::Majority => Some(
            leader_of(cluster)
                .await
                .ok_or_else(|| FaultError::Target("no member reports a leader".into()))?,
        ),
        _ => None,
    };
    let followers: Vec<String> = names
        .iter()
        .filter(|n| Some(*n) != leader.as_ref())
        .cloned()
        .collect();
    let n = names.len();
    Ok(match target {
        Target::Leader => vec![leader.unwrap_or_default()],
        Target::Follower => vec![followers
            .choose(&mut rng)
            .cloned()
            .ok_or_else(|| FaultError::Target("no follower".into()))?],
        Target::Random => vec![names.choose(&mut rng).cloned().unwrap_or_default()],
        Target::Minority => {
            let mut f = followers;
            f.truncate((n - 1) / 2);
            f
        }
        Target::Majority => {
            let mut m = vec![leader.unwrap_or_default()];
            m.extend(followers.into_iter().take(n / 2));
            m
        }
        Target::All => names,
        Target::Member(m) => {
            if !names.contains(m) {
                return Err(FaultError::Target(format!("no member named {m}")));
            }
            vec![m.clone()]
        }
    })
}
