//! Webhook notification: when a drill finishes, POST a small JSON summary of its `RunReport`
//! to a URL (a Slack or Mattermost incoming webhook, an alerting endpoint, a CI hook); and the
//! run's `metrics.prom` PUT to a Prometheus Pushgateway (`run --pushgateway URL`).
//!
//! Webhook URLs often carry their secret in the path or the query (Slack's
//! `/services/T…/B…/…`, Teams' `?sig=…`), so nothing here ever prints them: errors name only
//! `scheme://host:port` (see [`redact`]), and the payload never contains the URL.
//!
//! HTTP and HTTPS both work (reqwest with rustls; the system's root certificates). Redirects
//! are not followed: a 3xx answer is reported as [`NotifyError::Status`]. The usual proxy
//! variables (`HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY`) are honoured.

use crate::record::{RunReport, Verdict};
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

/// Why a notification was not delivered. Every message names the webhook only as
/// `scheme://host:port` ([`redact`]), never its path or query.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The URL does not parse, is not http(s), or has no host.
    #[error("invalid {kind} url {webhook}: {reason}")]
    BadUrl {
        kind: &'static str,
        webhook: String,
        reason: String,
    },
    /// The HTTP client could not be set up (TLS roots, ...).
    #[error("cannot set up the http client for {kind} {webhook}: {detail}")]
    Client {
        kind: &'static str,
        webhook: String,
        detail: String,
    },
    /// DNS, TCP or TLS failed before the request was sent.
    #[error("cannot connect to {kind} {webhook}: {detail}")]
    Connect {
        kind: &'static str,
        webhook: String,
        detail: String,
    },
    /// No answer (status line and headers) within the deadline.
    #[error("{kind} {webhook} did not answer within {deadline_ms} ms")]
    Timeout {
        kind: &'static str,
        webhook: String,
        deadline_ms: u64,
    },
    /// The webhook answered with a status outside 200..=299.
    #[error("{kind} {webhook} answered http status {status}")]
    Status {
        kind: &'static str,
        webhook: String,
        status: u16,
    },
    /// The connection failed while sending the request or reading the answer.
    #[error("{kind} request to {webhook} failed: {detail}")]
    Request {
        kind: &'static str,
        webhook: String,
        detail: String,
    },
}

