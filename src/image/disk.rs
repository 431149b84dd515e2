//! An etcd image with the disk layer: the etcd image, with etcd-drill's own files (this very
//! binary, its loader and libraries, from the harness image) copied in. In a drill with a disk
//! fault, members run etcd-drill first (`disk-layer`), which mounts the layer and starts etcd on
//! it (`crate::faults::disk`). Named after both images: a new binary or a rebuilt etcd image
//! gets its own.

use super::{build, build_context, build_lock, harness, inspect_id, ImageError};
use crate::sandbox::Runtime;
use std::path::PathBuf;

/// Where the member's volume is mounted when the layer serves its data directory.
pub const BACKING: &str = "/var/lib/etcd-backing";
/// Where a member's image keeps etcd-drill, with its own loader and libraries (`lib/`).
pub const RUNTIME_DIR: &str = "/opt/etcd-drill";

/// How a member's container starts the supervisor, before etcd's own arguments: etcd-drill
/// through its own loader, so the etcd image's libraries never mix with its own.
pub fn entrypoint(data_dir: &str, etcd: &str) -> Vec<String> {
    let mut args = supervisor();
    args.extend([
        "--backing".into(),
        BACKING.into(),
        "--mount".into(),
        data_dir.into(),
        "--".into(),
        etcd.into(),
    ]);
    args
}

/// `etcd-drill disk-layer` through its own loader, so the etcd image's libraries never mix
/// with its own.
pub fn supervisor() -> Vec<String> {
    let lib = format!("{RUNTIME_DIR}/lib");
    vec![
        format!("{lib}/ld.so"),
        "--library-path".into(),
        lib,
        format!("{RUNTIME_DIR}/etcd-drill"),
        "disk-layer".into(),
    ]
}

/// The disk-layer counterpart of `etcd_image`, built when the engine lacks it.
pub async fn ensure(
    docker: &dyn Runtime,
    etcd_image: &str,
    say: &mut (dyn FnMut(String) + Send),
) -> Result<String, ImageError> {
    let fail = |step: &str, detail: String| ImageError::Harness {
        step: step.into(),
        detail,
    };
    let own = tokio::task::spawn_blocking(harness::own_image)
        .await
        .map_err(|e| fail("hash this binary", e.to_string()))??;
    let etcd_id = inspect_id(docker, etcd_image).await?.ok_or_else(|| {
        fail(
            &format!("find {etcd_image}"),
            "the etcd image is not built".into(),
        )
    })?;
    let name = format!("etcd-drill/disk:{}", short(&format!("{etcd_id} {own}")));
    if inspect_id(docker, &name).await?.is_some() {
        return Ok(name);
    }
    let _lock = build_lock("disk").await?;
    if inspect_id(docker, &name).await?.is_some() {
        return Ok(name);
    }
    let exe = std::env::current_exe().map_err(|e| fail("find this binary", e.to_string()))?;
    let files =
        harness::runtime_files(&exe).map_err(|e| fail("find the loader and libraries", e))?;
    let files = placed(files);
    say(format!("building {name}: {etcd_image} with the disk layer"));
    let dockerfile = format!(
        "# etcd with etcd-drill's disk layer (FUSE) under its data directory; etcd-drill\n\
         # with its own loader and libraries apart from the image's.\n\
         FROM {etcd_image}\n\
         COPY opt/ /opt/\n"
    );
    let context = tokio::task::spawn_blocking(move || build_context(&dockerfile, &files))
        .await
        .map_err(|e| fail("pack the build context", e.to_string()))?
        .map_err(|e| fail("pack the build context", e.to_string()))?;
    build(docker, &name, context).await?;
    Ok(name)
}

/// The harness's runtime files (`root/<path>`) where the disk image keeps them: the binary as
/// `RUNTIME_DIR/etcd-drill`, the loader as `RUNTIME_DIR/lib/ld.so`, each library under its
/// name in `RUNTIME_DIR/lib`: nothing of the etcd image's own is replaced.
fn placed(files: Vec<(String, PathBuf)>) -> Vec<(String, PathBuf)> {
    let dir = RUNTIME_DIR.trim_start_matches('/');
    files
        .into_iter()
        .enumerate()
        .map(|(i, (name, path))| {
            let base = name.rsplit('/').next().unwrap_or_default().to_string();
            let at = match i {
                0 => format!("{dir}/etcd-drill"),
                1 => format!("{dir}/lib/ld.so"),
                _ => format!("{dir}/lib/{base}"),
            };
            (at, path)
        })
        .collect()
}

fn short(ids: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(ids.as_bytes())[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
