//! Bindings of the scheduler (`squall_exec::Scheduler`) and of its jobs' outcomes.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::PyBytes;
use squall_core::spec::ResultStores;
use squall_exec::deploy::functions_of;
use squall_exec::output::OutputQueue;
use squall_exec::runtime::runtime;
use squall_exec::{
    AttemptRecord, Backend, Failure, Function, JobHandle, JobSpec, LambdaBackend, LambdaConfig, LocalBackend,
    LocalConfig, SimulatedBackend, Speculation, Work,
};

use crate::errors::exec_error;
use crate::fleet_model::FleetModel;
use crate::in_process::InProcessBackend;

/// Longest single wait with the GIL released; callers loop, so signals are seen in time.
const MAX_WAIT: Duration = Duration::from_millis(200);

fn wait_slice(timeout: f64) -> Duration {
    Duration::try_from_secs_f64(timeout.max(0.0)).unwrap_or(MAX_WAIT).min(MAX_WAIT)
}

/// A scheduler over a pool of local worker processes, threads of this process, or a deployed
/// Lambda function.
#[pyclass(frozen, module = "squall._native")]
pub struct Scheduler {
    pub(crate) inner: Arc<squall_exec::Scheduler>,
    workers: usize,
    /// Tasks' output for the driver to show (local workers with `forward_output`).
    output: Option<Arc<OutputQueue>>,
    /// The process it was made in (see `Drop`).
    owner: u32,
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        // A forked child's copy is never dropped: its worker pipes are registered in an epoll
        // instance the child shares with its parent, and deregistering them from the child
        // would take them from the parent too.
        if std::process::id() != self.owner {
            std::mem::forget(self.inner.clone());
        }
    }
}

#[pymethods]
impl Scheduler {
    /// Local worker processes; with `forward_output`, what tasks print is queued for
    /// `take_output` instead of going to this process's stderr.
    #[new]
    #[pyo3(signature = (python, workers, env, startup_timeout = 60.0, forward_output = false))]
    fn new(
        python: PathBuf,
        workers: usize,
        env: Vec<(String, String)>,
        startup_timeout: f64,
        forward_output: bool,
    ) -> PyResult<Self> {
        let startup_timeout = Duration::try_from_secs_f64(startup_timeout)
            .map_err(|e| pyo3::exceptions::PyValueError::new_err(format!("startup_timeout: {e}")))?;
        let output = forward_output.then(|| Arc::new(OutputQueue::default()));
        let backend = LocalBackend::new(LocalConfig { python, workers, env, startup_timeout, output: output.clone() });
        Ok(Self::over(Arc::new(backend), workers)?.with_output(output))
    }

    /// A simulated fleet following `fleet`, whose tasks run for real on `workers` local worker
    /// processes, or, when the fleet does not execute them, on nothing (a virtual clock).
    #[staticmethod]
    #[pyo3(signature = (python, workers, env, fleet, startup_timeout = 60.0, forward_output = false))]
    fn simulated(
        python: PathBuf,
        workers: usize,
        env: Vec<(String, String)>,
        fleet: PyRef<'_, FleetModel>,
        startup_timeout: f64,
        forward_output: bool,
    ) -> PyResult<Self> {
        let startup_timeout = Duration::try_from_secs_f64(startup_timeout)
            .map_err(|e| pyo3::exceptions::PyValueError::new_err(format!("startup_timeout: {e}")))?;
        let m = fleet.inner.clone();
        let concurrency = m.concurrency;
        if !m.execute {
            let backend = Arc::new(SimulatedBackend::new(None, m));
            let inner = squall_exec::Scheduler::on_virtual_clock(backend)
                .map_err(|e| Python::attach(|py| exec_error(py, e)))?;
            return Ok(Scheduler::made(inner, concurrency));
        }
        let output = forward_output.then(|| Arc::new(OutputQueue::default()));
        let config = LocalConfig { python, workers, env, startup_timeout, output: output.clone() };
        let inner: Arc<dyn Backend> = Arc::new(LocalBackend::new(config));
        Ok(Self::over(Arc::new(SimulatedBackend::new(Some(inner), m)), concurrency)?.with_output(output))
    }

