//! The board where task outcomes land, and where callers on any thread wait for them.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use squall_core::{TaskIo, TaskReport, UserError};

use crate::{Error, Failure, Result};

/// The final outcome of a task.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The function returned; `body` is the pickled result (empty when the result was stored:
    /// `report.stored` says where).
    Returned {
        /// Pickled result, shared with the tasks that take it as an input.
        body: Arc<Vec<u8>>,
        /// The worker's report.
        report: Box<TaskReport>,
    },
    /// The function raised; `body` is the pickled exception (empty if it could not be pickled).
    Raised {
        /// Pickled exception.
        body: Vec<u8>,
        /// Type, message and traceback of the exception.
        error: UserError,
    },
    /// Every attempt failed for infrastructure reasons; `failure` is the last one.
    Failed {
        /// The last attempt's failure.
        failure: Failure,
        /// Attempts made.
        attempts: u32,
    },
    /// The task was cancelled before it finished.
    Cancelled,
}

/// What a finished task gives the tasks that take its result as an input.
#[derive(Debug, Clone, PartialEq)]
pub enum Given {
    /// Its pickled result.
    Value(Arc<Vec<u8>>),
    /// Its pickled result is in the store at this URL.
    Stored(String),
    /// It did not return: what went wrong, naming the task where it first did.
    Failed(String),
    /// It was cancelled.
    Cancelled,
}

/// Counts of a job's tasks, for progress bars.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobProgress {
    /// Tasks in the job.
    pub total: usize,
    /// Tasks whose function returned.
    pub succeeded: usize,
    /// Tasks that raised or failed for good.
    pub failed: usize,
    /// Tasks cancelled.
    pub cancelled: usize,
    /// Attempts running now.
    pub running: usize,
    /// Attempts retried after an infrastructure failure.
    pub retried: usize,
    /// Backup attempts started for stragglers.
    pub backups: usize,
}

impl JobProgress {
    /// Tasks in a final state.
    pub fn finished(&self) -> usize {
        self.succeeded + self.failed + self.cancelled
    }
}

/// One attempt of one task, for `job.stats`: where and when it ran and how it ended.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptRecord {
    /// The task.
    pub task: u32,
    /// The attempt number, from 0; a backup has a number of its own.
    pub attempt: u32,
    /// The worker (local process or Lambda execution environment); empty when none answered.
    pub worker: String,
    /// Whether the worker started for this attempt (a cold start).
    pub cold: bool,
    /// Whether this was a speculative backup of a straggler.
    pub backup: bool,
    /// When the task (re-)entered the queue, seconds since the Unix epoch (driver clock).
    pub queued: f64,
    /// When the attempt was handed to the backend.
    pub started: f64,
    /// When its answer (or failure) came back.
    pub finished: f64,
    /// "ok", "raised", "lost", "timeout", "throttled", "service", "spawn", "setup", "cancelled",
    /// or "superseded" (another attempt of the task won).
    pub outcome: &'static str,
    /// The error's class or message, when it failed.
    pub error: String,
    /// Store requests and bytes of the attempt, as its worker counted them.
    pub io: TaskIo,
    /// Peak resident bytes while it ran (`TaskReport::peak_rss`); 0 when none answered.
    pub peak_rss: u64,
    /// The last lines it printed (local workers; empty elsewhere).
    pub output: String,
}

#[derive(Debug)]
enum Slot {
    Queued,
    Running,
    /// Finished; the outcome stays after it is taken, for the tasks that take it as an input.
    Done {
        outcome: Box<Outcome>,
        taken: bool,
    },
    /// Finished, and nobody can take the outcome any more.
    Released,
}

#[derive(Debug)]
struct JobBoard {
    /// What the job is called in messages, e.g. `submit(f)`.
    label: String,
    /// Nobody will take its outcomes: those of tasks finishing later are dropped at once,
    /// unless pinned.
    released: bool,
    /// Tasks whose results other tasks take, that have not finished: how many such tasks.
    pins: HashMap<usize, u32>,
    /// Its handle is gone: it is removed once nothing is pinned.
    forgotten: bool,
    /// The tasks whose results each task takes (empty when none does).
    inputs: Vec<Vec<(u64, usize)>>,
    slots: Vec<Slot>,
    order: Vec<u32>,
    progress: JobProgress,
    attempts: Vec<AttemptRecord>,
}

