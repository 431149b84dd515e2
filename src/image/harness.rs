//! etcd-drill's own image, `etcd-drill/harness:<version>`: this very binary with the loader and
//! the libraries it links (found with `ldd`), the machine's CA certificates (for S3 over
//! HTTPS), `FROM scratch`. It runs drills from a container that has the Docker socket and
//! `--network host` (to reach the members' client ports on 127.0.0.1): CI jobs, a Kubernetes
//! CronJob. There it cannot enter the members' namespaces from its host, so network faults go
//! through the helper image, which `etcd-drill image harness` builds too (the harness image has
//! no apt to build it later).

use super::{build, build_context, build_lock, inspect_id, ImageError};
use crate::sandbox::docker::DockerRuntime;
use std::path::{Path, PathBuf};

pub fn image_name() -> String {
    format!("etcd-drill/harness:{}", env!("CARGO_PKG_VERSION"))
}

/// The harness image built from this very binary, `etcd-drill/harness:VERSION-<first 12 hex
/// digits of its SHA-256>`: a helper container that runs etcd-drill (the delay proxy) must run
/// the same code as the harness that started it, not whatever was built under the version.
pub fn own_image() -> Result<String, ImageError> {
    use sha2::Digest;
    let exe = std::env::current_exe().map_err(|e| ImageError::Harness {
        step: "find this binary".into(),
        detail: e.to_string(),
    })?;
    let io = |source| ImageError::Io {
        op: "read",
        path: exe.clone(),
        source,
    };
    let mut file = std::fs::File::open(&exe).map_err(io)?;
    let mut hash = sha2::Sha256::new();
    std::io::copy(&mut file, &mut hash).map_err(io)?;
    let hex: String = hash.finalize()[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(format!("{}-{hex}", image_name()))
}

/// The harness image of this binary (`own_image`), built when the engine lacks it. Inside the
/// harness image itself (no `ldd` there) it is found, since `etcd-drill image harness` builds
/// it under both names.
pub async fn ensure(
    docker: &DockerRuntime,
    say: &mut (dyn FnMut(String) + Send),
) -> Result<String, ImageError> {
    let own = tokio::task::spawn_blocking(own_image)
        .await
        .map_err(|e| ImageError::Harness {
            step: "hash this binary".into(),
            detail: e.to_string(),
        })??;
    if inspect_id(docker, &own).await?.is_some() {
        return Ok(own);
    }
    let _lock = build_lock("harness").await?;
    if inspect_id(docker, &own).await?.is_some() {
        return Ok(own);
    }
    build_harness(docker, say).await?;
    Ok(own)
}

const DOCKERFILE: &str =
    "# etcd-drill itself, with the loader and libraries it links, FROM scratch.\n\
    FROM scratch\n\
    COPY bin/ /usr/local/bin/\n\
    COPY lib64/ /lib64/\n\
    COPY lib/ /lib/x86_64-linux-gnu/\n\
    COPY certs/ /etc/ssl/certs/\n\
    COPY tmp /tmp\n\
    ENV PATH=/usr/local/bin HOME=/tmp\n\
    WORKDIR /work\n\
    ENTRYPOINT [\"/usr/local/bin/etcd-drill\"]\n";

const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The shared libraries `ldd` lists for `binary`: (name, file), the loader as `lib64/…`.
fn linked(ldd: &str) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for line in ldd.lines().map(str::trim) {
        let path = match line.split_once("=>") {
            Some((_, rest)) => rest.split_whitespace().next(),
            None => line
                .split_whitespace()
                .next()
                .filter(|p| p.starts_with('/')),
        };
        let Some(path) = path.filter(|p| p.starts_with('/')) else {
            continue;
        };
        let path = Path::new(path);
        let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
            continue;
        };
        let dir = if name.starts_with("ld-linux") {
            "lib64"
        } else {
            "lib"
        };
        out.push((format!("{dir}/{name}"), path.to_path_buf()));
    }
    out
}

/// Builds the harness image from the running binary, under `own_image` and `image_name`;
/// returns the latter.
pub async fn build_harness(
    docker: &DockerRuntime,
    say: &mut (dyn FnMut(String) + Send),
) -> Result<String, ImageError> {
    let image = image_name();
    let fail = |step: &str, detail: String| ImageError::Harness {
        step: step.into(),
        detail,
    };
    let exe = std::env::current_exe().map_err(|e| fail("find this binary", e.to_string()))?;
    let out = tokio::process::Command::new("ldd")
        .arg(&exe)
        .output()
        .await
        .map_err(|e| fail("run ldd", e.to_string()))?;
    if !out.status.success() {
        return Err(fail(
            "run ldd",
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    let mut files = vec![("bin/etcd-drill".to_string(), exe.clone())];
    let libs = linked(&String::from_utf8_lossy(&out.stdout));
    if !libs.iter().any(|(n, _)| n.starts_with("lib64/ld-linux")) {
        return Err(fail("find the loader", "ldd names no ld-linux".into()));
    }
    files.extend(libs);
    if Path::new(CA_BUNDLE).is_file() {
        files.push(("certs/ca-certificates.crt".into(), CA_BUNDLE.into()));
    }
    say(format!(
        "building {image} from {} and {} files it needs",
        exe.display(),
        files.len() - 1
    ));
    let dockerfile = if files.iter().any(|(n, _)| n.starts_with("certs/")) {
        DOCKERFILE.to_string()
    } else {
        DOCKERFILE.replace("COPY certs/ /etc/ssl/certs/\n", "")
    };
    let context = tokio::task::spawn_blocking(move || build_context(&dockerfile, &files))
        .await
        .map_err(|e| fail("pack the build context", e.to_string()))?
        .map_err(|e| fail("pack the build context", e.to_string()))?;
    let own = tokio::task::spawn_blocking(own_image)
        .await
        .map_err(|e| fail("hash this binary", e.to_string()))??;
    build(docker, &own, context).await?;
    docker
        .tag_image(&own, &image)
        .await
        .map_err(|e| fail("tag the image", crate::util::error_chain(&e)))?;
    Ok(image)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldd_output_gives_the_libraries_and_the_loader() {
        let ldd = "\tlinux-vdso.so.1 (0x00007ffd)\n\
                   \tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007f39)\n\
                   \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f39)\n\
                   \t/lib64/ld-linux-x86-64.so.2 (0x00007f39)\n";
        let l = linked(ldd);
        let names: Vec<&str> = l.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "lib/libgcc_s.so.1",
                "lib/libc.so.6",
                "lib64/ld-linux-x86-64.so.2"
            ]
        );
    }
}
