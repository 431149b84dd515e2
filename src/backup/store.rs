//! Where backups live: a local directory or S3-compatible object storage, both through
//! `object_store` (no hand-written S3 signing). Credentials come from the environment
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`) and never reach a report.

use crate::scenario::StoreSpec;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, WriteMultipart};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Bytes per part of a multipart upload (S3's minimum is 5 MiB).
const PART: usize = 8 << 20;

/// Deadline of one store operation.
const DEADLINE: Duration = Duration::from_secs(120);

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open backup store {store}: {source}")]
    Open {
        store: String,
        #[source]
        source: Box<object_store::Error>,
    },
    #[error("backup store {store}: {op}{} failed: {}", if name.is_empty() { String::new() } else { format!(" {name}") }, said(source))]
    Op {
        store: String,
        op: &'static str,
        name: String,
        #[source]
        source: Box<object_store::Error>,
    },
    #[error("backup store {store}: {op} {name} got no answer within {DEADLINE:?}")]
    Timeout {
        store: String,
        op: &'static str,
        name: String,
    },
    #[error("cannot read or write {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What a store's error says, on one line: S3's own code and message pulled out of its XML,
/// and a refusal of the credentials called that (whatever the credentials were, they are
/// never part of it).
fn said(e: &object_store::Error) -> String {
    let text = e.to_string();
    let tag = |t: &str| {
        let open = format!("<{t}>");
        let from = text.find(&open)? + open.len();
        let to = from + text[from..].find(&format!("</{t}>"))?;
        Some(text[from..to].to_string())
    };
    let head = text
        .split('<')
        .next()
        .unwrap_or(&text)
        .trim()
        .trim_end_matches(':');
    let head = head.split_whitespace().collect::<Vec<_>>().join(" ");
    let (code, message) = (tag("Code"), tag("Message"));
    let mut out = match (&code, &message) {
        (Some(c), Some(m)) => format!("{head}: {c}: {m}"),
        (Some(c), None) => format!("{head}: {c}"),
        _ => head,
    };
    const REFUSED: [&str; 5] = [
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "AccessDenied",
        "ExpiredToken",
        "InvalidToken",
    ];
    if code.as_deref().is_some_and(|c| REFUSED.contains(&c)) || text.contains("403 Forbidden") {
        out = format!(
            "access refused: the credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, \
             AWS_SESSION_TOKEN, or the role) are not accepted for this bucket; {out}"
        );
    }
    out
}

/// An open store and the prefix every object name goes under.
#[derive(Clone)]
pub struct Store {
    pub spec: StoreSpec,
    inner: Arc<dyn ObjectStore>,
    prefix: String,
    /// The directory of a local store.
    pub local_dir: Option<PathBuf>,
}

/// An object in the store.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Object {
    pub name: String,
    pub size: u64,
    /// When the store last wrote it (ms since the Unix epoch).
    pub modified_ms: u64,
}

/// A prefix is a folder: `drills`, `drills/` and `/drills//` all mean `drills/` (object_store
/// drops empty path parts, and lists only whole folders); empty means the bucket's root.
fn folder_prefix(prefix: &str) -> String {
    prefix
        .split('/')
        .filter(|p| !p.is_empty())
        .map(|p| format!("{p}/"))
        .collect()
}

