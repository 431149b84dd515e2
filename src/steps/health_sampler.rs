//! Watches every member while a fault is in effect: health every 250 ms, and the moment a new
//! leader appears (polled every 50 ms).

use crate::cluster::{connect, within};
use crate::events::Clock;
use crate::record::HealthSample;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

#[derive(Default, Clone)]
pub struct Seen {
    pub samples: Vec<HealthSample>,
    /// (ms since run start, leader name) of the first leader other than the one before.
    pub new_leader: Option<(u64, String)>,
    pub last_leader: Option<String>,
}

pub struct Watcher {
    pub endpoints: watch::Sender<Vec<(String, String)>>,
    seen: Arc<Mutex<Seen>>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Watcher {
    /// `ids`: member id → name, learned before the fault, so a leader id reported by the
    /// survivors after a member died still resolves to a name.
    pub fn start(
        endpoints: Vec<(String, String)>,
        ids: HashMap<u64, String>,
        leader_before: Option<String>,
        clock: Clock,
    ) -> Watcher {
        let (tx, rx) = watch::channel(endpoints);
        let seen = Arc::new(Mutex::new(Seen::default()));
        let stop = CancellationToken::new();
        let task = tokio::spawn(watch_loop(
            rx,
            ids,
            leader_before,
            clock,
            seen.clone(),
            stop.clone(),
        ));
        Watcher {
            endpoints: tx,
            seen,
            stop,
            task,
        }
    }

    pub fn abort(self) {
        self.stop.cancel();
        self.task.abort();
    }

    pub async fn stop(self) -> Seen {
        self.stop.cancel();
        let _ = self.task.await;
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

async fn watch_loop(
    rx: watch::Receiver<Vec<(String, String)>>,
    mut names_by_id: HashMap<u64, String>,
    leader_before: Option<String>,
    clock: Clock,
    seen: Arc<Mutex<Seen>>,
    stop: CancellationToken,
) {
    let mut tick = 0u64;
    let mut clients = HashMap::new();
    loop {
        let endpoints = rx.borrow().clone();
        let mut probes = Vec::new();
        for (name, ep) in &endpoints {
            let client = match clients.get(ep) {
                Some(c) => Some(c),
                None => match connect(std::slice::from_ref(ep)).await {
                    Ok(c) => {
                        clients.insert(ep.clone(), c);
                        clients.get(ep)
                    }
                    Err(_) => None,
                },
            };
            if let Some(c) = client {
                let mut c = c.clone();
                let name = name.clone();
                probes.push(async move {
                    (
                        name.clone(),
                        within("status", &name, Duration::from_millis(200), c.status())
                            .await
                            .ok(),
                    )
                });
            }
        }
        let results = tokio::select! {
            _ = stop.cancelled() => return,
            r = futures_util::future::join_all(probes) => r,
        };
        let at_ms = clock.ms();
        record(
            &seen,
            &mut names_by_id,
            &leader_before,
            results,
            at_ms,
            tick % 5 == 0,
        );
        tick += 1;
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
    }
}

type Probe = (String, Option<etcd_client::StatusResponse>);

fn record(
    seen: &Mutex<Seen>,
    names_by_id: &mut HashMap<u64, String>,
    leader_before: &Option<String>,
    results: Vec<Probe>,
    at_ms: u64,
    sample: bool,
) {
    let Ok(mut s) = seen.lock() else { return };
    for (name, status) in &results {
        if let Some(h) = status.as_ref().and_then(|st| st.header()) {
            names_by_id.insert(h.member_id(), name.clone());
        }
    }
    for (name, status) in results {
        let leader = status.as_ref().filter(|st| st.leader() != 0).map(|st| {
            names_by_id
                .get(&st.leader())
                .cloned()
                .unwrap_or_else(|| format!("{:x}", st.leader()))
        });
        if let Some(l) = &leader {
            if Some(l) != leader_before.as_ref() && s.new_leader.is_none() {
                s.new_leader = Some((at_ms, l.clone()));
            }
            s.last_leader = Some(l.clone());
        }
        if sample {
            s.samples.push(HealthSample {
                at_ms,
                member: name,
                up: status.is_some(),
                leader,
                raft_term: status.as_ref().map(|st| st.raft_term()),
            });
        }
    }
}
