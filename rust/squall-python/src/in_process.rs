//! A backend whose attempts run on threads of this process, through the same
//! `squall._task.execute_frame` as a worker process's. For stages with no Python function
//! (scans, shuffles, sorts, group-bys), whose Rust code releases the GIL: the data stays in
//! this process, so a shuffle can live in memory:// and nothing is copied through pipes.
//!
//! A thread cannot be killed: a timed-out or cancelled attempt is abandoned, and its slot
//! stays taken until its code returns.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::PyBytes;
use squall_core::frame::{decode_header, encode_header};
use squall_core::TaskReport;
use squall_exec::backend::{bounded, BoxFuture};
use squall_exec::{malloc, Backend, Failure, Invocation, Reply};
use tokio::sync::Semaphore;

/// How long the process stays idle before malloc's usual settings return (`malloc::settle`).
const SETTLE_AFTER: Duration = Duration::from_secs(1);

/// Runs attempts on up to `threads` threads of this process.
pub struct InProcessBackend {
    permits: Arc<Semaphore>,
    /// Free thread names' indices.
    free: Arc<Mutex<Vec<usize>>>,
    threads: usize,
}

impl InProcessBackend {
    /// Up to `threads` attempts at once.
    pub fn new(threads: usize) -> Self {
        let threads = threads.max(1);
        InProcessBackend {
            permits: Arc::new(Semaphore::new(threads)),
            free: Arc::new(Mutex::new((0..threads).rev().collect())),
            threads,
        }
    }

    async fn run(&self, inv: Invocation) -> Result<Reply, Failure> {
        let permit =
            self.permits.clone().acquire_owned().await.map_err(|_| Failure::Spawn("the session was closed".into()))?;
        let Invocation { mut spec, func, input, timeout, mut cancel } = inv;
        spec.func_len = func.bytes.len() as u64;
        let header = encode_header(&spec).map_err(|e| Failure::WorkerLost(e.to_string()))?;
        let slot = self.free.lock().unwrap_or_else(|e| e.into_inner()).pop().unwrap_or(0);
        let worker = format!("thread-{slot}");
        let free = self.free.clone();
        malloc::task_started();
        let attempt = tokio::task::spawn_blocking(move || {
            let out = squall_store::counting_task(|| execute(&header, &func.bytes, &input));
            free.lock().unwrap_or_else(|e| e.into_inner()).push(slot);
            drop(permit);
            let generation = malloc::task_finished();
            tokio::spawn(async move {
                tokio::time::sleep(SETTLE_AFTER).await;
                malloc::settle(generation).await;
            });
            out
        });
        let (header, body) = match bounded(attempt, timeout, &mut cancel).await? {
            Ok(Ok(frame)) => frame,
            Ok(Err(why)) => return Err(Failure::WorkerLost(format!("{worker}: {why}"))),
            Err(panic) => return Err(Failure::WorkerLost(format!("{worker} panicked: {panic}"))),
        };
        let report: TaskReport = decode_header(&header)
            .map_err(|e| Failure::WorkerLost(format!("{worker} made a malformed report: {e}")))?;
        Ok(Reply { report, body, worker, cold: false })
    }
}

/// Calls `squall._task.execute_frame(header, func + input)`; returns its report and body.
fn execute(header: &[u8], func: &[u8], input: &[u8]) -> Result<(Vec<u8>, Vec<u8>), String> {
    Python::attach(|py| -> PyResult<(Vec<u8>, Vec<u8>)> {
        let payload = PyBytes::new_with(py, func.len() + input.len(), |buf| {
            buf[..func.len()].copy_from_slice(func);
            buf[func.len()..].copy_from_slice(input);
            Ok(())
        })?;
        let run = py.import("squall._task")?.getattr("execute_frame")?;
        run.call1((PyBytes::new(py, header), payload))?.extract()
    })
    .map_err(|e| format!("the task could not run in this process: {e}"))
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