impl Store {
    pub fn open(spec: &StoreSpec, run_dir: &Path) -> Result<Store, StoreError> {
        let open_err = |source| StoreError::Open {
            store: spec.describe(),
            source: Box::new(source),
        };
        let mut local_dir = None;
        let (inner, prefix): (Arc<dyn ObjectStore>, String) = match spec {
            StoreSpec::Local { dir } => {
                let dir = if dir.is_absolute() {
                    dir.clone()
                } else {
                    run_dir.join(dir)
                };
                std::fs::create_dir_all(&dir).map_err(|source| StoreError::Io {
                    path: dir.clone(),
                    source,
                })?;
                let fs = object_store::local::LocalFileSystem::new_with_prefix(&dir)
                    .map_err(open_err)?;
                local_dir = Some(dir.clone());
                (Arc::new(fs), String::new())
            }
            StoreSpec::S3 {
                bucket,
                prefix,
                endpoint,
                region,
            } => {
                let mut b = object_store::aws::AmazonS3Builder::from_env().with_bucket_name(bucket);
                if let Some(e) = endpoint {
                    b = b
                        .with_endpoint(e)
                        .with_allow_http(e.starts_with("http://"))
                        .with_virtual_hosted_style_request(false);
                }
                // The scenario's region, else AWS_REGION / AWS_DEFAULT_REGION (from_env), else
                // object_store's default.
                if let Some(r) = region {
                    b = b.with_region(r);
                }
                (
                    Arc::new(b.build().map_err(open_err)?),
                    folder_prefix(prefix.as_deref().unwrap_or("")),
                )
            }
        };
        Ok(Store {
            spec: spec.clone(),
            inner,
            prefix,
            local_dir,
        })
    }

    fn path(&self, name: &str) -> ObjectPath {
        ObjectPath::from(format!("{}{name}", self.prefix))
    }

    async fn timed<T>(
        &self,
        op: &'static str,
        name: &str,
        fut: impl std::future::Future<Output = object_store::Result<T>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(DEADLINE, fut).await {
            Err(_) => Err(StoreError::Timeout {
                store: self.spec.describe(),
                op,
                name: name.into(),
            }),
            Ok(Err(source)) => Err(StoreError::Op {
                store: self.spec.describe(),
                op,
                name: name.into(),
                source: Box::new(source),
            }),
            Ok(Ok(v)) => Ok(v),
        }
    }

    /// Uploads `file` in parts of a few MiB read from disk: a snapshot of any size passes
    /// through a bounded buffer.
    pub async fn upload(&self, name: &str, file: &Path) -> Result<u64, StoreError> {
        use tokio::io::AsyncReadExt;
        let io_err = |source| StoreError::Io {
            path: file.into(),
            source,
        };
        let mut f = tokio::fs::File::open(file).await.map_err(io_err)?;
        let upload = self
            .timed("upload", name, self.inner.put_multipart(&self.path(name)))
            .await?;
        let mut w = WriteMultipart::new_with_chunk_size(upload, PART);
        let written = async {
            let mut buf = vec![0u8; PART];
            let mut size = 0u64;
            loop {
                let n = f.read(&mut buf).await.map_err(io_err)?;
                if n == 0 {
                    return Ok(size);
                }
                // At most a few parts in flight: memory stays bounded however large the file.
                self.timed("upload", name, w.wait_for_capacity(2)).await?;
                w.write(&buf[..n]);
                size += n as u64;
            }
        }
        .await;
        match written {
            Ok(size) => {
                self.timed("upload", name, w.finish()).await?;
                Ok(size)
            }
            Err(e) => {
                // An unfinished multipart upload stays (and is billed) until it is aborted.
                let _ = tokio::time::timeout(DEADLINE, w.abort()).await;
                Err(e)
            }
        }
    }

    pub async fn download(&self, name: &str, dest: &Path) -> Result<u64, StoreError> {
        self.download_tapped(name, dest, &mut |_| {}).await
    }

