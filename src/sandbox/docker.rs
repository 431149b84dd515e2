//! The real runtime: the Docker Engine API through bollard.

use super::{BoxError, ContainerSpec, ContainerState, Resources, Runtime, SandboxError};
use bollard::errors::Error as BollardError;
use bollard::models::{
    ContainerCreateBody, ContainerStateStatusEnum, EndpointSettings, HostConfig,
    NetworkCreateRequest, NetworkingConfig, PortBinding, VolumeCreateRequest,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, KillContainerOptionsBuilder, ListContainersOptionsBuilder,
    ListNetworksOptionsBuilder, ListVolumesOptionsBuilder, LogsOptionsBuilder,
    RemoveContainerOptionsBuilder, RemoveVolumeOptionsBuilder, UploadToContainerOptionsBuilder,
};
use bollard::Docker;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

/// Deadline of one ordinary Docker call.
const CALL: Duration = Duration::from_secs(60);
/// A container wait is bounded by the caller's step deadline, not by this.
const WAIT: Duration = Duration::from_secs(3600);

pub struct DockerRuntime {
    docker: Docker,
    host: String,
    root_dir: Option<String>,
    memory: Option<u64>,
}

impl DockerRuntime {
    /// Connects as the docker CLI would (DOCKER_HOST or the local socket) and negotiates the
    /// API version: Debian's engine speaks 1.41, older than bollard's default.
    pub async fn connect() -> Result<Self, SandboxError> {
        let host =
            std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
        let connect_err = |e: BollardError| SandboxError::Connect {
            hint: format!("{host}; is the daemon running and may this user use it?"),
            source: Box::new(e),
        };
        let docker = Docker::connect_with_defaults()
            .map_err(connect_err)?
            .with_timeout(WAIT);
        let docker = tokio::time::timeout(Duration::from_secs(10), docker.negotiate_version())
            .await
            .map_err(|_| SandboxError::Timeout {
                op: "negotiate the API version with",
                target: host.clone(),
                after: Duration::from_secs(10),
            })?
            .map_err(connect_err)?;
        tokio::time::timeout(Duration::from_secs(10), docker.ping())
            .await
            .map_err(|_| SandboxError::Timeout {
                op: "ping",
                target: host.clone(),
                after: Duration::from_secs(10),
            })?
            .map_err(connect_err)?;
        // Where the engine keeps volumes (the disk check reads its free space).
        // ... and how much memory it has (the memory check of a large seed).
        let (root_dir, memory) =
            match tokio::time::timeout(Duration::from_secs(10), docker.info()).await {
                Ok(Ok(info)) => (
                    info.docker_root_dir,
                    info.mem_total.and_then(|m| u64::try_from(m).ok()),
                ),
                _ => (None, None),
            };
        Ok(DockerRuntime {
            docker,
            host,
            root_dir,
            memory,
        })
    }

    pub(super) fn client(&self) -> &Docker {
        &self.docker
    }
}

/// Runs one Docker call under a deadline, naming the operation and its target on failure.
pub(crate) async fn call<T>(
    op: &'static str,
    target: &str,
    after: Duration,
    fut: impl Future<Output = Result<T, BollardError>>,
) -> Result<T, SandboxError> {
    match tokio::time::timeout(after, fut).await {
        Err(_) => Err(SandboxError::Timeout {
            op,
            target: target.to_string(),
            after,
        }),
        Ok(Err(e)) => Err(SandboxError::Docker {
            op,
            target: target.to_string(),
            source: Box::new(e) as BoxError,
        }),
        Ok(Ok(v)) => Ok(v),
    }
}

fn is_not_found(e: &SandboxError) -> bool {
    matches!(e, SandboxError::Docker { source, .. }
        if matches!(source.downcast_ref::<BollardError>(),
            Some(BollardError::DockerResponseServerError { status_code: 404, .. })))
}

fn label_filter(label: &str, value: &str) -> HashMap<String, Vec<String>> {
    HashMap::from([("label".to_string(), vec![format!("{label}={value}")])])
}

#[async_trait::async_trait]
impl Runtime for DockerRuntime {
    /// `MemTotal`, wherever the engine runs.
    fn memory_bytes(&self) -> Option<u64> {
        self.memory.filter(|m| *m > 0)
    }

    /// `DockerRootDir`, when the engine is on this machine.
    fn local_root_dir(&self) -> Option<&str> {
        self.root_dir
            .as_deref()
            .filter(|_| self.host.starts_with("unix://"))
    }

    async fn image_id(&self, image: &str) -> Result<Option<String>, SandboxError> {
        self.inspect_image_id(image).await
    }

