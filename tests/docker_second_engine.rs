//! A Docker engine reached through `DOCKER_HOST=tcp://127.0.0.1:PORT`, as a remote engine or a
//! Docker-in-Docker service is: a second `dockerd` on this machine with its own data root, its
//! own containerd namespace, a default bridge of its own (a dockerd told `--bridge=none` deletes
//! the host's `docker0`, the first engine's) and no iptables rules, listening on a loopback
//! port. The test creates that bridge and its one forwarding rule, and removes both. A drill against it cannot enter the members' namespaces from this host (the engine is
//! "remote"), so a partition goes through helper containers, the images are built in that
//! engine, members are reached at the engine's address, and a restore streams the snapshot as
//! a tar. Nothing labelled remains in that engine.
//!
//! Needs root and `dockerd` (both on the CI machine); skips elsewhere, fails under CI=true.

mod common;

use common::*;
use etcd_drill::exit_codes;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The second engine's address pool: its networks' bridges forward only inside it.
const POOL: &str = "10.231.0.0/16";

/// The second engine's default bridge, created by the test, outside the pool.
const BRIDGE_ADDRESS: &str = "10.232.0.1/24";

/// The ACCEPT rule for traffic between the second engine's containers: the first engine set
/// FORWARD's policy to DROP, and bridged packets pass through it (br_netfilter).
fn forward_rule(op: &str) -> Vec<&'static str> {
    let op = if op == "-I" { "-I" } else { "-D" };
    vec![
        op,
        "DOCKER-USER",
        "-s",
        POOL,
        "-d",
        POOL,
        "-m",
        "comment",
        "--comment",
        "etcd-drill second-engine test",
        "-j",
        "ACCEPT",
    ]
}

/// A second dockerd; stopped, its rule removed and its data root deleted on drop.
struct Engine {
    child: Option<Child>,
    dir: PathBuf,
    host: String,
    ruled: bool,
    /// The default bridge this test created for the engine.
    bridge: Option<String>,
}