#[derive(Debug, Default)]
struct State {
    seq: u64,
    jobs: HashMap<u64, JobBoard>,
}

/// Task outcomes of every job of one scheduler, with a change counter to wait on.
#[derive(Debug, Default)]
pub struct Board {
    state: Mutex<State>,
    changed: Condvar,
}

impl Board {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves counts, not invariants, behind: keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn bump(&self, mut state: MutexGuard<'_, State>) {
        state.seq += 1;
        drop(state);
        self.changed.notify_all();
    }

    /// Registers a job of `tasks` queued tasks, called `label` in messages.
    pub fn add_job(&self, job: u64, tasks: usize, label: &str) {
        let board = JobBoard {
            label: label.to_string(),
            released: false,
            pins: HashMap::new(),
            forgotten: false,
            inputs: Vec::new(),
            slots: (0..tasks).map(|_| Slot::Queued).collect(),
            order: Vec::new(),
            progress: JobProgress { total: tasks, ..JobProgress::default() },
            attempts: Vec::new(),
        };
        self.lock().jobs.insert(job, board);
    }

    /// Stops tracking a job; its outcomes are dropped, but for those that unfinished tasks
    /// still take as inputs: the job is forgotten when the last of them is unpinned.
    pub fn forget_job(&self, job: u64) {
        let mut state = self.lock();
        match state.jobs.get_mut(&job) {
            Some(b) if !b.pins.is_empty() => {
                b.forgotten = true;
                b.drop_unpinned();
            }
            _ => {
                state.jobs.remove(&job);
            }
        }
    }

    /// Marks a queued task as running. False when it was cancelled or the job forgotten.
    pub fn claim(&self, job: u64, task: usize) -> bool {
        let mut state = self.lock();
        let Some(b) = state.jobs.get_mut(&job) else {
            return false;
        };
        match b.slots.get(task) {
            Some(Slot::Queued) => {
                b.slots[task] = Slot::Running;
                b.progress.running += 1;
                self.bump(state);
                true
            }
            _ => false,
        }
    }

    /// Puts a running task back in the queue after a failed attempt. False if it is not running.
    pub fn requeue(&self, job: u64, task: usize) -> bool {
        let mut state = self.lock();
        let Some(b) = state.jobs.get_mut(&job) else {
            return false;
        };
        if !matches!(b.slots.get(task), Some(Slot::Running)) {
            return false;
        }
        b.slots[task] = Slot::Queued;
        b.progress.running -= 1;
        b.progress.retried += 1;
        self.bump(state);
        true
    }

    /// Records a running task's final outcome; false when it is not kept: the task is no
    /// longer running (it was cancelled meanwhile), or its job was released.
    pub fn finish(&self, job: u64, task: usize, outcome: Outcome) -> bool {
        let mut state = self.lock();
        let Some(b) = state.jobs.get_mut(&job) else {
            return false;
        };
        if !matches!(b.slots.get(task), Some(Slot::Running)) {
            return false;
        }
        b.progress.running -= 1;
        let kept = b.conclude(task, outcome);
        self.bump(state);
        kept
    }

    /// Records the outcome of a queued task that will never run (an input of it failed or was
    /// cancelled). False if the task is not queued.
    pub fn settle_queued(&self, job: u64, task: usize, outcome: Outcome) -> bool {
        let mut state = self.lock();
        let Some(b) = state.jobs.get_mut(&job) else {
            return false;
        };
        if !matches!(b.slots.get(task), Some(Slot::Queued)) {
            return false;
        }
        b.conclude(task, outcome);
        self.bump(state);
        true
    }

