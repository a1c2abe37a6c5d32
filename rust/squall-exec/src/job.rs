//! What a job is (its tasks' work, limits and policies), and the scheduler's record of a job
//! while it runs.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use squall_core::plan::PartitionTask;
use tokio::sync::watch;

use crate::policy::Speculation;
use crate::{AttemptRecord, Failure, Function, Reply, Scheduler};

/// Identifies a job within one scheduler.
pub type JobId = u64;

/// One task of one job of a scheduler.
pub type TaskRef = (JobId, usize);

/// What one task of a job does.
#[derive(Debug, Clone)]
pub enum Work {
    /// Calls the job's function with these pickled `(args, kwargs)`, once the tasks in `inputs`
    /// have returned; their results are handed to the call, in that order.
    Call {
        /// The pickled arguments.
        args: Arc<Vec<u8>>,
        /// Tasks whose results the arguments refer to.
        inputs: Vec<TaskRef>,
    },
    /// Runs a dataset stage's partition task; the job's function is then the plan's list of
    /// Python functions (possibly empty).
    Partition(Arc<PartitionTask>),
}

impl Work {
    /// The tasks whose results this work takes.
    pub fn inputs(&self) -> &[TaskRef] {
        match self {
            Work::Call { inputs, .. } => inputs,
            Work::Partition(_) => &[],
        }
    }
}

/// A job: one function and one piece of work per task.
#[derive(Debug)]
pub struct JobSpec {
    /// What the job is called in messages, e.g. `submit(f)`.
    pub label: String,
    /// Where calls write results too large for a reply (a store URL prefix); None keeps every
    /// result in the reply.
    pub results: Option<squall_core::spec::ResultStores>,
    /// The function every task calls.
    pub func: Arc<Function>,
    /// What each task does.
    pub work: Vec<Work>,
    /// Per-attempt time limit.
    pub timeout: Option<Duration>,
    /// Extra attempts after an infrastructure failure.
    pub retries: u32,
    /// Backups for stragglers; `None` turns them off.
    pub speculation: Option<Speculation>,
    /// What the job's tasks may hold in memory together (None: no limit).
    pub memory: Option<MemoryLimit>,
}

/// A job's memory budget: its tasks start, in order, while the estimates of those running fit
/// in `limit` beside the running tasks of the scheduler's other jobs under a limit (the
/// session's actions share its budget); a task runs alone when nothing else holds any, however
/// big.
#[derive(Debug, Clone)]
pub struct MemoryLimit {
    /// Bytes the running tasks may hold together.
    pub limit: u64,
    /// Each task's estimated peak, in task order.
    pub tasks: Vec<u64>,
}

/// The estimated peaks of the tasks admitted under memory limits, over every job of the
/// schedulers that share it (a session's workers and its driver's threads): each scheduler
/// hears when another frees some.
#[derive(Debug)]
pub struct MemoryPool {
    admitted: std::sync::Mutex<u64>,
    freed: tokio::sync::watch::Sender<u64>,
}

impl Default for MemoryPool {
    fn default() -> Self {
        MemoryPool { admitted: std::sync::Mutex::new(0), freed: tokio::sync::watch::channel(0).0 }
    }
}

impl MemoryPool {
    /// Bytes admitted now.
    pub fn admitted(&self) -> u64 {
        *self.lock()
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, u64> {
        self.admitted.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Gives back `bytes` and tells the schedulers sharing the pool.
    pub(crate) fn free(&self, bytes: u64) {
        {
            let mut admitted = self.lock();
            *admitted = admitted.saturating_sub(bytes);
        }
        self.freed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// What changes whenever memory is freed.
    pub(crate) fn watch(&self) -> tokio::sync::watch::Receiver<u64> {
        self.freed.subscribe()
    }
}

pub(crate) type Done = (JobId, usize, u32, std::result::Result<Reply, Failure>);
/// A task waiting for a slot, with when it (re-)entered the queue.
pub(crate) type Queued = (JobId, usize, f64);

/// An attempt in flight.
pub(crate) struct Running {
    pub(crate) attempt: u32,
    pub(crate) started: Instant,
    pub(crate) started_at: f64,
    pub(crate) queued_at: f64,
    pub(crate) backup: bool,
    pub(crate) cancel: watch::Sender<bool>,
}

impl Running {
    /// This attempt's record as far as the scheduler knows it (no worker's answer yet).
    pub(crate) fn record(&self, task: usize, finished: f64, outcome: &'static str) -> AttemptRecord {
        AttemptRecord {
            task: task as u32,
            attempt: self.attempt,
            worker: String::new(),
            cold: false,
            backup: self.backup,
            queued: self.queued_at,
            started: self.started_at,
            finished,
            outcome,
            error: String::new(),
            io: Default::default(),
            peak_rss: 0,
            output: String::new(),
        }
    }
}

/// A task that has not reached its final outcome, or whose superseded attempts still run.
#[derive(Default)]
pub(crate) struct TaskRun {
    pub(crate) next_attempt: u32,
    pub(crate) failures: u32,
    pub(crate) throttles: u32,
    pub(crate) running: Vec<Running>,
    /// Backups started (at most `policy::MAX_BACKUPS`).
    pub(crate) backups: u32,
    /// A backup waits for a slot.
    pub(crate) backup_pending: bool,
    pub(crate) committed: bool,
}

pub(crate) struct JobRun {
    pub(crate) spec: Arc<JobSpec>,
    pub(crate) cancelled: bool,
    /// Tasks queued, running, or waiting out a backoff.
    pub(crate) outstanding: usize,
    pub(crate) tasks: HashMap<usize, TaskRun>,
    /// Tasks with a final outcome.
    pub(crate) finished: usize,
    /// Run times (seconds) of committed successful attempts.
    pub(crate) durations: Vec<f64>,
    pub(crate) retries_spent: usize,
    /// Under a memory limit: tasks not yet queued (admitted), in order.
    pub(crate) waiting: VecDeque<usize>,
}

impl JobRun {
    /// Queues the next waiting tasks whose estimates fit beside what every job has admitted,
    /// `total` (which grows by theirs); the first runs alone when nothing is admitted.
    pub(crate) fn admit_more(&mut self, now: f64, job: JobId, queue: &mut VecDeque<Queued>, total: &mut u64) {
        let Some(memory) = &self.spec.memory else { return };
        while let Some(&task) = self.waiting.front() {
            let need = memory.tasks.get(task).copied().unwrap_or(0);
            if *total > 0 && total.saturating_add(need) > memory.limit {
                return;
            }
            self.waiting.pop_front();
            *total = total.saturating_add(need);
            queue.push_back((job, task, now));
        }
    }
}

/// A submitted job: its outcomes and attempt records stay on the scheduler's board while a
/// handle to it lives.
pub struct JobHandle {
    pub(crate) sched: Arc<Scheduler>,
    pub(crate) id: JobId,
    pub(crate) len: usize,
}

impl JobHandle {
    /// The job's id on its scheduler.
    pub fn id(&self) -> JobId {
        self.id
    }

    /// Its scheduler.
    pub fn scheduler(&self) -> &Arc<Scheduler> {
        &self.sched
    }

    /// Number of tasks.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the job has no task.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Drop for JobHandle {
    fn drop(&mut self) {
        self.sched.board().forget_job(self.id);
    }
}