impl Engine {
    fn start() -> Result<Engine, String> {
        let root = std::fs::read_to_string("/proc/self/status")
            .map_err(|e| e.to_string())?
            .lines()
            .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"));
        if !root {
            return Err("a second dockerd needs root".into());
        }
        let dockerd = ["/usr/sbin/dockerd", "/usr/bin/dockerd"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .ok_or("no dockerd on this machine")?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let dir = std::env::temp_dir().join(format!("etcd-drill-engine-{port}"));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        // fuse-overlayfs where it is installed (the first engine's driver here), else vfs.
        let driver = if Path::new("/usr/bin/fuse-overlayfs").exists() {
            "fuse-overlayfs"
        } else {
            "vfs"
        };
        let config = serde_json::json!({
            "storage-driver": driver,
            "default-address-pools": [{ "base": POOL, "size": 24 }],
        });
        std::fs::write(dir.join("daemon.json"), config.to_string()).map_err(|e| e.to_string())?;
        let host = format!("tcp://127.0.0.1:{port}");
        // Interface names hold at most 15 bytes.
        let bridge = format!("edt-{port}");
        let ip = |args: &[&str]| {
            Command::new("ip")
                .args(args)
                .status()
                .map_err(|e| format!("ip {}: {e}", args.join(" ")))
                .and_then(|s| {
                    s.success()
                        .then_some(())
                        .ok_or_else(|| format!("ip {} failed", args.join(" ")))
                })
        };
        ip(&["link", "add", &bridge, "type", "bridge"])?;
        // From here on, Drop removes the bridge (and the rest) whatever fails.
        let cleanup = Engine {
            child: None,
            dir: dir.clone(),
            host: host.clone(),
            ruled: false,
            bridge: Some(bridge.clone()),
        };
        ip(&["addr", "add", BRIDGE_ADDRESS, "dev", &bridge])?;
        ip(&["link", "set", &bridge, "up"])?;
        let log = std::fs::File::create(dir.join("dockerd.log")).map_err(|e| e.to_string())?;
        let child = Command::new(dockerd)
            .arg(format!(
                "--config-file={}",
                dir.join("daemon.json").display()
            ))
            .arg(format!("--data-root={}", dir.join("data").display()))
            .arg(format!("--exec-root={}", dir.join("exec").display()))
            .arg(format!("--pidfile={}", dir.join("dockerd.pid").display()))
            .arg(format!("--host={host}"))
            .args([
                "--containerd-namespace=etcd-drill-test",
                "--containerd-plugins-namespace=etcd-drill-test-plugins",
                &format!("--bridge={bridge}"),
                "--iptables=false",
                "--ip-masq=false",
            ])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("{dockerd}: {e}"))?;
        let mut engine = cleanup;
        engine.child = Some(child);
        let started = Instant::now();
        while !engine.docker(&["version"]).status.success() {
            if started.elapsed() > Duration::from_secs(60) {
                return Err(format!(
                    "the second dockerd did not answer within 60s: {}",
                    engine.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        let added = Command::new("iptables")
            .args(forward_rule("-I"))
            .status()
            .map_err(|e| e.to_string())?;
        if !added.success() {
            return Err("iptables could not add the DOCKER-USER rule".into());
        }
        engine.ruled = true;
        Ok(engine)
    }

    fn docker(&self, args: &[&str]) -> std::process::Output {
        Command::new("docker")
            .env("DOCKER_HOST", &self.host)
            .args(args)
            .output()
            .expect("the docker CLI runs")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("dockerd.log")).unwrap_or_default()
    }

    /// Runs `scenario` against this engine; returns the exit code, report and output.
    fn drill(&self, scenario: &str) -> (i32, serde_json::Value, String) {
        let reports = tempfile::tempdir().expect("a temp dir");
        let ran = run_with(Path::new(scenario), reports.path(), |c| {
            c.env("DOCKER_HOST", &self.host)
                .env_remove("ETCD_DRILL_NET_FAULTS");
        });
        (ran.code, ran.report, ran.out)
    }

    /// A `FROM scratch` image as a user makes one: this test's etcd-drill binary, the loader
    /// and libraries `ldd` names, an empty /tmp. Built in this engine.
    fn scratch_image(&self) -> String {
        let ctx = tempfile::tempdir().expect("a temp dir");
        let exe = Path::new(env!("CARGO_BIN_EXE_etcd-drill"));
        std::fs::copy(exe, ctx.path().join("etcd-drill")).expect("the binary copied");
        let ldd = Command::new("ldd").arg(exe).output().expect("ldd runs");
        let mut copies = String::new();
        for lib in String::from_utf8_lossy(&ldd.stdout)
            .split_whitespace()
            .filter(|w| w.starts_with('/'))
        {
            let name = Path::new(lib).file_name().unwrap().to_string_lossy();
            std::fs::copy(lib, ctx.path().join(name.as_ref())).expect("a library copied");
            copies.push_str(&format!("COPY {name} {lib}\n"));
        }
        std::fs::create_dir(ctx.path().join("tmp")).unwrap();
        let dockerfile = format!(
            "FROM scratch\nCOPY etcd-drill /usr/local/bin/etcd-drill\n{copies}COPY tmp /tmp\n\
             WORKDIR /work\nENTRYPOINT [\"/usr/local/bin/etcd-drill\"]\n"
        );
        std::fs::write(ctx.path().join("Dockerfile"), dockerfile).unwrap();
        let image = "etcd-drill-test/scratch-harness:latest";
        let built = self.docker(&["build", "-q", "-t", image, &ctx.path().to_string_lossy()]);
        assert!(
            built.status.success(),
            "{}",
            String::from_utf8_lossy(&built.stderr)
        );
        image.to_string()
    }

    /// Runs `scenario` from `image` in this engine, with the engine's address as its
    /// `DOCKER_HOST` and the host's network (the members' ports are on its loopback).
    fn drill_from(&self, image: &str, scenario: &str) -> (i32, serde_json::Value, String) {
        let reports = tempfile::tempdir().expect("a temp dir");
        let scenarios = crate_dir().join("scenarios");
        let out = self.docker(&[
            "run",
            "--rm",
            "--network",
            "host",
            "-e",
            &format!("DOCKER_HOST={}", self.host),
            "-v",
            &format!("{}:/work/scenarios:ro", scenarios.display()),
            "-v",
            &format!("{}:/work/reports", reports.path().display()),
            image,
            "run",
            scenario,
            "--report-dir",
            "reports",
        ]);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let started = std::fs::read_dir(reports.path()).is_ok_and(|mut d| d.next().is_some());
        assert!(started, "no report: {text}");
        let report = read_report(&only_run_dir(reports.path()));
        (out.status.code().unwrap_or(-1), report, text)
    }

    /// What carries etcd-drill's label in this engine.
    fn labelled(&self) -> String {
        let mut all = String::new();
        for kind in [
            &["ps", "-aq"][..],
            &["volume", "ls", "-q"][..],
            &["network", "ls", "-q"][..],
        ] {
            let mut args = kind.to_vec();
            args.extend(["--filter", "label=etcd-drill.managed=true"]);
            all.push_str(&String::from_utf8_lossy(&self.docker(&args).stdout));
        }
        all
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // Whatever a failed drill left, then the engine itself, its rule and its files.
        if self.child.is_some() {
            let left = self.docker(&["ps", "-aq"]);
            for id in String::from_utf8_lossy(&left.stdout).split_whitespace() {
                let _ = self.docker(&["rm", "-f", id]);
            }
        }
        if let Some(child) = &mut self.child {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        if self.ruled {
            let _ = Command::new("iptables").args(forward_rule("-D")).status();
        }
        // Mounts the engine left behind (fuse-overlayfs) go before the files.
        if let Ok(mounts) = std::fs::read_to_string("/proc/self/mounts") {
            let root = self.dir.display().to_string();
            for m in mounts.lines().filter_map(|l| l.split_whitespace().nth(1)) {
                if m.starts_with(&root) {
                    let _ = Command::new("umount").args(["-l", m]).status();
                }
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Some(bridge) = &self.bridge {
            let _ = Command::new("ip").args(["link", "del", bridge]).status();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drill_through_a_second_engine_on_a_loopback_tcp_port() {
    if docker().await.is_none() {
        return;
    }
    let engine = match Engine::start() {
        Ok(e) => e,
        Err(why) if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") => {
            panic!("CI=true but a second Docker engine cannot run here: {why}")
        }
        Err(why) => {
            eprintln!("skipping: {why}");
            return;
        }
    };
    // A partition: through helper containers, since this engine counts as remote.
    let (code, r, out) = engine.drill("scenarios/partition-leader.yaml");
    assert_eq!(code, exit_codes::PASSED, "{out}\n{}", engine.log());
    let proof = r["faults"][0]["proof"].to_string();
    assert!(
        proof.contains("through a helper container")
            && proof.contains("a linearizable read through it fails"),
        "{proof}"
    );
    assert_eq!(r["faults"][0]["hashkv_equal"], true);
    // A restore: the engine does not see this machine's files as its own, so the snapshot
    // goes to etcdutl as a tar.
    let (code, r, out) = engine.drill("scenarios/quickstart.yaml");
    assert_eq!(code, exit_codes::PASSED, "{out}");
    assert_eq!(r["restore"]["snapshot_delivery"], "tar streamed from disk");
    assert_eq!(r["verification"]["passed"], true);
    // The members were this engine's: its own image store got the images, and nothing is
    // left labelled in it.
    let images = String::from_utf8_lossy(
        &engine
            .docker(&["images", "--format", "{{.Repository}}"])
            .stdout,
    )
    .into_owned();
    assert!(
        images.contains("etcd-drill/etcd") && images.contains("etcd-drill/net-tools"),
        "{images}"
    );
    // The harness in a `FROM scratch` image of a user's making (the binary and the libraries
    // `ldd` names, nothing else), on this engine, where no harness image was built: the delay
    // proxy's image is built from inside that container, without `ldd`.
    assert!(!images.contains("etcd-drill/harness"), "{images}");
    let image = engine.scratch_image();
    let (code, r, out) = engine.drill_from(&image, "scenarios/delay-leader-network.yaml");
    assert_eq!(code, exit_codes::PASSED, "{out}");
    let proof = r["faults"][0]["proof"].to_string();
    assert!(
        proof.contains("the proxy etcd-drill's own image in a helper container")
            && proof.contains("the delay proxy carried"),
        "{proof}"
    );
    assert_eq!(
        out.lines()
            .filter(|l| l.contains("network faults through helper containers"))
            .count(),
        1,
        "one line says which way the network faults go: {out}"
    );
    assert!(!out.contains("cannot run"), "{out}");
    let images = String::from_utf8_lossy(
        &engine
            .docker(&["images", "--format", "{{.Repository}}"])
            .stdout,
    )
    .into_owned();
    assert!(images.contains("etcd-drill/harness"), "{images}");
    assert_eq!(
        engine.labelled().trim(),
        "",
        "labelled leftovers in the second engine"
    );
}
