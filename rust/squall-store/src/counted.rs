//! Request and byte counters for every store of the process, so each task attempt can report
//! what it read and wrote and a job can be priced as S3 requests.
//!
//! Requests count for the process and, when one runs inside [`counting_task`], for that task
//! alone: several tasks may run at once on threads of one process.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use squall_core::TaskIo;

use crate::{BoxFuture, Expect, ObjectMeta, Result, Store};

/// Requests and bytes, counted as they happen.
#[derive(Debug)]
struct Tally {
    puts: AtomicU64,
    gets: AtomicU64,
    lists: AtomicU64,
    deletes: AtomicU64,
    bytes_read: AtomicU64,
    bytes_written: AtomicU64,
    fast_requests: AtomicU64,
    fast_bytes: AtomicU64,
}

impl Tally {
    const fn new() -> Self {
        Tally {
            puts: AtomicU64::new(0),
            gets: AtomicU64::new(0),
            lists: AtomicU64::new(0),
            deletes: AtomicU64::new(0),
            bytes_read: AtomicU64::new(0),
            bytes_written: AtomicU64::new(0),
            fast_requests: AtomicU64::new(0),
            fast_bytes: AtomicU64::new(0),
        }
    }

    fn counts(&self) -> TaskIo {
        TaskIo {
            puts: self.puts.load(Ordering::Relaxed),
            gets: self.gets.load(Ordering::Relaxed),
            lists: self.lists.load(Ordering::Relaxed),
            deletes: self.deletes.load(Ordering::Relaxed),
            bytes_read: self.bytes_read.load(Ordering::Relaxed),
            bytes_written: self.bytes_written.load(Ordering::Relaxed),
            fast_requests: self.fast_requests.load(Ordering::Relaxed),
            fast_bytes: self.fast_bytes.load(Ordering::Relaxed),
            slowdowns: 0,
        }
    }
}

static PROCESS: Tally = Tally::new();

tokio::task_local! {
    static TASK: Arc<Tally>;
}

/// Requests and bytes moved by this process's stores since it started, outside tasks run in
/// [`counting_task`] or, inside one, by that task so far.
pub fn io_counts() -> TaskIo {
    TASK.try_with(|t| t.counts()).unwrap_or_else(|_| PROCESS.counts())
}

/// Runs `f` with its own request counters, which [`io_counts`] reports while it runs: its
/// store calls and those of futures it blocks on (see [`crate::in_parallel`]).
pub fn counting_task<R>(f: impl FnOnce() -> R) -> R {
    TASK.sync_scope(Arc::new(Tally::new()), f)
}

/// Counts `n` for the task running (see [`counting_task`]), else for the process: a request
/// is counted once, so a job's record adds its tasks' counts and its driver's without counting
/// the tasks that ran on the driver's threads twice.
fn add(counter: fn(&Tally) -> &AtomicU64, n: u64) {
    if TASK.try_with(|t| counter(t).fetch_add(n, Ordering::Relaxed)).is_err() {
        counter(&PROCESS).fetch_add(n, Ordering::Relaxed);
    }
}

/// Counts the writing (`put`) or the reading of a value held by a memory store
/// ([`crate::MemoryStore::hold`]) as the request for the `len` bytes it stands for: what a job
/// counts and costs does not depend on whether its objects were held or encoded.
pub fn count_held(put: bool, len: u64) {
    match put {
        true => add(|t| &t.puts, squall_core::prices::s3_put_requests(len)),
        false => add(|t| &t.gets, squall_core::prices::s3_requests(len)),
    }
    add(if put { |t: &Tally| &t.bytes_written } else { |t: &Tally| &t.bytes_read }, len);
}

/// A store whose requests are counted. One request is counted per call, as S3 bills a
/// multipart upload or a split read roughly by its parts (8 MB each). A fast store's (`fast`)
/// requests count apart, one per call.
#[derive(Debug)]
pub struct Counted {
    /// The store.
    pub store: Arc<dyn Store>,
    /// Whether it is a fast store (Redis), billed by the bytes it moves.
    pub fast: bool,
}

impl Counted {
    /// Counts a request of kind `counter` (`n` of them on an object store, one on a fast one).
    fn request(&self, counter: fn(&Tally) -> &AtomicU64, n: u64) {
        match self.fast {
            true => add(|t| &t.fast_requests, 1),
            false => add(counter, n),
        }
    }

    fn moved(&self, counter: fn(&Tally) -> &AtomicU64, len: u64) {
        add(counter, len);
        if self.fast {
            add(|t| &t.fast_bytes, len);
        }
    }

    fn count_put(&self, data: &Bytes) {
        let len = data.len() as u64;
        self.request(|t| &t.puts, squall_core::prices::s3_put_requests(len));
        self.moved(|t| &t.bytes_written, len);
    }

    fn count_get(&self, data: &Bytes) {
        let len = data.len() as u64;
        self.request(|t| &t.gets, squall_core::prices::s3_requests(len));
        self.moved(|t| &t.bytes_read, len);
    }
}

impl Store for Counted {
    fn url_of(&self, key: &str) -> String {
        self.store.url_of(key)
    }