    async fn pull_image(&self, image: &str) -> Result<(), SandboxError> {
        self.pull(image).await
    }

    async fn tag_image(&self, image: &str, also: &str) -> Result<(), SandboxError> {
        self.tag(image, also).await
    }

    async fn build_image(
        &self,
        image: &str,
        context: Vec<u8>,
        labels: &HashMap<&str, &str>,
        on_line: &mut (dyn for<'l> FnMut(&'l str) + Send),
    ) -> Result<Option<String>, SandboxError> {
        self.build(image, context, labels, on_line).await
    }

    fn describe(&self) -> String {
        self.host.clone()
    }

    fn engine_address(&self) -> String {
        engine_ip().to_string()
    }

    async fn create_network(
        &self,
        name: &str,
        labels: &HashMap<String, String>,
    ) -> Result<(), SandboxError> {
        let req = NetworkCreateRequest {
            name: name.to_string(),
            driver: Some("bridge".into()),
            labels: Some(labels.clone()),
            ..Default::default()
        };
        call(
            "create network",
            name,
            CALL,
            self.docker.create_network(req),
        )
        .await
        .map(|_| ())
    }

    async fn create_volume(
        &self,
        name: &str,
        labels: &HashMap<String, String>,
    ) -> Result<(), SandboxError> {
        let req = VolumeCreateRequest {
            name: Some(name.to_string()),
            labels: Some(labels.clone()),
            ..Default::default()
        };
        call("create volume", name, CALL, self.docker.create_volume(req))
            .await
            .map(|_| ())
    }

    async fn create_container(&self, spec: &ContainerSpec) -> Result<(), SandboxError> {
        let port_bindings = spec.publish.map(|p| {
            HashMap::from([(
                format!("{p}/tcp"),
                Some(vec![PortBinding {
                    host_ip: Some(engine_ip().into()),
                    host_port: Some(String::new()),
                }]),
            )])
        });
        let host_config = HostConfig {
            binds: Some(
                spec.volumes
                    .iter()
                    .map(|(v, path)| format!("{v}:{path}"))
                    .chain(
                        spec.host_files
                            .iter()
                            .map(|(file, path)| format!("{}:{path}:ro", file.display())),
                    )
                    .collect(),
            ),
            network_mode: Some(spec.network.clone()),
            port_bindings,
            cap_add: (!spec.cap_add.is_empty()).then(|| spec.cap_add.clone()),
            devices: (!spec.devices.is_empty()).then(|| {
                spec.devices
                    .iter()
                    .map(|d| bollard::models::DeviceMapping {
                        path_on_host: Some(d.clone()),
                        path_in_container: Some(d.clone()),
                        cgroup_permissions: Some("rwm".into()),
                    })
                    .collect()
            }),
            ..Default::default()
        };
        // A container that joins another's network namespace has no endpoint of its own.
        let joins = spec.network.starts_with("container:");
        let endpoint = EndpointSettings {
            aliases: Some(spec.aliases.clone()),
            ..Default::default()
        };
        let body = ContainerCreateBody {
            image: Some(spec.image.clone()),
            entrypoint: spec.entrypoint.clone(),
            cmd: Some(spec.cmd.clone()),
            labels: Some(spec.labels.clone()),
            exposed_ports: spec.publish.map(|p| vec![format!("{p}/tcp")]),
            host_config: Some(host_config),
            networking_config: (!joins).then(|| NetworkingConfig {
                endpoints_config: Some(HashMap::from([(spec.network.clone(), endpoint)])),
            }),
            ..Default::default()
        };
        let options = CreateContainerOptionsBuilder::default()
            .name(&spec.name)
            .build();
        call(
            "create container",
            &spec.name,
            CALL,
            self.docker.create_container(Some(options), body),
        )
        .await
        .map(|_| ())
    }

    async fn upload(&self, container: &str, path: &str, tar: Vec<u8>) -> Result<(), SandboxError> {
        let options = UploadToContainerOptionsBuilder::default()
            .path(path)
            .build();
        let body = bollard::body_full(tar.into());
        call(
            "upload files to container",
            container,
            CALL,
            self.docker
                .upload_to_container(container, Some(options), body),
        )
        .await
    }

    async fn upload_file(
        &self,
        container: &str,
        from: &std::path::Path,
        to: &str,
        mode: u32,
    ) -> Result<(), SandboxError> {
        let failed = |e: std::io::Error| SandboxError::Docker {
            op: "read the file to upload to",
            target: container.to_string(),
            source: Box::new(e),
        };
        // Extracted at the root, so the directories on the way are created.
        let name = to.trim_start_matches('/');
        let file = tokio::fs::File::open(from).await.map_err(failed)?;
        let len = file.metadata().await.map_err(failed)?.len();
        let options = UploadToContainerOptionsBuilder::default().path("/").build();
        let body = bollard::body_try_stream(tar_stream(file, name, len, mode));
        // As long as a file of this size takes to stream over a slow link (2 MB/s); the step's
        // own deadline bounds it too.
        let deadline = CALL + Duration::from_secs(len / 2_000_000);
        call(
            "upload a file to container",
            container,
            deadline,
            self.docker
                .upload_to_container(container, Some(options), body),
        )
        .await
    }

    fn shares_files(&self) -> bool {
        // ETCD_DRILL_SNAPSHOT_DELIVERY=stream copies files as a remote engine needs (tests).
        let streamed = std::env::var("ETCD_DRILL_SNAPSHOT_DELIVERY").is_ok_and(|v| v == "stream");
        // A local socket is not enough: a harness in a container has the socket but its own
        // files; where the engine's process is visible, both see one filesystem.
        self.host.starts_with("unix://") && !streamed && engine_process_visible()
    }

    async fn start(&self, container: &str) -> Result<(), SandboxError> {
        call(
            "start container",
            container,
            CALL,
            self.docker.start_container(container, None),
        )
        .await
    }

    async fn wait(&self, container: &str) -> Result<i64, SandboxError> {
        let mut stream = self.docker.wait_container(container, None);
        let first = tokio::time::timeout(WAIT, stream.next())
            .await
            .map_err(|_| SandboxError::Timeout {
                op: "wait for container",
                target: container.into(),
                after: WAIT,
            })?;
        let fail = |source: BoxError| SandboxError::Docker {
            op: "wait for container",
            target: container.into(),
            source,
        };
        match first {
            Some(Ok(resp)) => Ok(resp.status_code),
            Some(Err(BollardError::DockerContainerWaitError { code, .. })) => Ok(code),
            Some(Err(e)) => Err(fail(Box::new(e))),
            None => Err(fail("the engine closed the wait stream".into())),
        }
    }

    async fn logs(&self, container: &str) -> Result<(String, String), SandboxError> {
        let options = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .build();
        let collect = async {
            let mut out = String::new();
            let mut err = String::new();
            let mut stream = self.docker.logs(container, Some(options));
            while let Some(item) = stream.next().await {
                match item? {
                    bollard::container::LogOutput::StdErr { message } => {
                        err.push_str(&String::from_utf8_lossy(&message))
                    }
                    other => out.push_str(&String::from_utf8_lossy(&other.into_bytes())),
                }
            }
            Ok::<_, BollardError>((out, err))
        };
        call("read logs of container", container, CALL, collect).await
    }

    async fn kill(&self, container: &str, signal: &str) -> Result<(), SandboxError> {
        let options = KillContainerOptionsBuilder::default()
            .signal(signal)
            .build();
        call(
            "kill container",
            container,
            CALL,
            self.docker.kill_container(container, Some(options)),
        )
        .await
    }

    async fn state(&self, container: &str) -> Result<ContainerState, SandboxError> {
        let info = call(
            "inspect container",
            container,
            CALL,
            self.docker.inspect_container(container, None),
        )
        .await?;
        let state = info.state.unwrap_or_default();
        Ok(match state.status {
            Some(ContainerStateStatusEnum::RUNNING) => ContainerState::Running,
            Some(ContainerStateStatusEnum::PAUSED) => ContainerState::Paused,
            Some(ContainerStateStatusEnum::EXITED) | Some(ContainerStateStatusEnum::DEAD) => {
                ContainerState::Exited(state.exit_code.unwrap_or(-1))
            }
            other => ContainerState::Other(format!("{other:?}")),
        })
    }

    async fn host_port(&self, container: &str, port: u16) -> Result<u16, SandboxError> {
        let info = call(
            "inspect container",
            container,
            CALL,
            self.docker.inspect_container(container, None),
        )
        .await?;
        let key = format!("{port}/tcp");
        info.network_settings
            .and_then(|n| n.ports)
            .and_then(|mut p| p.remove(&key))
            .flatten()
            .and_then(|bindings| {
                bindings
                    .into_iter()
                    .find(|b| b.host_ip.as_deref() == Some(engine_ip()))
            })
            .and_then(|b| b.host_port)
            .and_then(|p| p.parse().ok())
            .ok_or(SandboxError::NoHostPort {
                container: container.to_string(),
                port,
            })
    }

    async fn pause(&self, container: &str) -> Result<(), SandboxError> {
        call(
            "pause container",
            container,
            CALL,
            self.docker.pause_container(container),
        )
        .await
    }

    async fn unpause(&self, container: &str) -> Result<(), SandboxError> {
        call(
            "unpause container",
            container,
            CALL,
            self.docker.unpause_container(container),
        )
        .await
    }

    async fn pid(&self, container: &str) -> Result<u32, SandboxError> {
        let info = call(
            "inspect container",
            container,
            CALL,
            self.docker.inspect_container(container, None),
        )
        .await?;
        match info.state.and_then(|s| s.pid) {
            Some(pid) if pid > 0 => Ok(pid as u32),
            _ => Err(SandboxError::Docker {
                op: "find the process of container",
                target: container.into(),
                source: "it is not running".into(),
            }),
        }
    }

    async fn ip(&self, container: &str, network: &str) -> Result<String, SandboxError> {
        let info = call(
            "inspect container",
            container,
            CALL,
            self.docker.inspect_container(container, None),
        )
        .await?;
        info.network_settings
            .and_then(|n| n.networks)
            .and_then(|mut n| n.remove(network))
            .and_then(|e| e.ip_address)
            .filter(|ip| !ip.is_empty())
            .ok_or_else(|| SandboxError::Docker {
                op: "find the address of container",
                target: container.into(),
                source: format!("it has no address on network {network}").into(),
            })
    }

    async fn download(&self, container: &str, path: &str) -> Result<Vec<u8>, SandboxError> {
        let options = bollard::query_parameters::DownloadFromContainerOptionsBuilder::default()
            .path(path)
            .build();
        let collect = async {
            let mut out = Vec::new();
            let mut stream = self
                .docker
                .download_from_container(container, Some(options));
            while let Some(chunk) = stream.next().await {
                out.extend_from_slice(&chunk?);
            }
            Ok::<_, BollardError>(out)
        };
        call(
            "download files from container",
            &format!("{container}:{path}"),
            CALL,
            collect,
        )
        .await
    }

    fn download_stream(&self, container: &str, path: &str) -> super::ByteStream {
        let options = bollard::query_parameters::DownloadFromContainerOptionsBuilder::default()
            .path(path)
            .build();
        let target = format!("{container}:{path}");
        self.docker
            .download_from_container(container, Some(options))
            .map(move |chunk| {
                chunk.map_err(|e| SandboxError::Docker {
                    op: "download files from container",
                    target: target.clone(),
                    source: Box::new(e),
                })
            })
            .boxed()
    }

    async fn log_tail(&self, container: &str, tail: usize) -> Result<String, SandboxError> {
        let options = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .tail(&tail.to_string())
            .build();
        let collect = async {
            let mut out = String::new();
            let mut stream = self.docker.logs(container, Some(options));
            while let Some(item) = stream.next().await {
                out.push_str(&String::from_utf8_lossy(&item?.into_bytes()));
            }
            Ok::<_, BollardError>(out)
        };
        call("read logs of container", container, CALL, collect).await
    }

    async fn remove_container(&self, container: &str) -> Result<(), SandboxError> {
        let options = RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(true)
            .build();
        match call(
            "remove container",
            container,
            CALL,
            self.docker.remove_container(container, Some(options)),
        )
        .await
        {
            Err(e) if is_not_found(&e) => Ok(()),
            other => other,
        }
    }

    async fn remove_volume(&self, name: &str) -> Result<(), SandboxError> {
        let options = RemoveVolumeOptionsBuilder::default().force(true).build();
        match call(
            "remove volume",
            name,
            CALL,
            self.docker.remove_volume(name, Some(options)),
        )
        .await
        {
            Err(e) if is_not_found(&e) => Ok(()),
            other => other,
        }
    }

    async fn remove_network(&self, name: &str) -> Result<(), SandboxError> {
        match call(
            "remove network",
            name,
            CALL,
            self.docker.remove_network(name),
        )
        .await
        {
            Err(e) if is_not_found(&e) => Ok(()),
            other => other,
        }
    }

    async fn list_labelled(&self, label: &str, value: &str) -> Result<Resources, SandboxError> {
        let filters = label_filter(label, value);
        let target = format!("{label}={value}");
        let containers = call(
            "list containers labelled",
            &target,
            CALL,
            self.docker.list_containers(Some(
                ListContainersOptionsBuilder::default()
                    .all(true)
                    .filters(&filters)
                    .build(),
            )),
        )
        .await?;
        let networks = call(
            "list networks labelled",
            &target,
            CALL,
            self.docker.list_networks(Some(
                ListNetworksOptionsBuilder::default()
                    .filters(&filters)
                    .build(),
            )),
        )
        .await?;
        let volumes = call(
            "list volumes labelled",
            &target,
            CALL,
            self.docker.list_volumes(Some(
                ListVolumesOptionsBuilder::default()
                    .filters(&filters)
                    .build(),
            )),
        )
        .await?;
        Ok(Resources {
            containers: containers.into_iter().filter_map(|c| c.id).collect(),
            networks: networks.into_iter().filter_map(|n| n.name).collect(),
            volumes: volumes
                .volumes
                .unwrap_or_default()
                .into_iter()
                .map(|v| v.name)
                .collect(),
        })
    }
}

