//! A backend whose attempts run on threads of this process. For stages with no Python function
//! (scans, shuffles, sorts, group-bys): the data stays in this process, so a shuffle can live
//! in memory:// and nothing is copied through pipes. Their tasks ([`PARTITION_TASKS`]) run in
//! the engine without Python; any other function (one of the user's, on memory:// data) runs
//! through the same `squall._task.execute_frame` as a worker process's.
//!
//! A thread cannot be killed: a timed-out or cancelled attempt is abandoned, and its slot
//! stays taken until its code returns.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::PyBytes;
use squall_core::frame::{decode_header, encode_header};
use squall_core::{TaskReport, TaskSpec, UserError};
use squall_exec::backend::{bounded, BoxFuture};
use squall_exec::scheduler::now_epoch;
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
        let native = spec.func == PARTITION_TASKS;
        let slot = self.free.lock().unwrap_or_else(|e| e.into_inner()).pop().unwrap_or(0);
        let worker = format!("thread-{slot}");
        let free = self.free.clone();
        malloc::task_started();
        let attempt = tokio::task::spawn_blocking(move || {
            let out = squall_store::counting_task(|| match native {
                true => run_partition_task(&spec, &input),
                false => execute(&header, &func.bytes, &input),
            });
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

/// The function name of tasks that are partition tasks of a stage with no Python function in
/// it (see `Session._submit`): each input is the task's JSON, run by the engine on the thread
/// without Python, which is called only to describe an error.
pub const PARTITION_TASKS: &str = "squall:partition";

/// Runs the partition task `input`; returns what `squall._task.execute_frame` would: the
/// report, and the report JSON pickled (or the exception pickled).
fn run_partition_task(spec: &TaskSpec, input: &[u8]) -> Result<(Vec<u8>, Vec<u8>), String> {
    let started = now_epoch();
    let outcome = crate::dataset::execute_partition_without_python(input, spec.attempt);
    let finished = now_epoch();
    let (error, body) = match outcome {
        Ok(report) => (None, pickled_str(&report)),
        Err(exc) => describe(exc).map(|(error, body)| (Some(error), body))?,
    };
    let io = squall_store::io_counts();
    let report = TaskReport { task: spec.task, ok: error.is_none(), error, started, finished, io };
    Ok((encode_header(&report).map_err(|e| e.to_string())?, body))
}

/// `s` as Python's pickle of a str (protocol 2, BINUNICODE).
fn pickled_str(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() + 8);
    out.extend_from_slice(b"\x80\x02X");
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
    out.push(b'.');
    out
}

/// The error as a failed attempt reports it: `squall._task.describe_error`'s type, message and
/// traceback, and the pickled exception.
fn describe(exc: PyErr) -> Result<(UserError, Vec<u8>), String> {
    Python::attach(|py| -> PyResult<_> {
        let described = py.import("squall._task")?.getattr("describe_error")?.call1((exc.value(py),))?;
        let text = |key: &str| described.get_item(key)?.extract::<String>();
        let error =
            UserError { error_type: text("error_type")?, message: text("message")?, traceback: text("traceback")? };
        Ok((error, described.get_item("exception")?.extract::<Vec<u8>>()?))
    })
    .map_err(|e| format!("the task failed, and its error could not be described: {e}"))
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
