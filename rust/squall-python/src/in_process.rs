//! A backend whose attempts run on threads of this process. For stages with no Python function
//! (scans, shuffles, sorts, group-bys): the data stays in this process, so a shuffle can live
//! in memory:// and nothing is copied through pipes. A partition task runs in the engine with
//! no Python; the plan's functions (on memory:// data) are called on the same thread.
//!
//! A thread cannot be killed: a timed-out or cancelled attempt raises its cancel flag, and the
//! engine stops at its next batch; its slot stays taken until its code returns.

use std::sync::{Arc, Mutex};

use squall_core::cancel::CancelFlag;
use squall_exec::backend::{bounded, BoxFuture};
use squall_exec::task_threads::TaskThreads;
use squall_exec::{Backend, Failure, Invocation, Reply};
use tokio::sync::Semaphore;

use crate::task::run_attempt;

/// Runs attempts on up to `threads` threads of this process.
pub struct InProcessBackend {
    permits: Arc<Semaphore>,
    /// Free thread names' indices.
    free: Arc<Mutex<Vec<usize>>>,
    threads: usize,
    /// The threads that run the attempts.
    pool: TaskThreads,
}

impl InProcessBackend {
    /// Up to `threads` attempts at once.
    pub fn new(threads: usize) -> Self {
        let threads = threads.max(1);
        InProcessBackend {
            permits: Arc::new(Semaphore::new(threads)),
            free: Arc::new(Mutex::new((0..threads).rev().collect())),
            threads,
            pool: TaskThreads::new(threads),
        }
    }

    async fn run(&self, inv: Invocation) -> Result<Reply, Failure> {
        let permit =
            self.permits.clone().acquire_owned().await.map_err(|_| Failure::Spawn("the session was closed".into()))?;
        let Invocation { spec, func, input, timeout, mut cancel } = inv;
        let slot = self.free.lock().unwrap_or_else(|e| e.into_inner()).pop().unwrap_or(0);
        let worker = format!("thread-{slot}");
        let free = self.free.clone();
        let flag = CancelFlag::new();
        let stop = flag.clone();
        let attempt = self.pool.run(move || {
            let out = squall_store::counting_task(|| flag.run(|| run_attempt(&spec, &func.bytes, &input)));
            free.lock().unwrap_or_else(|e| e.into_inner()).push(slot);
            drop(permit);
            out
        });
        let (report, body) = match bounded(squall_exec::memory::sampling_peak(attempt), timeout, &mut cancel).await {
            Ok((Ok((mut report, body)), peak)) => {
                report.peak_rss = peak;
                (report, body)
            }
            Ok((Err(panic), _)) => return Err(Failure::WorkerLost(format!("{worker} panicked: {panic}"))),
            Err(failure) => {
                stop.raise();
                return Err(failure);
            }
        };
        Ok(Reply { report, body, worker, cold: false, output: String::new() })
    }
}

impl Backend for InProcessBackend {
    fn slots(&self) -> usize {
        self.threads
    }

    fn invoke(&self, inv: Invocation) -> BoxFuture<'_, Result<Reply, Failure>> {
        Box::pin(self.run(inv))
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.permits.close();
        })
    }
}