    /// A scheduler that invokes Lambda function `function` (spread over its shards when
    /// `squall.deploy` made several), `concurrency` invocations at once; payloads too large for
    /// an event travel through the `scratch` store. With `forward_output`, what each attempt
    /// printed is queued for `take_output` when it ends.
    #[staticmethod]
    #[pyo3(signature = (function, concurrency, scratch, forward_output = false))]
    fn lambda_function(
        py: Python<'_>,
        function: String,
        concurrency: usize,
        scratch: String,
        forward_output: bool,
    ) -> PyResult<Self> {
        let output = forward_output.then(|| Arc::new(OutputQueue::default()));
        let functions =
            py.detach(|| runtime().map(|rt| rt.block_on(functions_of(&function)))).map_err(|e| exec_error(py, e))?;
        let config = LambdaConfig { functions, concurrency, scratch, output: output.clone() };
        let backend = LambdaBackend::new(config).map_err(|e| Python::attach(|py| exec_error(py, e)))?;
        Ok(Self::over(Arc::new(backend), concurrency)?.with_output(output))
    }

    /// A scheduler whose tasks run on up to `threads` threads of this process (for stages with
    /// no Python function: see `squall._native` in_process.rs); with `memory_of`, its tasks
    /// under a memory limit share that scheduler's (one session's budget).
    #[staticmethod]
    #[pyo3(signature = (threads, memory_of = None))]
    fn in_process(threads: usize, memory_of: Option<&Scheduler>) -> PyResult<Self> {
        let backend: Arc<dyn Backend> = Arc::new(InProcessBackend::new(threads));
        let Some(other) = memory_of else { return Self::over(backend, threads.max(1)) };
        let inner = squall_exec::Scheduler::sharing(backend, other.inner.memory())
            .map_err(|e| Python::attach(|py| exec_error(py, e)))?;
        Ok(Scheduler::made(inner, threads.max(1)))
    }

    /// Number of worker processes, or invocations in flight at once.
    #[getter]
    fn workers(&self) -> usize {
        self.workers
    }

    /// Queues one task per input, called `label` in messages; returns the job at once. With
    /// `speculation` = (after, multiple, min_seconds), a task gets a backup once `after` of the
    /// tasks finished and it ran past `multiple` times their median run time and
    /// `min_seconds`. `refs` gives each task the (job id, task) whose results its arguments
    /// take: it starts once they returned. Results larger than a reply holds are written under
    /// the store prefix `results`, or under `fast_results` in a fast store where they cost less.
    #[pyo3(signature = (func_hash, func, inputs, timeout, retries, speculation, label, results = None, fast_results = None, refs = None))]
    #[allow(clippy::too_many_arguments)]
    fn submit(
        &self,
        py: Python<'_>,
        func_hash: String,
        func: &Bound<'_, PyBytes>,
        inputs: Vec<Bound<'_, PyBytes>>,
        timeout: Option<f64>,
        retries: u32,
        speculation: Option<(f64, f64, f64)>,
        label: String,
        results: Option<String>,
        fast_results: Option<String>,
        refs: Option<Vec<Vec<(u64, usize)>>>,
    ) -> PyResult<Job> {
        let timeout = match timeout {
            Some(t) => Some(
                Duration::try_from_secs_f64(t)
                    .map_err(|e| pyo3::exceptions::PyValueError::new_err(format!("timeout={t}: {e}")))?,
            ),
            None => None,
        };
        let mut refs = refs.unwrap_or_default().into_iter();
        let work = inputs
            .iter()
            .map(|b| Work::Call { args: Arc::new(b.as_bytes().to_vec()), inputs: refs.next().unwrap_or_default() });
        let spec = JobSpec {
            label,
            results: results.map(|store| ResultStores { store, fast: fast_results }),
            func: Arc::new(Function { hash: func_hash, bytes: func.as_bytes().to_vec() }),
            work: work.collect(),
            timeout,
            retries,
            speculation: speculation_of(speculation)?,
            memory: None,
        };
        let handle = self.inner.start(spec).map_err(|e| exec_error(py, e))?;
        Ok(Job::of(handle))
    }

    /// The change counter of the outcome board.
    fn seq(&self) -> u64 {
        self.inner.board().seq()
    }

    /// Waits (GIL released, at most 0.2 s) until the counter passes `seq`; returns the counter.
    fn wait_change(&self, py: Python<'_>, seq: u64, timeout: f64) -> u64 {
        let board = self.inner.board().clone();
        py.detach(move || board.wait_change(seq, wait_slice(timeout)))
    }

    /// Bytes of results and exceptions held for tasks whose outcome was not taken yet.
    fn held_bytes(&self) -> u64 {
        self.inner.board().held_bytes()
    }

    /// Cancels every job and stops the workers.
    fn close(&self, py: Python<'_>) {
        let inner = self.inner.clone();
        py.detach(move || inner.shutdown(Duration::from_secs(5)));
        if let Some(queue) = &self.output {
            queue.close();
        }
    }

