//! The scheduler: a queue of task attempts fed to a backend's slots, with retries, timeouts and
//! cancellation. It runs as one task on the process's runtime; callers talk to it by message and
//! read outcomes from its [`Board`].

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc as std_mpsc, Arc};
use std::time::Duration;

use squall_core::TaskSpec;
use tokio::sync::{mpsc, watch};

use crate::runtime::runtime;
use crate::{Backend, Board, Error, Failure, Function, Invocation, Outcome, Reply, Result};

/// Identifies a job within one scheduler.
pub type JobId = u64;

/// A job: one function applied to many pickled inputs, one task per input.
#[derive(Debug)]
pub struct JobSpec {
    /// The function every task calls.
    pub func: Arc<Function>,
    /// One pickled input per task.
    pub inputs: Vec<Arc<Vec<u8>>>,
    /// Per-attempt time limit.
    pub timeout: Option<Duration>,
    /// Extra attempts after an infrastructure failure.
    pub retries: u32,
}

enum Command {
    Submit(JobId, JobSpec),
    Cancel(JobId),
    Shutdown(std_mpsc::Sender<()>),
}

/// Schedules jobs onto a backend. Dropping it stops its workers.
pub struct Scheduler {
    tx: mpsc::UnboundedSender<Command>,
    board: Arc<Board>,
    next_job: AtomicU64,
}

impl Scheduler {
    /// Starts a scheduler over `backend` on the process's runtime.
    pub fn new(backend: Arc<dyn Backend>) -> Result<Self> {
        let board = Arc::new(Board::default());
        let (tx, rx) = mpsc::unbounded_channel();
        runtime()?.spawn(Dispatcher::new(backend, board.clone()).run(rx));
        Ok(Scheduler { tx, board, next_job: AtomicU64::new(1) })
    }

    /// Queues a job's tasks and returns its id at once; outcomes appear on [`Scheduler::board`].
    pub fn submit(&self, spec: JobSpec) -> Result<JobId> {
        let job = self.next_job.fetch_add(1, Ordering::Relaxed);
        self.board.add_job(job, spec.inputs.len());
        if self.tx.send(Command::Submit(job, spec)).is_err() {
            self.board.forget_job(job);
            return Err(Error::Closed);
        }
        Ok(job)
    }

    /// Cancels a job: queued tasks never start, running attempts are stopped.
    pub fn cancel(&self, job: JobId) {
        self.board.cancel_job(job);
        let _ = self.tx.send(Command::Cancel(job));
    }

    /// Cancels one queued task; false if it already runs or finished.
    pub fn cancel_task(&self, job: JobId, task: usize) -> bool {
        self.board.cancel_task(job, task)
    }

    /// Where outcomes land.
    pub fn board(&self) -> &Arc<Board> {
        &self.board
    }

    /// Cancels every job and stops the backend's workers; waits up to `timeout` for that.
    pub fn shutdown(&self, timeout: Duration) {
        let (done_tx, done_rx) = std_mpsc::channel();
        if self.tx.send(Command::Shutdown(done_tx)).is_ok() {
            let _ = done_rx.recv_timeout(timeout);
        }
    }
}

struct JobRun {
    spec: Arc<JobSpec>,
    cancel: watch::Sender<bool>,
    /// Tasks queued or running.
    outstanding: usize,
}

type Done = (JobId, usize, u32, std::result::Result<Reply, Failure>);

/// Extra attempts granted to a task that is only being throttled.
const THROTTLE_RETRIES: u32 = 20;
/// First and longest pause before retrying after throttling or a service error.
const BACKOFF_BASE: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// How long to wait before attempt `attempt + 1`: exponential with jitter after throttling and
/// service errors (the service needs air); at once after a lost worker or a timeout.
fn backoff(failure: &Failure, attempt: u32) -> Duration {
    if !matches!(failure, Failure::Throttled(_) | Failure::Service(_)) {
        return Duration::ZERO;
    }
    let ceiling = BACKOFF_BASE.saturating_mul(1 << attempt.min(16)).min(BACKOFF_MAX);
    let jitter = std::hash::BuildHasher::hash_one(&std::collections::hash_map::RandomState::new(), attempt);
    ceiling.mul_f64(0.5 + (jitter % 1000) as f64 / 2000.0)
}

struct Dispatcher {
    backend: Arc<dyn Backend>,
    board: Arc<Board>,
    queue: VecDeque<(JobId, usize, u32)>,
    jobs: HashMap<JobId, JobRun>,
    in_flight: usize,
    done_tx: mpsc::UnboundedSender<Done>,
    done_rx: mpsc::UnboundedReceiver<Done>,
    /// Retries whose backoff has passed.
    retry_tx: mpsc::UnboundedSender<(JobId, usize, u32)>,
    retry_rx: mpsc::UnboundedReceiver<(JobId, usize, u32)>,
}

