//! The S3 backup store against a real S3-compatible server (moto's, on 127.0.0.1): round trips,
//! prefixes, an upload cut midway, an unreachable endpoint. Skips without moto; fails under CI.

#[path = "common/s3.rs"]
mod s3;

use etcd_drill::backup::store::{Object, Store, StoreError};
use etcd_drill::scenario::StoreSpec;
use s3::S3Server;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The store's own deadline is 120 s; object_store's retries end sooner. Anything past this hangs.
const BOUND: Duration = Duration::from_secs(150);

fn spec(bucket: &str, prefix: Option<&str>, endpoint: &str) -> StoreSpec {
    StoreSpec::S3 {
        bucket: bucket.into(),
        prefix: prefix.map(Into::into),
        endpoint: Some(endpoint.into()),
        region: None,
    }
}

fn open(spec: &StoreSpec, dir: &Path) -> Store {
    Store::open(spec, dir).expect("open the S3 store")
}

fn objects(list: &[(&str, u64)]) -> Vec<(String, u64)> {
    list.iter().map(|(n, s)| (n.to_string(), *s)).collect()
}

/// Names and sizes of a listing (the store's modification times vary).
fn named(list: Vec<Object>) -> Vec<(String, u64)> {
    list.into_iter().map(|o| (o.name, o.size)).collect()
}

/// Bytes that differ from position to position, so a truncated or shifted copy never compares equal.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_be_bytes()[0] ^ seed)
        .collect()
}

/// Everything the error says, through its whole source chain and its Debug form.
fn full_text(e: &StoreError) -> String {
    let mut text = format!("{e} | {e:?}");
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(&format!(" | {s}"));
        source = s.source();
    }
    text
}

#[tokio::test]
async fn uploads_lists_downloads_overwrites_and_deletes() {
    let Some(server) = S3Server::start() else {
        return;
    };
    server.create_bucket("drills");
    let dir = tempfile::tempdir().unwrap();
    let store = open(&spec("drills", None, &server.endpoint), dir.path());

    let (one, two) = (pattern(3000, 1), pattern(70_000, 2));
    std::fs::write(dir.path().join("one.db"), &one).unwrap();
    std::fs::write(dir.path().join("two.db"), &two).unwrap();
    // Uploaded out of order: the listing sorts by name.
    assert_eq!(
        store
            .upload("snap/2.db", &dir.path().join("two.db"))
            .await
            .unwrap(),
        70_000
    );
    assert_eq!(
        store
            .upload("snap/1.db", &dir.path().join("one.db"))
            .await
            .unwrap(),
        3000
    );
    assert_eq!(
        named(store.list().await.unwrap()),
        objects(&[("snap/1.db", 3000), ("snap/2.db", 70_000)])
    );

    let back = dir.path().join("back.db");
    assert_eq!(store.download("snap/2.db", &back).await.unwrap(), 70_000);
    assert_eq!(
        std::fs::read(&back).unwrap(),
        two,
        "downloaded bytes differ from the uploaded ones"
    );

    store
        .overwrite("snap/1.db", b"damaged".to_vec())
        .await
        .unwrap();
    assert_eq!(store.read("snap/1.db").await.unwrap(), b"damaged");
    assert_eq!(
        named(store.list().await.unwrap()),
        objects(&[("snap/1.db", 7), ("snap/2.db", 70_000)])
    );

    store.delete("snap/2.db").await.unwrap();
    assert_eq!(
        named(store.list().await.unwrap()),
        objects(&[("snap/1.db", 7)])
    );
    let missing = store
        .download("snap/2.db", &dir.path().join("gone.db"))
        .await;
    assert!(
        matches!(missing, Err(StoreError::Op { .. })),
        "download of a deleted object: {missing:?}"
    );
}

#[tokio::test]
async fn a_prefix_keeps_objects_apart() {
    let Some(server) = S3Server::start() else {
        return;
    };
    server.create_bucket("shared");
    let dir = tempfile::tempdir().unwrap();
    let drills = open(
        &spec("shared", Some("drills/"), &server.endpoint),
        dir.path(),
    );
    let other = open(
        &spec("shared", Some("other/"), &server.endpoint),
        dir.path(),
    );
    let root = open(&spec("shared", None, &server.endpoint), dir.path());

    let file = dir.path().join("f.db");
    std::fs::write(&file, b"drill snapshot").unwrap();
    drills.upload("x.db", &file).await.unwrap();
    // A name that starts like the prefix keeps its whole name.
    drills.upload("drills/inner.db", &file).await.unwrap();
    std::fs::write(&file, b"other").unwrap();
    other.upload("x.db", &file).await.unwrap();

    assert_eq!(
        named(drills.list().await.unwrap()),
        objects(&[("drills/inner.db", 14), ("x.db", 14)])
    );
    assert_eq!(named(other.list().await.unwrap()), objects(&[("x.db", 5)]));
    assert_eq!(drills.read("x.db").await.unwrap(), b"drill snapshot");
    assert_eq!(other.read("x.db").await.unwrap(), b"other");
    assert_eq!(
        named(root.list().await.unwrap()),
        objects(&[
            ("drills/drills/inner.db", 14),
            ("drills/x.db", 14),
            ("other/x.db", 5)
        ])
    );

    other.delete("x.db").await.unwrap();
    assert_eq!(named(other.list().await.unwrap()), vec![]);
    assert_eq!(
        named(drills.list().await.unwrap()).len(),
        2,
        "deleting under one prefix touched another"
    );

    // A prefix written without its trailing slash is still a folder: what goes in lists back.
    let bare = open(
        &spec("shared", Some("nightly"), &server.endpoint),
        dir.path(),
    );
    bare.upload("n.db", &file).await.unwrap();
    assert_eq!(named(bare.list().await.unwrap()), objects(&[("n.db", 5)]));
    assert_eq!(bare.read("n.db").await.unwrap(), b"other");
}

