//! A real S3-compatible server for tests: moto's (`python3 -m moto.server`, installed by
//! `.ci/setup` from PyPI) on a free port of 127.0.0.1, killed when dropped. Without moto the
//! tests skip, and under CI (CI=true) they fail.
#![allow(dead_code)]

use std::fs::File;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The access key every test uses; moto accepts any credentials.
pub const ACCESS_KEY_ID: &str = "test";
/// A secret distinctive enough that finding it in a message means it leaked.
pub const SECRET_ACCESS_KEY: &str = "test-secret-Qz7vXw93kLp";

/// How long the server may take to answer after it is started.
const START_DEADLINE: Duration = Duration::from_secs(20);

pub struct S3Server {
    /// e.g. `http://127.0.0.1:40123`
    pub endpoint: String,
    pub port: u16,
    child: Child,
    log: tempfile::NamedTempFile,
}

fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

fn moto_installed() -> bool {
    Command::new("python3")
        .args(["-c", "import moto.server"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Credentials and region for `AmazonS3Builder::from_env()`, and no HTTP proxy for 127.0.0.1.
fn set_client_env() {
    std::env::set_var("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID);
    std::env::set_var("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY);
    std::env::set_var("AWS_REGION", "us-east-1");
    std::env::remove_var("AWS_SESSION_TOKEN");
    for key in ["NO_PROXY", "no_proxy"] {
        let old = std::env::var(key).unwrap_or_default();
        if !old.split(',').any(|h| h.trim() == "127.0.0.1") {
            let new = if old.is_empty() {
                "127.0.0.1,localhost".to_string()
            } else {
                format!("{old},127.0.0.1,localhost")
            };
            std::env::set_var(key, new);
        }
    }
}

/// A port that was free a moment ago (the server binds it right after).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind 127.0.0.1:0")
        .local_addr()
        .unwrap()
        .port()
}

/// One HTTP/1.1 request without a body, unsigned (moto accepts that); returns the status code.
pub fn http(port: u16, method: &str, path: &str) -> std::io::Result<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.set_write_timeout(Some(Duration::from_secs(5)))?;
    write!(s, "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(2).any(|w| w == b"\r\n") {
        let n = s.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let _ = s.shutdown(Shutdown::Both);
    let line = String::from_utf8_lossy(&head);
    let code = line
        .strip_prefix("HTTP/1.")
        .and_then(|rest| rest.get(2..5))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP answer: {line:?}")))?;
    Ok(code)
}

impl S3Server {
    /// Starts moto's server, or `None` (skip) when moto is not installed. Under CI it panics
    /// instead: the S3 tests must run there.
    pub fn start() -> Option<S3Server> {
        Self::start_with(None)
    }

    /// Starts moto's server enforcing authentication after its first two requests (the
    /// readiness probe and `create_bucket`): every later request needs credentials moto's IAM
    /// knows, and the test's are unknown to it, so they are refused as an operator's expired or
    /// wrong keys would be.
    pub fn start_refusing_credentials() -> Option<S3Server> {
        Self::start_with(Some(2))
    }

    fn start_with(free_requests: Option<u32>) -> Option<S3Server> {
        if !moto_installed() {
            if under_ci() {
                panic!(
                    "CI=true but moto's S3 server is not installed (`python3 -c 'import moto.server'` fails); \
                     .ci/setup installs it with `python3 -m pip install \"moto[server]\"`"
                );
            }
            eprintln!("skipping: moto's S3 server is not installed (run .ci/setup, or pip install \"moto[server]\")");
            return None;
        }
        set_client_env();
        let mut last = String::new();
        // A free port can be taken between the look-up and moto's bind: try a few.
        for _ in 0..3 {
            match Self::spawn(free_port(), free_requests) {
                Ok(server) => return Some(server),
                Err(e) => last = e,
            }
        }
        panic!("moto's S3 server did not start: {last}");
    }

    fn spawn(port: u16, free_requests: Option<u32>) -> Result<S3Server, String> {
        let log = tempfile::NamedTempFile::new().expect("temp log file");
        let out = log.reopen().expect("reopen log");
        let err = log.reopen().expect("reopen log");
        let mut cmd = Command::new("python3");
        if let Some(n) = free_requests {
            cmd.env("INITIAL_NO_AUTH_ACTION_COUNT", n.to_string());
        }
        let child = cmd
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot run python3 -m moto.server: {e}"))?;
        let mut server = S3Server {
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
            child,
            log,
        };
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!(
                    "it exited ({status}) on port {port}: {}",
                    server.log_text()
                ));
            }
            if matches!(http(port, "GET", "/"), Ok(200)) {
                return Ok(server);
            }
            if start.elapsed() > START_DEADLINE {
                return Err(format!(
                    "no answer on port {port} within {START_DEADLINE:?}: {}",
                    server.log_text()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Creates a bucket (object_store cannot): an unsigned `PUT /bucket`.
    pub fn create_bucket(&self, bucket: &str) {
        let code = http(self.port, "PUT", &format!("/{bucket}")).expect("PUT bucket");
        assert_eq!(
            code,
            200,
            "moto refused to create bucket {bucket}: {}",
            self.log_text()
        );
    }

    /// What the server printed so far.
    pub fn log_text(&self) -> String {
        let mut s = String::new();
        let _ = File::open(self.log.path()).and_then(|mut f| f.read_to_string(&mut s));
        s
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
