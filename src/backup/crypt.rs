//! Encryption at rest for stored backups, with age (X25519 recipients): a snapshot is encrypted
//! before it leaves the harness for any store, and decrypted into the restore folder before any
//! member is touched. Both directions stream through files (memory flat in the snapshot's
//! size). Identities are read from their file when a restore needs them and never written
//! anywhere; recipients are public keys.

use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

#[derive(Debug, thiserror::Error)]
pub enum CryptError {
    #[error("{0:?} is not an age X25519 recipient (age1…)")]
    Recipient(String),
    #[error("cannot read the age identity {path}: {detail}")]
    Identity { path: PathBuf, detail: String },
    #[error("cannot encrypt {path}: {detail}")]
    Encrypt { path: PathBuf, detail: String },
    /// A wrong identity, or a ciphertext that was changed: age authenticates every chunk.
    #[error("cannot decrypt {path}: {detail}")]
    Decrypt { path: PathBuf, detail: String },
}

/// Parses age X25519 recipients (public keys).
pub fn recipients(keys: &[String]) -> Result<Vec<age::x25519::Recipient>, CryptError> {
    keys.iter()
        .map(|k| {
            age::x25519::Recipient::from_str(k.trim()).map_err(|_| CryptError::Recipient(k.clone()))
        })
        .collect()
}

/// The identities of an age identity file (`age-keygen` output).
pub fn identities(path: &Path) -> Result<Vec<Box<dyn age::Identity>>, CryptError> {
    let bad = |detail: String| CryptError::Identity {
        path: path.into(),
        detail,
    };
    age::IdentityFile::from_file(path.to_string_lossy().into_owned())
        .map_err(|e| bad(e.to_string()))?
        .into_identities()
        .map_err(|e| bad(e.to_string()))
}

/// A writer that hashes what passes through it.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
    bytes: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Encrypts `plain` into `out` for `to`; returns the ciphertext's size and SHA-256.
pub fn encrypt_file(
    plain: &Path,
    out: &Path,
    to: &[age::x25519::Recipient],
) -> Result<(u64, String), CryptError> {
    let fail = |detail: String| CryptError::Encrypt {
        path: plain.into(),
        detail,
    };
    let encryptor = age::Encryptor::with_recipients(to.iter().map(|r| r as &dyn age::Recipient))
        .map_err(|e| fail(e.to_string()))?;
    let sink = Hashing {
        inner: BufWriter::with_capacity(
            1 << 20,
            File::create(out).map_err(|e| fail(e.to_string()))?,
        ),
        hash: Sha256::new(),
        bytes: 0,
    };
    let mut writer = encryptor
        .wrap_output(sink)
        .map_err(|e| fail(e.to_string()))?;
    let mut input =
        BufReader::with_capacity(1 << 20, File::open(plain).map_err(|e| fail(e.to_string()))?);
    io::copy(&mut input, &mut writer).map_err(|e| fail(e.to_string()))?;
    let mut sink = writer.finish().map_err(|e| fail(e.to_string()))?;
    sink.flush().map_err(|e| fail(e.to_string()))?;
    Ok((sink.bytes, hex::encode(sink.hash.finalize())))
}

/// Decrypts `cipher` into `out` with `identities`. A wrong identity or a changed byte fails
/// here, and `out` is removed.
pub fn decrypt_file(
    cipher: &Path,
    out: &Path,
    identities: &[Box<dyn age::Identity>],
) -> Result<(), CryptError> {
    let fail = |detail: String| CryptError::Decrypt {
        path: cipher.into(),
        detail,
    };
    let run = || -> Result<(), CryptError> {
        let input = BufReader::with_capacity(
            1 << 20,
            File::open(cipher).map_err(|e| fail(e.to_string()))?,
        );
        let decryptor = age::Decryptor::new_buffered(input).map_err(|e| fail(e.to_string()))?;
        let mut reader = decryptor
            .decrypt(identities.iter().map(|i| i.as_ref() as &dyn age::Identity))
            .map_err(|e| fail(e.to_string()))?;
        let mut output =
            BufWriter::with_capacity(1 << 20, File::create(out).map_err(|e| fail(e.to_string()))?);
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = reader.read(&mut buf).map_err(|e| fail(e.to_string()))?;
            if n == 0 {
                break;
            }
            output
                .write_all(&buf[..n])
                .map_err(|e| fail(e.to_string()))?;
        }
        output.flush().map_err(|e| fail(e.to_string()))
    };
    run().inspect_err(|_| {
        let _ = std::fs::remove_file(out);
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use age::secrecy::ExposeSecret;

    fn pair(dir: &Path, name: &str) -> (PathBuf, age::x25519::Recipient) {
        let id = age::x25519::Identity::generate();
        let path = dir.join(name);
        std::fs::write(&path, format!("{}\n", id.to_string().expose_secret())).unwrap();
        (path, id.to_public())
    }

    #[test]
    fn a_snapshot_round_trips_and_a_wrong_key_or_a_flipped_byte_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let plain = d.path().join("snap.db");
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&plain, &data).unwrap();
        let (mine, to) = pair(d.path(), "mine.txt");
        let (theirs, _) = pair(d.path(), "theirs.txt");
        let cipher = d.path().join("snap.db.age");
        let (size, sha) = encrypt_file(&plain, &cipher, &[to]).unwrap();
        let bytes = std::fs::read(&cipher).unwrap();
        assert_eq!(size, bytes.len() as u64);
        assert_eq!(sha, hex::encode(Sha256::digest(&bytes)));
        assert!(
            !bytes.windows(64).any(|w| w == &data[1000..1064]),
            "ciphertext, not plaintext"
        );

        let back = d.path().join("back.db");
        decrypt_file(&cipher, &back, &identities(&mine).unwrap()).unwrap();
        assert_eq!(std::fs::read(&back).unwrap(), data);

        let e = decrypt_file(&cipher, &back, &identities(&theirs).unwrap()).unwrap_err();
        assert!(matches!(e, CryptError::Decrypt { .. }), "{e}");
        assert!(!back.exists(), "nothing half-decrypted is left");

        let mut flipped = bytes.clone();
        let mid = flipped.len() / 2;
        flipped[mid] ^= 0xff;
        std::fs::write(&cipher, flipped).unwrap();
        assert!(decrypt_file(&cipher, &back, &identities(&mine).unwrap()).is_err());
        assert!(recipients(&["age1nope".into()]).is_err());
    }
}
