//! Commands run inside a member's network namespace, by one of two ways (`NetVia`): from this
//! host with `nsenter -t PID -n CMD` (needs root, the host's PID namespace and a local engine),
//! or in a short-lived helper container that joins the member's namespace
//! (`--network container:<member>`, `NET_ADMIN`) from the image `image::net_tools` builds from
//! Debian's iptables and iproute2: that works wherever the engine runs, the harness in a
//! container or the engine remote. The host way is used when it is available (it is quicker);
//! `ETCD_DRILL_NET_FAULTS=host|helper` forces one. `preflight` decides before a drill starts.

use super::{container_of, FaultError};
use crate::cluster::Cluster;
use crate::sandbox::{ContainerSpec, Delay, NetVia, Sandbox};
use std::sync::Arc;
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(10);

/// A helper container is created, started and removed for each batch of commands.
const HELPER_DEADLINE: Duration = Duration::from_secs(30);

/// One member's network namespace, and the way in.
pub struct Netns {
    pub member: String,
    way: Entry,
}

/// How one member's namespace is entered, by the way the run chose (`NetVia`).
enum Entry {
    Host(u32),
    Helper {
        container: String,
        image: String,
        harness: Option<String>,
        sandbox: Arc<Sandbox>,
    },
}

impl Netns {
    /// The namespace of `member`, reached the way the run decided.
    pub async fn of(cluster: &Cluster, member: &str) -> Result<Netns, FaultError> {
        let container = container_of(cluster, member)?;
        let way = match &cluster.sandbox.net_via {
            NetVia::Host => Entry::Host(cluster.sandbox.runtime.pid(&container).await?),
            NetVia::Helper(h) => Entry::Helper {
                container,
                image: h.image.clone(),
                harness: h.harness.clone(),
                sandbox: cluster.sandbox.clone(),
            },
        };
        Ok(Netns {
            member: member.to_string(),
            way,
        })
    }

    /// The member's process id on this host, when the namespace is entered from here (the
    /// delay proxy runs in the harness and needs it).
    pub fn host_pid(&self) -> Option<u32> {
        match self.way {
            Entry::Host(pid) => Some(pid),
            Entry::Helper { .. } => None,
        }
    }

    /// Runs `cmd args…` in the namespace; returns its stdout.
    pub async fn run(&self, cmd: &str, args: &[&str]) -> Result<String, FaultError> {
        let mut line = vec![cmd.to_string()];
        line.extend(args.iter().map(|a| a.to_string()));
        Ok(self.batch(&[line]).await?.pop().unwrap_or_default())
    }

    /// Runs `iptables args…` in the namespace.
    pub async fn iptables(&self, args: &[String]) -> Result<String, FaultError> {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        self.run("iptables", &a).await
    }

    /// Runs each command in order (all in one helper container), stopping at the first that
    /// fails; returns each one's output.
    pub async fn batch(&self, commands: &[Vec<String>]) -> Result<Vec<String>, FaultError> {
        match &self.way {
            Entry::Host(pid) => {
                let mut out = Vec::new();
                for c in commands {
                    let args: Vec<&str> = c[1..].iter().map(String::as_str).collect();
                    out.push(nsenter(*pid, &c[0], &args).await?);
                }
                Ok(out)
            }
            Entry::Helper {
                container,
                image,
                sandbox,
                ..
            } => helper(sandbox, image, container, &self.member, commands).await,
        }
    }

    /// etcd-drill itself in a helper container joined to the namespace (`NET_ADMIN`), with
    /// `args`: the harness image, the sandbox, and the spec to run. Only on the helper way, and
    /// only when the run built the harness image.
    fn harness_spec(
        &self,
        role: &str,
        args: &[String],
    ) -> Result<(&Sandbox, ContainerSpec), FaultError> {
        let Entry::Helper {
            container,
            harness: Some(harness),
            sandbox,
            ..
        } = &self.way
        else {
            return Err(FaultError::Target(format!(
                "{role} in {}'s network namespace needs etcd-drill's own image in a helper container, and this run has none",
                self.member
            )));
        };
        let spec = ContainerSpec {
            name: sandbox.name(&format!(
                "{role}-{}-{:08x}",
                self.member,
                rand::random::<u32>()
            )),
            image: harness.clone(),
            cmd: args.to_vec(),
            labels: sandbox.labels("net-helper"),
            network: format!("container:{container}"),
            cap_add: vec!["NET_ADMIN".into()],
            devices: Vec::new(),
            ..Default::default()
        };
        Ok((sandbox, spec))
    }

