//! The same contract checked on every store.

use std::sync::Arc;

use squall_store::{open, resolve, Bytes, Error, Expect, Store};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

async fn contract(store: Arc<dyn Store>, root: &str) {
    let key = |k: &str| format!("{root}{k}");
    let data = Bytes::from_static(b"0123456789");
    store.put(&key("a/one.bin"), data.clone()).await.unwrap();
    store.put(&key("a/two.bin"), Bytes::from_static(b"xy")).await.unwrap();
    store.put(&key("a/deeper/three.bin"), Bytes::new()).await.unwrap();
    store.put(&key("ab.bin"), Bytes::from_static(b"z")).await.unwrap();

    assert_eq!(store.get(&key("a/one.bin")).await.unwrap(), data);
    assert_eq!(store.get_range(&key("a/one.bin"), 2..5).await.unwrap(), Bytes::from_static(b"234"));
    assert!(matches!(store.get_range(&key("a/one.bin"), 5..11).await, Err(Error::BadRange { .. })));
    assert_eq!(store.head(&key("a/one.bin")).await.unwrap().size, 10);

    let listed: Vec<String> = store.list(&key("a/")).await.unwrap().into_iter().map(|o| o.key).collect();
    assert_eq!(listed, vec![key("a/deeper/three.bin"), key("a/one.bin"), key("a/two.bin")]);
    let listed: Vec<String> = store.list(&key("a")).await.unwrap().into_iter().map(|o| o.key).collect();
    assert_eq!(listed.len(), 4, "a bare prefix matches ab.bin too: {listed:?}");

    // Overwrite is whole; delete is idempotent; missing objects say so.
    store.put(&key("a/one.bin"), Bytes::from_static(b"new")).await.unwrap();
    assert_eq!(store.get(&key("a/one.bin")).await.unwrap(), Bytes::from_static(b"new"));
    store.delete(&key("a/one.bin")).await.unwrap();
    store.delete(&key("a/one.bin")).await.unwrap();
    let err = store.get(&key("a/one.bin")).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(err.to_string().contains("one.bin"), "the error names the object: {err}");

    // Conditional writes: create only where nothing is, replace only what was read.
    let m = key("d/_manifest.json");
    let first = store.put_if(&m, Bytes::from_static(b"v1"), Expect::Absent).await.unwrap();
    let again = store.put_if(&m, Bytes::from_static(b"v1'"), Expect::Absent).await.unwrap_err();
    assert!(matches!(again, Error::Precondition { .. }), "{again}");
    assert!(again.to_string().contains("_manifest.json"), "{again}");
    let (data, tag) = store.get_tagged(&m).await.unwrap();
    assert_eq!((data, tag.as_str()), (Bytes::from_static(b"v1"), first.as_str()));
    let second = store.put_if(&m, Bytes::from_static(b"v2"), Expect::Tag(&first)).await.unwrap();
    assert_ne!(second, first);
    let stale = store.put_if(&m, Bytes::from_static(b"v3"), Expect::Tag(&first)).await.unwrap_err();
    assert!(matches!(stale, Error::Precondition { .. }), "{stale}");
    assert_eq!(store.get(&m).await.unwrap(), Bytes::from_static(b"v2"));
    let listed: Vec<String> = store.list(&key("d/")).await.unwrap().into_iter().map(|o| o.key).collect();
    assert_eq!(listed, vec![m.clone()], "nothing else is visible beside it");
}

#[test]
fn memory_store_keeps_the_contract() {
    runtime().block_on(contract(open("memory://contract/").unwrap().0, ""));
}

#[test]
fn local_store_keeps_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let store = || open(&format!("file://{}", dir.path().display())).unwrap().0;
    let root = |under: &str| format!("{}/{under}/", dir.path().display().to_string().trim_start_matches('/'));
    // Its file calls run on tokio's blocking threads here, in place on a thread that may block
    // (a multi-threaded runtime's block_on, as tasks call it), and off a runtime worker.
    runtime().block_on(contract(store(), &root("current")));
    let threads = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    threads.block_on(contract(store(), &root("block_on")));
    let (store, root) = (store(), root("worker"));
    threads.block_on(async move { tokio::spawn(async move { contract(store, &root).await }).await.unwrap() });
}

#[test]
fn resolve_takes_a_file_a_prefix_or_a_glob() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().display().to_string();
    runtime().block_on(async {
        let (store, _) = open(&base).unwrap();
        let root = base.trim_start_matches('/');
        for name in ["p/1.arrow", "p/2.arrow", "p/x.txt", "p/sub/3.arrow", "p/_SUCCESS"] {
            store.put(&format!("{root}/{name}"), Bytes::from_static(b"-")).await.unwrap();
        }
        let names = |found: Vec<squall_store::ObjectMeta>| -> Vec<String> {
            found.into_iter().map(|o| o.key.rsplit('/').next().unwrap().to_string()).collect()
        };
        assert_eq!(names(resolve(&format!("{base}/p/1.arrow")).await.unwrap().1), ["1.arrow"]);
        assert_eq!(names(resolve(&format!("file://{base}/p/*.arrow")).await.unwrap().1), ["1.arrow", "2.arrow"]);
        assert_eq!(names(resolve(&format!("{base}/p")).await.unwrap().1).len(), 4, "hidden markers are skipped");
        assert_eq!(names(resolve(&format!("{base}/p/_SUCCESS")).await.unwrap().1), ["_SUCCESS"]);
        let err = resolve(&format!("{base}/p/*.parquet")).await.unwrap_err();
        assert!(err.is_not_found() && err.to_string().contains("*.parquet"), "{err}");
    });
}

