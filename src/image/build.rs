//! Getting the image into the Docker engine: inspecting, pulling, and building it from a build
//! context assembled here.

use super::{deadline, ImageError, BUILD_DEADLINE, IMAGE_LABEL, INSPECT_DEADLINE, PULL_DEADLINE};
use crate::sandbox::Runtime;
use std::collections::HashMap;
use std::io;
use std::path::PathBuf;

/// The image's id, or `None` when the engine does not have it.
pub(super) async fn inspect_id(
    docker: &dyn Runtime,
    image: &str,
) -> Result<Option<String>, ImageError> {
    deadline(
        "inspect image",
        image,
        INSPECT_DEADLINE,
        docker.image_id(image),
    )
    .await?
    .map_err(|source| ImageError::Inspect {
        image: image.to_string(),
        source,
    })
}

pub(super) async fn pull(docker: &dyn Runtime, image: &str) -> Result<(), ImageError> {
    deadline("pull image", image, PULL_DEADLINE, docker.pull_image(image))
        .await?
        .map_err(|source| ImageError::Pull {
            image: image.to_string(),
            source,
        })
}

pub(super) async fn build(
    docker: &dyn Runtime,
    image: &str,
    context: Vec<u8>,
) -> Result<(), ImageError> {
    let labels = HashMap::from([(IMAGE_LABEL, "true")]);
    let mut log: Vec<String> = Vec::new();
    let mut on_line = |line: &str| {
        tracing::debug!(target: "etcd_drill::image", "build {image}: {line}");
        log.push(line.to_string());
    };
    let built = docker.build_image(image, context, &labels, &mut on_line);
    let outcome = deadline("build image", image, BUILD_DEADLINE, built).await?;
    match outcome {
        Ok(None) => Ok(()),
        Ok(Some(message)) => Err(ImageError::BuildFailed {
            image: image.to_string(),
            message,
            log_tail: tail(&log),
        }),
        Err(source) => Err(ImageError::Build {
            image: image.to_string(),
            log_tail: tail(&log),
            source,
        }),
    }
}

fn tail(log: &[String]) -> String {
    log[log.len().saturating_sub(3)..].join(" | ")
}

/// The build context: the Dockerfile, the files it copies (by their name in the context, mode
/// 0755: binaries and shared libraries) and an empty `tmp/`.
pub(super) fn build_context(dockerfile: &str, files: &[(String, PathBuf)]) -> io::Result<Vec<u8>> {
    const MTIME: u64 = 1_600_000_000;
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(dockerfile.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(MTIME);
    header.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut header, "Dockerfile", dockerfile.as_bytes())?;
    for (name, path) in files {
        let file = std::fs::File::open(path)
            .map_err(|e| io::Error::new(e.kind(), format!("open {}: {e}", path.display())))?;
        let len = file.metadata()?.len();
        let mut header = tar::Header::new_gnu();
        header.set_size(len);
        header.set_mode(0o755);
        header.set_mtime(MTIME);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, name, io::Read::take(file, len))
            .map_err(|e| io::Error::new(e.kind(), format!("add {}: {e}", path.display())))?;
    }
    let mut header = tar::Header::new_gnu();
    header.set_size(0);
    header.set_mode(0o1777);
    header.set_mtime(MTIME);
    header.set_entry_type(tar::EntryType::Directory);
    tar.append_data(&mut header, "tmp/", io::empty())?;
    tar.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::DOCKERFILE;
    use crate::image::{in_dir, BINARIES};
    use std::io::Read;

    fn named(paths: [PathBuf; 3]) -> Vec<(String, PathBuf)> {
        BINARIES.iter().map(|n| n.to_string()).zip(paths).collect()
    }

    #[test]
    fn build_context_holds_exactly_what_the_dockerfile_copies() {
        let dir = tempfile::tempdir().unwrap();
        let paths = in_dir(dir.path());
        for (name, path) in BINARIES.iter().zip(&paths) {
            std::fs::write(path, format!("binary {name}")).unwrap();
        }
        let bytes = build_context(DOCKERFILE, &named(paths)).unwrap();
        let mut archive = tar::Archive::new(&bytes[..]);
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().to_string_lossy().into_owned();
            let header = entry.header().clone();
            let mut body = String::new();
            entry.read_to_string(&mut body).unwrap();
            match path.as_str() {
                "Dockerfile" => assert_eq!(body, DOCKERFILE),
                "tmp/" | "tmp" => {
                    assert_eq!(header.entry_type(), tar::EntryType::Directory);
                    assert!(body.is_empty());
                }
                name => {
                    assert!(BINARIES.contains(&name), "unexpected entry {name}");
                    assert_eq!(header.entry_type(), tar::EntryType::Regular);
                    assert_eq!(header.mode().unwrap() & 0o7777, 0o755, "{name}");
                    assert_eq!(body, format!("binary {name}"));
                }
            }
            seen.push(path.trim_end_matches('/').to_string());
        }
        seen.sort();
        assert_eq!(seen, ["Dockerfile", "etcd", "etcdctl", "etcdutl", "tmp"]);
    }

    #[test]
    fn build_context_names_a_missing_binary() {
        let dir = tempfile::tempdir().unwrap();
        let err = build_context(DOCKERFILE, &named(in_dir(dir.path()))).unwrap_err();
        assert!(err.to_string().contains("etcd"), "{err}");
    }
}
