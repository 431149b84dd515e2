//! The engine's image API: inspect, pull, build. The only place bollard's image calls are made;
//! `image` decides which image a drill needs and how to get it, through these.

use super::docker::DockerRuntime;
use super::SandboxError;
use bollard::errors::Error as BollardError;
use bollard::query_parameters::{BuildImageOptionsBuilder, CreateImageOptionsBuilder};
use futures_util::StreamExt;
use std::collections::HashMap;

fn failed(op: &'static str, image: &str, e: BollardError) -> SandboxError {
    SandboxError::Docker {
        op,
        target: image.to_string(),
        source: Box::new(e),
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

impl DockerRuntime {
    /// The image's id, or `None` when the engine does not have it.
    pub(super) async fn inspect_image_id(
        &self,
        image: &str,
    ) -> Result<Option<String>, SandboxError> {
        match self.client().inspect_image(image).await {
            Ok(inspect) => Ok(Some(inspect.id.unwrap_or_default())),
            Err(BollardError::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(e) => Err(failed("inspect image", image, e)),
        }
    }

    /// Gives `image` a second name, `also` (`repo:tag`).
    pub(super) async fn tag(&self, image: &str, also: &str) -> Result<(), SandboxError> {
        let (repo, tag) = split_reference(also);
        let mut options = bollard::query_parameters::TagImageOptionsBuilder::default().repo(repo);
        if let Some(t) = tag {
            options = options.tag(t);
        }
        self.client()
            .tag_image(image, Some(options.build()))
            .await
            .map_err(|e| failed("tag image", image, e))
    }

    /// Pulls `image` through the engine's configured registries.
    pub(super) async fn pull(&self, image: &str) -> Result<(), SandboxError> {
        let (repo, tag) = split_reference(image);
        let mut options = CreateImageOptionsBuilder::default().from_image(repo);
        if let Some(tag) = tag {
            options = options.tag(tag);
        }
        let mut stream = self
            .client()
            .create_image(Some(options.build()), None, None);
        while let Some(item) = stream.next().await {
            // bollard turns an `errorDetail` in the progress stream into an `Err` item.
            item.map_err(|e| failed("pull image", image, e))?;
        }
        Ok(())
    }

    /// Builds `image` from a tar build context with a `Dockerfile`, labelled with `labels`.
    /// Each line of build output goes to `on_line`. `Ok(Some(message))` when a build step
    /// failed (the engine's own message); `Err` when the engine could not be asked.
    pub(super) async fn build(
        &self,
        image: &str,
        context: Vec<u8>,
        labels: &HashMap<&str, &str>,
        on_line: &mut (dyn FnMut(&str) + Send),
    ) -> Result<Option<String>, SandboxError> {
        let options = BuildImageOptionsBuilder::default()
            .dockerfile("Dockerfile")
            .t(image)
            .rm(true)
            .forcerm(true)
            .labels(labels)
            .build();
        let mut stream =
            self.client()
                .build_image(options, None, Some(bollard::body_full(context.into())));
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| failed("build image", image, e))?;
            if let Some(detail) = info.error_detail {
                return Ok(Some(
                    detail
                        .message
                        .clone()
                        .unwrap_or_else(|| format!("{detail:?}")),
                ));
            }
            if let Some(line) = info.stream.as_deref().or(info.status.as_deref()) {
                let line = line.trim();
                if !line.is_empty() {
                    on_line(line);
                }
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::split_reference;

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