#[test]
fn large_outputs_round_trip_on_disk_and_in_shared_memory() {
    // 9 MB and a ragged tail: written past the page cache where the file system allows (the
    // last block padded, then cut), plainly where it does not (tmpfs). Once starting on a
    // block boundary (written from where it lies), once just past one (copied to be aligned).
    let len = 9 * 1024 * 1024 + 4097;
    let raw: Bytes = (0..len + 8192).map(|i: usize| (i * 31 % 251) as u8).collect::<Vec<u8>>().into();
    let at = raw.as_ptr().align_offset(4096);
    let aligned = raw.slice(at..at + len);
    let unaligned = raw.slice(at + 1..at + 1 + len);
    let dirs = [
        tempfile::tempdir().unwrap(),
        tempfile::tempdir_in("/dev/shm").unwrap_or_else(|_| tempfile::tempdir().unwrap()),
    ];
    for dir in dirs {
        let (store, key) = open(&format!("file://{}/out/part.bin", dir.path().display())).unwrap();
        runtime().block_on(async {
            for data in [&aligned, &unaligned] {
                store.put_output(&key, data.clone()).await.unwrap();
                assert_eq!(&store.get(&key).await.unwrap(), data);
                // Large reads map the file, from any offset.
                let (start, end) = (4097, len as u64 - 3);
                let part = store.get_range(&key, start..end).await.unwrap();
                assert_eq!(part, data.slice(start as usize..end as usize));
            }
            store.put_output(&key, Bytes::from_static(b"small")).await.unwrap();
            assert_eq!(store.get(&key).await.unwrap(), Bytes::from_static(b"small"));
        });
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("out")).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary files stay behind");
    }
}

#[test]
fn a_manifest_governs_what_a_directory_holds() {
    let dir = tempfile::tempdir().unwrap();
    let url = |k: &str| format!("file://{}/{k}", dir.path().display());
    let rt = runtime();
    let (store, _) = open(&url("")).unwrap();
    let key = |k: &str| format!("{}/{k}", dir.path().display().to_string().trim_start_matches('/'));
    let put = |k: &str, data: &'static [u8]| rt.block_on(store.put(&key(k), Bytes::from_static(data))).unwrap();
    let names = |u: &str| -> Vec<String> {
        let (_, found) = rt.block_on(resolve(u)).unwrap();
        found.into_iter().map(|o| o.key.rsplit('/').next().unwrap().to_string()).collect()
    };
    put("ds/part-b.parquet", b"bb");
    put("ds/part-a.parquet", b"a");
    put("ds/part-stale.parquet", b"old");
    assert_eq!(names(&url("ds/")), vec!["part-a.parquet", "part-b.parquet", "part-stale.parquet"], "no manifest: all");
    let manifest = br#"{"version": 2, "format": "parquet", "rows": 3, "files": [
        {"name": "part-b.parquet", "rows": 2, "bytes": 2}, {"name": "part-a.parquet", "rows": 1, "bytes": 1}]}"#;
    put("ds/_manifest.json", manifest);
    assert_eq!(names(&url("ds/")), vec!["part-b.parquet", "part-a.parquet"], "exactly the manifest's, in its order");
    assert_eq!(names(&url("ds")), vec!["part-b.parquet", "part-a.parquet"]);
    assert_eq!(names(&url("ds/*.parquet")), vec!["part-b.parquet", "part-a.parquet"], "globs too");
    assert_eq!(names(&url("ds/part-stale.parquet")), vec!["part-stale.parquet"], "a file named alone is read");

    put("ds/part-a.parquet", b"changed");
    let err = rt.block_on(resolve(&url("ds/"))).unwrap_err();
    assert!(err.to_string().contains("part-a.parquet") && err.to_string().contains("changed"), "{err}");
    rt.block_on(store.delete(&key("ds/part-a.parquet"))).unwrap();
    let err = rt.block_on(resolve(&url("ds/"))).unwrap_err();
    assert!(err.is_not_found() && err.to_string().contains("missing"), "{err}");
    put("ds/_manifest.json", b"{not json");
    let err = rt.block_on(resolve(&url("ds/"))).unwrap_err();
    assert!(err.to_string().contains("_manifest.json") && !err.is_not_found(), "{err}");
}

mod support;

