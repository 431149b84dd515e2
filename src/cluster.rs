//! etcd knowledge: how members are named, started, reached and judged healthy.
//! The harness reaches a member only through its client port published on 127.0.0.1.

use crate::plan::{member_names, ClusterPlan};
use crate::record::Health;
use crate::sandbox::{ContainerSpec, Sandbox, SandboxError, CLIENT_PORT, PEER_PORT};
use etcd_client::{Client, ConnectOptions};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where a member keeps its data inside its container (the volume's mount point).
pub const DATA_MOUNT: &str = "/var/lib/etcd";
pub const DATA_DIR: &str = "/var/lib/etcd/data";
/// Deadline of one etcd request made by the harness.
pub const REQUEST: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    #[error("etcd {op} on {target} failed: {source}")]
    Etcd {
        op: &'static str,
        target: String,
        #[source]
        source: etcd_client::Error,
    },
    #[error("etcd {op} on {target}: no answer within {after:?}")]
    Timeout {
        op: &'static str,
        target: String,
        after: Duration,
    },
    #[error("cluster not healthy after {after:?}: {last}")]
    Unhealthy { after: Duration, last: String },
    #[error("{member}: {wanted} not seen within {after:?}; last: {last}")]
    NotReady {
        member: String,
        wanted: String,
        after: Duration,
        last: String,
    },
}

/// One running member.
#[derive(Debug, Clone)]
pub struct Member {
    /// etcd's `--name`, also its network alias: `etcd-1`, `etcd-2`, ...
    pub name: String,
    pub container: String,
    pub volume: String,
    /// The host port its client port is published on, at `address`.
    pub client_port: u16,
    /// Where the engine publishes ports (`Runtime::engine_address`): 127.0.0.1, or a remote
    /// engine's own address.
    pub address: String,
    pub tls: bool,
}

impl Member {
    pub fn endpoint(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}:{}", self.address, self.client_port)
    }
}

/// The cluster as the harness knows it: the plan, the sandbox and the current members.
pub struct Cluster {
    pub sandbox: Arc<Sandbox>,
    pub plan: ClusterPlan,
    /// `--initial-cluster-token`; a restore gets a new one.
    pub token: String,
    /// 0 for the first cluster, +1 per restore: container and volume names carry it.
    pub generation: u32,
    pub members: Vec<Member>,
    /// The run's certificates when the cluster speaks TLS.
    pub tls: Option<Arc<crate::tls::TlsFiles>>,
}

pub fn scheme(tls: bool) -> &'static str {
    if tls {
        "https"
    } else {
        "http"
    }
}

pub fn peer_url(member: &str, tls: bool) -> String {
    format!("{}://{member}:{PEER_PORT}", scheme(tls))
}

pub fn initial_cluster(names: &[String], tls: bool) -> String {
    names
        .iter()
        .map(|m| format!("{m}={}", peer_url(m, tls)))
        .collect::<Vec<_>>()
        .join(",")
}

/// The name suffix of a member's container or volume in a given generation.
pub fn suffix(member: &str, what: &str, generation: u32) -> String {
    match (what, generation) {
        ("", 0) => member.to_string(),
        ("", g) => format!("{member}-r{g}"),
        (w, 0) => format!("{member}-{w}"),
        (w, g) => format!("{member}-{w}-r{g}"),
    }
}