/// A one-file tar archive, streamed: the header, the file in chunks as it is read, the padding
/// to a 512-byte block and the two empty blocks that end an archive.
fn tar_stream(
    file: tokio::fs::File,
    name: &str,
    len: u64,
    mode: u32,
) -> impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send + 'static {
    use futures_util::stream::{self, StreamExt};
    let mut header = tar::Header::new_gnu();
    let named = header.set_path(name);
    header.set_size(len);
    header.set_mode(mode);
    header.set_mtime(0);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    let head =
        stream::once(
            async move { named.map(|()| bytes::Bytes::copy_from_slice(header.as_bytes())) },
        );
    // Exactly `len` bytes, as the header says, even if the file changes meanwhile.
    let body = tokio_util::io::ReaderStream::with_capacity(
        tokio::io::AsyncReadExt::take(file, len),
        1 << 20,
    );
    let pad = (512 - (len % 512) as usize) % 512;
    let tail = stream::once(async move { Ok(bytes::Bytes::from(vec![0u8; pad + 1024])) });
    head.chain(body).chain(tail)
}

/// Whether the Docker engine's own process is visible here: then this process shares the
/// engine's PID namespace (and, in practice, its filesystem), so the members' process ids the
/// engine reports lead to their network namespaces and a path here is a path there. Not so in a
/// container with only the Docker socket, or with a remote engine.
pub fn engine_process_visible() -> bool {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return false;
    };
    dir.filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .any(|e| {
            std::fs::read_to_string(e.path().join("comm"))
                .is_ok_and(|c| matches!(c.trim(), "dockerd" | "containerd"))
        })
}