/// Every key in the server expires.
fn all_keys_expire(address: &str) -> usize {
    let mut c = redis::Client::open(format!("redis://{address}/")).unwrap().get_connection().unwrap();
    let keys: Vec<Vec<u8>> = redis::cmd("KEYS").arg("*").query(&mut c).unwrap();
    for key in &keys {
        let ttl: i64 = redis::cmd("PTTL").arg(key).query(&mut c).unwrap();
        assert!(ttl > 0, "{} has no expiry ({ttl})", String::from_utf8_lossy(key));
    }
    keys.len()
}

#[test]
fn redis_store_keeps_the_contract() {
    let server = support::RedisServer::start(&[]);
    let (store, root) = open(&format!("redis://{}/c/", server.address)).unwrap();
    runtime().block_on(contract(store, &root));
    assert!(all_keys_expire(&server.address) > 0);
    let err = open("redis://nohost/x").map(|_| ()).unwrap_err().to_string();
    assert!(err.contains("redis://host:port/key"), "{err}");
}

#[test]
fn redis_store_splits_large_objects_into_chunks() {
    let server = support::RedisServer::start(&[]);
    let (store, _) = open(&format!("redis://{}/", server.address)).unwrap();
    let len = 3 * squall_store::REDIS_CHUNK + 7;
    let data: Bytes = (0..len).map(|i| (i * 7 % 251) as u8).collect::<Vec<u8>>().into();
    let chunk = squall_store::REDIS_CHUNK as u64;
    runtime().block_on(async {
        store.put("big/a.bin", data.clone()).await.unwrap();
        assert_eq!(store.get("big/a.bin").await.unwrap(), data);
        for range in [0..1, chunk - 3..chunk + 5, 5..3 * chunk + 7, 2 * chunk..2 * chunk, 3 * chunk..3 * chunk + 7] {
            let part = store.get_range("big/a.bin", range.clone()).await.unwrap();
            assert_eq!(part, data.slice(range.start as usize..range.end as usize), "{range:?}");
        }
        assert!(matches!(store.get_range("big/a.bin", 0..len as u64 + 1).await, Err(Error::BadRange { .. })));
        assert_eq!(store.head("big/a.bin").await.unwrap().size, len as u64);
        let listed = store.list("big/").await.unwrap();
        assert_eq!(listed.len(), 1, "chunks are not listed: {listed:?}");
        assert_eq!(listed[0].size, len as u64);
        // Renamed, it keeps its chunks; replaced or deleted, its chunks go.
        store.rename("big/a.bin", "big/b.bin").await.unwrap();
        assert_eq!(store.get("big/b.bin").await.unwrap(), data);
        let (_, tag) = store.get_tagged("big/b.bin").await.unwrap();
        store.put_if("big/b.bin", Bytes::from_static(b"small"), Expect::Tag(&tag)).await.unwrap();
        assert_eq!(store.get("big/b.bin").await.unwrap(), Bytes::from_static(b"small"));
        store.put("big/c.bin", data.clone()).await.unwrap();
        store.put("big/c.bin", data.slice(..10)).await.unwrap();
        store.put("big/d.bin", data.clone()).await.unwrap();
        store.delete("big/d.bin").await.unwrap();
    });
    assert_eq!(all_keys_expire(&server.address), 2, "only b.bin and c.bin remain, without chunks");
}

#[test]
fn redis_store_errors_name_the_server_and_what_to_do() {
    let mut server = support::RedisServer::start(&["--maxmemory", "3mb", "--maxmemory-policy", "noeviction"]);
    let (store, _) = open(&format!("redis://{}/", server.address)).unwrap();
    let rt = runtime();
    let block = Bytes::from(vec![7u8; 512 * 1024]);
    let full = (0..64).find_map(|i| rt.block_on(store.put(&format!("m/{i}"), block.clone())).err()).unwrap();
    assert!(full.to_string().contains("out of memory") && !full.is_transient(), "{full}");
    let chunked = Bytes::from(vec![7u8; 5 * squall_store::REDIS_CHUNK]);
    let full = rt.block_on(store.put("m/chunked", chunked)).unwrap_err();
    assert!(full.to_string().contains("out of memory"), "a chunk refused fails the write: {full}");
    assert!(rt.block_on(store.get("m/chunked")).unwrap_err().is_not_found(), "and nothing is there");
    let mut c = redis::Client::open(format!("redis://{}/", server.address)).unwrap().get_connection().unwrap();
    let chunks: Vec<String> = redis::cmd("KEYS").arg("m/chunked*").query(&mut c).unwrap();
    assert!(chunks.is_empty(), "not even its chunks: {chunks:?}");

    let port: u16 = server.address.rsplit(':').next().unwrap().parse().unwrap();
    server.kill();
    let down = rt.block_on(store.get("m/0")).unwrap_err();
    assert!(down.to_string().contains("cannot reach the Redis server") && down.is_transient(), "{down}");
    // A server back on the same address is used again (a new connection is made).
    let _again = support::RedisServer::start_at(port, &[]);
    rt.block_on(store.put("m/0", Bytes::from_static(b"back"))).unwrap();
    assert_eq!(rt.block_on(store.get("m/0")).unwrap(), Bytes::from_static(b"back"));
}