/// etcd's command line for a member (the image's entrypoint is etcd).
pub fn etcd_args(plan: &ClusterPlan, member: &str, token: &str) -> Vec<String> {
    let names = member_names(plan.members);
    let s = scheme(plan.tls);
    let mut args = vec![
        format!("--name={member}"),
        format!("--data-dir={DATA_DIR}"),
        format!("--listen-client-urls={s}://0.0.0.0:{CLIENT_PORT}"),
        format!("--advertise-client-urls={s}://{member}:{CLIENT_PORT}"),
        format!("--listen-peer-urls={s}://0.0.0.0:{PEER_PORT}"),
        format!(
            "--initial-advertise-peer-urls={}",
            peer_url(member, plan.tls)
        ),
        format!("--initial-cluster={}", initial_cluster(&names, plan.tls)),
        format!("--initial-cluster-token={token}"),
        "--initial-cluster-state=new".to_string(),
        format!(
            "--heartbeat-interval={}",
            plan.heartbeat_interval.as_millis()
        ),
        format!("--election-timeout={}", plan.election_timeout.as_millis()),
        "--logger=zap".to_string(),
        "--log-outputs=stderr".to_string(),
    ];
    if let Some(q) = plan.quota_backend_bytes {
        args.push(format!("--quota-backend-bytes={q}"));
    }
    if let Some(p) = plan.pre_vote {
        args.push(format!("--pre-vote={p}"));
    }
    if let Some(c) = plan.snapshot_count {
        args.push(format!("--snapshot-count={c}"));
    }
    if let Some(i) = plan.backend_batch_interval {
        args.push(format!("--backend-batch-interval={}ms", i.as_millis()));
    }
    if let Some(l) = plan.compaction_batch_limit {
        args.push(format!("--experimental-compaction-batch-limit={l}"));
    }
    if plan.unsafe_no_fsync.iter().any(|m| m == member) {
        args.push("--unsafe-no-fsync".to_string());
    }
    if plan.tls {
        let f = |n: &str| format!("{}/{n}", crate::tls::IN_CONTAINER);
        args.extend([
            format!("--cert-file={}", f("server.crt")),
            format!("--key-file={}", f("server.key")),
            format!("--trusted-ca-file={}", f("ca.crt")),
            "--client-cert-auth=true".to_string(),
            format!("--peer-cert-file={}", f("peer.crt")),
            format!("--peer-key-file={}", f("peer.key")),
            format!("--peer-trusted-ca-file={}", f("ca.crt")),
            "--peer-client-cert-auth=true".to_string(),
        ]);
    }
    args
}

/// A client to the given endpoints with the harness's deadlines.
pub async fn connect(endpoints: &[String]) -> Result<Client, ClusterError> {
    connect_with(endpoints, REQUEST).await
}

/// A client whose requests may each take up to `timeout`.
pub async fn connect_with(endpoints: &[String], timeout: Duration) -> Result<Client, ClusterError> {
    let mut options = ConnectOptions::new()
        .with_connect_timeout(Duration::from_secs(2))
        .with_timeout(timeout);
    // An https endpoint of a drill's cluster: present the run's client certificate.
    if let Some(tls) = endpoints
        .iter()
        .filter(|e| e.starts_with("https://"))
        .find_map(|e| crate::tls::lookup(e))
    {
        options = options.with_tls(tls.options());
    }
    Client::connect(endpoints, Some(options))
        .await
        .map_err(|source| ClusterError::Etcd {
            op: "connect",
            target: endpoints.join(","),
            source,
        })
}

/// Runs one etcd call under a deadline.
pub async fn within<T>(
    op: &'static str,
    target: &str,
    after: Duration,
    fut: impl std::future::Future<Output = Result<T, etcd_client::Error>>,
) -> Result<T, ClusterError> {
    match tokio::time::timeout(after, fut).await {
        Err(_) => Err(ClusterError::Timeout {
            op,
            target: target.to_string(),
            after,
        }),
        Ok(Err(source)) => Err(ClusterError::Etcd {
            op,
            target: target.to_string(),
            source,
        }),
        Ok(Ok(v)) => Ok(v),
    }
}

