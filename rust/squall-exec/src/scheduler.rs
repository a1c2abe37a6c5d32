//! The scheduler: a queue of task attempts fed to a backend's slots, with retries (backoff and
//! jitter after throttling), speculative backups of stragglers, timeouts and cancellation. It runs
//! as one task on the process's runtime; callers talk to it by message and read outcomes and
//! attempt records from its [`Board`].
//!
//! A task may have several attempts in flight (a straggler and its backup): the first to answer
//! is committed and the others are cancelled and recorded as "superseded"; whatever they answer
//! later never reaches the task's outcome.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc as std_mpsc, Arc};
use std::time::Duration;

use tokio::time::Instant;

use squall_core::{InputRef, TaskSpec};
use tokio::sync::{mpsc, watch};

use crate::board::Given;
use crate::graph::Graph;
pub use crate::job::JobHandle;
use crate::job::{Done, JobRun, Queued, Running, TaskRun};
pub use crate::job::{JobId, JobSpec, MemoryLimit, MemoryPool, TaskRef, Work};
pub use crate::policy::Speculation;
use crate::policy::{
    backoff, failure_kind, median, JOB_RETRY_BUDGET, MAX_BACKUPS, SPECULATION_TICK, THROTTLE_PATIENCE,
};
use crate::runtime::{now_epoch, runtime, VirtualClock};
use crate::{Backend, Board, Error, Failure, Invocation, Outcome, Reply, Result};

mod ending;

enum Command {
    Submit(JobId, JobSpec),
    Cancel(JobId, Option<std_mpsc::Sender<()>>),
    CancelTask(JobId, usize, std_mpsc::Sender<()>),
    Shutdown(std_mpsc::Sender<()>),
}

/// Schedules jobs onto a backend. Dropping it stops its workers.
pub struct Scheduler {
    tx: mpsc::UnboundedSender<Command>,
    board: Arc<Board>,
    next_job: AtomicU64,
    /// The virtual clock the scheduler runs on, if it has one of its own.
    _clock: Option<VirtualClock>,
    memory: Arc<MemoryPool>,
}

impl Scheduler {
    /// Starts a scheduler over `backend` on the process's runtime.
    pub fn new(backend: Arc<dyn Backend>) -> Result<Self> {
        Ok(Self::on(backend, runtime()?.handle(), None, Arc::default()))
    }

    /// Starts a scheduler over `backend` whose tasks under memory limits share `memory` with
    /// other schedulers' (see [`Scheduler::memory`]).
    pub fn sharing(backend: Arc<dyn Backend>, memory: Arc<MemoryPool>) -> Result<Self> {
        Ok(Self::on(backend, runtime()?.handle(), None, memory))
    }

    /// The memory its tasks under a limit hold, to share with another scheduler.
    pub fn memory(&self) -> Arc<MemoryPool> {
        self.memory.clone()
    }

    /// Starts a scheduler over `backend` on a virtual clock of its own, which jumps ahead
    /// whenever every task waits (for a backend that runs nothing for real).
    pub fn on_virtual_clock(backend: Arc<dyn Backend>) -> Result<Self> {
        let clock = VirtualClock::start()?;
        Ok(Self::on(backend, &clock.handle().clone(), Some(clock), Arc::default()))
    }

    fn on(
        backend: Arc<dyn Backend>,
        rt: &tokio::runtime::Handle,
        clock: Option<VirtualClock>,
        memory: Arc<MemoryPool>,
    ) -> Self {
        let board = Arc::new(Board::default());
        let (tx, rx) = mpsc::unbounded_channel();
        rt.spawn(Dispatcher::new(backend, board.clone(), memory.clone()).run(rx));
        Scheduler { tx, board, next_job: AtomicU64::new(1), _clock: clock, memory }
    }