    /// What a task gives the tasks that take its result as an input; None while it is
    /// unfinished.
    pub fn given(&self, job: u64, task: usize) -> Option<Given> {
        let state = self.lock();
        let gone = || Given::Failed(format!("task {task} of job {job} finished, and its result is no longer held"));
        let Some(b) = state.jobs.get(&job) else { return Some(gone()) };
        let name = format!("task {task} of {}", b.label);
        match b.slots.get(task)? {
            Slot::Queued | Slot::Running => None,
            Slot::Released => Some(gone()),
            Slot::Done { outcome, .. } => Some(match outcome.as_ref() {
                Outcome::Returned { body, report } => match &report.stored {
                    Some(url) => Given::Stored(url.clone()),
                    None => Given::Value(body.clone()),
                },
                Outcome::Raised { error, .. } => {
                    let kind = error.error_type.trim_start_matches("builtins.");
                    Given::Failed(format!("{name} raised {kind}: {}", error.message))
                }
                Outcome::Failed { failure: Failure::Input(root), .. } => Given::Failed(root.clone()),
                Outcome::Failed { failure, .. } => Given::Failed(format!("{name} failed: {failure}")),
                Outcome::Cancelled => Given::Cancelled,
            }),
        }
    }

    /// Drops the outcomes of a job's finished tasks, and those of tasks finishing later
    /// (whoever would take them is gone), except those that unfinished tasks still take as
    /// inputs (until they finish); returns the results they stored, for the caller to delete.
    /// Its progress and attempt records stay.
    pub fn release(&self, job: u64) -> Vec<String> {
        let mut state = self.lock();
        state.jobs.get_mut(&job).map(JobBoard::drop_unpinned).unwrap_or_default()
    }

    /// Records which tasks' results each task of `job` takes (for its record's critical path).
    pub fn set_inputs(&self, job: u64, inputs: Vec<Vec<(u64, usize)>>) {
        if let Some(b) = self.lock().jobs.get_mut(&job) {
            b.inputs = inputs;
        }
    }

    /// The tasks whose results each task of `job` takes (empty when none does).
    pub fn inputs(&self, job: u64) -> Result<Vec<Vec<(u64, usize)>>> {
        Ok(self.lock().jobs.get(&job).ok_or(Error::UnknownJob(job))?.inputs.clone())
    }

    /// Keeps the outcome of each of `tasks` for one more task that takes it as an input.
    pub fn pin(&self, tasks: &[(u64, usize)]) {
        let mut state = self.lock();
        for &(job, task) in tasks {
            if let Some(b) = state.jobs.get_mut(&job) {
                *b.pins.entry(task).or_default() += 1;
            }
        }
    }

    /// A task that took `tasks` as inputs finished: their outcomes are kept for it no more.
    /// Returns the results stored by those of released jobs, now dropped, for the caller to
    /// delete.
    pub fn unpin(&self, tasks: &[(u64, usize)]) -> Vec<String> {
        let mut state = self.lock();
        let mut stored = Vec::new();
        for &(job, task) in tasks {
            let Some(b) = state.jobs.get_mut(&job) else { continue };
            let Some(count) = b.pins.get_mut(&task) else { continue };
            *count -= 1;
            if *count > 0 {
                continue;
            }
            b.pins.remove(&task);
            if let (true, Some(slot)) = (b.released, b.slots.get_mut(task)) {
                if matches!(slot, Slot::Done { .. }) {
                    stored.extend(stored_result(slot));
                    *slot = Slot::Released;
                }
            }
            if b.forgotten && b.pins.is_empty() {
                state.jobs.remove(&job);
            }
        }
        stored
    }

    /// Bytes of results and exceptions held for tasks whose outcome was not taken yet.
    pub fn held_bytes(&self) -> u64 {
        let state = self.lock();
        let bodies = state.jobs.values().flat_map(|b| &b.slots).map(|s| match s {
            Slot::Done { outcome: o, taken: false } => match o.as_ref() {
                Outcome::Returned { body, .. } => body.len() as u64,
                Outcome::Raised { body, .. } => body.len() as u64,
                _ => 0,
            },
            _ => 0,
        });
        bodies.sum()
    }

    /// Cancels a queued task. False if it is running, finished or unknown.
    pub fn cancel_task(&self, job: u64, task: usize) -> bool {
        let mut state = self.lock();
        let Some(b) = state.jobs.get_mut(&job) else {
            return false;
        };
        if !matches!(b.slots.get(task), Some(Slot::Queued)) {
            return false;
        }
        b.slots[task] = Slot::Done { outcome: Box::new(Outcome::Cancelled), taken: false };
        b.order.push(task as u32);
        b.progress.cancelled += 1;
        self.bump(state);
        true
    }

