//! The board where task outcomes land, and where callers on any thread wait for them.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use squall_core::{TaskIo, TaskReport, UserError};

use crate::{Error, Failure, Result};

/// The final outcome of a task.
#[derive(Debug)]
pub enum Outcome {
    /// The function returned; `body` is the pickled result.
    Returned {
        /// Pickled result.
        body: Vec<u8>,
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
    Done(Box<Outcome>),
    Taken,
}

#[derive(Debug)]
struct JobBoard {
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

    /// Registers a job of `tasks` queued tasks.
    pub fn add_job(&self, job: u64, tasks: usize) {
        let board = JobBoard {
            slots: (0..tasks).map(|_| Slot::Queued).collect(),
            order: Vec::new(),
            progress: JobProgress { total: tasks, ..JobProgress::default() },
            attempts: Vec::new(),
        };
        self.lock().jobs.insert(job, board);
    }

    /// Stops tracking a job; its outcomes are dropped.
    pub fn forget_job(&self, job: u64) {
        self.lock().jobs.remove(&job);
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

    /// Records a running task's final outcome. Ignored if the task is no longer running
    /// (it was cancelled meanwhile).
    pub fn finish(&self, job: u64, task: usize, outcome: Outcome) {
        let mut state = self.lock();
        let Some(b) = state.jobs.get_mut(&job) else {
            return;
        };
        if !matches!(b.slots.get(task), Some(Slot::Running)) {
            return;
        }
        b.progress.running -= 1;
        match &outcome {
            Outcome::Returned { .. } => b.progress.succeeded += 1,
            Outcome::Raised { .. } | Outcome::Failed { .. } => b.progress.failed += 1,
            Outcome::Cancelled => b.progress.cancelled += 1,
        }
        b.slots[task] = Slot::Done(Box::new(outcome));
        b.order.push(task as u32);
        self.bump(state);
    }

    /// Drops the outcomes of a job's finished tasks that were not taken (whoever would take
    /// them is gone); its progress and attempt records stay.
    pub fn release(&self, job: u64) {
        if let Some(b) = self.lock().jobs.get_mut(&job) {
            for slot in b.slots.iter_mut().filter(|s| matches!(s, Slot::Done(_))) {
                *slot = Slot::Taken;
            }
        }
    }

    /// Bytes of results and exceptions held for tasks whose outcome was not taken yet.
    pub fn held_bytes(&self) -> u64 {
        let state = self.lock();
        let bodies = state.jobs.values().flat_map(|b| &b.slots).map(|s| match s {
            Slot::Done(o) => match o.as_ref() {
                Outcome::Returned { body, .. } | Outcome::Raised { body, .. } => body.len() as u64,
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
        b.slots[task] = Slot::Done(Box::new(Outcome::Cancelled));
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
                *slot = Slot::Done(Box::new(Outcome::Cancelled));
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
            Some(s) => Ok(matches!(s, Slot::Done(_) | Slot::Taken)),
            None => Err(Error::UnknownTask { job, task, len: b.slots.len() }),
        }
    }

    /// Whether a task's attempt is running now.
    pub fn is_running(&self, job: u64, task: usize) -> Result<bool> {
        let state = self.lock();
        let b = state.jobs.get(&job).ok_or(Error::UnknownJob(job))?;
        Ok(matches!(b.slots.get(task), Some(Slot::Running)))
    }

    /// Hands out a finished task's outcome, once; `None` while it is unfinished.
    pub fn take(&self, job: u64, task: usize) -> Result<Option<Outcome>> {
        let mut state = self.lock();
        let b = state.jobs.get_mut(&job).ok_or(Error::UnknownJob(job))?;
        let len = b.slots.len();
        let slot = b.slots.get_mut(task).ok_or(Error::UnknownTask { job, task, len })?;
        match std::mem::replace(slot, Slot::Taken) {
            Slot::Done(outcome) => Ok(Some(*outcome)),
            Slot::Taken => Err(Error::AlreadyTaken { job, task }),
            other => {
                *slot = other;
                Ok(None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn returned() -> Outcome {
        let spec =
            squall_core::TaskSpec { job: 0, task: 0, attempt: 0, func: String::new(), func_len: 0, partition: None };
        let report = TaskReport { ok: true, ..TaskReport::of(&spec) };
        Outcome::Returned { body: vec![1], report: Box::new(report) }
    }

    #[test]
    fn a_task_moves_from_queued_to_taken() {
        let b = Board::default();
        b.add_job(1, 2);
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
        b.add_job(7, 3);
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
        b.add_job(3, 2);
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
        b.add_job(2, 1);
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
