//! The job driver of datasets: it runs a plan's stages (sample, splitters, map, reduce, any
//! number of shuffles) on the schedulers where each belongs, then hands the result back or
//! commits a written dataset. Reports stay typed from the tasks to here.
//!
//! The driver runs on a thread of its own; the caller waits on [`Running`], reads its stages
//! for progress bars and job records, and may cancel it.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use squall_core::budget::{task_peak, Budget};
use squall_core::cancel::CancelFlag;
use squall_core::codec::{Compression, Format};
use squall_core::manifest::Manifest;
use squall_core::merge::MergeLevel;
use squall_core::placement::{Place, Placement};
use squall_core::plan::{
    Combine, Exchange, Input, Output, PartitionReport, PartitionTask, Plan, Sink, Source, Stage, Target, TaskInput,
    TaskOutput,
};
use squall_core::shuffle::BucketSlice;
use squall_core::stages::{file_tasks, key_columns};
use squall_core::tier::{FastTier, Rule};

use crate::commit::Commit;
use crate::error::{Fault, TaskFailure};
use crate::owner::new_job_id;
use crate::partition::{choose_splitters, delete_objects, end_prefix, read_parts};
use crate::scheduler::{JobHandle, Work};
use crate::scratch::{memory_room, Scratch};
use crate::shuffle_io::release_buckets;
use crate::{Error, Function, JobSpec, MemoryLimit, Outcome, Result, Scheduler, Speculation};

/// A reducer reads at least this much when buckets may share one: below it a task's fixed costs
/// (its requests, decoding each map's slice, writing its result) outweigh its work.
const SMALL_REDUCE_BYTES: u64 = 1 << 20;

/// Where stages run.
#[derive(Clone)]
pub struct Executors {
    /// Threads of this process.
    pub threads: Arc<Scheduler>,
    /// The session's workers: local processes or Lambda functions.
    pub workers: Arc<Scheduler>,
}

/// How a session runs datasets.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Which stages may run on the driver's threads.
    pub placement: Placement,
    /// Workers (or threads) that run tasks at once.
    pub workers: usize,
    /// Input bytes per output partition that shuffles aim for.
    pub target_partition_bytes: u64,
    /// Extra attempts of a task after an infrastructure failure.
    pub retries: u32,
    /// Backups for stragglers.
    pub speculation: Option<Speculation>,
    /// Where intermediate objects go.
    pub scratch: Scratch,
    /// What the tasks may hold in memory.
    pub budget: Budget,
    /// Whether shuffles get a merge level: always, never, or (None) when it saves requests.
    pub two_level: Option<bool>,
}

/// A dataset action: a plan, where its result goes, and the Python functions it calls.
pub struct DatasetJob {
    /// The plan.
    pub plan: Plan,
    /// Where its result goes.
    pub sink: Sink,
    /// The plan's Python functions, pickled as one list (empty when it has none).
    pub functions: Arc<Function>,
    /// The action, for stage labels: "collect", "count", "write_parquet", ...
    pub verb: String,
}

/// What a dataset action gave.
#[derive(Debug)]
pub enum JobOutput {
    /// The rows, partitions in order.
    Batches(SchemaRef, Vec<RecordBatch>),
    /// The number of rows.
    Rows(u64),
    /// The written dataset's manifest.
    Written(Manifest),
    /// Nothing: the action was simulated by size (see [`crate::sized`]; the requests its
    /// driver would have made are [`Running::driver_io`]).
    Simulated,
}

/// A running dataset action.
pub struct Running {
    stages: Mutex<Vec<(String, Arc<JobHandle>)>>,
    cancel: CancelFlag,
    result: Mutex<Option<Result<JobOutput>>>,
    /// The requests the driver made itself (its tasks count their own).
    driver_io: Mutex<squall_core::TaskIo>,
    done: Condvar,
}

impl Running {
    /// An action not started yet.
    pub(crate) fn new() -> Arc<Running> {
        Arc::new(Running {
            stages: Mutex::new(Vec::new()),
            cancel: CancelFlag::new(),
            result: Mutex::new(None),
            driver_io: Mutex::new(Default::default()),
            done: Condvar::new(),
        })
    }

    /// Ends the action with `result`, the driver having made the requests `driver_io`.
    pub(crate) fn end(&self, result: Result<JobOutput>, driver_io: squall_core::TaskIo) {
        *self.driver_io.lock().unwrap_or_else(|e| e.into_inner()) = driver_io;
        *self.result.lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
        self.done.notify_all();
    }