    /// Cancels every unfinished task of a job.
    pub fn cancel_job(&self, job: u64) {
        let mut state = self.lock();
        let Some(b) = state.jobs.get_mut(&job) else {
            return;
        };
        for (task, slot) in b.slots.iter_mut().enumerate() {
            if matches!(slot, Slot::Queued | Slot::Running) {
                if matches!(slot, Slot::Running) {
                    b.progress.running -= 1;
                }
                *slot = Slot::Done { outcome: Box::new(Outcome::Cancelled), taken: false };
                b.order.push(task as u32);
                b.progress.cancelled += 1;
            }
        }
        self.bump(state);
    }

    /// Counts a backup attempt started for a straggler of `job`.
    pub fn count_backup(&self, job: u64) {
        let mut state = self.lock();
        if let Some(b) = state.jobs.get_mut(&job) {
            b.progress.backups += 1;
            self.bump(state);
        }
    }

    /// Records a finished attempt.
    pub fn record(&self, job: u64, attempt: AttemptRecord) {
        if let Some(b) = self.lock().jobs.get_mut(&job) {
            b.attempts.push(attempt);
        }
    }

    /// Every finished attempt of `job`, in the order they finished.
    pub fn attempts(&self, job: u64) -> Result<Vec<AttemptRecord>> {
        Ok(self.lock().jobs.get(&job).ok_or(Error::UnknownJob(job))?.attempts.clone())
    }

    /// The change counter: it grows on every change to any job.
    pub fn seq(&self) -> u64 {
        self.lock().seq
    }

    /// Blocks until the change counter passes `seq` or `timeout` elapses; returns the counter.
    pub fn wait_change(&self, seq: u64, timeout: Duration) -> u64 {
        let state = self.lock();
        let (state, _) =
            self.changed.wait_timeout_while(state, timeout, |s| s.seq <= seq).unwrap_or_else(|e| e.into_inner());
        state.seq
    }

    /// Blocks until every task of `job` is finished or `timeout` elapses; true when finished.
    pub fn wait_job(&self, job: u64, timeout: Duration) -> Result<bool> {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        loop {
            let b = state.jobs.get(&job).ok_or(Error::UnknownJob(job))?;
            if b.progress.finished() == b.progress.total {
                return Ok(true);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(false);
            }
            state = self.changed.wait_timeout(state, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
        }
    }

    /// Counts of a job's tasks.
    pub fn progress(&self, job: u64) -> Result<JobProgress> {
        Ok(self.lock().jobs.get(&job).ok_or(Error::UnknownJob(job))?.progress)
    }

    /// Tasks of `job` that finished, in the order they finished, from position `from` on.
    pub fn finished_since(&self, job: u64, from: usize) -> Result<Vec<u32>> {
        let state = self.lock();
        let b = state.jobs.get(&job).ok_or(Error::UnknownJob(job))?;
        Ok(b.order.get(from..).unwrap_or_default().to_vec())
    }

    /// Whether a task is in a final state.
    pub fn is_finished(&self, job: u64, task: usize) -> Result<bool> {
        let state = self.lock();
        let b = state.jobs.get(&job).ok_or(Error::UnknownJob(job))?;
        match b.slots.get(task) {
            Some(s) => Ok(matches!(s, Slot::Done { .. } | Slot::Released)),
            None => Err(Error::UnknownTask { job, task, len: b.slots.len() }),
        }
    }

    /// Whether a task's attempt is running now.
    pub fn is_running(&self, job: u64, task: usize) -> Result<bool> {
        let state = self.lock();
        let b = state.jobs.get(&job).ok_or(Error::UnknownJob(job))?;
        Ok(matches!(b.slots.get(task), Some(Slot::Running)))
    }

    /// Hands out a finished task's outcome, once; `None` while it is unfinished. The outcome
    /// stays for the tasks that take it as an input, until the job is released.
    pub fn take(&self, job: u64, task: usize) -> Result<Option<Outcome>> {
        let mut state = self.lock();
        let b = state.jobs.get_mut(&job).ok_or(Error::UnknownJob(job))?;
        let len = b.slots.len();
        match b.slots.get_mut(task).ok_or(Error::UnknownTask { job, task, len })? {
            Slot::Done { outcome, taken: taken @ false } => {
                *taken = true;
                Ok(Some(outcome.as_ref().clone()))
            }
            Slot::Done { .. } | Slot::Released => Err(Error::AlreadyTaken { job, task }),
            Slot::Queued | Slot::Running => Ok(None),
        }
    }
}

impl JobBoard {
    /// Counts a task's final outcome and keeps it, unless nobody can take it (its job was
    /// released and no unfinished task takes it as an input); returns whether it was kept.
    fn conclude(&mut self, task: usize, outcome: Outcome) -> bool {
        match &outcome {
            Outcome::Returned { .. } => self.progress.succeeded += 1,
            Outcome::Raised { .. } | Outcome::Failed { .. } => self.progress.failed += 1,
            Outcome::Cancelled => self.progress.cancelled += 1,
        }
        let kept = !self.released || self.pins.contains_key(&task);
        self.slots[task] = match kept {
            true => Slot::Done { outcome: Box::new(outcome), taken: false },
            false => Slot::Released,
        };
        self.order.push(task as u32);
        kept
    }