    /// `download`, every chunk also handed to `tap` as it is written (a digest taken on the
    /// way: no second pass over the file).
    pub async fn download_tapped(
        &self,
        name: &str,
        dest: &Path,
        tap: &mut (dyn FnMut(&[u8]) + Send),
    ) -> Result<u64, StoreError> {
        let got = self
            .timed("download", name, self.inner.get(&self.path(name)))
            .await?;
        use futures_util::StreamExt;
        use tokio::io::AsyncWriteExt;
        let io_err = |source| StoreError::Io {
            path: dest.into(),
            source,
        };
        let mut out = tokio::fs::File::create(dest).await.map_err(io_err)?;
        let mut stream = got.into_stream();
        let mut size = 0u64;
        while let Some(chunk) = self
            .timed("download", name, async { Ok(stream.next().await) })
            .await?
        {
            let chunk = chunk.map_err(|source| StoreError::Op {
                store: self.spec.describe(),
                op: "download",
                name: name.into(),
                source: Box::new(source),
            })?;
            tap(&chunk);
            out.write_all(&chunk).await.map_err(io_err)?;
            size += chunk.len() as u64;
        }
        out.flush().await.map_err(io_err)?;
        Ok(size)
    }

    pub async fn delete(&self, name: &str) -> Result<(), StoreError> {
        self.timed("delete", name, self.inner.delete(&self.path(name)))
            .await
    }

    /// Every object under the prefix, by name.
    pub async fn list(&self) -> Result<Vec<Object>, StoreError> {
        use futures_util::TryStreamExt;
        let prefix =
            (!self.prefix.is_empty()).then(|| ObjectPath::from(self.prefix.trim_end_matches('/')));
        let listing = self.inner.list(prefix.as_ref()).try_collect::<Vec<_>>();
        let metas = self.timed("list", "", listing).await?;
        let mut out: Vec<Object> = metas
            .into_iter()
            .map(|m| Object {
                name: m
                    .location
                    .as_ref()
                    .strip_prefix(self.prefix.as_str())
                    .unwrap_or(m.location.as_ref())
                    .to_string(),
                size: m.size,
                modified_ms: m.last_modified.timestamp_millis().max(0) as u64,
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Replaces an object's bytes (backup-file faults damage what is stored).
    pub async fn overwrite(&self, name: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
        self.timed(
            "overwrite",
            name,
            self.inner
                .put(&self.path(name), object_store::PutPayload::from(bytes)),
        )
        .await
        .map(|_| ())
    }

    pub async fn read(&self, name: &str) -> Result<Vec<u8>, StoreError> {
        let got = self
            .timed("read", name, self.inner.get(&self.path(name)))
            .await?;
        Ok(self.timed("read", name, got.bytes()).await?.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_store_uploads_lists_downloads_and_deletes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(
            &StoreSpec::Local {
                dir: "backups".into(),
            },
            dir.path(),
        )
        .unwrap();
        let src = dir.path().join("s.db");
        std::fs::write(&src, b"snapshot bytes").unwrap();
        store.upload("b/2.db", &src).await.unwrap();
        store.upload("b/1.db", &src).await.unwrap();
        let names: Vec<String> = store
            .list()
            .await
            .unwrap()
            .into_iter()
            .map(|o| o.name)
            .collect();
        assert_eq!(names, ["b/1.db", "b/2.db"]);
        let back = dir.path().join("back.db");
        assert_eq!(store.download("b/2.db", &back).await.unwrap(), 14);
        assert_eq!(std::fs::read(&back).unwrap(), b"snapshot bytes");
        store.delete("b/1.db").await.unwrap();
        assert_eq!(store.list().await.unwrap().len(), 1);
    }

    #[test]
    fn a_prefix_is_a_folder() {
        assert_eq!(folder_prefix(""), "");
        assert_eq!(folder_prefix("/"), "");
        assert_eq!(folder_prefix("drills"), "drills/");
        assert_eq!(folder_prefix("drills/"), "drills/");
        assert_eq!(folder_prefix("/a//b/"), "a/b/");
    }

    #[test]
    fn describe_never_shows_credentials() {
        let s = StoreSpec::S3 {
            bucket: "b".into(),
            prefix: Some("p/".into()),
            endpoint: Some("http://user:secret@127.0.0.1:9000/x?token=t".into()),
            region: None,
        };
        let d = s.describe();
        assert!(!d.contains("secret") && !d.contains("token"), "{d}");
    }
}
