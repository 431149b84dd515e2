//! The webhook notifier against a tiny HTTP listener on 127.0.0.1 (no Docker).

use etcd_drill::notify::{self, NotifyError};
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

const SECRET_URL: &str = "https://hooks.example.com/services/T000/B000/XXXX?token=abc";

/// What the listener saw.
#[derive(Debug)]
struct Seen {
    method: String,
    path: String,
    content_type: Option<String>,
    body: Vec<u8>,
}

/// How the listener answers its one request.
enum Answer {
    Status(u16),
    /// Read the request, then hold the connection open without answering.
    Never,
}

/// Listens on 127.0.0.1:0, reads one request and answers it; returns the URL and what it saw.
async fn listener(answer: Answer) -> (String, JoinHandle<Seen>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/services/T000/B000/XXXX?token=abc",
        l.local_addr().unwrap()
    );
    let handle = tokio::spawn(async move {
        let (mut sock, _) = l.accept().await.unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let header_end = loop {
            let n = sock.read(&mut chunk).await.unwrap();
            assert!(n > 0, "connection closed before the headers ended");
            buf.extend_from_slice(&chunk[..n]);
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
        };
        let head = String::from_utf8(buf[..header_end].to_vec()).unwrap();
        let mut lines = head.split("\r\n");
        let mut request_line = lines.next().unwrap().split(' ');
        let method = request_line.next().unwrap().to_string();
        let path = request_line.next().unwrap().to_string();
        let mut content_type = None;
        let mut length = 0usize;
        for line in lines {
            if let Some((k, v)) = line.split_once(':') {
                match k.trim().to_ascii_lowercase().as_str() {
                    "content-type" => content_type = Some(v.trim().to_string()),
                    "content-length" => length = v.trim().parse().unwrap(),
                    _ => {}
                }
            }
        }
        let mut body = buf[header_end..].to_vec();
        while body.len() < length {
            let n = sock.read(&mut chunk).await.unwrap();
            assert!(n > 0, "connection closed before the body ended");
            body.extend_from_slice(&chunk[..n]);
        }
        match answer {
            Answer::Status(code) => {
                let reply = format!(
                    "HTTP/1.1 {code} Whatever\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
                );
                sock.write_all(reply.as_bytes()).await.unwrap();
                sock.shutdown().await.ok();
            }
            Answer::Never => tokio::time::sleep(Duration::from_secs(10)).await,
        }
        Seen {
            method,
            path,
            content_type,
            body,
        }
    });
    (url, handle)
}

const YAML: &str = r#"
name: notify-test
cluster:
  members: 1
steps:
  - wait-healthy: {}
notify:
  webhook: "https://hooks.example.com/services/T000/B000/XXXX?token=abc"
"#;

fn report() -> etcd_drill::record::RunReport {
    let file = etcd_drill::scenario::load_str(Path::new("t.yaml"), YAML).unwrap();
    let plan = etcd_drill::plan::plan(file).unwrap();
    assert_eq!(plan.notify.as_ref().unwrap().url, SECRET_URL);
    etcd_drill::report::Recorder::new(&plan, "run-1").finish()
}

fn assert_no_secret(text: &str) {
    for secret in ["XXXX", "token", "abc", "T000", "B000", "/services"] {
        assert!(!text.contains(secret), "{secret:?} leaked into {text}");
    }
}

#[tokio::test]
async fn posts_the_payload_as_json() {
    let (url, seen) = listener(Answer::Status(200)).await;
    let payload = notify::payload(&report(), Some(Path::new("reports/run-1/report.json")));
    let status = notify::notify(&url, &payload, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(status, 200);
    let seen = seen.await.unwrap();
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.path, "/services/T000/B000/XXXX?token=abc");
    assert_eq!(seen.content_type.as_deref(), Some("application/json"));
    let body: Value = serde_json::from_slice(&seen.body).unwrap();
    assert_eq!(body, payload);
}

#[tokio::test]
async fn any_2xx_is_success() {
    let (url, seen) = listener(Answer::Status(204)).await;
    let status = notify::notify(&url, &serde_json::json!({"a": 1}), Duration::from_secs(5)).await;
    assert_eq!(status.unwrap(), 204);
    seen.await.unwrap();
}

