//! Small serde and time helpers shared by the report and the plan.

use std::time::{Duration, SystemTime};

/// Durations as whole milliseconds in JSON: readable by people and by `jq`.
pub mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

pub mod opt_millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;
    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&(d.as_millis() as u64)),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_millis))
    }
}

/// RFC 3339 UTC with milliseconds, e.g. `2026-11-24T22:40:18.123Z`.
pub fn utc(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// An age in the largest units that keep it readable: `3d 4h`, `5h 12m`, `40s`.
pub fn age_text(ms: u64) -> String {
    let s = ms / 1000;
    let (d, h, m) = (s / 86_400, s / 3600 % 24, s / 60 % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, m) => format!("{m}m {}s", s % 60),
        (0, h, m) => format!("{h}h {m}m"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

/// A time as ms since the Unix epoch (0 before it).
pub fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// `utc` of a time given in ms since the Unix epoch.
pub fn utc_ms(ms: u64) -> String {
    utc(std::time::UNIX_EPOCH + Duration::from_millis(ms))
}

pub fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

/// `scheme://host:port` of a URL and nothing else: URLs may carry credentials or tokens in
/// their user info, path or query, and reports must never hold secrets.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit('@').next().unwrap_or("");
    if scheme.is_empty() {
        host.to_string()
    } else {
        format!("{scheme}://{host}")
    }
}

/// The error and its causes, on one line.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let c = cause.to_string();
        if !s.contains(&c) {
            s.push_str(": ");
            s.push_str(&c);
        }
        source = cause.source();
    }
    s
}

/// The SHA-256 of a file, in lowercase hex, read in pieces (a file of any size, flat memory).
pub fn sha256_file(path: &std::path::Path) -> std::io::Result<String> {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    let file = std::fs::File::open(path)?;
    std::io::copy(
        &mut std::io::BufReader::with_capacity(1 << 20, file),
        &mut h,
    )?;
    Ok(hex::encode(h.finalize()))
}

/// `true`, for serde's `default = "…"` of a field that is on unless said otherwise.
pub fn yes() -> bool {
    true
}

#[cfg(test)]
mod tests {
    #[test]
    fn redact_url_keeps_only_scheme_host_and_port() {
        assert_eq!(
            super::redact_url("https://u:p@hooks.example.com:8443/a/b?t=1"),
            "https://hooks.example.com:8443"
        );
        assert_eq!(super::redact_url("127.0.0.1:9000/x"), "127.0.0.1:9000");
    }
}