    fn put<'a>(&'a self, key: &'a str, data: Bytes) -> BoxFuture<'a, Result<()>> {
        self.count_put(&data);
        self.store.put(key, data)
    }

    fn put_output<'a>(&'a self, key: &'a str, data: Bytes) -> BoxFuture<'a, Result<()>> {
        self.count_put(&data);
        self.store.put_output(key, data)
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Bytes>> {
        Box::pin(async move {
            let data = self.store.get(key).await?;
            self.count_get(&data);
            Ok(data)
        })
    }

    fn get_range<'a>(&'a self, key: &'a str, range: Range<u64>) -> BoxFuture<'a, Result<Bytes>> {
        Box::pin(async move {
            let data = self.store.get_range(key, range).await?;
            self.count_get(&data);
            Ok(data)
        })
    }

    fn head<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<ObjectMeta>> {
        self.request(|t| &t.gets, 1);
        self.store.head(key)
    }

    fn list<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<ObjectMeta>>> {
        Box::pin(async move {
            let found = self.store.list(prefix).await?;
            self.request(|t| &t.lists, (found.len() as u64).div_ceil(1000).max(1));
            Ok(found)
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<()>> {
        self.request(|t| &t.deletes, 1);
        self.store.delete(key)
    }

    fn rename<'a>(&'a self, from: &'a str, to: &'a str) -> BoxFuture<'a, Result<()>> {
        self.request(|t| &t.puts, 1); // S3 bills the copy as a PUT; the delete is free
        if !self.fast {
            add(|t| &t.deletes, 1);
        }
        self.store.rename(from, to)
    }

    fn prune<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<()>> {
        self.store.prune(prefix)
    }

    fn get_tagged<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(Bytes, String)>> {
        Box::pin(async move {
            let (data, tag) = self.store.get_tagged(key).await?;
            self.request(|t| &t.gets, 1);
            self.moved(|t| &t.bytes_read, data.len() as u64);
            Ok((data, tag))
        })
    }

    fn put_if<'a>(&'a self, key: &'a str, data: Bytes, expect: Expect<'a>) -> BoxFuture<'a, Result<String>> {
        self.count_put(&data);
        self.store.put_if(key, data, expect)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryStore;

    #[tokio::test]
    async fn requests_and_bytes_are_counted() {
        let store = Counted { store: MemoryStore::named("counted-test"), fast: false };
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

    #[test]
    fn a_fast_store_counts_its_requests_apart() {
        let store = Counted { store: MemoryStore::named("counted-fast-test"), fast: true };
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let io = counting_task(|| {
            rt.block_on(async {
                store.put("a", Bytes::from_static(b"hello")).await.unwrap();
                store.get_range("a", 1..3).await.unwrap();
                store.delete("a").await.unwrap();
            });
            io_counts()
        });
        assert_eq!((io.puts, io.gets, io.deletes), (0, 0, 0), "no S3 requests");
        assert_eq!((io.fast_requests, io.fast_bytes), (3, 7));
        assert_eq!((io.bytes_written, io.bytes_read), (5, 2), "bytes moved count for both tiers");
    }

    #[test]
    fn a_task_counts_its_own_requests_concurrent_ones_included() {
        // Two tasks at once, each on a thread of its own that blocks on the one runtime.
        let runtime = Arc::new(tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap());
        let store: Arc<dyn Store> = Arc::new(Counted { store: MemoryStore::named("counted-task-test"), fast: false });
        let run = |n: usize| {
            let (runtime, store) = (runtime.clone(), store.clone());
            std::thread::spawn(move || {
                counting_task(|| {
                    let jobs = (0..n)
                        .map(|i| -> BoxFuture<'static, Result<()>> {
                            let store = store.clone();
                            Box::pin(async move { store.put(&format!("{n}-{i}"), Bytes::from_static(b"abc")).await })
                        })
                        .collect();
                    runtime.block_on(crate::parallel::in_parallel(jobs)).unwrap();
                    io_counts()
                })
            })
        };
        let (three, five) = (run(3), run(5));
        let (three, five) = (three.join().unwrap(), five.join().unwrap());
        assert_eq!((three.puts, three.bytes_written, three.gets), (3, 9, 0));
        assert_eq!((five.puts, five.bytes_written), (5, 15));
    }

    #[test]
    fn a_tasks_requests_count_for_it_alone() {
        // Not for the process too: a job adds its tasks' counts and its driver's (the
        // process's, outside tasks), and tasks on the driver's threads would count twice.
        let store = Counted { store: MemoryStore::named("counted-alone-test"), fast: false };
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let before = io_counts();
        let task = counting_task(|| {
            for i in 0..1000 {
                rt.block_on(store.put(&format!("k{i}"), Bytes::from_static(b"x"))).unwrap();
            }
            io_counts()
        });
        assert_eq!(task.puts, 1000);
        let process = io_counts() - before;
        assert!(process.puts < 1000, "other tests' requests at most: {process:?}");
        rt.block_on(store.put("outside", Bytes::from_static(b"x"))).unwrap();
        assert!(io_counts().puts > before.puts, "outside a task, the process counts it");
    }
}
