//! How the dispatcher lets go: a task settled for good (its inputs unpinned, its memory given
//! back and room made for tasks waiting for it), a job or a task cancelled, the scheduler
//! stopped.

use super::{abandon, discard, Dispatcher};
use crate::job::JobId;
use crate::runtime::now_epoch;

impl Dispatcher {
    /// `task` of `job` is settled for good and none of its attempts runs.
    pub(super) fn release(&mut self, job: JobId, task: usize) {
        self.release_task(job, task, true);
    }

    /// [`Dispatcher::release`]; `admitted`: whether the task had been admitted under its job's
    /// memory limit (a task still waiting for room holds none).
    pub(super) fn release_task(&mut self, job: JobId, task: usize, admitted: bool) {
        let Some(run) = self.jobs.get_mut(&job) else { return };
        discard(self.board.unpin(run.spec.work[task].inputs()));
        let backups = run.tasks.remove(&task).map_or(0, |t| t.backups as u64);
        run.outstanding -= 1;
        let mut freed = 0;
        if let (Some(memory), true) = (&run.spec.memory, admitted) {
            freed = memory.tasks.get(task).copied().unwrap_or(0) * (1 + backups);
        }
        if run.outstanding == 0 {
            self.jobs.remove(&job);
        }
        if freed > 0 {
            self.memory.free(freed);
            self.admit_waiting();
        }
    }

    /// Queues the waiting tasks of jobs under a memory limit that now fit, oldest job first.
    pub(super) fn admit_waiting(&mut self) {
        let mut waiting: Vec<JobId> =
            self.jobs.iter().filter(|(_, r)| !r.cancelled && !r.waiting.is_empty()).map(|(j, _)| *j).collect();
        waiting.sort_unstable();
        let now = now_epoch();
        for job in waiting {
            if let Some(run) = self.jobs.get_mut(&job) {
                run.admit_more(now, job, &mut self.queue, &mut self.memory.lock());
            }
        }
    }

    pub(super) fn cancel(&mut self, job: JobId) {
        let Some(run) = self.jobs.get_mut(&job) else {
            return;
        };
        run.cancelled = true;
        for (&task, t) in &run.tasks {
            abandon(&self.board, job, task, t, "cancelled");
        }
        let mut dropped: Vec<usize> = self.queue.iter().filter(|(j, _, _)| *j == job).map(|(_, t, _)| *t).collect();
        let unadmitted: Vec<usize> = run.waiting.drain(..).collect();
        dropped.extend(self.graph.drop_job(job));
        self.queue.retain(|(j, _, _)| *j != job);
        for &task in &dropped {
            self.release(job, task);
        }
        for &task in &unadmitted {
            self.release_task(job, task, false);
        }
        // What waits on any task of the job is cancelled with it.
        let awaited = self.graph.awaited_in(job);
        self.resolved(awaited);
    }

    /// A task cancelled on the board before it ran: it leaves the tasks waiting on their
    /// inputs, and what waits on it is cancelled.
    pub(super) fn cancel_task(&mut self, job: JobId, task: usize) {
        if self.graph.unblock((job, task)) {
            self.release(job, task);
        }
        self.resolved(vec![(job, task)]);
    }

    pub(super) async fn stop(&mut self) {
        let jobs: Vec<JobId> = self.jobs.keys().copied().collect();
        for job in jobs {
            self.board.cancel_job(job);
            self.cancel(job);
        }
        self.backend.shutdown().await;
    }
}
