//! Signed evidence: a run's `MANIFEST.sha256` signed with Ed25519 in minisign's format, so an
//! auditor checks it with the standard tool (`minisign -Vm MANIFEST.sha256 -p drill.pub`) or
//! with `etcd-drill verify-report --public-key drill.pub`. The manifest holds the SHA-256 of
//! every file, so the signature covers the whole folder. The secret key is read from its file
//! into memory and never leaves it: the report names only its public key id.

use crate::report::manifest::{MANIFEST, SIGNATURE};
use minisign::{PublicKey, PublicKeyBox, SecretKey, SecretKeyBox, SignatureBox};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The password of an encrypted secret key (`minisign -G`); unset for a key without one
/// (`minisign -G -W`, `etcd-drill keygen` without it).
pub const PASSWORD_ENV: &str = "ETCD_DRILL_SIGN_PASSWORD";

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path} does not open as a minisign secret key ({detail}); an encrypted key needs its password in {PASSWORD_ENV}")]
    SecretKey { path: PathBuf, detail: String },
    #[error("{path} is not a minisign public key: {detail}")]
    PublicKey { path: PathBuf, detail: String },
    #[error("cannot sign {path}: {detail}")]
    Sign { path: PathBuf, detail: String },
    #[error("{path} already exists: not overwriting a key")]
    Exists { path: PathBuf },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// A loaded secret key. `Debug` shows the key id only.
pub struct Signer {
    secret: SecretKey,
    public: PublicKey,
    key_id: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signer(key id {})", self.key_id)
    }
}

/// minisign's key id: the 8-byte key number as a little-endian integer, 16 hex digits, as
/// `minisign` prints it.
pub fn key_id(keynum: &[u8]) -> String {
    let mut n = [0u8; 8];
    let len = keynum.len().min(8);
    n[..len].copy_from_slice(&keynum[..len]);
    format!("{:016X}", u64::from_le_bytes(n))
}

impl Signer {
    /// Loads `path` with the password from [`PASSWORD_ENV`] (none when unset).
    pub fn load(path: &Path) -> Result<Signer, SignError> {
        let password = std::env::var(PASSWORD_ENV).unwrap_or_default();
        Signer::load_with(path, &password)
    }

