//! TLS for a drill's cluster: a CA made for the run, one server, one peer and one client
//! certificate (rcgen), client and peer mTLS in etcd, and every harness connection over it.
//! The files live in `<run dir>/tls/` so an operator's usual `etcdctl --cacert --cert --key`
//! works; reports name the paths, never the keys.

use crate::record::TlsInfo;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

/// Where the files go inside member containers.
pub const IN_CONTAINER: &str = "/etc/etcd-drill/tls";

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot generate the run's {what} certificate: {source}")]
    Generate {
        what: &'static str,
        #[source]
        source: rcgen::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The run's PEM material, in memory (to upload into containers) and on disk (for operators).
#[derive(Clone)]
pub struct TlsFiles {
    pub dir: PathBuf,
    pub ca: String,
    pub server_cert: String,
    server_key: String,
    pub peer_cert: String,
    peer_key: String,
    pub client_cert: String,
    client_key: String,
}

fn leaf(
    what: &'static str,
    names: &[String],
    usages: Vec<ExtendedKeyUsagePurpose>,
    issuer: &Issuer<'_, KeyPair>,
) -> Result<(String, String), TlsError> {
    let err = |source| TlsError::Generate { what, source };
    let mut params = CertificateParams::new(names.to_vec()).map_err(err)?;
    params
        .distinguished_name
        .push(DnType::CommonName, format!("etcd-drill {what}"));
    params.extended_key_usages = usages;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    let key = KeyPair::generate().map_err(err)?;
    let cert = params.signed_by(&key, issuer).map_err(err)?;
    Ok((cert.pem(), key.serialize_pem()))
}

impl TlsFiles {
    /// A fresh CA and certificates for `members` (their names are also their hostnames on the
    /// run's network; 127.0.0.1 and localhost are added for the harness).
    pub fn generate(dir: &Path, members: &[String], engine: &str) -> Result<TlsFiles, TlsError> {
        let err = |source| TlsError::Generate { what: "CA", source };
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "etcd-drill run CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_key = KeyPair::generate().map_err(err)?;
        let ca_cert = ca_params.self_signed(&ca_key).map_err(err)?;
        let issuer = Issuer::new(ca_params, ca_key);
        let mut names: Vec<String> = members.to_vec();
        names.extend(["localhost".to_string(), "127.0.0.1".to_string()]);
        if engine != "127.0.0.1" {
            names.push(engine.to_string());
        }
        use ExtendedKeyUsagePurpose::{ClientAuth, ServerAuth};
        let (server_cert, server_key) =
            leaf("server", &names, vec![ServerAuth, ClientAuth], &issuer)?;
        let (peer_cert, peer_key) = leaf("peer", &names, vec![ServerAuth, ClientAuth], &issuer)?;
        let (client_cert, client_key) = leaf(
            "client",
            &["etcd-drill-client".to_string()],
            vec![ClientAuth],
            &issuer,
        )?;
        let files = TlsFiles {
            dir: dir.to_path_buf(),
            ca: ca_cert.pem(),
            server_cert,
            server_key,
            peer_cert,
            peer_key,
            client_cert,
            client_key,
        };
        files.write()?;
        Ok(files)
    }

    fn entries(&self) -> Vec<(&'static str, &str, u32)> {
        vec![
            ("ca.crt", self.ca.as_str(), 0o644),
            ("server.crt", self.server_cert.as_str(), 0o644),
            ("server.key", self.server_key.as_str(), 0o600),
            ("peer.crt", self.peer_cert.as_str(), 0o644),
            ("peer.key", self.peer_key.as_str(), 0o600),
            ("client.crt", self.client_cert.as_str(), 0o644),
            ("client.key", self.client_key.as_str(), 0o600),
        ]
    }

    /// Deletes the private keys once the cluster they open is gone. The run's folder is
    /// evidence that gets archived and uploaded (CI artifacts), and keys are secrets; the
    /// certificates stay, to show what the cluster ran with. Returns how many were deleted.
    pub fn remove_keys(dir: &Path) -> std::io::Result<usize> {
        let mut n = 0;
        for name in ["server.key", "peer.key", "client.key"] {
            match std::fs::remove_file(dir.join(name)) {
                Ok(()) => n += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }

    fn write(&self) -> Result<(), TlsError> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let werr = |path: PathBuf| {
            move |source| TlsError::Write {
                path: path.clone(),
                source,
            }
        };
        std::fs::create_dir_all(&self.dir).map_err(werr(self.dir.clone()))?;
        for (name, pem, mode) in self.entries() {
            let path = self.dir.join(name);
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(mode)
                .open(&path)
                .map_err(werr(path.clone()))?;
            f.write_all(pem.as_bytes()).map_err(werr(path.clone()))?;
        }
        Ok(())
    }

    /// The files packed for upload into a member container at `IN_CONTAINER`. The etcd image
    /// runs as root, so 0600 keys stay readable to etcd.
    pub fn tar(&self) -> std::io::Result<Vec<u8>> {
        let entries: Vec<(String, u32, &[u8])> = self
            .entries()
            .into_iter()
            .map(|(n, pem, mode)| {
                (
                    format!("{}/{n}", IN_CONTAINER.trim_start_matches('/')),
                    mode,
                    pem.as_bytes(),
                )
            })
            .collect();
        let refs: Vec<(&str, u32, &[u8])> = entries
            .iter()
            .map(|(n, m, b)| (n.as_str(), *m, *b))
            .collect();
        crate::sandbox::tar_of(&refs)
    }

    pub fn info(&self, example_endpoint: &str) -> TlsInfo {
        let p = |n: &str| self.dir.join(n);
        TlsInfo {
            dir: self.dir.clone(),
            ca: p("ca.crt"),
            client_cert: p("client.crt"),
            client_key: p("client.key"),
            etcdctl: format!(
                "etcdctl --endpoints {example_endpoint} --cacert {} --cert {} --key {} endpoint status",
                p("ca.crt").display(),
                p("client.crt").display(),
                p("client.key").display()
            ),
        }
    }

    pub fn options(&self) -> etcd_client::TlsOptions {
        etcd_client::TlsOptions::new()
            .ca_certificate(etcd_client::Certificate::from_pem(self.ca.as_bytes()))
            .identity(etcd_client::Identity::from_pem(
                self.client_cert.as_bytes(),
                self.client_key.as_bytes(),
            ))
            .domain_name("localhost")
    }
}

/// TLS settings per published client port. `cluster::connect` looks an https endpoint up here,
/// so every harness connection to a TLS cluster uses the run's client certificate without
/// threading it through every call. Ports are unique while a run lives.
fn registry() -> &'static Mutex<HashMap<u16, Arc<TlsFiles>>> {
    static REGISTRY: OnceLock<Mutex<HashMap<u16, Arc<TlsFiles>>>> = OnceLock::new();
    REGISTRY.get_or_init(|| Mutex::new(HashMap::new()))
}

pub fn register(port: u16, files: Arc<TlsFiles>) {
    if let Ok(mut r) = registry().lock() {
        r.insert(port, files);
    }
}

pub fn lookup(endpoint: &str) -> Option<Arc<TlsFiles>> {
    let port: u16 = endpoint
        .rsplit(':')
        .next()?
        .trim_end_matches('/')
        .parse()
        .ok()?;
    registry().lock().ok()?.get(&port).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_files_with_private_keys_readable_only_by_the_owner() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let t = TlsFiles::generate(
            &dir.path().join("tls"),
            &["etcd-1".into(), "etcd-2".into()],
            "127.0.0.1",
        )
        .unwrap();
        for (name, _, mode) in t.entries() {
            let m = std::fs::metadata(dir.path().join("tls").join(name))
                .unwrap()
                .permissions()
                .mode()
                & 0o777;
            assert_eq!(m, mode, "{name}");
        }
        assert!(t.ca.starts_with("-----BEGIN CERTIFICATE-----"));
        let info = serde_json::to_string(&t.info("https://127.0.0.1:1")).unwrap();
        assert!(!info.contains("PRIVATE KEY"), "{info}");
        assert!(t.tar().unwrap().len() > 1000);
    }
}