impl NotifyError {
    /// The HTTP status, for [`NotifyError::Status`].
    pub fn status(&self) -> Option<u16> {
        match self {
            NotifyError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether the deadline passed.
    pub fn is_timeout(&self) -> bool {
        matches!(self, NotifyError::Timeout { .. })
    }
}

/// The version of the payload's layout; bumped only when a field changes meaning or goes away.
pub const PAYLOAD_VERSION: u32 = 1;

/// The summary POSTed to the webhook: one JSON object whose field names are stable.
///
/// | field | type | meaning |
/// | --- | --- | --- |
/// | `payload_version` | number | [`PAYLOAD_VERSION`] |
/// | `text` | string | one human-readable line (Slack and Mattermost show it as is) |
/// | `tool`, `tool_version` | string | `etcd-drill` and its version |
/// | `scenario` | string | the scenario's name |
/// | `run_id` | string | the run's id (`reports/<run_id>/`) |
/// | `verdict` | string | `passed`, `gate-failed`, `drill-failed` or `interrupted` |
/// | `passed` | bool | `verdict == "passed"` |
/// | `exit_code` | number | what the process exits with (see `exit_codes`) |
/// | `started_at`, `finished_at` | string | RFC 3339 UTC |
/// | `duration_ms` | number | the whole run |
/// | `error` | string or null | the first failure, for `drill-failed` (at most 500 characters) |
/// | `rto_first_write_ms` | number or null | disaster end → first write on the restored cluster |
/// | `rto_verified_ms` | number or null | disaster end → verification finished |
/// | `rpo_time_gap_ms` | number or null | disaster − snapshot time |
/// | `rpo_revision_gap` | number or null | last acknowledged revision − snapshot revision |
/// | `lost_acknowledged_writes` | number or null | acknowledged writes missing after restore |
/// | `integrity_passed` | bool or null | verification's result; null when nothing was verified |
/// | `failed_gates` | array | `{ "name", "target", "actual" }` for each gate that failed |
/// | `faults` | array | `{ "name", "fault", "unavailable_ms", "lost_acknowledged_writes" }` |
/// | `report_path` | string or null | where `report.json` was written, when given |
///
/// "null" means "not measured": a drill without a restore has no RTO. The webhook URL is never
/// part of the payload.
pub fn payload(report: &RunReport, report_path: Option<&Path>) -> Value {
    let r = report;
    let rpo = r.rpo.as_ref();
    let failed_gates: Vec<Value> = r
        .gates
        .iter()
        .filter(|g| !g.passed)
        .map(|g| json!({ "name": g.gate, "target": g.target, "actual": g.actual }))
        .collect();
    let faults: Vec<Value> = r
        .faults
        .iter()
        .map(|f| {
            json!({
                "name": f.name,
                "fault": f.fault,
                "unavailable_ms": f.unavailable_ms,
                "lost_acknowledged_writes": f.lost_acknowledged_writes,
            })
        })
        .collect();
    json!({
        "payload_version": PAYLOAD_VERSION,
        "text": text(r),
        "tool": r.tool.name,
        "tool_version": r.tool.version,
        "scenario": r.scenario.name,
        "run_id": r.run_id,
        "verdict": r.verdict,
        "passed": r.verdict == Verdict::Passed,
        "exit_code": r.verdict.exit_code(),
        "started_at": r.started_at,
        "finished_at": r.finished_at,
        "duration_ms": r.duration_ms,
        "error": r.error.as_deref().map(|e| truncate(e, 500)),
        "rto_first_write_ms": r.restore.as_ref().map(|x| x.rto_first_write_ms),
        "rto_verified_ms": r.verification.as_ref().and_then(|v| v.rto_verified_ms),
        "rpo_time_gap_ms": rpo.map(|x| x.time_gap_ms),
        "rpo_revision_gap": rpo.and_then(|x| x.revision_gap),
        "lost_acknowledged_writes": rpo.and_then(|x| x.lost_acknowledged_writes),
        "integrity_passed": r.verification.as_ref().map(|v| v.passed),
        "failed_gates": failed_gates,
        "faults": faults,
        "report_path": report_path.map(|p| p.display().to_string()),
    })
}

/// One line for chat: verdict, scenario, run, the headline figures, what failed.
fn text(r: &RunReport) -> String {
    let mut s = format!(
        "etcd-drill {}: scenario {} (run {}, exit {})",
        r.verdict.word(),
        r.scenario.name,
        r.run_id,
        r.verdict.exit_code()
    );
    let mut figures = Vec::new();
    if let Some(x) = &r.restore {
        figures.push(format!("RTO {} ms", x.rto_first_write_ms));
    }
    if let Some(ms) = r.verification.as_ref().and_then(|v| v.rto_verified_ms) {
        figures.push(format!("verified after {ms} ms"));
    }
    if let Some(rpo) = &r.rpo {
        figures.push(format!("RPO {} ms", rpo.time_gap_ms));
        if let Some(lost) = rpo.lost_acknowledged_writes {
            figures.push(format!("{lost} acknowledged writes lost"));
        }
    }
    if let Some(v) = &r.verification {
        figures.push(format!(
            "integrity {}",
            if v.passed { "ok" } else { "FAILED" }
        ));
    }
    if !figures.is_empty() {
        s.push_str(": ");
        s.push_str(&figures.join(", "));
    }
    let failed: Vec<String> = r
        .gates
        .iter()
        .filter(|g| !g.passed)
        .map(|g| format!("{} (target {}, actual {})", g.gate, g.target, g.actual))
        .collect();
    if !failed.is_empty() {
        s.push_str("; failed gates: ");
        s.push_str(&failed.join("; "));
    }
    if let Some(e) = &r.error {
        s.push_str("; error: ");
        s.push_str(&truncate(e, 300));
    }
    s
}

fn truncate(s: &str, max_chars: usize) -> String {
    match s.char_indices().nth(max_chars) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// POSTs `payload` to `url` with `Content-Type: application/json`; returns the HTTP status when
/// it is 2xx. `deadline` covers everything: DNS, connect, TLS, sending, and the answer's status
/// line and headers (the answer's body is not read).
pub async fn notify(url: &str, payload: &Value, deadline: Duration) -> Result<u16, NotifyError> {
    let target = parse(url).map_err(|reason| NotifyError::BadUrl {
        kind: "webhook",
        webhook: redact(url),
        reason,
    })?;
    let request = Request {
        kind: "webhook",
        url,
        target,
        method: reqwest::Method::POST,
        content_type: "application/json",
        body: payload.to_string(),
    };
    send(request, deadline).await
}

/// The Pushgateway's text format (what it parses; `metrics.prom`'s OpenMetrics lines beyond it
/// are comments to it).
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4";

/// PUTs a run's `metrics.prom` to a Pushgateway, grouped by job `etcd_drill`, the scenario and
/// the etcd version, so each one's newest run replaces its previous one (a matrix over
/// versions keeps one group per version). Same deadline rules as `notify`.
pub async fn push_metrics(
    gateway: &str,
    (scenario, etcd_version): (&str, &str),
    metrics: String,
    deadline: Duration,
) -> Result<u16, NotifyError> {
    let bad = |reason: String| NotifyError::BadUrl {
        kind: "pushgateway",
        webhook: redact(gateway),
        reason,
    };
    let mut target = parse(gateway).map_err(bad)?;
    target
        .path_segments_mut()
        .map_err(|()| bad("cannot take a path".into()))?
        .pop_if_empty()
        .extend(["metrics", "job", "etcd_drill", "scenario", scenario])
        .extend(["etcd_version", etcd_version]);
    let request = Request {
        kind: "pushgateway",
        url: gateway,
        target,
        method: reqwest::Method::PUT,
        content_type: PROMETHEUS_TEXT,
        body: metrics,
    };
    send(request, deadline).await
}

struct Request<'a> {
    kind: &'static str,
    /// As the user gave it: only ever shown redacted.
    url: &'a str,
    target: reqwest::Url,
    method: reqwest::Method,
    content_type: &'static str,
    body: String,
}

async fn send(req: Request<'_>, deadline: Duration) -> Result<u16, NotifyError> {
    let (kind, url) = (req.kind, req.url);
    let webhook = redact(url);
    let client = reqwest::Client::builder()
        .timeout(deadline)
        .connect_timeout(deadline)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!(
            env!("CARGO_PKG_NAME"),
            "/",
            env!("CARGO_PKG_VERSION")
        ))
        .build()
        .map_err(|e| NotifyError::Client {
            kind,
            webhook: webhook.clone(),
            detail: detail(e, url),
        })?;
    let send = client
        .request(req.method, req.target)
        .header(reqwest::header::CONTENT_TYPE, req.content_type)
        .body(req.body)
        .send();
    let timeout = || NotifyError::Timeout {
        kind,
        webhook: webhook.clone(),
        deadline_ms: deadline.as_millis().try_into().unwrap_or(u64::MAX),
    };
    let response = match tokio::time::timeout(deadline, send).await {
        Err(_) => return Err(timeout()),
        Ok(Err(e)) if e.is_timeout() => return Err(timeout()),
        Ok(Err(e)) if e.is_connect() => {
            return Err(NotifyError::Connect {
                kind,
                webhook: webhook.clone(),
                detail: detail(e, url),
            })
        }
        Ok(Err(e)) => {
            return Err(NotifyError::Request {
                kind,
                webhook: webhook.clone(),
                detail: detail(e, url),
            })
        }
        Ok(Ok(response)) => response,
    };
    let status = response.status();
    if status.is_success() {
        Ok(status.as_u16())
    } else {
        Err(NotifyError::Status {
            kind,
            webhook,
            status: status.as_u16(),
        })
    }
}

/// An http(s) URL with a host, or why not (the reason never quotes the URL).
fn parse(url: &str) -> Result<reqwest::Url, String> {
    let u = reqwest::Url::parse(url).map_err(|e| e.to_string())?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(format!(
            "unsupported scheme {:?}: expected http or https",
            u.scheme()
        ));
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err("no host".into());
    }
    Ok(u)
}