/// A TCP proxy on 127.0.0.1 to `target` that cuts every connection, both sides, once `cut_after`
/// bytes past the first request's headers (its body) have gone through. Counts the cuts.
async fn cutting_proxy(target: u16, cut_after: usize) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let cuts = Arc::new(AtomicUsize::new(0));
    let counter = cuts.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)).await else {
                    return;
                };
                let (mut client_rx, mut client_tx) = client.into_split();
                let (mut server_rx, mut server_tx) = server.into_split();
                let back = tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut server_rx, &mut client_tx).await;
                    client_tx
                });
                let mut head = Vec::new();
                let mut body = 0usize;
                let mut buf = vec![0u8; 16 * 1024];
                loop {
                    let n = match client_rx.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    let mut chunk = &buf[..n];
                    if body == 0 && !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        let before = head.len();
                        head.extend_from_slice(chunk);
                        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                            let in_chunk = end + 4 - before;
                            if server_tx.write_all(&chunk[..in_chunk]).await.is_err() {
                                break;
                            }
                            chunk = &chunk[in_chunk..];
                        } else {
                            if server_tx.write_all(chunk).await.is_err() {
                                break;
                            }
                            continue;
                        }
                    }
                    let room = cut_after - body;
                    if chunk.len() >= room {
                        let _ = server_tx.write_all(&chunk[..room]).await;
                        counter.fetch_add(1, Ordering::SeqCst);
                        break;
                    }
                    if server_tx.write_all(chunk).await.is_err() {
                        break;
                    }
                    body += chunk.len();
                }
                // Both connections close here: the client's halves and the server's.
                back.abort();
                drop((client_rx, server_tx));
            });
        }
    });
    (port, cuts)
}

#[tokio::test]
async fn an_upload_cut_midway_fails_and_leaves_no_partial_object() {
    let Some(server) = S3Server::start() else {
        return;
    };
    server.create_bucket("cut");
    let dir = tempfile::tempdir().unwrap();
    let real = open(&spec("cut", Some("drills/"), &server.endpoint), dir.path());
    let (proxy_port, cuts) = cutting_proxy(server.port, 64 * 1024).await;
    let through_proxy = open(
        &spec(
            "cut",
            Some("drills/"),
            &format!("http://127.0.0.1:{proxy_port}"),
        ),
        dir.path(),
    );

    // An object that exists before a cut upload of the same name must keep its bytes.
    let old = pattern(1000, 7);
    std::fs::write(dir.path().join("old.db"), &old).unwrap();
    real.upload("kept.db", &dir.path().join("old.db"))
        .await
        .unwrap();

    let big = dir.path().join("big.db");
    std::fs::write(&big, pattern(1024 * 1024, 9)).unwrap();
    let start = Instant::now();
    let (fresh, kept) = tokio::join!(
        through_proxy.upload("fresh.db", &big),
        through_proxy.upload("kept.db", &big)
    );
    let took = start.elapsed();
    let attempts = cuts.load(Ordering::SeqCst);
    eprintln!("cut uploads ended after {took:?}, {attempts} connections cut: {fresh:?}");
    assert!(
        fresh.is_err() && kept.is_err(),
        "an upload cut midway succeeded: {fresh:?} {kept:?}"
    );
    assert!(took < BOUND, "the cut uploads took {took:?}");
    assert!(
        attempts >= 2,
        "the proxy cut {attempts} connections: did the uploads go through it?"
    );

    let listed = named(real.list().await.unwrap());
    assert_eq!(
        listed,
        objects(&[("kept.db", 1000)]),
        "a partial object is listed"
    );
    assert_eq!(
        real.read("kept.db").await.unwrap(),
        old,
        "a cut upload changed the stored object"
    );
}

#[tokio::test]
async fn an_unreachable_endpoint_fails_in_bounded_time_without_the_secret() {
    // The server sets the credentials; the store talks to a port nobody listens on.
    let Some(_server) = S3Server::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let closed = s3::free_port();
    let store = open(
        &spec("drills", Some("p/"), &format!("http://127.0.0.1:{closed}")),
        dir.path(),
    );
    let file = dir.path().join("f.db");
    std::fs::write(&file, b"bytes").unwrap();

    let start = Instant::now();
    let (up, listed) = tokio::join!(store.upload("f.db", &file), store.list());
    let took = start.elapsed();
    eprintln!("unreachable endpoint: ended after {took:?}: {up:?}");
    let (up, listed) = (
        up.expect_err("upload to a closed port"),
        listed.expect_err("list on a closed port"),
    );
    assert!(took < BOUND, "took {took:?}");
    for e in [&up, &listed] {
        let text = full_text(e);
        assert!(
            !text.contains(s3::SECRET_ACCESS_KEY),
            "the error shows the secret key: {text}"
        );
        assert!(
            text.contains(&closed.to_string()) || text.contains("s3://drills"),
            "the error does not say where: {text}"
        );
    }
}