    /// Runs etcd-drill `args` to completion in the namespace (helper way); returns its stdout.
    pub async fn run_harness(&self, role: &str, args: &[String]) -> Result<String, FaultError> {
        let (sandbox, spec) = self.harness_spec(role, args)?;
        let (code, out, err) = sandbox.run_once(&spec, None, HELPER_DEADLINE).await?;
        if code != 0 {
            return Err(FaultError::Command {
                line: format!(
                    "etcd-drill {} (helper container in {}'s network namespace)",
                    args.join(" "),
                    self.member
                ),
                error: format!("exit status {code}: {}", err.trim()),
            });
        }
        Ok(out)
    }

    /// Starts etcd-drill `args` in the namespace and leaves it running (helper way); returns the
    /// container, once its log shows `ready`. `stop_harness` ends it.
    pub async fn start_harness(
        &self,
        role: &str,
        args: &[String],
        ready: &str,
    ) -> Result<String, FaultError> {
        let (sandbox, spec) = self.harness_spec(role, args)?;
        let rt = &sandbox.runtime;
        rt.create_container(&spec).await?;
        rt.start(&spec.name).await?;
        let up = super::poll(HELPER_DEADLINE, || async {
            match rt.logs(&spec.name).await {
                Ok((out, _)) if out.contains(ready) => Some(Ok(())),
                Ok(_) => match rt.state(&spec.name).await {
                    Ok(crate::sandbox::ContainerState::Running) => None,
                    _ => Some(Err(())),
                },
                Err(_) => None,
            }
        })
        .await;
        if up != Some(Ok(())) {
            let (out, err) = rt.logs(&spec.name).await.unwrap_or_default();
            let _ = rt.remove_container(&spec.name).await;
            return Err(FaultError::Command {
                line: format!(
                    "etcd-drill {} (helper container in {}'s network namespace)",
                    args.join(" "),
                    self.member
                ),
                error: format!(
                    "not ready within {HELPER_DEADLINE:?}: {}",
                    format!("{out}{err}").trim()
                ),
            });
        }
        Ok(spec.name)
    }

    /// Ends a container `start_harness` started (SIGTERM, then its exit) and removes it;
    /// returns its stdout.
    pub async fn stop_harness(&self, container: &str) -> Result<String, FaultError> {
        let Entry::Helper { sandbox, .. } = &self.way else {
            return Err(FaultError::Target(format!(
                "no helper container runs in {}'s network namespace",
                self.member
            )));
        };
        let rt = &sandbox.runtime;
        let stopped = async {
            rt.kill(container, "SIGTERM").await?;
            tokio::time::timeout(DEADLINE, rt.wait(container))
                .await
                .map_err(|_| crate::sandbox::SandboxError::Timeout {
                    op: "wait for helper container",
                    target: container.to_string(),
                    after: DEADLINE,
                })??;
            rt.logs(container).await
        }
        .await;
        let removed = rt.remove_container(container).await;
        let (out, _) = stopped?;
        removed?;
        Ok(out)
    }
}