/// Asks `member` for its status every `every` until `accept` takes an answer, or until
/// `deadline` passes: then the error says what was `wanted` and what was last seen. The one loop
/// behind every "wait until this member …".
pub async fn poll_status<T>(
    member: &Member,
    wanted: &str,
    every: Duration,
    deadline: Duration,
    mut accept: impl FnMut(&etcd_client::StatusResponse) -> Result<T, String>,
) -> Result<T, ClusterError> {
    let client = connect(&[member.endpoint()]).await?;
    let start = Instant::now();
    let mut last = String::from("no answer");
    while start.elapsed() < deadline {
        let mut c = client.clone();
        match within(
            "status",
            &member.name,
            Duration::from_millis(500),
            c.status(),
        )
        .await
        {
            Ok(s) => match accept(&s) {
                Ok(v) => return Ok(v),
                Err(seen) => last = seen,
            },
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(every).await;
    }
    Err(ClusterError::NotReady {
        member: member.name.clone(),
        wanted: wanted.to_string(),
        after: deadline,
        last,
    })
}

/// Runs a membership change. With `--strict-reconfig-check` (etcd's default) the leader refuses
/// a change while too few peers have been connected for its 5 s health interval, with "unhealthy
/// cluster"; an operator waits and retries, so this does, until `deadline` runs out.
pub async fn reconfigure<T, F, Fut>(
    op: &'static str,
    target: &str,
    deadline: Duration,
    mut call: F,
) -> Result<T, ClusterError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, etcd_client::Error>>,
{
    let give_up = tokio::time::Instant::now() + deadline;
    loop {
        let left = give_up.saturating_duration_since(tokio::time::Instant::now());
        match within(op, target, left.min(Duration::from_secs(10)), call()).await {
            Err(ClusterError::Etcd { source, .. })
                if source.to_string().contains("unhealthy cluster")
                    && tokio::time::Instant::now() + Duration::from_millis(500) < give_up =>
            {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            other => return other,
        }
    }
}

impl Cluster {
    pub fn new(sandbox: Arc<Sandbox>, plan: ClusterPlan, token: String) -> Self {
        Cluster {
            sandbox,
            plan,
            token,
            generation: 0,
            members: Vec::new(),
            tls: None,
        }
    }

    pub fn names(&self) -> Vec<String> {
        member_names(self.plan.members)
    }

    pub fn volume_name(&self, member: &str, generation: u32) -> String {
        self.sandbox.name(&suffix(member, "data", generation))
    }

    pub fn container_spec(&self, member: &str, volume: &str) -> ContainerSpec {
        let image = self
            .plan
            .member_images
            .get(member)
            .unwrap_or(&self.plan.image);
        let mut spec = ContainerSpec {
            name: self.sandbox.name(&suffix(member, "", self.generation)),
            image: image.clone(),
            entrypoint: None,
            cmd: etcd_args(&self.plan, member, &self.token),
            labels: self.sandbox.labels("member"),
            network: self.sandbox.network.clone(),
            aliases: vec![member.to_string()],
            volumes: vec![(volume.to_string(), DATA_MOUNT.to_string())],
            publish: Some(CLIENT_PORT),
            host_files: Vec::new(),
            cap_add: Vec::new(),
            devices: Vec::new(),
        };
        if let Some(layered) = self.plan.disk_images.get(image) {
            // etcd-drill's supervisor first: the volume under the disk layer, the layer where
            // etcd keeps its data, so etcd sees the same paths.
            use crate::image::disk::BACKING;
            spec.image = layered.clone();
            spec.entrypoint = Some(crate::image::disk::entrypoint(
                DATA_MOUNT,
                "/usr/local/bin/etcd",
            ));
            spec.volumes = vec![(volume.to_string(), BACKING.to_string())];
            spec.cap_add = vec!["SYS_ADMIN".into()];
            spec.devices = vec!["/dev/fuse".into()];
        }
        spec
    }

    /// Creates a fresh volume per member (generation 0) and starts the members.
    pub async fn create(&mut self) -> Result<(), ClusterError> {
        let names = self.names();
        let mut volumes = Vec::new();
        for m in &names {
            let v = self.volume_name(m, self.generation);
            self.sandbox
                .runtime
                .create_volume(&v, &self.sandbox.labels("data"))
                .await?;
            volumes.push(v);
        }
        self.start_members(&volumes).await
    }

    /// Starts every member, in name order, on the given volumes (one per member): the cluster's
    /// members become exactly these.
    pub async fn start_members(&mut self, volumes: &[String]) -> Result<(), ClusterError> {
        self.members.clear();
        let pairs: Vec<(String, String)> = self.names().into_iter().zip(volumes.to_vec()).collect();
        self.start(&pairs).await
    }

    /// Creates and starts the named members on their volumes, in parallel, and learns each
    /// one's published client port. They join `members` (kept in name order), each replacing
    /// any member of the same name.
    pub async fn start(&mut self, members: &[(String, String)]) -> Result<(), ClusterError> {
        let specs: Vec<ContainerSpec> = members
            .iter()
            .map(|(m, v)| self.container_spec(m, v))
            .collect();
        let starts = specs.iter().map(|spec| self.launch(spec));
        let ports = futures_util::future::try_join_all(starts).await?;
        for (((name, volume), spec), client_port) in members.iter().zip(specs).zip(ports) {
            self.members.retain(|m| &m.name != name);
            self.members.push(Member {
                name: name.clone(),
                container: spec.name,
                volume: volume.clone(),
                client_port,
                address: self.sandbox.runtime.engine_address(),
                tls: self.plan.tls,
            });
        }
        let names = self.names();
        self.members
            .sort_by_key(|m| names.iter().position(|n| *n == m.name));
        Ok(())
    }

    /// Creates a member container, gives it the run's certificates (TLS), starts it, and
    /// returns its published client port.
    pub async fn launch(&self, spec: &ContainerSpec) -> Result<u16, ClusterError> {
        let rt = &self.sandbox.runtime;
        rt.create_container(spec).await?;
        if let Some(tls) = &self.tls {
            let tar = tls.tar().map_err(|e| SandboxError::Docker {
                op: "pack the certificates for",
                target: spec.name.clone(),
                source: Box::new(e),
            })?;
            rt.upload(&spec.name, "/", tar).await?;
        }
        rt.start(&spec.name).await?;
        let port = rt.host_port(&spec.name, CLIENT_PORT).await?;
        if let Some(tls) = &self.tls {
            crate::tls::register(port, tls.clone());
        }
        Ok(port)
    }

    /// Re-reads every member's published client port: a restarted container gets a new one.
    /// Returns whether any changed.
    pub async fn refresh_ports(&mut self) -> Result<bool, ClusterError> {
        let mut changed = false;
        for m in &mut self.members {
            let port = self
                .sandbox
                .runtime
                .host_port(&m.container, CLIENT_PORT)
                .await?;
            changed |= port != m.client_port;
            m.client_port = port;
            if let Some(tls) = &self.tls {
                crate::tls::register(port, tls.clone());
            }
        }
        Ok(changed)
    }

    pub fn endpoints(&self) -> Vec<String> {
        self.members.iter().map(Member::endpoint).collect()
    }

    pub async fn client(&self) -> Result<Client, ClusterError> {
        connect(&self.endpoints()).await
    }

    /// One client per member, in member order: for per-member questions (status, HashKV).
    pub async fn member_clients(&self) -> Result<Vec<(String, Client)>, ClusterError> {
        let mut out = Vec::new();
        for m in &self.members {
            out.push((m.name.clone(), connect(&[m.endpoint()]).await?));
        }
        Ok(out)
    }

    /// Removes every member container and its data volume: the whole cluster is gone.
    pub async fn destroy(&mut self) -> Result<(), ClusterError> {
        let rt = &self.sandbox.runtime;
        let removals = self
            .members
            .iter()
            .map(|m| rt.remove_container(&m.container));
        futures_util::future::try_join_all(removals).await?;
        for m in &self.members {
            rt.remove_volume(&m.volume).await?;
        }
        self.members.clear();
        Ok(())
    }
}

/// Waits until every member answers Status, they agree on one leader and a quorum write
/// succeeds. Probes every 100 ms; fails after `deadline` with the last thing that was wrong.
pub async fn wait_healthy(cluster: &Cluster, deadline: Duration) -> Result<Health, ClusterError> {
    wait_healthy_except(cluster, &[], deadline).await
}

/// `wait_healthy` over every member but `excluded` (members a fault still holds down).
pub async fn wait_healthy_except(
    cluster: &Cluster,
    excluded: &[String],
    deadline: Duration,
) -> Result<Health, ClusterError> {
    wait_stable(cluster, excluded, deadline, Duration::ZERO).await
}

/// Healthy, and still healthy on every probe for `settle`: after a partition heals, a member
/// that campaigned alone rejoins with a higher term and forces one more election (etcd 3.5 runs
/// without pre-vote by default), so "healthy once" is not "recovered".
pub async fn wait_stable(
    cluster: &Cluster,
    excluded: &[String],
    deadline: Duration,
    settle: Duration,
) -> Result<Health, ClusterError> {
    let start = Instant::now();
    let mut clients = cluster.member_clients().await?;
    clients.retain(|(name, _)| !excluded.contains(name));
    let endpoints: Vec<String> = cluster
        .members
        .iter()
        .filter(|m| !excluded.contains(&m.name))
        .map(Member::endpoint)
        .collect();
    let all = connect(&endpoints).await?;
    let mut last = String::from("no probe completed");
    let mut stable_since: Option<Instant> = None;
    while start.elapsed() < deadline {
        match probe(&clients, &all).await {
            Ok((leader, versions)) => {
                let since = *stable_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= settle {
                    let took_ms = since.duration_since(start).as_millis() as u64;
                    return Ok(Health {
                        leader,
                        version: distinct_versions(&versions),
                        versions,
                        took_ms,
                    });
                }
            }
            Err(e) => {
                stable_since = None;
                last = e;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(ClusterError::Unhealthy {
        after: deadline,
        last,
    })
}

/// The distinct versions of a cluster, lowest first: `3.5.30`, or `3.4.23 + 3.5.30` when mixed.
fn distinct_versions(versions: &std::collections::BTreeMap<String, String>) -> String {
    let mut v: Vec<&String> = versions.values().collect();
    v.sort_by_key(|s| {
        s.split('.')
            .map(|p| p.parse::<u32>().unwrap_or(0))
            .collect::<Vec<_>>()
    });
    v.dedup();
    v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" + ")
}

/// The leader the members' statuses name, and the version of the member that named it. Each
/// member's header carries its own id, so the same answers name the leader (an id no answering
/// member carries is shown in hex). `None` while no member has a leader. What the probe, the
/// restore's wait and a fault's target all read the leader from.
pub fn leader_in(answers: &[(&str, &etcd_client::StatusResponse)]) -> Option<(String, String)> {
    let (id, version) = answers
        .iter()
        .find(|(_, s)| s.leader() != 0)
        .map(|(_, s)| (s.leader(), s.version().to_string()))?;
    let name = answers
        .iter()
        .find(|(_, s)| s.header().is_some_and(|h| h.member_id() == id))
        .map(|(name, _)| name.to_string())
        .unwrap_or_else(|| format!("{id:x}"));
    Some((name, version))
}

/// One health probe: every member has the same leader and a quorum write succeeds. Returns the
/// leader and each member's version.
async fn probe(
    clients: &[(String, Client)],
    all: &Client,
) -> Result<(String, std::collections::BTreeMap<String, String>), String> {
    let mut leader_ids = std::collections::HashSet::new();
    let mut versions = std::collections::BTreeMap::new();
    let mut answers = Vec::new();
    for (name, client) in clients {
        let mut c = client.clone();
        let status = within("status", name, Duration::from_secs(1), c.status())
            .await
            .map_err(|e| e.to_string())?;
        if status.leader() == 0 {
            return Err(format!("{name} has no leader"));
        }
        leader_ids.insert(status.leader());
        versions.insert(name.clone(), status.version().to_string());
        answers.push((name.as_str(), status));
    }
    if leader_ids.len() != 1 {
        return Err(format!("members disagree on the leader: {leader_ids:?}"));
    }
    let mut c = all.clone();
    within(
        "put",
        "the cluster",
        Duration::from_secs(2),
        c.put("/drill/health", "ok", None),
    )
    .await
    .map_err(|e| e.to_string())?;
    let answers: Vec<(&str, &etcd_client::StatusResponse)> =
        answers.iter().map(|(n, s)| (*n, s)).collect();
    let (leader, _) = leader_in(&answers).unwrap_or_default();
    Ok((leader, versions))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initial_cluster_lists_every_member_by_alias() {
        let names = member_names(3);
        assert_eq!(
            initial_cluster(&names, false),
            "etcd-1=http://etcd-1:2380,etcd-2=http://etcd-2:2380,etcd-3=http://etcd-3:2380"
        );
    }

    #[test]
    fn a_mixed_cluster_names_each_version_once_lowest_first() {
        let v = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(m, v)| (m.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(distinct_versions(&v(&[("etcd-1", "3.5.30")])), "3.5.30");
        assert_eq!(
            distinct_versions(&v(&[
                ("etcd-1", "3.5.30"),
                ("etcd-2", "3.5.30"),
                ("etcd-3", "3.4.23")
            ])),
            "3.4.23 + 3.5.30"
        );
    }

    #[test]
    fn restored_generations_get_new_names() {
        assert_eq!(suffix("etcd-1", "", 0), "etcd-1");
        assert_eq!(suffix("etcd-1", "data", 0), "etcd-1-data");
        assert_eq!(suffix("etcd-1", "data", 2), "etcd-1-data-r2");
        assert_eq!(suffix("etcd-2", "", 1), "etcd-2-r1");
    }
}

#[cfg(test)]
mod reconfigure_tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn refused() -> etcd_client::Error {
        etcd_client::Error::InvalidArgs("etcdserver: unhealthy cluster".into())
    }

    #[tokio::test]
    async fn reconfigure_retries_unhealthy_cluster_until_it_is_accepted() {
        let calls = AtomicU32::new(0);
        let got = reconfigure("member remove", "etcd-1", Duration::from_secs(5), || {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move {
                if n < 2 {
                    Err(refused())
                } else {
                    Ok(n)
                }
            }
        })
        .await;
        assert_eq!(got.unwrap(), 2);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn reconfigure_gives_up_at_its_deadline_and_on_other_errors() {
        let calls = AtomicU32::new(0);
        let started = std::time::Instant::now();
        let got: Result<(), _> =
            reconfigure("member add", "etcd-1", Duration::from_secs(1), || {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Err(refused()) }
            })
            .await;
        assert!(got.unwrap_err().to_string().contains("unhealthy cluster"));
        assert!(started.elapsed() < Duration::from_secs(3));
        assert!(calls.load(Ordering::SeqCst) >= 2);

        let calls = AtomicU32::new(0);
        let got: Result<(), _> =
            reconfigure("member add", "etcd-1", Duration::from_secs(5), || {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Err(etcd_client::Error::InvalidArgs("peer URL exists".into())) }
            })
            .await;
        assert!(got.is_err());
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "other errors are not retried"
        );
    }
}