#[tokio::test]
async fn a_500_is_a_status_error() {
    let (url, seen) = listener(Answer::Status(500)).await;
    let err = notify::notify(&url, &serde_json::json!({}), Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(
        matches!(err, NotifyError::Status { status: 500, .. }),
        "{err:?}"
    );
    assert_eq!(err.status(), Some(500));
    let msg = err.to_string();
    assert!(msg.contains("500") && msg.contains("127.0.0.1"), "{msg}");
    assert_no_secret(&msg);
    assert_no_secret(&format!("{err:?}"));
    seen.await.unwrap();
}

#[tokio::test]
async fn a_redirect_is_not_followed() {
    let (url, seen) = listener(Answer::Status(302)).await;
    let err = notify::notify(&url, &serde_json::json!({}), Duration::from_secs(5))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(302), "{err:?}");
    seen.await.unwrap();
}

#[tokio::test]
async fn a_silent_listener_hits_the_deadline() {
    let (url, seen) = listener(Answer::Never).await;
    let start = Instant::now();
    let err = notify::notify(&url, &serde_json::json!({}), Duration::from_millis(500))
        .await
        .unwrap_err();
    let took = start.elapsed();
    assert!(err.is_timeout(), "{err:?}");
    assert!(
        took >= Duration::from_millis(450) && took < Duration::from_secs(3),
        "{took:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains("500 ms") && msg.contains("127.0.0.1"), "{msg}");
    assert_no_secret(&msg);
    seen.abort();
}

#[tokio::test]
async fn a_closed_port_is_a_connect_error() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    let url = format!("http://{addr}/services/T000/B000/XXXX?token=abc");
    let err = notify::notify(&url, &serde_json::json!({}), Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(matches!(err, NotifyError::Connect { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains(&format!("http://{addr}")), "{msg}");
    assert_no_secret(&msg);
    assert_no_secret(&format!("{err:?}"));
}

#[tokio::test]
async fn a_bad_url_is_rejected_without_quoting_it() {
    for url in [
        "ftp://hooks.example.com/services/T000/B000/XXXX?token=abc",
        "hooks.example.com/services/T000/B000/XXXX?token=abc",
    ] {
        let err = notify::notify(url, &serde_json::json!({}), Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(matches!(err, NotifyError::BadUrl { .. }), "{err:?}");
        assert_no_secret(&err.to_string());
    }
}

#[test]
fn redact_hides_path_and_query() {
    let r = notify::redact(SECRET_URL);
    assert_eq!(r, "https://hooks.example.com:443");
    assert_no_secret(&r);
    assert_eq!(
        notify::redact("http://user:pass@127.0.0.1:8080/hook"),
        "http://127.0.0.1:8080"
    );
}

#[test]
fn payload_summarises_the_run_without_the_webhook() {
    let report = report();
    let p = notify::payload(&report, Some(Path::new("reports/run-1/report.json")));
    assert_eq!(p["payload_version"], 1);
    assert_eq!(p["scenario"], "notify-test");
    assert_eq!(p["run_id"], "run-1");
    assert_eq!(p["verdict"], serde_json::to_value(report.verdict).unwrap());
    assert_eq!(p["exit_code"], report.verdict.exit_code());
    assert_eq!(p["passed"], p["verdict"] == "passed");
    assert_eq!(p["report_path"], "reports/run-1/report.json");
    assert_eq!(p["started_at"], report.started_at);
    assert_eq!(p["finished_at"], report.finished_at);
    for absent in [
        "rto_first_write_ms",
        "rto_verified_ms",
        "rpo_time_gap_ms",
        "rpo_revision_gap",
        "lost_acknowledged_writes",
        "integrity_passed",
    ] {
        assert!(p[absent].is_null(), "{absent}: {}", p[absent]);
    }
    assert!(p["faults"].as_array().unwrap().is_empty());
    let failed = p["failed_gates"].as_array().unwrap();
    assert_eq!(
        failed.len(),
        report.gates.iter().filter(|g| !g.passed).count()
    );
    let text = p["text"].as_str().unwrap();
    assert!(
        text.contains("notify-test") && text.contains("run-1"),
        "{text}"
    );
    let all = p.to_string();
    assert_no_secret(&all);
    assert!(!all.contains("hooks.example.com"), "{all}");

    let without = notify::payload(&report, None);
    assert!(without["report_path"].is_null());
}