    pub fn load_with(path: &Path, password: &str) -> Result<Signer, SignError> {
        let text = fs::read_to_string(path).map_err(|source| SignError::Read {
            path: path.into(),
            source,
        })?;
        let bad = |e: minisign::PError| SignError::SecretKey {
            path: path.into(),
            detail: e.to_string(),
        };
        // Always a password (maybe empty): minisign would otherwise prompt on the terminal.
        let opened = SecretKeyBox::from_string(&text)
            .and_then(|b| SecretKey::from_box(b, Some(password.into())));
        let secret = match opened {
            Ok(s) => s,
            Err(e) => unprotected_without_checksum(&text).ok_or_else(|| bad(e))?,
        };
        let public = PublicKey::from_secret_key(&secret).map_err(bad)?;
        let key_id = key_id(secret.keynum());
        Ok(Signer {
            secret,
            public,
            key_id,
        })
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Signs `run_dir/MANIFEST.sha256` into `run_dir/MANIFEST.sha256.minisig`. The trusted
    /// comment (signed too) names the run, so a signature cannot be moved to another folder
    /// unnoticed.
    pub fn sign_manifest(
        &self,
        run_dir: &Path,
        run_id: &str,
        scenario: &str,
    ) -> Result<PathBuf, SignError> {
        let manifest = run_dir.join(MANIFEST);
        let data = fs::File::open(&manifest).map_err(|source| SignError::Read {
            path: manifest.clone(),
            source,
        })?;
        let trusted = trusted_comment(run_id, scenario);
        let untrusted = format!("etcd-drill evidence, key id {}", self.key_id);
        let signature = minisign::sign(
            Some(&self.public),
            &self.secret,
            data,
            Some(&trusted),
            Some(&untrusted),
        )
        .map_err(|e| SignError::Sign {
            path: manifest.clone(),
            detail: e.to_string(),
        })?;
        let path = run_dir.join(SIGNATURE);
        fs::write(&path, signature.into_string()).map_err(|source| SignError::Write {
            path: path.clone(),
            source,
        })?;
        Ok(path)
    }
}

/// A secret key without a password written as `minisign -G -W` writes one: no KDF (the crate
/// would name scrypt over an empty password, which the minisign tool then fails to open as
/// "Wrong password"), no salt or limits, its checksum kept, so both read it without asking.
fn unprotected_box(sk: &SecretKey, comment: &str) -> String {
    use base64::Engine;
    let mut bytes = sk.to_bytes();
    // sig_alg (2) · kdf_alg (2) · chk_alg (2) · salt (32) · opslimit (8) · memlimit (8) · …
    bytes[2..4].copy_from_slice(&[0, 0]);
    bytes[6..54].fill(0);
    format!(
        "untrusted comment: {comment}\n{}\n",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// A key made by `minisign -G -W` before 0.12: no password (no KDF) and no checksum written,
/// which the crate refuses as a wrong password. Its Ed25519 key is whole, so it is used as is.
fn unprotected_without_checksum(text: &str) -> Option<SecretKey> {
    use base64::Engine;
    let line = text.lines().nth(1)?.trim();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(line)
        .ok()?;
    // sig_alg (2) · kdf_alg (2) · … · checksum (the last 32 bytes).
    let no_kdf = bytes.get(2..4)? == [0, 0];
    let no_checksum = bytes.len() > 32 && bytes[bytes.len() - 32..].iter().all(|&b| b == 0);
    (no_kdf && no_checksum)
        .then(|| SecretKey::from_bytes(&bytes).ok())
        .flatten()
}

/// What the signature's trusted comment says for a run.
pub fn trusted_comment(run_id: &str, scenario: &str) -> String {
    format!("etcd-drill run {run_id} scenario {scenario}")
}

/// A public key from a minisign `.pub` file (two lines) or the bare base64 key.
pub fn read_public_key(path: &Path) -> Result<PublicKey, SignError> {
    let text = fs::read_to_string(path).map_err(|source| SignError::Read {
        path: path.into(),
        source,
    })?;
    let bad = |e: minisign::PError| SignError::PublicKey {
        path: path.into(),
        detail: e.to_string(),
    };
    let text = text.trim();
    if text.lines().count() >= 2 {
        PublicKey::from_box(PublicKeyBox::from_string(text).map_err(bad)?).map_err(bad)
    } else {
        PublicKey::from_base64(text).map_err(bad)
    }
}

/// A new key pair: `secret` (encrypted when `password` is not empty) and `public`, in
/// minisign's file formats. Refuses to overwrite. Returns the key id.
pub fn generate(secret: &Path, public: &Path, password: &str) -> Result<String, SignError> {
    for p in [secret, public] {
        if p.exists() {
            return Err(SignError::Exists { path: p.into() });
        }
    }
    let fail = |path: &Path| {
        let path = path.to_path_buf();
        move |e: minisign::PError| SignError::Sign {
            path,
            detail: e.to_string(),
        }
    };
    let pair = minisign::KeyPair::generate_encrypted_keypair(Some(password.into()))
        .map_err(fail(secret))?;
    let id = key_id(pair.pk.keynum());
    let comment = format!("etcd-drill secret key {id}");
    let sk_text = if password.is_empty() {
        unprotected_box(&pair.sk, &comment)
    } else {
        pair.sk
            .to_box(Some(&comment))
            .map_err(fail(secret))?
            .into_string()
    };
    let pk_text = pair.pk.to_box().map_err(fail(public))?.into_string();
    write_new(secret, &sk_text, 0o600)?;
    write_new(public, &pk_text, 0o644)?;
    Ok(id)
}

fn write_new(path: &Path, text: &str, mode: u32) -> Result<(), SignError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let werr = |source| SignError::Write {
        path: path.into(),
        source,
    };
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(werr)?;
    f.write_all(text.as_bytes()).map_err(werr)
}

/// What a run directory's signature says, checked against a public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureCheck {
    /// Made by this key over this manifest; the trusted comment it carries.
    Valid { key_id: String, trusted: String },
    /// There is a signature but it does not hold: the reason.
    Invalid(String),
    /// No `MANIFEST.sha256.minisig`.
    Unsigned,
}

/// Checks `run_dir`'s signature of its manifest with `public`.
pub fn check(run_dir: &Path, public: &PublicKey) -> SignatureCheck {
    let sig_path = run_dir.join(SIGNATURE);
    let text = match fs::read_to_string(&sig_path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return SignatureCheck::Unsigned,
        Err(e) => return SignatureCheck::Invalid(format!("cannot read {SIGNATURE}: {e}")),
    };
    let sig = match SignatureBox::from_string(&text) {
        Ok(s) => s,
        Err(e) => {
            return SignatureCheck::Invalid(format!("{SIGNATURE} is not a minisign signature: {e}"))
        }
    };
    let manifest = match fs::File::open(run_dir.join(MANIFEST)) {
        Ok(f) => f,
        Err(e) => return SignatureCheck::Invalid(format!("cannot read {MANIFEST}: {e}")),
    };
    let signed_by = key_id(sig.keynum());
    match minisign::verify(public, &sig, manifest, true, false, false) {
        Ok(()) => SignatureCheck::Valid {
            key_id: signed_by,
            trusted: sig.trusted_comment().unwrap_or_default(),
        },
        Err(e) => SignatureCheck::Invalid(format!(
            "{SIGNATURE} (key id {signed_by}) does not verify with key id {}: {e}",
            key_id(public.keynum())
        )),
    }
}

/// The key id a run directory's signature names, without checking it.
pub fn signed_by(run_dir: &Path) -> Option<String> {
    let text = fs::read_to_string(run_dir.join(SIGNATURE)).ok()?;
    SignatureBox::from_string(&text)
        .ok()
        .map(|s| key_id(s.keynum()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_dir() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("report.json"), "{}").unwrap();
        crate::report::manifest::write_manifest(d.path()).unwrap();
        d
    }

    #[test]
    fn a_signed_manifest_verifies_and_a_changed_one_does_not() {
        let keys = tempfile::tempdir().unwrap();
        let (sk, pk) = (keys.path().join("k.key"), keys.path().join("k.pub"));
        let id = generate(&sk, &pk, "").unwrap();
        let signer = Signer::load_with(&sk, "").unwrap();
        assert_eq!(signer.key_id(), id);
        let d = run_dir();
        signer.sign_manifest(d.path(), "r1", "quickstart").unwrap();
        let public = read_public_key(&pk).unwrap();
        match check(d.path(), &public) {
            SignatureCheck::Valid { key_id, trusted } => {
                assert_eq!(key_id, id);
                assert_eq!(trusted, trusted_comment("r1", "quickstart"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(signed_by(d.path()), Some(id));
        let m = d.path().join(MANIFEST);
        let mut text = fs::read_to_string(&m).unwrap();
        text.push_str(&format!("{}  extra\n", "0".repeat(64)));
        fs::write(&m, text).unwrap();
        assert!(matches!(
            check(d.path(), &public),
            SignatureCheck::Invalid(_)
        ));
    }

    #[test]
    fn another_key_does_not_verify_and_an_encrypted_key_needs_its_password() {
        let keys = tempfile::tempdir().unwrap();
        let p = |n: &str| keys.path().join(n);
        generate(&p("a.key"), &p("a.pub"), "").unwrap();
        generate(&p("b.key"), &p("b.pub"), "secret words").unwrap();
        assert!(matches!(
            Signer::load_with(&p("b.key"), ""),
            Err(SignError::SecretKey { .. })
        ));
        assert!(Signer::load_with(&p("b.key"), "wrong").is_err());
        let b = Signer::load_with(&p("b.key"), "secret words").unwrap();
        let d = run_dir();
        b.sign_manifest(d.path(), "r1", "s").unwrap();
        let a_pub = read_public_key(&p("a.pub")).unwrap();
        assert!(matches!(
            check(d.path(), &a_pub),
            SignatureCheck::Invalid(_)
        ));
        assert!(matches!(
            generate(&p("a.key"), &p("c.pub"), ""),
            Err(SignError::Exists { .. })
        ));
        assert!(!format!("{b:?}").contains(&format!("{:?}", b.secret)));
    }
}