    /// The lines tasks printed since the last call (GIL released, waiting up to `timeout`,
    /// at most 0.2 s, for some), each after ``[task N]`` when its job has several tasks; None
    /// once the scheduler is closed and they are all taken, or when output is not queued.
    fn take_output(&self, py: Python<'_>, timeout: f64) -> Option<Vec<String>> {
        let queue = self.output.clone()?;
        let (lines, dropped) = py.detach(move || queue.take(wait_slice(timeout)))?;
        let board = self.inner.board();
        let mut out: Vec<String> = lines
            .into_iter()
            .map(|(job, task, text)| match board.progress(job) {
                Ok(p) if p.total > 1 => format!("[task {task}] {text}"),
                _ => text,
            })
            .collect();
        if dropped > 0 {
            out.push(format!("[squall] {dropped} lines that tasks printed were dropped (printed faster than shown)"));
        }
        Some(out)
    }
}

/// A straggler policy given from Python as (after, multiple, min_seconds).
pub fn speculation_of(given: Option<(f64, f64, f64)>) -> PyResult<Option<Speculation>> {
    let Some((after, multiple, min_seconds)) = given else { return Ok(None) };
    let min_runtime = Duration::try_from_secs_f64(min_seconds)
        .map_err(|e| pyo3::exceptions::PyValueError::new_err(format!("speculation min_seconds: {e}")))?;
    Ok(Some(Speculation { after, multiple, min_runtime }))
}

impl Scheduler {
    fn over(backend: Arc<dyn Backend>, workers: usize) -> PyResult<Self> {
        let inner = squall_exec::Scheduler::new(backend).map_err(|e| Python::attach(|py| exec_error(py, e)))?;
        Ok(Scheduler::made(inner, workers))
    }

    fn made(inner: squall_exec::Scheduler, workers: usize) -> Self {
        Scheduler { inner: Arc::new(inner), workers, output: None, owner: std::process::id() }
    }

    fn with_output(mut self, output: Option<Arc<OutputQueue>>) -> Self {
        self.output = output;
        self
    }
}