    /// Marks the job released and drops the outcomes no unfinished task takes as an input;
    /// returns the results they had stored.
    fn drop_unpinned(&mut self) -> Vec<String> {
        self.released = true;
        let mut stored = Vec::new();
        for (task, slot) in self.slots.iter_mut().enumerate() {
            if matches!(slot, Slot::Done { .. }) && !self.pins.contains_key(&task) {
                stored.extend(stored_result(slot));
                *slot = Slot::Released;
            }
        }
        stored
    }
}

/// Where a finished task's result was stored, if it was.
fn stored_result(slot: &Slot) -> Option<String> {
    match slot {
        Slot::Done { outcome, .. } => match outcome.as_ref() {
            Outcome::Returned { report, .. } => report.stored.clone(),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn returned() -> Outcome {
        let spec = squall_core::TaskSpec::call(0, 0, 0, String::new());
        let report = TaskReport { ok: true, ..TaskReport::of(&spec) };
        Outcome::Returned { body: Arc::new(vec![1]), report: Box::new(report) }
    }

    #[test]
    fn a_task_moves_from_queued_to_taken() {
        let b = Board::default();
        b.add_job(1, 2, "test");
        assert!(b.claim(1, 0));
        assert!(!b.claim(1, 0), "a running task cannot be claimed twice");
        b.finish(1, 0, returned());
        assert_eq!(b.progress(1).unwrap().succeeded, 1);
        assert_eq!(b.finished_since(1, 0).unwrap(), vec![0]);
        assert!(matches!(b.take(1, 0).unwrap(), Some(Outcome::Returned { .. })));
        assert!(matches!(b.take(1, 0), Err(Error::AlreadyTaken { .. })));
        assert!(b.take(1, 1).unwrap().is_none());
    }

    #[test]
    fn cancelling_a_job_finishes_every_open_task_and_ignores_late_results() {
        let b = Board::default();
        b.add_job(7, 3, "test");
        assert!(b.claim(7, 0));
        b.cancel_job(7);
        b.finish(7, 0, returned());
        let p = b.progress(7).unwrap();
        assert_eq!((p.cancelled, p.succeeded, p.running), (3, 0, 0));
        assert!(!b.claim(7, 1));
        assert!(b.wait_job(7, Duration::ZERO).unwrap());
    }

    #[test]
    fn released_outcomes_are_no_longer_held() {
        let b = Board::default();
        b.add_job(3, 2, "test");
        assert!(b.claim(3, 0) && b.claim(3, 1));
        b.finish(3, 0, returned());
        assert_eq!(b.held_bytes(), 1);
        b.release(3);
        assert_eq!(b.held_bytes(), 0);
        assert!(b.take(3, 0).is_err(), "a released outcome is gone");
        b.finish(3, 1, returned());
        assert_eq!(b.progress(3).unwrap().succeeded, 2, "progress stays");
    }

    #[test]
    fn requeue_counts_a_retry() {
        let b = Board::default();
        b.add_job(2, 1, "test");
        assert!(b.claim(2, 0));
        assert!(b.requeue(2, 0));
        assert_eq!(b.progress(2).unwrap().retried, 1);
        assert!(b.claim(2, 0));
    }

    #[test]
    fn waiting_times_out_without_change() {
        let b = Board::default();
        let seq = b.seq();
        assert_eq!(b.wait_change(seq, Duration::from_millis(10)), seq);
    }
}