    /// The requests the driver made itself, once the action ended (its tasks' are in their
    /// reports): counted on its own thread, whatever else this process does meanwhile.
    pub fn driver_io(&self) -> squall_core::TaskIo {
        *self.driver_io.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `spec` on `sched` as the action's next stage; returns its tasks' reports in task
    /// order. The first task that fails for good stops the stage (`input` describes a task,
    /// for the error). A reducer's buckets held in memory are freed as soon as its outcome is
    /// final (see `release_buckets`): no attempt of it reads them again.
    pub(crate) fn run(
        &self,
        sched: &Arc<Scheduler>,
        spec: JobSpec,
        input: impl Fn(usize) -> String,
    ) -> Result<Vec<PartitionReport>> {
        let (label, n) = (spec.label.clone(), spec.work.len());
        let work = spec.work.clone();
        let job = sched.start(spec)?;
        self.stages.lock().unwrap_or_else(|e| e.into_inner()).push((label.clone(), job.clone()));
        let board = sched.board();
        let mut reports: Vec<Option<PartitionReport>> = vec![None; n];
        let (mut seen, mut done) = (0, 0);
        while done < n {
            if self.cancel.is_raised() {
                sched.cancel(job.id());
                return Err(Error::Cancelled);
            }
            let seq = board.seq();
            let finished = board.finished_since(job.id(), seen)?;
            if finished.is_empty() {
                board.wait_change(seq, Duration::from_millis(100));
                continue;
            }
            seen += finished.len();
            for task in finished.into_iter().map(|t| t as usize) {
                let fault = match board.take(job.id(), task)? {
                    Some(Outcome::Returned { report, .. }) => match report.partition {
                        Some(r) => {
                            if let Work::Partition(t) = &work[task] {
                                if let TaskInput::Shuffle { slices, .. } = &t.input {
                                    release_buckets(slices);
                                }
                            }
                            reports[task] = Some(r);
                            done += 1;
                            continue;
                        }
                        None => Fault::Failed {
                            failure: crate::Failure::WorkerLost("the worker's report has no partition report".into()),
                            attempts: 1,
                        },
                    },
                    Some(Outcome::Raised { error, body }) => Fault::Raised { error, body },
                    Some(Outcome::Failed { failure, attempts }) => Fault::Failed { failure, attempts },
                    Some(Outcome::Cancelled) | None => return Err(Error::Cancelled),
                };
                sched.cancel(job.id());
                if let Fault::Raised { error, .. } = &fault {
                    if error.kind == squall_core::ErrorKind::Cancelled {
                        return Err(Error::Cancelled);
                    }
                }
                let stage = label;
                return Err(Error::Task(Box::new(TaskFailure { stage, task, input: input(task), fault })));
            }
        }
        Ok(reports.into_iter().map(|r| r.expect("every task reported")).collect())
    }

    /// Waits up to `timeout` for the action to end; true when it has.
    pub fn wait(&self, timeout: Duration) -> bool {
        let result = self.result.lock().unwrap_or_else(|e| e.into_inner());
        let (result, _) =
            self.done.wait_timeout_while(result, timeout, |r| r.is_none()).unwrap_or_else(|e| e.into_inner());
        result.is_some()
    }

    /// Takes the result, once the action ended.
    pub fn take(&self) -> Option<Result<JobOutput>> {
        self.result.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// Cancels the action: its current stage's tasks stop (workers are killed, threads stop at
    /// their next batch) and no further stage starts.
    pub fn cancel(&self) {
        self.cancel.raise();
        if let Some((_, job)) = self.stages.lock().unwrap_or_else(|e| e.into_inner()).last() {
            job.scheduler().cancel(job.id());
        }
    }

    /// The stages started so far: (label, job).
    pub fn stages(&self) -> Vec<(String, Arc<JobHandle>)> {
        self.stages.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Starts `job` on a thread of its own. A plan that cannot run as asked (a stage on Lambda
/// that would read this machine's files) fails here, before anything runs.
pub fn start(exec: Executors, settings: Settings, job: DatasetJob) -> Result<Arc<Running>> {
    if job.plan.is_synthetic() {
        return Err(Error::Core(squall_core::Error::Plan(format!(
            "the input {:?} (made by squall.synthetic) has sizes but no rows: model it with \
             .estimate() or .simulate() instead of .{}",
            job.plan.source, job.verb
        ))));
    }
    job.plan.check_budget(&job.sink, &settings.budget)?;
    let stages = job.plan.stages();
    let places = stages
        .iter()
        .map(|s| settings.placement.place(&job.plan, &job.sink, s))
        .collect::<squall_core::Result<Vec<_>>>()?;
    let running = Running::new();
    let id = new_job_id();
    let decoded = job.plan.decoded_bytes();
    let all_on_threads = places.iter().all(|p| *p == Place::Threads);
    let budget = settings.budget.shared().unwrap_or(u64::MAX);
    let root = settings.scratch.choose(decoded, all_on_threads, budget);
    // A shuffle kept in memory (this process's, or shared memory) holds part of the budget.
    let mut held = if root == settings.scratch.disk || settings.scratch.remote.is_some() { 0 } else { decoded };
    // Beside a shuffle on disk (or in shared memory), the job's objects are held in this
    // process's memory while they take at most an eighth of the budget: small ones (partial
    // states of few keys, samples) cost no file, and of a shuffle a little too big for memory
    // only the rest is written. A larger room leaves the tasks less of the budget: a room of
    // what the tasks' estimates leave slowed a sort under a 4 GB budget from 44 s to 70 s.
    let room = (all_on_threads && root != settings.scratch.memory).then_some(budget.min(memory_room()) / 8);
    let fast = settings.scratch.tier(root, &id, room);
    if fast.as_ref().is_some_and(|f| matches!(f.rule, Rule::Within(_))) {
        held += room.unwrap_or(0);
    }
    let scratch = format!("{root}/{id}");
    let driver = Driver { exec, settings, job, stages, places, running: running.clone(), id, scratch, fast, held };
    let busy = crate::alloc::Busy::start();
    let spawned = std::thread::Builder::new().name("squall-driver".into()).spawn(move || {
        let (result, io) = squall_store::counting_task(|| {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| driver.run()))
                .unwrap_or_else(|panic| Err(Error::Panic(crate::task_threads::panic_text(&panic))));
            (result, squall_store::io_counts())
        });
        let running = driver.running.clone();
        drop(driver);
        // What the stages freed is kept for a next job, and given back once none comes.
        drop(busy);
        running.end(result, io);
    });
    spawned.map_err(Error::Runtime)?;
    Ok(running)
}

struct Driver {
    exec: Executors,
    settings: Settings,
    job: DatasetJob,
    stages: Vec<Stage>,
    places: Vec<Place>,
    running: Arc<Running>,
    /// This action's id: names its scratch objects and its attempts of a written dataset.
    id: String,
    /// Where its intermediate objects go.
    scratch: String,
    /// Where its small intermediate objects go, when the session has a fast store.
    fast: Option<FastTier>,
    /// Bytes of the memory budget that its intermediate objects hold (0 when on disk).
    held: u64,
}

/// What the stages so far made, for the stages after them.
#[derive(Default)]
struct Made {
    /// Each shuffle's map objects and their buckets.
    maps: HashMap<usize, Vec<(String, Vec<BucketSlice>)>>,
    /// Each shuffle's splitters object.
    splitters: HashMap<usize, String>,
    /// The files each `Parts` stage wrote.
    parts: HashMap<usize, Vec<Input>>,
}

impl Driver {
    fn run(&self) -> Result<JobOutput> {
        let scratch = &self.scratch;
        let commit = match &self.job.sink {
            Sink::Write { format, dir, compression, mode } => {
                Some(Commit::begin(dir, *mode, *format, *compression, &self.id)?)
            }
            _ => None,
        };
        let result = self.run_stages(scratch, commit.as_ref());
        let output = match (result, &commit) {
            (Ok((reports, _)), Some(commit)) => commit.publish(&reports).map(JobOutput::Written),
            (Ok((reports, inputs)), None) => self.finish(&reports, &inputs),
            (Err(e), commit) => {
                if let Some(c) = commit {
                    c.abort();
                }
                Err(e)
            }
        };
        // Everything under the prefix: committed attempts' objects and any a late duplicate
        // (a retried or superseded attempt) wrote under its own attempt-named key.
        // The job's folders (its scratch, its fast tier, its result's), each ended once.
        let mut folders = vec![scratch.clone(), self.result_root()];
        folders.extend(self.fast.iter().map(|f| f.fast.clone()));
        folders.sort();
        folders.dedup();
        for folder in folders {
            let _ = end_prefix(&format!("{folder}/"));
        }
        if let Some(fast) = &self.fast {
            fast.forget();
        }
        output
    }

    /// Where the last stage puts the parts of a collected result: this process's memory when
    /// its tasks run on this process's threads and the session has no store (the driver holds
    /// the whole result next, so writing it to a disk first and reading it back would only add
    /// a copy through the page cache); else the job's scratch space.
    fn result_root(&self) -> String {
        let on_threads = self.places.last() == Some(&Place::Threads);
        match on_threads && self.settings.scratch.remote.is_none() {
            true => format!("{}/{}", self.settings.scratch.memory, self.id),
            false => self.scratch.clone(),
        }
    }

    /// The result of a collect or count from the last stage's reports; `inputs` describe what
    /// each task read, to name a partition whose columns disagree with the others'.
    fn finish(&self, reports: &[PartitionReport], inputs: &[String]) -> Result<JobOutput> {
        match self.job.sink {
            Sink::Count => Ok(JobOutput::Rows(reports.iter().map(|r| r.rows).sum())),
            _ => {
                let (urls, names): (Vec<String>, Vec<String>) =
                    reports.iter().zip(inputs).filter_map(|(r, i)| Some((r.url.clone()?, i.clone()))).unzip();
                let (schema, batches) = read_parts(&urls, &names)?;
                Ok(JobOutput::Batches(schema, batches))
            }
        }
    }

    /// Runs every stage; returns the reports of the last one, and what each of its tasks read.
    fn run_stages(&self, scratch: &str, commit: Option<&Commit>) -> Result<(Vec<PartitionReport>, Vec<String>)> {
        let plan = &self.job.plan;
        let mut made = Made::default();
        for (k, stage) in self.stages.iter().enumerate() {
            if self.running.cancel.is_raised() {
                return Err(Error::Cancelled);
            }
            let under = format!("{scratch}/s{k}");
            let output = |p: usize| -> Result<Option<TaskOutput>> {
                Ok(match stage.target {
                    Target::Sample(i) => Some(plan.shuffles[i].exchange.sample_output(&under, p)?),
                    Target::Shuffle(i) => Some(plan.shuffles[i].exchange.map_output(
                        &under,
                        p,
                        made.splitters.get(&i).map(String::as_str),
                    )),
                    Target::Parts => Some(scratch_file(&format!("{under}/part-{p:05}.arrow"))),
                    Target::Sink => match (&self.job.sink, commit) {
                        (Sink::Count, _) => None,
                        (Sink::Write { .. }, Some(c)) => Some(c.attempt_output(p)),
                        _ => Some(scratch_file(&format!("{}/s{k}/part-{p:05}.arrow", self.result_root()))),
                    },
                })
            };
            let columns = self.columns(stage);
            let tasks: Vec<PartitionTask> = match stage.source {
                Source::Inputs => {
                    let expected = plan.expected().map(Arc::new);
                    file_tasks(&plan.inputs, columns.as_deref(), expected.as_ref(), &stage.ops)
                }
                Source::Parts(j) => file_tasks(&made.parts[&j], columns.as_deref(), None, &stage.ops),
                Source::Shuffle(i) => {
                    let maps = &made.maps[&i];
                    let (min_bytes, max_bytes) = self.reducer_bytes(maps, k);
                    let mut tasks = plan.shuffles[i].reduce_tasks(maps, &stage.ops, min_bytes, max_bytes)?;
                    for task in &mut tasks {
                        // A group-by reducer too big for the budget aggregates in parts.
                        if let TaskInput::Shuffle { slices, combine: Combine::Aggregate { .. }, parts } =
                            &mut task.input
                        {
                            *parts = self.settings.budget.parts(shuffle_decoded(slices));
                        }
                    }
                    tasks
                }
            };
            let tasks = tasks
                .into_iter()
                .map(|mut t| {
                    t.output = output(t.partition)?;
                    t.fast = self.fast.clone();
                    Ok(t)
                })
                .collect::<Result<Vec<_>>>()?;
            let inputs: Vec<String> = tasks.iter().map(|t| describe(t, stage.source)).collect();
            let reports = self.run_stage(k, tasks, &inputs)?;
            match stage.target {
                Target::Sample(i) => {
                    let urls: Vec<String> = reports.iter().filter_map(|r| r.url.clone()).collect();
                    let at = format!("{under}/splitters.arrow");
                    let at = choose_splitters(&urls, plan.shuffles[i].exchange.partitions(), &at, self.fast.as_ref())?;
                    made.splitters.insert(i, at);
                }
                Target::Shuffle(i) => {
                    let maps = reports
                        .into_iter()
                        .map(|r| (r.url.unwrap_or_default(), r.buckets.unwrap_or_default()))
                        .collect();
                    made.maps.insert(i, self.merge(i, maps, &under)?);
                }
                Target::Parts => {
                    let files = reports
                        .into_iter()
                        .map(|r| Input::whole(r.url.unwrap_or_default(), Format::Ipc, r.bytes_written))
                        .collect();
                    made.parts.insert(k, files);
                }
                Target::Sink => return Ok((reports, inputs)),
            }
        }
        Err(Error::Core(squall_core::Error::Plan("a plan ends with its sink".into())))
    }

    /// Columns a stage reads: a sort's sample with no operators before it reads only its
    /// keys; the first stages read the columns the plan uses, by name: every column of the
    /// first file (in its order) when the plan uses them all, so a file whose columns lie in
    /// another order, or that has more, is read as the first file is. Columns that share a
    /// name (Arrow and Parquet allow it) can only be told apart by position: read as they lie.
    fn columns(&self, stage: &Stage) -> Option<Vec<String>> {
        let plan = &self.job.plan;
        match (stage.target, stage.source) {
            (Target::Sample(i), Source::Inputs | Source::Parts(_)) if stage.ops.is_empty() => {
                match &plan.shuffles[i].exchange {
                    Exchange::Sort { keys, .. } => Some(key_columns(keys)),
                    _ => None,
                }
            }
            (_, Source::Inputs) => plan.scan_columns().or_else(|| {
                let names = plan.input_names()?;
                let distinct: std::collections::HashSet<&String> = names.iter().collect();
                (distinct.len() == names.len()).then_some(names)
            }),
            _ => None,
        }
    }

    /// Bytes a reducer of stage `k` should read when small buckets may share one: the
    /// session's target, or less, so that every worker still gets two tasks. Eight each when
    /// the reducers run on the driver's threads and write no files (whose count the user sees):
    /// the shuffle is in this process's memory already, each running reducer adds its decoded
    /// share to it, and a reducer there costs no start-up. Never below 1 MB, nor above what
    /// the memory budget plans a task for (the second bytes: never past them with two buckets).
    fn reducer_bytes(&self, maps: &[(String, Vec<BucketSlice>)], k: usize) -> (u64, u64) {
        let shuffled: u64 = maps.iter().flat_map(|(_, b)| b).map(|b| b.len).sum();
        let writes = matches!(self.job.sink, Sink::Write { .. }) && self.stages[k].target == Target::Sink;
        let each = if self.places[k] == Place::Threads && !writes { 8 } else { 2 };
        let share = shuffled / (each * self.settings.workers.max(1) as u64);
        let url = maps.first().map_or("", |(u, _)| u.as_str());
        let budget = (self.settings.budget.task_input() / scratch_expansion(url)).max(SMALL_REDUCE_BYTES);
        (self.settings.target_partition_bytes.min(SMALL_REDUCE_BYTES.max(share)).min(budget), budget)
    }

    /// The memory each of `tasks` is estimated to hold at its peak (a group-by reducer that
    /// aggregates in parts: one part's), for the scheduler to start only as many at once as
    /// the session's budget holds, less what a shuffle kept in memory holds (None on Lambda,
    /// where each function has memory of its own).
    fn memory_limit(&self, tasks: &[PartitionTask], source: Source) -> Option<MemoryLimit> {
        let budget = self.settings.budget.shared()?;
        let limit = budget.saturating_sub(self.held).max(budget / 4);
        let decoded = |t: &PartitionTask| match (&t.input, source) {
            (TaskInput::File(input), Source::Inputs) => self.job.plan.decoded(input.bytes()),
            (TaskInput::File(input), _) => input.bytes() * scratch_expansion(&input.url),
            (TaskInput::Shuffle { slices, parts, .. }, _) => shuffle_decoded(slices) / *parts as u64,
            (TaskInput::Merge(merge), _) => {
                merge.maps.iter().map(|(u, b)| b.iter().map(|s| s.len).sum::<u64>() * scratch_expansion(u)).sum()
            }
            (TaskInput::Sized(size), _) => size.work_bytes,
        };
        Some(MemoryLimit { limit, tasks: tasks.iter().map(|t| task_peak(decoded(t))).collect() })
    }

    /// Runs stage `k`'s tasks; returns their reports in task order.
    fn run_stage(&self, k: usize, tasks: Vec<PartitionTask>, inputs: &[String]) -> Result<Vec<PartitionReport>> {
        self.run_tasks(
            self.job.plan.stage_label(&self.stages, k, &self.job.verb),
            self.places[k],
            self.stages[k].source,
            tasks,
            inputs,
        )
    }

    /// The objects of shuffle `i`'s map tasks (written under `under`), merged by a merge level
    /// when the shuffle gets one (see `squall_core::merge`): then the merged objects, and the
    /// map objects are deleted.
    fn merge(
        &self,
        i: usize,
        maps: Vec<(String, Vec<BucketSlice>)>,
        under: &str,
    ) -> Result<Vec<(String, Vec<BucketSlice>)>> {
        let shuffle = &self.job.plan.shuffles[i];
        let bytes: u64 = maps.iter().flat_map(|(_, b)| b).map(|b| b.len).sum();
        let object = bytes / maps.len().max(1) as u64;
        let url = maps.first().map_or("", |(u, _)| u.as_str());
        let task_bytes = self.settings.budget.task_input() / scratch_expansion(url);
        let r = shuffle.exchange.partitions();
        let Some(level) = MergeLevel::choose(maps.len(), r, object, task_bytes, self.settings.two_level) else {
            return Ok(maps);
        };
        let mut tasks = shuffle.merge_tasks(level, &maps, |p| format!("{under}/merge-{p:05}.arrow"));
        for t in &mut tasks {
            t.fast = self.fast.clone();
        }
        let inputs: Vec<String> =
            tasks.iter().map(|t| format!("merge task {} ({} map objects)", t.partition, level.group)).collect();
        let reducers = self.stages.iter().position(|s| s.source == Source::Shuffle(i));
        let place = reducers.map_or(Place::Workers, |j| self.places[j]);
        let label = format!("squall.{} (merge)", shuffle.exchange.name());
        let reports = self.run_tasks(label, place, Source::Shuffle(i), tasks, &inputs)?;
        // The map objects are merged: their room (memory, disk, a fast store) is free again.
        let _ = delete_objects(&maps.into_iter().map(|(u, _)| u).collect::<Vec<_>>());
        Ok(reports.into_iter().map(|r| (r.url.unwrap_or_default(), r.buckets.unwrap_or_default())).collect())
    }

    /// Runs tasks as the stage `label` on `place`; returns their reports in task order. The
    /// first task that fails for good stops the stage.
    fn run_tasks(
        &self,
        label: String,
        place: Place,
        source: Source,
        tasks: Vec<PartitionTask>,
        inputs: &[String],
    ) -> Result<Vec<PartitionReport>> {
        let sched = match place {
            Place::Threads => &self.exec.threads,
            Place::Workers => &self.exec.workers,
        };
        let functions = match tasks.iter().any(PartitionTask::calls_python) {
            true => self.job.functions.clone(),
            false => Arc::new(Function::default()),
        };
        let memory = self.memory_limit(&tasks, source);
        let spec = JobSpec {
            label,
            results: None,
            func: functions,
            work: tasks.into_iter().map(|t| Work::Partition(Arc::new(t))).collect(),
            timeout: None,
            retries: self.settings.retries,
            speculation: self.settings.speculation,
            memory,
        };
        self.running.run(sched, spec, |task| inputs[task].clone())
    }
}

/// Decoded bytes per byte of a scratch object at `url`: compressed (LZ4) in a remote store,
/// taken as twice its size; as it is on this machine.
fn scratch_expansion(url: &str) -> u64 {
    match Compression::for_scratch(url) {
        Compression::None => 1,
        _ => 2,
    }
}

/// About how many bytes a reducer's slices take decoded.
fn shuffle_decoded(slices: &[(String, u64, u64)]) -> u64 {
    slices.iter().map(|(url, _, len)| len * scratch_expansion(url)).sum()
}

/// An Arrow IPC object in scratch space.
fn scratch_file(url: &str) -> TaskOutput {
    TaskOutput::File(Output {
        format: Format::Ipc,
        url: url.to_string(),
        compression: Compression::for_scratch(url),
        result: false,
    })
}

/// A task's input, for error messages: `partition 3: s3://lab/x.parquet` for a plan's input.
fn describe(task: &PartitionTask, source: Source) -> String {
    match (&task.input, source) {
        (squall_core::plan::TaskInput::File(input), Source::Inputs) => {
            format!("partition {}: {}", task.partition, squall_core::redact::redact(&input.url))
        }
        _ => format!("partition {}", task.partition),
    }
}