    /// Queues a job's tasks and returns its id at once; outcomes appear on [`Scheduler::board`].
    pub fn submit(&self, spec: JobSpec) -> Result<JobId> {
        let job = self.next_job.fetch_add(1, Ordering::Relaxed);
        self.board.add_job(job, spec.work.len(), &spec.label);
        // The inputs' results are kept until the tasks taking them finish, from now on: their
        // futures may be dropped before the job is admitted.
        let inputs: Vec<TaskRef> = spec.work.iter().flat_map(Work::inputs).copied().collect();
        self.board.pin(&inputs);
        if !inputs.is_empty() {
            self.board.set_inputs(job, spec.work.iter().map(|w| w.inputs().to_vec()).collect());
        }
        if self.tx.send(Command::Submit(job, spec)).is_err() {
            self.board.unpin(&inputs);
            self.board.forget_job(job);
            return Err(Error::Closed);
        }
        Ok(job)
    }

    /// Queues a job's tasks; the handle keeps its outcomes on the board.
    pub fn start(self: &Arc<Self>, spec: JobSpec) -> Result<Arc<JobHandle>> {
        let len = spec.work.len();
        let id = self.submit(spec)?;
        Ok(Arc::new(JobHandle { sched: self.clone(), id, len }))
    }

    /// Cancels a job: queued tasks never start, running attempts are stopped.
    pub fn cancel(&self, job: JobId) {
        self.board.cancel_job(job);
        let _ = self.tx.send(Command::Cancel(job, None));
    }

    /// [`Scheduler::cancel`], returning once the tasks of other jobs that take its results are
    /// cancelled too (for a caller outside the scheduler's runtime: it blocks).
    pub fn cancel_and_wait(&self, job: JobId) {
        self.board.cancel_job(job);
        let (done_tx, done_rx) = std_mpsc::channel();
        if self.tx.send(Command::Cancel(job, Some(done_tx))).is_ok() {
            let _ = done_rx.recv_timeout(Duration::from_secs(5));
        }
    }

    /// Drops a job's outcomes (whoever would take them is gone) and deletes the results they
    /// stored; those that unfinished tasks take as inputs go when those tasks finish.
    pub fn release(&self, job: JobId) {
        discard(self.board.release(job));
    }

