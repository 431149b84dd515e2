//! etcd-drill's own image, `etcd-drill/harness:<version>`: this very binary with the loader and
//! the libraries it runs with, the machine's CA certificates (for S3 over HTTPS), `FROM
//! scratch`. The libraries are the ones this process has mapped (`/proc/self/maps`), each
//! under its soname, and the loader goes where the binary's ELF header (`PT_INTERP`) asks for
//! it: no `ldd`, so a harness in a `FROM scratch` image of a user's making builds it too.
//!
//! It runs drills from a container that has the Docker socket and `--network host` (to reach
//! the members' client ports on 127.0.0.1): CI jobs, a Kubernetes CronJob. There it cannot enter the members' namespaces from its host, so network faults go
//! through the helper image, which `etcd-drill image harness` builds too (the harness image has
//! no apt to build it later).

use super::{build, build_context, build_lock, inspect_id, ImageError};
use crate::sandbox::Runtime;
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

/// The harness image of this binary (`own_image`), built when the engine lacks it (from inside
/// a container too: what it needs is this process's own files).
pub async fn ensure(
    docker: &dyn Runtime,
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
    "# etcd-drill itself, with the loader and libraries it runs with, FROM scratch.\n\
    FROM scratch\n\
    COPY root/ /\n\
    COPY tmp /tmp\n\
    ENV PATH=/usr/local/bin HOME=/tmp\n\
    WORKDIR /work\n\
    ENTRYPOINT [\"/usr/local/bin/etcd-drill\"]\n";

const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The shared objects `maps` (a `/proc/PID/maps`) shows mapped from files, once each, in order;
/// `exe` (the program itself) left out.
fn mapped_objects(maps: &str, exe: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    for line in maps.lines() {
        // address perms offset dev inode path (the path may hold spaces)
        let Some(path) = line.splitn(6, char::is_whitespace).nth(5).map(str::trim) else {
            continue;
        };
        let path = Path::new(path);
        let is_object = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().contains(".so"));
        if path.is_absolute() && is_object && path != exe && !out.iter().any(|p| p == path) {
            out.push(path.to_path_buf());
        }
    }
    out
}

/// What the loader looks for: an ELF file's `PT_INTERP` (the program's loader) and `DT_SONAME`
/// (a library's name).
#[derive(Debug, Default, PartialEq)]
struct ElfNames {
    interp: Option<String>,
    soname: Option<String>,
}

fn elf_names(bytes: &[u8]) -> Result<ElfNames, String> {
    use object::read::elf::{Dyn, ElfFile64, FileHeader, ProgramHeader};
    use object::Endianness;
    let file = ElfFile64::<Endianness>::parse(bytes).map_err(|e| e.to_string())?;
    let endian = file.endian();
    let mut names = ElfNames::default();
    for ph in file.elf_program_headers() {
        if ph.p_type(endian) == object::elf::PT_INTERP {
            let raw = ph.data(endian, bytes).map_err(|()| "a bad PT_INTERP")?;
            let raw = raw.split(|b| *b == 0).next().unwrap_or_default();
            names.interp = Some(String::from_utf8_lossy(raw).into_owned());
        }
    }
    let sections = file
        .elf_header()
        .sections(endian, bytes)
        .map_err(|e| e.to_string())?;
    if let Some((dynamic, index)) = sections.dynamic(endian, bytes).map_err(|e| e.to_string())? {
        let strings = sections
            .strings(endian, bytes, index)
            .map_err(|e| e.to_string())?;
        for d in dynamic {
            if d.d_tag(endian) == object::elf::DT_SONAME {
                let name = d.string(endian, strings).map_err(|e| e.to_string())?;
                names.soname = Some(String::from_utf8_lossy(name).into_owned());
            }
        }
    }
    Ok(names)
}