/// One attempt as Python sees it (see `Job.attempts`).
type Attempt = (u32, u32, String, bool, bool, f64, f64, f64, &'static str, String, Vec<u64>, (u64, String));

/// A submitted job: one task per input.
#[pyclass(frozen, module = "squall._native")]
pub struct Job {
    handle: Arc<JobHandle>,
}

impl Job {
    /// The Python face of a job.
    pub fn of(handle: Arc<JobHandle>) -> Job {
        Job { handle }
    }

    fn sched(&self) -> &Arc<squall_exec::Scheduler> {
        self.handle.scheduler()
    }
}

#[pymethods]
impl Job {
    /// The job's id within its scheduler.
    #[getter]
    fn id(&self) -> u64 {
        self.handle.id()
    }

    fn __len__(&self) -> usize {
        self.handle.len()
    }

    /// (total, succeeded, failed, cancelled, running, retried, backups).
    #[allow(clippy::type_complexity)]
    fn progress(&self, py: Python<'_>) -> PyResult<(usize, usize, usize, usize, usize, usize, usize)> {
        let p = self.sched().board().progress(self.handle.id()).map_err(|e| exec_error(py, e))?;
        Ok((p.total, p.succeeded, p.failed, p.cancelled, p.running, p.retried, p.backups))
    }

    /// Waits (GIL released, at most 0.2 s) for every task to finish; true when they have.
    fn wait(&self, py: Python<'_>, timeout: f64) -> PyResult<bool> {
        let (board, id) = (self.sched().board().clone(), self.handle.id());
        py.detach(move || board.wait_job(id, wait_slice(timeout))).map_err(|e| exec_error(py, e))
    }

    /// Indices of finished tasks in finishing order, from position `start`.
    fn finished_since(&self, py: Python<'_>, start: usize) -> PyResult<Vec<u32>> {
        self.sched().board().finished_since(self.handle.id(), start).map_err(|e| exec_error(py, e))
    }

    /// The (job id, task) whose results each task takes; empty when none takes any.
    fn inputs(&self, py: Python<'_>) -> PyResult<Vec<Vec<(u64, usize)>>> {
        self.sched().board().inputs(self.handle.id()).map_err(|e| exec_error(py, e))
    }

    /// Whether task `task` is finished.
    fn is_finished(&self, py: Python<'_>, task: usize) -> PyResult<bool> {
        self.sched().board().is_finished(self.handle.id(), task).map_err(|e| exec_error(py, e))
    }

    /// Whether an attempt of task `task` is running.
    fn is_running(&self, py: Python<'_>, task: usize) -> PyResult<bool> {
        self.sched().board().is_running(self.handle.id(), task).map_err(|e| exec_error(py, e))
    }

    /// Hands out the outcome of a finished task once; None while it runs.
    fn take(&self, py: Python<'_>, task: usize) -> PyResult<Option<Outcome>> {
        let outcome = self.sched().board().take(self.handle.id(), task).map_err(|e| exec_error(py, e))?;
        Ok(outcome.map(|o| Outcome::from_exec(py, o)))
    }

    /// Every finished attempt, in finishing order: (task, attempt, worker, cold, backup, queued,
    /// started, finished, outcome, error, its store counters (named by `IO_FIELDS`),
    /// (peak_rss, output)); times in seconds since the epoch, peak resident bytes, the last
    /// lines it printed.
    fn attempts(&self, py: Python<'_>) -> PyResult<Vec<Attempt>> {
        let records = self.sched().board().attempts(self.handle.id()).map_err(|e| exec_error(py, e))?;
        Ok(records
            .into_iter()
            .map(|r: AttemptRecord| {
                let io = r.io.values().to_vec();
                (
                    r.task,
                    r.attempt,
                    r.worker,
                    r.cold,
                    r.backup,
                    r.queued,
                    r.started,
                    r.finished,
                    r.outcome,
                    r.error,
                    io,
                    (r.peak_rss, r.output),
                )
            })
            .collect())
    }

    /// Cancels the job: queued tasks never start, running attempts are stopped; returns once
    /// the tasks of other jobs that take its results are cancelled too.
    fn cancel(&self, py: Python<'_>) {
        py.detach(|| self.sched().cancel_and_wait(self.handle.id()));
    }

    /// Drops the outcomes (their futures are gone) and deletes the results they stored;
    /// progress and attempt records stay.
    fn release(&self) {
        self.sched().release(self.handle.id());
    }

    /// Cancels one queued task, and what takes its result; false if it already runs or
    /// finished.
    fn cancel_task(&self, py: Python<'_>, task: usize) -> bool {
        let (sched, id) = (self.sched().clone(), self.handle.id());
        py.detach(move || sched.cancel_task(id, task))
    }
}

/// The final outcome of one task.
#[pyclass(frozen, get_all, module = "squall._native")]
pub struct Outcome {
    /// "returned", "raised", "lost", "timeout", "spawn", "input" or "cancelled".
    kind: &'static str,
    /// Pickled result ("returned") or pickled exception ("raised"; may be empty).
    body: Py<PyBytes>,
    /// Qualified exception type ("raised").
    error_type: String,
    /// What went wrong (every kind but "returned").
    message: String,
    /// The remote traceback ("raised").
    traceback: String,
    /// Attempts made.
    attempts: u32,
    /// Where the result is when it was too large for the reply ("returned"; `body` is empty).
    stored: Option<String>,
    /// Start of the call on the worker, seconds since the epoch ("returned").
    started: f64,
    /// End of the call on the worker, seconds since the epoch ("returned").
    finished: f64,
}

impl Outcome {
    fn from_exec(py: Python<'_>, o: squall_exec::Outcome) -> Self {
        let empty = || PyBytes::new(py, b"").unbind();
        let mut out = Outcome {
            kind: "cancelled",
            body: empty(),
            error_type: String::new(),
            message: String::new(),
            traceback: String::new(),
            attempts: 1,
            stored: None,
            started: 0.0,
            finished: 0.0,
        };
        match o {
            squall_exec::Outcome::Returned { body, report } => {
                out.kind = "returned";
                out.body = PyBytes::new(py, &body).unbind();
                out.started = report.started;
                out.finished = report.finished;
                out.stored = report.stored;
            }
            squall_exec::Outcome::Raised { body, error } => {
                out.kind = "raised";
                out.body = PyBytes::new(py, &body).unbind();
                out.error_type = error.error_type;
                out.message = error.message;
                out.traceback = error.traceback;
            }
            squall_exec::Outcome::Failed { failure, attempts } => {
                out.kind = match failure {
                    Failure::Timeout(_) => "timeout",
                    Failure::Input(_) => "input",
                    Failure::Spawn(_) | Failure::Setup(_) => "spawn",
                    _ => "lost",
                };
                out.message = failure.to_string();
                out.attempts = attempts;
            }
            squall_exec::Outcome::Cancelled => out.message = "the task was cancelled".into(),
        }
        out
    }
}
