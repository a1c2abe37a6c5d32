//! Request and byte counters for every store of the process, so each task attempt can report
//! what it read and wrote and a job can be priced as S3 requests.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use squall_core::TaskIo;

use crate::{BoxFuture, ObjectMeta, Result, Store};

static PUTS: AtomicU64 = AtomicU64::new(0);
static GETS: AtomicU64 = AtomicU64::new(0);
static LISTS: AtomicU64 = AtomicU64::new(0);
static DELETES: AtomicU64 = AtomicU64::new(0);
static BYTES_READ: AtomicU64 = AtomicU64::new(0);
static BYTES_WRITTEN: AtomicU64 = AtomicU64::new(0);

/// Requests and bytes moved by this process's stores since it started.
pub fn io_counts() -> TaskIo {
    TaskIo {
        puts: PUTS.load(Ordering::Relaxed),
        gets: GETS.load(Ordering::Relaxed),
        lists: LISTS.load(Ordering::Relaxed),
        deletes: DELETES.load(Ordering::Relaxed),
        bytes_read: BYTES_READ.load(Ordering::Relaxed),
        bytes_written: BYTES_WRITTEN.load(Ordering::Relaxed),
    }
}

fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

/// A store whose requests are counted. One request is counted per call, as S3 bills a
/// multipart upload or a split read roughly by its parts (8 MB each).
#[derive(Debug)]
pub struct Counted(pub Arc<dyn Store>);

fn parts(len: u64) -> u64 {
    len.div_ceil(crate::s3::PART_SIZE as u64).max(1)
}

fn count_put(data: &Bytes) {
    let len = data.len() as u64;
    add(&PUTS, parts(len));
    add(&BYTES_WRITTEN, len);
}

impl Store for Counted {
    fn url_of(&self, key: &str) -> String {
        self.0.url_of(key)
    }

    fn put<'a>(&'a self, key: &'a str, data: Bytes) -> BoxFuture<'a, Result<()>> {
        count_put(&data);
        self.0.put(key, data)
    }

    fn put_output<'a>(&'a self, key: &'a str, data: Bytes) -> BoxFuture<'a, Result<()>> {
        count_put(&data);
        self.0.put_output(key, data)
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Bytes>> {
        Box::pin(async move {
            let data = self.0.get(key).await?;
            add(&GETS, parts(data.len() as u64));
            add(&BYTES_READ, data.len() as u64);
            Ok(data)
        })
    }

    fn get_range<'a>(&'a self, key: &'a str, range: Range<u64>) -> BoxFuture<'a, Result<Bytes>> {
        Box::pin(async move {
            let data = self.0.get_range(key, range).await?;
            add(&GETS, parts(data.len() as u64));
            add(&BYTES_READ, data.len() as u64);
            Ok(data)
        })
    }

    fn head<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<ObjectMeta>> {
        add(&GETS, 1);
        self.0.head(key)
    }

    fn list<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<ObjectMeta>>> {
        Box::pin(async move {
            let found = self.0.list(prefix).await?;
            add(&LISTS, (found.len() as u64).div_ceil(1000).max(1));
            Ok(found)
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<()>> {
        add(&DELETES, 1);
        self.0.delete(key)
    }

    fn rename<'a>(&'a self, from: &'a str, to: &'a str) -> BoxFuture<'a, Result<()>> {
        add(&PUTS, 1); // S3 bills the copy as a PUT; the delete is free
        add(&DELETES, 1);
        self.0.rename(from, to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryStore;

    #[tokio::test]
    async fn requests_and_bytes_are_counted() {
        let store = Counted(MemoryStore::named("counted-test"));
        let before = io_counts();
        store.put("a", Bytes::from_static(b"hello")).await.unwrap();
        store.get_range("a", 1..3).await.unwrap();
        store.list("").await.unwrap();
        store.delete("a").await.unwrap();
        let after = io_counts();
        // Other tests may count concurrently: at least ours are there.
        assert!(after.puts > before.puts && after.gets > before.gets);
        assert!(after.lists > before.lists && after.deletes > before.deletes);
        assert!(after.bytes_written >= before.bytes_written + 5);
        assert!(after.bytes_read >= before.bytes_read + 2);
    }
}