/// The files of the harness image, as (path in the build context, file here): this binary,
/// its loader where `PT_INTERP` puts it, and every library this process has mapped, under its
/// soname in the directory it was mapped from (a directory the loader searches by default).
pub(super) fn runtime_files(exe: &Path) -> Result<Vec<(String, PathBuf)>, String> {
    let read = |p: &Path| std::fs::read(p).map_err(|e| format!("read {}: {e}", p.display()));
    let interp = elf_names(&read(exe)?)
        .map_err(|e| format!("{}: {e}", exe.display()))?
        .interp
        .ok_or_else(|| format!("{} names no loader (PT_INTERP)", exe.display()))?;
    let maps = std::fs::read_to_string("/proc/self/maps")
        .map_err(|e| format!("read /proc/self/maps: {e}"))?;
    let mut files = vec![(
        "root/usr/local/bin/etcd-drill".to_string(),
        exe.to_path_buf(),
    )];
    files.push((format!("root{interp}"), PathBuf::from(&interp)));
    let loader = std::fs::canonicalize(&interp).unwrap_or_else(|_| PathBuf::from(&interp));
    for lib in mapped_objects(&maps, exe) {
        if lib == loader || lib == Path::new(&interp) {
            continue;
        }
        let soname = elf_names(&read(&lib)?)
            .map_err(|e| format!("{}: {e}", lib.display()))?
            .soname;
        let name = soname.or_else(|| lib.file_name().map(|n| n.to_string_lossy().into_owned()));
        let (Some(dir), Some(name)) = (lib.parent(), name) else {
            continue;
        };
        files.push((format!("root{}/{name}", dir.display()), lib.clone()));
    }
    Ok(files)
}

/// Builds the harness image from the running binary, under `own_image` and `image_name`;
/// returns the latter.
pub async fn build_harness(
    docker: &dyn Runtime,
    say: &mut (dyn FnMut(String) + Send),
) -> Result<String, ImageError> {
    let image = image_name();
    let fail = |step: &str, detail: String| ImageError::Harness {
        step: step.into(),
        detail,
    };
    let exe = std::env::current_exe().map_err(|e| fail("find this binary", e.to_string()))?;
    let mut files = runtime_files(&exe).map_err(|e| fail("find the loader and libraries", e))?;
    if Path::new(CA_BUNDLE).is_file() {
        files.push((format!("root{CA_BUNDLE}"), CA_BUNDLE.into()));
    }
    say(format!(
        "building {image} from {} and {} files it needs",
        exe.display(),
        files.len() - 1
    ));
    let context = tokio::task::spawn_blocking(move || build_context(DOCKERFILE, &files))
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
    fn the_mapped_objects_are_the_libraries_once_each() {
        let maps = "55d0-55d1 r--p 00000000 08:01 1 /usr/local/bin/etcd-drill\n\
                    7f10-7f11 r--p 00000000 08:01 2 /usr/lib/x86_64-linux-gnu/libc.so.6\n\
                    7f11-7f12 r-xp 00001000 08:01 2 /usr/lib/x86_64-linux-gnu/libc.so.6\n\
                    7f12-7f13 rw-p 00000000 00:00 0 \n\
                    7f13-7f14 r--p 00000000 08:01 3 /usr/lib/x86_64-linux-gnu/libgcc_s.so.1\n\
                    7f14-7f15 r--s 00000000 08:01 4 /tmp/a file.db\n\
                    7f15-7f16 r--p 00000000 08:01 5 /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2\n\
                    7ffd-7ffe r-xp 00000000 00:00 0 [vdso]\n";
        let got = mapped_objects(maps, Path::new("/usr/local/bin/etcd-drill"));
        assert_eq!(
            got,
            [
                "/usr/lib/x86_64-linux-gnu/libc.so.6",
                "/usr/lib/x86_64-linux-gnu/libgcc_s.so.1",
                "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
            ]
            .map(PathBuf::from)
        );
    }

    /// This very test binary: its loader, and a library this process maps under its soname.
    #[test]
    fn this_process_has_a_loader_and_its_libraries_have_sonames() {
        let exe = std::env::current_exe().unwrap();
        let files = runtime_files(&exe).unwrap();
        let interp = elf_names(&std::fs::read(&exe).unwrap())
            .unwrap()
            .interp
            .unwrap();
        assert!(interp.contains("ld-linux"), "{interp}");
        assert!(files.iter().any(|(n, _)| *n == format!("root{interp}")));
        let libc = files
            .iter()
            .find(|(n, _)| n.ends_with("/libc.so.6"))
            .expect("libc, under its soname");
        assert!(libc.1.is_file(), "{libc:?}");
        assert!(files.iter().all(|(n, _)| n.starts_with("root/")));
    }
}