    /// Cancels one queued task (or one waiting for its inputs), and, before it returns, the
    /// tasks that take its result; false if it already runs or finished.
    pub fn cancel_task(&self, job: JobId, task: usize) -> bool {
        let cancelled = self.board.cancel_task(job, task);
        if cancelled {
            let (done_tx, done_rx) = std_mpsc::channel();
            if self.tx.send(Command::CancelTask(job, task, done_tx)).is_ok() {
                let _ = done_rx.recv_timeout(Duration::from_secs(5));
            }
        }
        cancelled
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

struct Dispatcher {
    backend: Arc<dyn Backend>,
    board: Arc<Board>,
    queue: VecDeque<Queued>,
    jobs: HashMap<JobId, JobRun>,
    in_flight: usize,
    done_tx: mpsc::UnboundedSender<Done>,
    done_rx: mpsc::UnboundedReceiver<Done>,
    /// Retries whose backoff has passed.
    retry_tx: mpsc::UnboundedSender<Queued>,
    retry_rx: mpsc::UnboundedReceiver<Queued>,
    /// Stragglers waiting for a slot for their backup; they go before queued tasks, since a
    /// straggler holds its slot far longer than the backup will.
    backups: VecDeque<(JobId, usize)>,
    /// Tasks that wait for other tasks' results, and those ready to go (before `queue`).
    graph: Graph,
    /// Since when every attempt was answered 429 (None: the last one was taken).
    throttled_since: Option<Instant>,
    /// The estimated peaks of the tasks admitted under memory limits, over all jobs (of this
    /// scheduler and those sharing its pool).
    memory: Arc<MemoryPool>,
}

/// Deletes, in the background, results that attempts stored and nobody will read (another
/// attempt won, or their futures are gone).
fn discard(stored: impl IntoIterator<Item = String>) {
    let stored: Vec<String> = stored.into_iter().collect();
    if stored.is_empty() {
        return;
    }
    let Ok(rt) = runtime() else { return };
    rt.spawn(async move {
        for url in stored {
            if let Ok((store, key)) = squall_store::open(&url) {
                let _ = store.delete(&key).await;
            }
        }
    });
}

/// Stops the running attempts of a task and records them now as `outcome`; what they answer
/// later is dropped.
fn abandon(board: &Board, job: JobId, task: usize, t: &TaskRun, outcome: &'static str) {
    let finished = now_epoch();
    for r in &t.running {
        let _ = r.cancel.send(true);
        board.record(job, r.record(task, finished, outcome));
    }
}

impl Dispatcher {
    fn new(backend: Arc<dyn Backend>, board: Arc<Board>, memory: Arc<MemoryPool>) -> Self {
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        let (retry_tx, retry_rx) = mpsc::unbounded_channel();
        let (queue, jobs) = (VecDeque::new(), HashMap::new());
        let (backups, graph) = (VecDeque::new(), Graph::default());
        let throttled_since = None;
        Dispatcher {
            backend,
            board,
            queue,
            jobs,
            in_flight: 0,
            done_tx,
            done_rx,
            retry_tx,
            retry_rx,
            backups,
            graph,
            throttled_since,
            memory,
        }
    }

    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Command>) {
        let mut tick = tokio::time::interval(SPECULATION_TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut freed = self.memory.watch();
        loop {
            self.dispatch();
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    Some(Command::Submit(job, spec)) => self.admit(job, spec),
                    Some(Command::Cancel(job, done)) => {
                        self.cancel(job);
                        if let Some(done) = done {
                            let _ = done.send(());
                        }
                    }
                    Some(Command::CancelTask(job, task, done)) => {
                        self.cancel_task(job, task);
                        let _ = done.send(());
                    }
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
                _ = tick.tick(), if self.in_flight > 0 => self.speculate(),
                // Memory freed, here or by a scheduler sharing the pool: room for waiting tasks.
                Ok(()) = freed.changed() => self.admit_waiting(),
            }
        }
    }

    fn admit(&mut self, job: JobId, spec: JobSpec) {
        let n = spec.work.len();
        if n == 0 {
            return;
        }
        let now = now_epoch();
        let mut run = JobRun {
            spec: Arc::new(spec),
            cancelled: false,
            outstanding: n,
            tasks: HashMap::new(),
            finished: 0,
            durations: Vec::new(),
            retries_spent: 0,
            waiting: VecDeque::new(),
        };
        let spec = run.spec.clone();
        if spec.memory.is_some() {
            run.waiting.extend(0..n);
            run.admit_more(now, job, &mut self.queue, &mut self.memory.lock());
        }
        self.jobs.insert(job, run);
        if spec.memory.is_some() {
            return;
        }
        let mut settled = Vec::new();
        for (task, work) in spec.work.iter().enumerate() {
            let inputs = work.inputs();
            let mut missing = Vec::new();
            let mut failed = None;
            for &input in inputs {
                match self.board.given(input.0, input.1) {
                    None => missing.push(input),
                    Some(Given::Failed(root)) => {
                        failed = failed.or(Some(Outcome::Failed { failure: Failure::Input(root), attempts: 0 }))
                    }
                    Some(Given::Cancelled) => failed = failed.or(Some(Outcome::Cancelled)),
                    Some(_) => {}
                }
            }
            if let Some(outcome) = failed {
                if self.board.settle_queued(job, task, outcome) {
                    self.release(job, task);
                    settled.push((job, task));
                }
            } else if !missing.is_empty() {
                self.graph.wait_for((job, task), missing, now);
            } else if inputs.is_empty() {
                self.queue.push_back((job, task, now));
            } else {
                self.graph.push_ready((job, task), now);
            }
        }
        self.resolved(settled);
    }

    /// Tasks that reached a final state: their waiting dependents start once every input
    /// returned, and fail (or are cancelled) with them otherwise, and so on down the graph.
    fn resolved(&mut self, mut done: Vec<TaskRef>) {
        while let Some(input) = done.pop() {
            let waiting = self.graph.finished(input);
            if waiting.is_empty() {
                continue;
            }
            let given = self.board.given(input.0, input.1);
            for task in waiting {
                let outcome = match &given {
                    None | Some(Given::Value(_) | Given::Stored(_)) => {
                        if self.graph.returned(task) {
                            self.graph.push_ready(task, now_epoch());
                        }
                        continue;
                    }
                    Some(Given::Failed(root)) => Outcome::Failed { failure: Failure::Input(root.clone()), attempts: 0 },
                    Some(Given::Cancelled) => Outcome::Cancelled,
                };
                if !self.graph.unblock(task) {
                    continue; // it failed already, through another input
                }
                self.board.settle_queued(task.0, task.1, outcome);
                self.release(task.0, task.1);
                done.push(task);
            }
        }
    }

    fn dispatch(&mut self) {
        while self.in_flight < self.backend.slots() {
            let Some((job, task)) = self.backups.pop_front() else { break };
            let Some(run) = self.jobs.get_mut(&job) else { continue };
            let cancelled = run.cancelled;
            let Some(t) = run.tasks.get_mut(&task) else { continue };
            t.backup_pending = false;
            // Under a memory limit a backup holds as much as its task again, until the task is
            // released: it starts only where that fits beside what is admitted.
            let wanted = !t.committed && !t.running.is_empty() && !cancelled;
            let fits = match &run.spec.memory {
                Some(m) if wanted => {
                    let need = m.tasks.get(task).copied().unwrap_or(0);
                    let mut admitted = self.memory.lock();
                    let fits = *admitted + need <= m.limit;
                    if fits {
                        *admitted += need;
                    }
                    fits
                }
                _ => true,
            };
            if wanted && fits {
                t.backups += 1;
                self.board.count_backup(job);
                self.start(job, task, now_epoch(), true);
            }
        }
        while self.in_flight < self.backend.slots() {
            // Ready tasks of graphs go first, on their critical path; then the queue in order.
            let next = self.graph.pop_ready().map(|((job, task), at)| (job, task, at));
            let Some((job, task, queued_at)) = next.or_else(|| self.queue.pop_front()) else {
                return;
            };
            if !self.board.claim(job, task) {
                self.release(job, task);
                self.resolved(vec![(job, task)]);
                continue;
            }
            self.start(job, task, queued_at, false);
        }
    }

    /// Hands one attempt of `task` to the backend.
    fn start(&mut self, job: JobId, task: usize, queued_at: f64, backup: bool) {
        let Some(run) = self.jobs.get_mut(&job) else {
            return;
        };
        let spec = run.spec.clone();
        let t = run.tasks.entry(task).or_default();
        let attempt = t.next_attempt;
        t.next_attempt += 1;
        let (cancel, cancelled) = watch::channel(false);
        t.running.push(Running {
            attempt,
            started: Instant::now(),
            started_at: now_epoch(),
            queued_at,
            backup,
            cancel,
        });
        let mut task_spec = TaskSpec::call(job, task as u64, attempt, spec.func.hash.clone());
        task_spec.results = spec.results.clone();
        let input = match &spec.work[task] {
            Work::Call { args, inputs } if inputs.is_empty() => args.clone(),
            Work::Call { args, inputs } => match self.inputs_of(args, inputs) {
                Ok((input, refs)) => {
                    task_spec.inputs = refs;
                    input
                }
                Err(root) => {
                    // An input's result is gone (its job was released): the attempt fails now.
                    let _ = self.done_tx.send((job, task, attempt, Err(Failure::Input(root))));
                    self.in_flight += 1;
                    return;
                }
            },
            Work::Partition(t) => {
                task_spec.partition = Some(t.clone());
                Arc::default()
            }
        };
        let inv =
            Invocation { spec: task_spec, func: spec.func.clone(), input, timeout: spec.timeout, cancel: cancelled };
        let (backend, done) = (self.backend.clone(), self.done_tx.clone());
        tokio::spawn(async move {
            let result = backend.invoke(inv).await;
            let _ = done.send((job, task, attempt, result));
        });
        self.in_flight += 1;
    }

    /// The frame's arguments followed by the inline inputs, and where each input is; Err names
    /// an input whose result is no longer to be had.
    fn inputs_of(
        &self,
        args: &Arc<Vec<u8>>,
        inputs: &[TaskRef],
    ) -> std::result::Result<(Arc<Vec<u8>>, Vec<InputRef>), String> {
        let mut refs = Vec::with_capacity(inputs.len());
        let mut values = Vec::new();
        for &(job, task) in inputs {
            match self.board.given(job, task) {
                Some(Given::Value(body)) => {
                    refs.push(InputRef::Inline { len: body.len() as u64 });
                    values.push(body);
                }
                Some(Given::Stored(url)) => refs.push(InputRef::Stored { url }),
                Some(Given::Failed(root)) => return Err(root),
                Some(Given::Cancelled) | None => return Err(format!("task {task} of job {job} did not return")),
            }
        }
        let mut input = Vec::with_capacity(args.len() + values.iter().map(|v| v.len()).sum::<usize>());
        input.extend_from_slice(args);
        for value in values {
            input.extend_from_slice(&value);
        }
        Ok((Arc::new(input), refs))
    }

    fn settle(&mut self, job: JobId, task: usize, attempt: u32, result: std::result::Result<Reply, Failure>) {
        match result {
            Err(Failure::Throttled(_)) => _ = self.throttled_since.get_or_insert_with(Instant::now),
            _ => self.throttled_since = None,
        }
        let Some(run) = self.jobs.get_mut(&job) else {
            return;
        };
        let Some(t) = run.tasks.get_mut(&task) else {
            return;
        };
        let Some(pos) = t.running.iter().position(|r| r.attempt == attempt) else {
            return;
        };
        let me = t.running.swap_remove(pos);
        let finished_at = now_epoch();
        // An answer is bound to what was sent: one naming another job, task or attempt came
        // from a broken worker (a forked child's frame, a stale reply), never from this attempt.
        let result = match result {
            Ok(reply) if (reply.report.job, reply.report.task, reply.report.attempt) != (job, task as u64, attempt) => {
                Err(Failure::WorkerLost(format!(
                    "{} answered job {} task {} attempt {} when asked for job {job} task {task} attempt {attempt}",
                    reply.worker, reply.report.job, reply.report.task, reply.report.attempt
                )))
            }
            // A partition task's object is the one this attempt was told to write, or the worker
            // is broken: what it names is never read.
            Ok(reply)
                if reply.report.partition.as_ref().and_then(|p| p.url.as_deref()).is_some_and(
                    |url| !matches!(&run.spec.work[task], Work::Partition(t) if t.may_report(url, attempt)),
                ) =>
            {
                let url = reply.report.partition.as_ref().and_then(|p| p.url.clone()).unwrap_or_default();
                Err(Failure::WorkerLost(format!(
                    "{} reported writing {}, which it was not asked to write",
                    reply.worker,
                    squall_core::redact::redact(&url)
                )))
            }
            // A stored result is where this attempt was told to write it, or the worker is broken.
            Ok(reply)
                if reply.report.stored.as_ref().is_some_and(|url| {
                    !run.spec.results.as_ref().is_some_and(|r| r.allows(url, job, task as u64, attempt))
                }) =>
            {
                Err(Failure::WorkerLost(format!(
                    "{} said it stored the result at {}, where it was not asked to",
                    reply.worker,
                    reply.report.stored.as_deref().unwrap_or_default()
                )))
            }
            other => other,
        };
        // An attempt that failed (crashed, lost, timed out) may have stored its result before:
        // nobody will read it.
        if let (Err(_), Some(results)) = (&result, &run.spec.results) {
            discard(results.attempt_urls(job, task as u64, attempt));
        }
        let mut record = me.record(task, finished_at, "ok");
        if let Ok(reply) = &result {
            record.worker = reply.worker.clone();
            record.cold = reply.cold;
            record.io = reply.report.io;
            record.peak_rss = reply.report.peak_rss;
            record.output = reply.output.clone();
            if !reply.report.ok {
                record.outcome = "raised";
                record.error = reply.report.error.as_ref().map(|e| e.error_type.clone()).unwrap_or_default();
            }
        }
        if let Err(failure) = &result {
            record.outcome = failure_kind(failure);
            record.error = failure.to_string();
        }
        if t.committed || run.cancelled {
            // Another attempt won, or the job was cancelled: this answer is discarded (and the
            // attempt was recorded when that happened), with the result it stored.
            if let Ok(Reply { report, .. }) = &result {
                discard(report.stored.clone());
            }
            if t.running.is_empty() {
                self.release(job, task);
            }
            return;
        }
        let outcome = match result {
            Ok(Reply { report, body, .. }) if report.ok => {
                run.durations.push(me.started.elapsed().as_secs_f64());
                Outcome::Returned { body: Arc::new(body), report: Box::new(report) }
            }
            Ok(Reply { report, body, .. }) => {
                let error = report.error.unwrap_or_else(|| squall_core::UserError {
                    kind: squall_core::ErrorKind::Engine,
                    error_type: "squall.ProtocolError".into(),
                    message: "the worker reported a failure without an error".into(),
                    traceback: String::new(),
                });
                Outcome::Raised { body, error }
            }
            Err(Failure::Cancelled) => Outcome::Cancelled,
            Err(_) if !t.running.is_empty() => {
                // Its sibling attempt still runs and may yet succeed.
                self.board.record(job, record);
                return;
            }
            Err(failure) => {
                t.failures += 1;
                let throttled = matches!(failure, Failure::Throttled(_));
                if throttled {
                    t.throttles += 1;
                }
                let budget = JOB_RETRY_BUDGET.max(run.spec.work.len() / 5);
                let infra = t.failures - t.throttles;
                let patient = self.throttled_since.is_none_or(|since| since.elapsed() < THROTTLE_PATIENCE);
                let retry = failure.is_retryable()
                    && infra <= run.spec.retries
                    && patient
                    && (throttled || run.retries_spent < budget);
                if retry && self.board.requeue(job, task) {
                    if !throttled {
                        run.retries_spent += 1;
                    }
                    self.board.record(job, record);
                    let delay = backoff(&failure, t.failures - 1);
                    if delay.is_zero() {
                        // Retries go first, so a job is not held up by its last failed task.
                        self.queue.push_front((job, task, finished_at));
                    } else {
                        let retry = self.retry_tx.clone();
                        tokio::spawn(async move {
                            tokio::time::sleep(delay).await;
                            let _ = retry.send((job, task, now_epoch()));
                        });
                    }
                    return;
                }
                Outcome::Failed { failure, attempts: t.next_attempt }
            }
        };
        self.board.record(job, record);
        t.committed = true;
        abandon(&self.board, job, task, t, "superseded");
        run.finished += 1;
        let stored = match &outcome {
            Outcome::Returned { report, .. } => report.stored.clone(),
            _ => None,
        };
        if !self.board.finish(job, task, outcome) {
            discard(stored);
        }
        if t.running.is_empty() {
            self.release(job, task);
        }
        self.resolved(vec![(job, task)]);
    }

    /// Finds stragglers (tasks running far longer than the job's finished ones) and lines up a
    /// backup attempt for each.
    fn speculate(&mut self) {
        let now = Instant::now();
        for (&job, run) in &mut self.jobs {
            let Some(sp) = run.spec.speculation else { continue };
            let total = run.spec.work.len();
            if run.cancelled || run.durations.is_empty() || (run.finished as f64) < sp.after * total as f64 {
                continue;
            }
            let threshold = Duration::from_secs_f64(median(&run.durations) * sp.multiple).max(sp.min_runtime);
            for (&task, t) in &mut run.tasks {
                // Every attempt of the task straggles (a backup can straggle too).
                let straggles = |r: &Running| now.duration_since(r.started) > threshold;
                let stuck = !t.running.is_empty() && t.running.iter().all(straggles);
                if stuck && !t.committed && !t.backup_pending && t.backups < MAX_BACKUPS {
                    t.backup_pending = true;
                    self.backups.push_back((job, task));
                }
            }
        }
    }
}