/// The innermost cause of a client error (e.g. "Connection refused (os error 111)",
/// "invalid peer certificate: UnknownIssuer"), with anything from the URL beyond its host cut out.
fn detail(e: reqwest::Error, url: &str) -> String {
    let e = e.without_url();
    let mut cause: &dyn std::error::Error = &e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    scrub(&cause.to_string(), url)
}

/// Removes the URL and its secret-bearing parts (userinfo, path, query, fragment) from `text`.
fn scrub(text: &str, url: &str) -> String {
    let mut out = text.replace(url, "<webhook>");
    if let Ok(u) = reqwest::Url::parse(url) {
        let mut secrets: Vec<String> = Vec::new();
        if !u.username().is_empty() {
            secrets.push(u.username().to_string());
        }
        if let Some(p) = u.password() {
            secrets.push(p.to_string());
        }
        if u.path() != "/" {
            secrets.push(u.path().to_string());
        }
        secrets.extend(u.query().map(str::to_string));
        secrets.extend(u.fragment().map(str::to_string));
        for s in secrets.iter().filter(|s| !s.is_empty()) {
            out = out.replace(s.as_str(), "<redacted>");
        }
    }
    out
}

/// `scheme://host:port` of `url`, for messages: no userinfo, path, query or fragment. The port
/// is the explicit one or the scheme's default. An unparsable URL gives `<invalid url>`.
pub fn redact(url: &str) -> String {
    let Ok(u) = reqwest::Url::parse(url) else {
        return "<invalid url>".into();
    };
    let host = match u.host_str() {
        Some(h) if !h.is_empty() => h,
        _ => return format!("{}://<no host>", u.scheme()),
    };
    match u.port_or_known_default() {
        Some(port) => format!("{}://{host}:{port}", u.scheme()),
        None => format!("{}://{host}", u.scheme()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_keeps_scheme_host_port_only() {
        let secret = "https://user:pw@hooks.example.com/services/T000/B000/XXXX?token=abc#frag";
        assert_eq!(redact(secret), "https://hooks.example.com:443");
        assert_eq!(redact("http://127.0.0.1:8080/x"), "http://127.0.0.1:8080");
        assert_eq!(redact("http://[::1]/x"), "http://[::1]:80");
        assert_eq!(redact("not a url /secret"), "<invalid url>");
    }

    #[test]
    fn scrub_removes_path_query_userinfo() {
        let url = "https://u:pw@h.example/services/T0/B0/XX?token=abc";
        let s = scrub(
            &format!("failed for {url} at /services/T0/B0/XX with token=abc, pw"),
            url,
        );
        assert!(
            !s.contains("XX") && !s.contains("abc") && !s.contains("pw"),
            "{s}"
        );
    }

    #[test]
    fn parse_rejects_other_schemes() {
        assert!(parse("ftp://h/x")
            .unwrap_err()
            .contains("unsupported scheme"));
        assert!(parse("https://hooks.example.com/x").is_ok());
        assert!(parse("/relative").is_err());
    }

    #[test]
    fn truncate_is_char_safe() {
        assert_eq!(truncate("ééé", 2), "éé…");
        assert_eq!(truncate("ab", 5), "ab");
    }
}