/// Runs `cmd args…` in the network namespace of process `pid` with nsenter; returns its stdout.
async fn nsenter(pid: u32, cmd: &str, args: &[&str]) -> Result<String, FaultError> {
    let pid_s = pid.to_string();
    let mut full = vec!["-t", pid_s.as_str(), "-n", cmd];
    full.extend_from_slice(args);
    let line = format!("nsenter {}", full.join(" "));
    let child = tokio::process::Command::new("nsenter")
        .args(&full)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(DEADLINE, child)
        .await
        .map_err(|_| FaultError::Command {
            line: line.clone(),
            error: format!("no answer within {DEADLINE:?}"),
        })?
        .map_err(|e| FaultError::Command {
            line: line.clone(),
            error: e.to_string(),
        })?;
    if !out.status.success() {
        return Err(FaultError::Command {
            line,
            error: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Marks the end of a command's output in a helper's log: `@@etcd-drill-end <i> <status>`.
const END: &str = "@@etcd-drill-end";

/// The shell script a helper runs: each command, its output, then its end mark with its exit
/// status; it stops after the first that fails.
fn script(commands: &[Vec<String>]) -> String {
    let quote = |a: &str| format!("'{}'", a.replace('\'', "'\\''"));
    commands
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let line: Vec<String> = c.iter().map(|a| quote(a)).collect();
            format!(
                "{} 2>&1; s=$?; echo \"{END} {i} $s\"; [ $s -eq 0 ] || exit 0",
                line.join(" ")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Each command's output from a helper's log, or the first command that failed.
fn outputs(log: &str, commands: &[Vec<String>], where_: &str) -> Result<Vec<String>, FaultError> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in log.lines() {
        if let Some(rest) = line.strip_prefix(END) {
            let mut w = rest.split_whitespace();
            let (i, status) = (
                w.next().and_then(|n| n.parse::<usize>().ok()).unwrap_or(0),
                w.next().unwrap_or("?"),
            );
            if status != "0" {
                return Err(FaultError::Command {
                    line: format!(
                        "{} ({where_})",
                        commands.get(i).map(|c| c.join(" ")).unwrap_or_default()
                    ),
                    error: format!("exit status {status}: {}", current.trim()),
                });
            }
            out.push(std::mem::take(&mut current));
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    if out.len() != commands.len() {
        return Err(FaultError::Command {
            line: format!(
                "{} ({where_})",
                commands
                    .iter()
                    .map(|c| c.join(" "))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            error: format!(
                "the helper ran {} of {} commands: {}",
                out.len(),
                commands.len(),
                current.trim()
            ),
        });
    }
    Ok(out)
}

async fn helper(
    sandbox: &Sandbox,
    image: &str,
    container: &str,
    member: &str,
    commands: &[Vec<String>],
) -> Result<Vec<String>, FaultError> {
    let spec = ContainerSpec {
        name: sandbox.name(&format!("net-{member}-{:08x}", rand::random::<u32>())),
        image: image.to_string(),
        entrypoint: Some(vec!["/bin/sh".into(), "-c".into()]),
        cmd: vec![script(commands)],
        labels: sandbox.labels("net-helper"),
        network: format!("container:{container}"),
        cap_add: vec!["NET_ADMIN".into()],
        devices: Vec::new(),
        ..Default::default()
    };
    let (_, stdout, stderr) = sandbox.run_once(&spec, None, HELPER_DEADLINE).await?;
    outputs(
        &format!("{stdout}{stderr}"),
        commands,
        &format!("helper container in {member}'s network namespace"),
    )
}

/// Why network faults cannot run here, or `None` when they can. `tc` is only needed for
/// bandwidth; `ss` only for delay (it makes etcd re-dial its peers through the delay proxy).
pub fn preflight(docker_host: &str, need_tc: bool, need_ss: bool) -> Option<String> {
    if !(docker_host.starts_with("unix://") || docker_host.is_empty()) {
        return Some(format!(
            "network faults enter the members' network namespaces from this host, but the Docker engine is remote ({docker_host})"
        ));
    }
    if !is_root() {
        return Some(
            "network faults need root (nsenter into the members' network namespaces)".into(),
        );
    }
    let mut tools = vec!["nsenter", "iptables"];
    if need_tc {
        tools.push("tc");
    }
    if need_ss {
        tools.push("ss");
    }
    for tool in tools {
        if !on_path(tool) {
            return Some(format!(
                "network faults need `{tool}` on PATH (Debian: util-linux, iptables, iproute2)"
            ));
        }
    }
    None
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false)
        || ["/usr/sbin", "/sbin"]
            .iter()
            .any(|d| std::path::Path::new(d).join(tool).is_file())
}

/// The way network faults go (`None`: no drill has one), and what to say of each scenario's.
pub type Preflight = (Option<NetVia<Delay>>, Vec<NetChoice>);

/// Which way one scenario's network faults go, and why.
#[derive(Debug, Clone)]
pub struct NetChoice {
    pub path: String,
    /// Through helper containers (else from the host).
    pub helper: bool,
    /// The delay proxy runs in etcd-drill's own image.
    pub delay: bool,
    /// Why not from the host (or that the helpers were asked for).
    pub why: String,
}

impl NetChoice {
    /// The line that says the way, once it is ready.
    pub fn said(&self) -> String {
        if !self.helper {
            return format!(
                "{}: network faults from the host (nsenter into the members' namespaces)",
                self.path
            );
        }
        format!(
            "{}: network faults through helper containers{}: {}",
            self.path,
            if self.delay {
                ", the delay proxy in etcd-drill's own image"
            } else {
                ""
            },
            self.why
        )
    }

    /// The one line that says neither way can run: not from the host, and the helper
    /// containers' images could not be had.
    pub fn refused(&self, helpers: &str) -> String {
        format!(
            "{}: cannot run this drill's network faults here: not from the host ({}), and not through helper containers: {helpers}",
            self.path, self.why
        )
    }
}

/// Checks, before anything starts, that every network fault in `plans` can run here, and says
/// which way they go (`None`: no network fault). The host way when it is available, else the
/// helper containers; `ETCD_DRILL_NET_FAULTS=host|helper` forces one. Returns the first reason a
/// fault cannot run, naming the scenario; else the way and, per scenario with network faults,
/// a line saying which way its faults go and why.
pub fn preflight_plans(
    plans: &[crate::plan::Plan],
    engine_visible: bool,
) -> Result<Preflight, String> {
    use crate::plan::StepKind;
    let host = std::env::var("DOCKER_HOST").unwrap_or_default();
    let forced = std::env::var("ETCD_DRILL_NET_FAULTS")
        .ok()
        .filter(|v| !v.is_empty());
    if let Some(f) = forced
        .as_deref()
        .filter(|f| !matches!(*f, "host" | "helper"))
    {
        return Err(format!(
            "ETCD_DRILL_NET_FAULTS: expected `host` or `helper`, found {f:?}"
        ));
    }
    let mut way = None;
    let mut said = Vec::new();
    for plan in plans {
        let (mut net, mut tc, mut delay, mut ss) = (false, false, false, false);
        for step in &plan.steps {
            let StepKind::Fault(f) = &step.kind else {
                continue;
            };
            let n = f.action.needs().net;
            net |= n.netns;
            tc |= n.tc;
            ss |= n.ss;
            delay |= n.delay_proxy;
        }
        if !net {
            continue;
        }
        let mut why_not_host = preflight(&host, tc, delay || ss);
        if why_not_host.is_none() && !engine_visible {
            why_not_host = Some(
                "the Docker engine's process is not visible here (the harness runs in a container of its own, or the engine elsewhere)".into(),
            );
        }
        let chosen = match (forced.as_deref(), &why_not_host) {
            (Some("host"), Some(why)) => {
                return Err(format!(
                    "{}: cannot run this drill here: ETCD_DRILL_NET_FAULTS=host, but {why}",
                    plan.path.display()
                ))
            }
            (Some("host"), None) | (None, None) => NetVia::Host,
            _ => NetVia::Helper(Delay(delay)),
        };
        said.push(NetChoice {
            path: plan.path.display().to_string(),
            helper: matches!(chosen, NetVia::Helper(_)),
            delay,
            why: match (forced.as_deref(), &why_not_host) {
                (Some("helper"), _) => "ETCD_DRILL_NET_FAULTS=helper".to_string(),
                (_, Some(why)) => why.clone(),
                _ => String::new(),
            },
        });
        way = match (way, chosen) {
            (Some(NetVia::Helper(Delay(a))), NetVia::Helper(Delay(b))) => {
                Some(NetVia::Helper(Delay(a || b)))
            }
            (Some(NetVia::Helper(d)), NetVia::Host) | (_, NetVia::Helper(d)) => {
                Some(NetVia::Helper(d))
            }
            _ => Some(NetVia::Host),
        };
    }
    Ok((way, said))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn a_helper_script_quotes_each_word_and_stops_at_the_first_failure() {
        let s = script(&[cmd(&["iptables", "-L", "it's"]), cmd(&["tc", "qdisc"])]);
        assert!(s.contains("'iptables' '-L' 'it'\\''s' 2>&1"), "{s}");
        assert_eq!(s.lines().count(), 2);
        assert!(s.contains("[ $s -eq 0 ] || exit 0"));
    }

    #[test]
    fn a_helper_log_splits_into_outputs_or_names_the_failed_command() {
        let cmds = [cmd(&["a"]), cmd(&["b", "x"])];
        let ok = format!("one\n{END} 0 0\ntwo\nthree\n{END} 1 0\n");
        assert_eq!(
            outputs(&ok, &cmds, "here").unwrap(),
            ["one\n", "two\nthree\n"]
        );
        let failed = format!("one\n{END} 0 0\nno such chain\n{END} 1 2\n");
        let e = outputs(&failed, &cmds, "here").unwrap_err().to_string();
        assert!(
            e.contains("b x") && e.contains("exit status 2") && e.contains("no such chain"),
            "{e}"
        );
        let cut = format!("one\n{END} 0 0\n");
        assert!(outputs(&cut, &cmds, "here")
            .unwrap_err()
            .to_string()
            .contains("1 of 2"));
    }
}
