//! Getting the image into the Docker engine: inspecting, pulling, and building it from a build
//! context assembled here.

use super::{
    deadline, ImageError, BINARIES, BUILD_DEADLINE, IMAGE_LABEL, INSPECT_DEADLINE, PULL_DEADLINE,
};
use bollard::errors::Error as BollardError;
use bollard::query_parameters::{BuildImageOptionsBuilder, CreateImageOptionsBuilder};
use bollard::Docker;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::io;
use std::path::PathBuf;

/// The image's id, or `None` when the engine does not have it.
pub(super) async fn inspect_id(docker: &Docker, image: &str) -> Result<Option<String>, ImageError> {
    match deadline(
        "inspect image",
        image,
        INSPECT_DEADLINE,
        docker.inspect_image(image),
    )
    .await?
    {
        Ok(inspect) => Ok(Some(inspect.id.unwrap_or_default())),
        Err(BollardError::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(None),
        Err(source) => Err(ImageError::Inspect {
            image: image.to_string(),
            source,
        }),
    }
}

/// Splits `repo[:tag]` / `repo@digest` into what the create-image call wants.
fn split_reference(image: &str) -> (&str, Option<&str>) {
    if image.contains('@') {
        return (image, None);
    }
    let name_start = image.rfind('/').map_or(0, |i| i + 1);
    match image[name_start..].rfind(':') {
        Some(i) => (&image[..name_start + i], Some(&image[name_start + i + 1..])),
        None => (image, Some("latest")),
    }
}

pub(super) async fn pull(docker: &Docker, image: &str) -> Result<(), ImageError> {
    let (repo, tag) = split_reference(image);
    let mut options = CreateImageOptionsBuilder::default().from_image(repo);
    if let Some(tag) = tag {
        options = options.tag(tag);
    }
    let consume = async {
        let mut stream = docker.create_image(Some(options.build()), None, None);
        while let Some(item) = stream.next().await {
            // bollard turns an `errorDetail` in the progress stream into an `Err` item.
            item.map_err(|source| ImageError::Pull {
                image: image.to_string(),
                source,
            })?;
        }
        Ok(())
    };
    deadline("pull image", image, PULL_DEADLINE, consume).await?
}

pub(super) async fn build(
    docker: &Docker,
    image: &str,
    context: Vec<u8>,
) -> Result<(), ImageError> {
    let labels = HashMap::from([(IMAGE_LABEL, "true")]);
    let options = BuildImageOptionsBuilder::default()
        .dockerfile("Dockerfile")
        .t(image)
        .rm(true)
        .forcerm(true)
        .labels(&labels)
        .build();
    let consume = async {
        let mut stream =
            docker.build_image(options, None, Some(bollard::body_full(context.into())));
        let mut log: Vec<String> = Vec::new();
        while let Some(item) = stream.next().await {
            let info = item.map_err(|source| ImageError::Build {
                image: image.to_string(),
                log_tail: tail(&log),
                source,
            })?;
            if let Some(detail) = info.error_detail {
                let message = detail
                    .message
                    .clone()
                    .unwrap_or_else(|| format!("{detail:?}"));
                return Err(ImageError::BuildFailed {
                    image: image.to_string(),
                    message,
                    log_tail: tail(&log),
                });
            }
            if let Some(line) = info.stream.as_deref().or(info.status.as_deref()) {
                let line = line.trim();
                if !line.is_empty() {
                    tracing::debug!(target: "etcd_drill::image", "build {image}: {line}");
                    log.push(line.to_string());
                }
            }
        }
        Ok(())
    };
    deadline("build image", image, BUILD_DEADLINE, consume).await?
}

fn tail(log: &[String]) -> String {
    log[log.len().saturating_sub(3)..].join(" | ")
}

/// The build context: the Dockerfile, the three binaries (mode 0755) and an empty `tmp/`.
pub(super) fn build_context(dockerfile: &str, binaries: &[PathBuf; 3]) -> io::Result<Vec<u8>> {
    const MTIME: u64 = 1_600_000_000;
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(dockerfile.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(MTIME);
    header.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut header, "Dockerfile", dockerfile.as_bytes())?;
    for (name, path) in BINARIES.iter().zip(binaries) {
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
    use crate::image::binaries::in_dir;
    use crate::image::DOCKERFILE;
    use std::io::Read;

    #[test]
    fn build_context_holds_exactly_what_the_dockerfile_copies() {
        let dir = tempfile::tempdir().unwrap();
        let paths = in_dir(dir.path());
        for (name, path) in BINARIES.iter().zip(&paths) {
            std::fs::write(path, format!("binary {name}")).unwrap();
        }
        let bytes = build_context(DOCKERFILE, &paths).unwrap();
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
        let err = build_context(DOCKERFILE, &in_dir(dir.path())).unwrap_err();
        assert!(err.to_string().contains("etcd"), "{err}");
    }

    #[test]
    fn references_split_into_repo_and_tag() {
        assert_eq!(
            split_reference("etcd-drill/etcd:v3.5.1"),
            ("etcd-drill/etcd", Some("v3.5.1"))
        );
        assert_eq!(
            split_reference("quay.io/coreos/etcd"),
            ("quay.io/coreos/etcd", Some("latest"))
        );
        assert_eq!(
            split_reference("localhost:5000/etcd"),
            ("localhost:5000/etcd", Some("latest"))
        );
        assert_eq!(
            split_reference("localhost:5000/etcd:v3"),
            ("localhost:5000/etcd", Some("v3"))
        );
        assert_eq!(
            split_reference("etcd@sha256:abc"),
            ("etcd@sha256:abc", None)
        );
    }
}