/// The address members' client ports are published on and reached at: 127.0.0.1 for a local
/// engine (or one on a loopback TCP port); for a remote engine (`DOCKER_HOST=tcp://H:P` or
/// `ssh://[user@]H[:P]`), H's address, resolved once, so ports are published on that engine's
/// own interface and nowhere else.
pub fn engine_ip() -> &'static str {
    static IP: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    IP.get_or_init(|| {
        let host = std::env::var("DOCKER_HOST").unwrap_or_default();
        engine_ip_of(&host).unwrap_or_else(|| "127.0.0.1".into())
    })
}

/// The engine's IP address from a `DOCKER_HOST` value; `None` for a local socket or a loopback
/// address (then 127.0.0.1 serves).
fn engine_ip_of(docker_host: &str) -> Option<String> {
    let rest = docker_host
        .strip_prefix("tcp://")
        .or_else(|| docker_host.strip_prefix("ssh://"))?;
    let authority = rest.split('/').next().unwrap_or(rest);
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None => authority.split(':').next().unwrap_or(authority),
    };
    let ip = match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ip,
        Err(_) => std::net::ToSocketAddrs::to_socket_addrs(&(host, 0))
            .ok()?
            .map(|a| a.ip())
            .find(|ip| ip.is_ipv4())?,
    };
    (!ip.is_loopback()).then(|| ip.to_string())
}

#[cfg(test)]
mod engine_address_tests {
    use super::engine_ip_of;

    #[test]
    fn a_remote_engine_is_reached_at_its_own_address_and_a_local_one_at_loopback() {
        assert_eq!(engine_ip_of("unix:///var/run/docker.sock"), None);
        assert_eq!(engine_ip_of(""), None);
        assert_eq!(engine_ip_of("tcp://127.0.0.1:2375"), None);
        assert_eq!(engine_ip_of("tcp://localhost:2375"), None);
        assert_eq!(engine_ip_of("tcp://10.1.2.3:2376"), Some("10.1.2.3".into()));
        assert_eq!(engine_ip_of("ssh://ops@10.1.2.4"), Some("10.1.2.4".into()));
        assert_eq!(
            engine_ip_of("ssh://ops@10.1.2.4:2222/x"),
            Some("10.1.2.4".into())
        );
    }
}