impl Dispatcher {
    fn new(backend: Arc<dyn Backend>, board: Arc<Board>) -> Self {
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        let (retry_tx, retry_rx) = mpsc::unbounded_channel();
        let (queue, jobs) = (VecDeque::new(), HashMap::new());
        Dispatcher { backend, board, queue, jobs, in_flight: 0, done_tx, done_rx, retry_tx, retry_rx }
    }

    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Command>) {
        loop {
            self.dispatch();
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    Some(Command::Submit(job, spec)) => self.admit(job, spec),
                    Some(Command::Cancel(job)) => self.cancel(job),
                    Some(Command::Shutdown(done)) => {
                        self.stop().await;
                        let _ = done.send(());
                        return;
                    }
                    None => {
                        self.stop().await;
                        return;
                    }
                },
                Some((job, task, attempt, result)) = self.done_rx.recv() => {
                    self.in_flight -= 1;
                    self.settle(job, task, attempt, result);
                }
                // A cancelled job's retry is dropped by `dispatch`, which cannot claim it.
                Some(retry) = self.retry_rx.recv() => self.queue.push_front(retry),
            }
        }
    }

    fn admit(&mut self, job: JobId, spec: JobSpec) {
        let n = spec.inputs.len();
        if n == 0 {
            return;
        }
        self.queue.extend((0..n).map(|task| (job, task, 0)));
        let (cancel, _) = watch::channel(false);
        self.jobs.insert(job, JobRun { spec: Arc::new(spec), cancel, outstanding: n });
    }

    fn dispatch(&mut self) {
        while self.in_flight < self.backend.slots() {
            let Some((job, task, attempt)) = self.queue.pop_front() else {
                return;
            };
            if !self.board.claim(job, task) {
                self.release(job);
                continue;
            }
            let Some(run) = self.jobs.get(&job) else {
                continue;
            };
            let inv = Invocation {
                spec: TaskSpec { job, task: task as u64, attempt, func: run.spec.func.hash.clone(), func_len: 0 },
                func: run.spec.func.clone(),
                input: run.spec.inputs[task].clone(),
                timeout: run.spec.timeout,
                cancel: run.cancel.subscribe(),
            };
            let (backend, done) = (self.backend.clone(), self.done_tx.clone());
            tokio::spawn(async move {
                let result = backend.invoke(inv).await;
                let _ = done.send((job, task, attempt, result));
            });
            self.in_flight += 1;
        }
    }

    fn settle(&mut self, job: JobId, task: usize, attempt: u32, result: std::result::Result<Reply, Failure>) {
        let retries = match self.jobs.get(&job) {
            Some(run) if !*run.cancel.borrow() => run.spec.retries,
            _ => {
                self.release(job);
                return;
            }
        };
        let outcome = match result {
            Ok(Reply { report, body, .. }) if report.ok => Outcome::Returned { body, report },
            Ok(Reply { report, body, .. }) => {
                let error = report.error.unwrap_or_else(|| squall_core::UserError {
                    error_type: "squall.ProtocolError".into(),
                    message: "the worker reported a failure without an error".into(),
                    traceback: String::new(),
                });
                Outcome::Raised { body, error }
            }
            Err(Failure::Cancelled) => Outcome::Cancelled,
            Err(failure)
                if failure.is_retryable()
                    && attempt
                        < retries + if matches!(failure, Failure::Throttled(_)) { THROTTLE_RETRIES } else { 0 } =>
            {
                if self.board.requeue(job, task) {
                    // Retries go first, so a job is not held up by its last failed task.
                    let delay = backoff(&failure, attempt);
                    if delay.is_zero() {
                        self.queue.push_front((job, task, attempt + 1));
                    } else {
                        let retry = self.retry_tx.clone();
                        tokio::spawn(async move {
                            tokio::time::sleep(delay).await;
                            let _ = retry.send((job, task, attempt + 1));
                        });
                    }
                } else {
                    self.release(job);
                }
                return;
            }
            Err(failure) => Outcome::Failed { failure, attempts: attempt + 1 },
        };
        self.board.finish(job, task, outcome);
        self.release(job);
    }

    /// One task of `job` left the queue for good.
    fn release(&mut self, job: JobId) {
        if let Some(run) = self.jobs.get_mut(&job) {
            run.outstanding -= 1;
            if run.outstanding == 0 {
                self.jobs.remove(&job);
            }
        }
    }

    fn cancel(&mut self, job: JobId) {
        let Some(run) = self.jobs.get_mut(&job) else {
            return;
        };
        let _ = run.cancel.send(true);
        let before = self.queue.len();
        self.queue.retain(|(j, _, _)| *j != job);
        for _ in 0..before - self.queue.len() {
            self.release(job);
        }
    }

    async fn stop(&mut self) {
        let jobs: Vec<JobId> = self.jobs.keys().copied().collect();
        for job in jobs {
            self.board.cancel_job(job);
            self.cancel(job);
        }
        self.backend.shutdown().await;
    }
}
