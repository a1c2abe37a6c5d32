//! The scheduler against an in-process backend whose behaviour each test scripts.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use squall_core::codec::{Compression, Format};
use squall_core::plan::{Input, Output, PartitionReport, TaskOutput};
use squall_core::stages::{attempt_url, file_tasks};

use squall_core::{TaskReport, UserError};
use squall_exec::backend::BoxFuture;
use squall_exec::{Backend, Failure, Function, Invocation, JobSpec, Outcome, Reply, Scheduler, Work};

/// What one attempt does, decided from (task, attempt).
#[derive(Clone)]
enum Act {
    Echo,
    Raise,
    Fail,
    Misroute,
    /// A partition report naming this object as written.
    Report(String),
    Sleep(Duration),
}

struct Scripted {
    slots: usize,
    script: Box<dyn Fn(u64, u32) -> Act + Send + Sync>,
    calls: AtomicUsize,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

impl Scripted {
    fn new(slots: usize, script: impl Fn(u64, u32) -> Act + Send + Sync + 'static) -> Arc<Self> {
        Arc::new(Scripted {
            slots,
            script: Box::new(script),
            calls: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
        })
    }

    async fn attempt(&self, mut inv: Invocation) -> Result<Reply, Failure> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        let task = inv.spec.task;
        let spec = inv.spec.clone();
        let report = |ok: bool, error: Option<UserError>| TaskReport { ok, error, ..TaskReport::of(&spec) };
        let result = match (self.script)(task, inv.spec.attempt) {
            Act::Echo => Ok(Reply {
                report: report(true, None),
                body: inv.input.to_vec(),
                worker: "test".into(),
                cold: false,
                output: String::new(),
            }),
            Act::Raise => {
                let error = UserError {
                    kind: Default::default(),
                    error_type: "ValueError".into(),
                    message: "bad".into(),
                    traceback: "tb".into(),
                };
                Ok(Reply {
                    report: report(false, Some(error)),
                    body: vec![],
                    worker: "test".into(),
                    cold: false,
                    output: String::new(),
                })
            }
            Act::Fail => Err(Failure::WorkerLost("scripted crash".into())),
            Act::Misroute => {
                // Another task's answer, as a stale or forked reply would be.
                let report = TaskReport { task: task + 1, ..report(true, None) };
                Ok(Reply { report, body: vec![9, 9, 9, 9], worker: "test".into(), cold: false, output: String::new() })
            }
            Act::Report(url) => {
                let partition = PartitionReport { url: Some(url), ..Default::default() };
                let report = TaskReport { partition: Some(partition), ..report(true, None) };
                Ok(Reply { report, body: vec![], worker: "test".into(), cold: false, output: String::new() })
            }
            Act::Sleep(d) => tokio::select! {
                _ = tokio::time::sleep(d) => Ok(Reply { report: report(true, None), body: vec![], worker: "test".into(), cold: false, output: String::new() }),
                _ = inv.cancel.wait_for(|c| *c) => Err(Failure::Cancelled),
            },
        };
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        result
    }
}

impl Backend for Scripted {
    fn slots(&self) -> usize {
        self.slots
    }
    fn invoke(&self, inv: Invocation) -> BoxFuture<'_, Result<Reply, Failure>> {
        Box::pin(self.attempt(inv))
    }
    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

fn job(n: usize, retries: u32) -> JobSpec {
    JobSpec {
        label: "f".into(),
        results: None,
        func: Arc::new(Function { hash: "f".into(), bytes: vec![1, 2, 3] }),
        work: (0..n)
            .map(|i| Work::Call { args: Arc::new((i as u32).to_le_bytes().to_vec()), inputs: Vec::new() })
            .collect(),
        timeout: None,
        retries,
        speculation: None,
        memory: None,
    }
}

fn finish(s: &Scheduler, job: u64) {
    assert!(s.board().wait_job(job, Duration::from_secs(30)).unwrap(), "job did not finish");
}

#[test]
fn every_task_returns_its_own_input_and_slots_are_respected() {
    let backend = Scripted::new(3, |_, _| Act::Echo);
    let s = Scheduler::new(backend.clone()).unwrap();
    let id = s.submit(job(500, 0)).unwrap();
    finish(&s, id);
    for i in 0..500usize {
        match s.board().take(id, i).unwrap() {
            Some(Outcome::Returned { body, .. }) => assert_eq!(body.as_slice(), (i as u32).to_le_bytes()),
            other => panic!("task {i}: {other:?}"),
        }
    }
    assert!(backend.max_in_flight.load(Ordering::SeqCst) <= 3);
    assert_eq!(s.board().finished_since(id, 0).unwrap().len(), 500);
}

#[test]
fn infrastructure_failures_are_retried_then_succeed() {
    let backend = Scripted::new(2, |task, attempt| if task % 2 == 0 && attempt < 2 { Act::Fail } else { Act::Echo });
    let s = Scheduler::new(backend.clone()).unwrap();
    let id = s.submit(job(10, 2)).unwrap();
    finish(&s, id);
    let p = s.board().progress(id).unwrap();
    assert_eq!((p.succeeded, p.failed, p.retried), (10, 0, 10));
    assert_eq!(backend.calls.load(Ordering::SeqCst), 20);
}

#[test]
fn retries_are_bounded() {
    let s = Scheduler::new(Scripted::new(2, |_, _| Act::Fail)).unwrap();
    let id = s.submit(job(3, 2)).unwrap();
    finish(&s, id);
    for i in 0..3 {
        match s.board().take(id, i).unwrap() {
            Some(Outcome::Failed { attempts, failure }) => {
                assert_eq!(attempts, 3);
                assert!(failure.to_string().contains("scripted crash"));
            }
            other => panic!("task {i}: {other:?}"),
        }
    }
}

#[test]
fn user_errors_are_not_retried() {
    let backend = Scripted::new(2, |_, _| Act::Raise);
    let s = Scheduler::new(backend.clone()).unwrap();
    let id = s.submit(job(4, 5)).unwrap();
    finish(&s, id);
    assert_eq!(backend.calls.load(Ordering::SeqCst), 4);
    assert!(matches!(s.board().take(id, 0).unwrap(), Some(Outcome::Raised { .. })));
}

#[test]
fn cancelling_stops_running_attempts_and_skips_queued_ones() {
    let backend = Scripted::new(2, |_, _| Act::Sleep(Duration::from_secs(60)));
    let s = Scheduler::new(backend.clone()).unwrap();
    let id = s.submit(job(20, 0)).unwrap();
    // Two attempts are in the backend (the board counts an attempt running a moment before).
    while backend.calls.load(Ordering::SeqCst) < 2 {
        std::thread::sleep(Duration::from_millis(5));
    }
    s.cancel(id);
    finish(&s, id);
    assert_eq!(s.board().progress(id).unwrap().cancelled, 20);
    // The running attempts saw the cancellation and gave their slots back.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while backend.in_flight.load(Ordering::SeqCst) > 0 {
        assert!(std::time::Instant::now() < deadline, "attempts were not stopped");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(backend.calls.load(Ordering::SeqCst), 2);
}

#[test]
fn ten_thousand_instant_tasks_complete() {
    let s = Scheduler::new(Scripted::new(64, |_, _| Act::Echo)).unwrap();
    let id = s.submit(job(10_000, 0)).unwrap();
    finish(&s, id);
    assert_eq!(s.board().progress(id).unwrap().succeeded, 10_000);
}

#[test]
fn a_submitted_job_after_shutdown_is_refused() {
    let s = Scheduler::new(Scripted::new(1, |_, _| Act::Echo)).unwrap();
    s.shutdown(Duration::from_secs(5));
    // The dispatcher has stopped: either the submit is refused or the job never runs.
    match s.submit(job(1, 0)) {
        Err(squall_exec::Error::Closed) => {}
        Ok(id) => assert!(!s.board().wait_job(id, Duration::from_millis(100)).unwrap()),
        Err(e) => panic!("unexpected error {e}"),
    }
}

fn speculative(mut spec: JobSpec) -> JobSpec {
    let min_runtime = Duration::from_millis(200);
    spec.speculation = Some(squall_exec::Speculation { min_runtime, ..Default::default() });
    spec
}

#[test]
fn a_straggler_gets_a_backup_that_wins_and_the_original_is_cancelled() {
    // Task 0's first attempt hangs; every other attempt takes 10 ms.
    let backend = Scripted::new(4, |task, attempt| {
        if task == 0 && attempt == 0 {
            Act::Sleep(Duration::from_secs(60))
        } else {
            Act::Sleep(Duration::from_millis(10))
        }
    });
    let s = Scheduler::new(backend.clone()).unwrap();
    let started = std::time::Instant::now();
    let id = s.submit(speculative(job(20, 0))).unwrap();
    finish(&s, id);
    assert!(started.elapsed() < Duration::from_secs(10), "the backup did not rescue the job");
    assert!(matches!(s.board().take(id, 0).unwrap(), Some(Outcome::Returned { .. })));
    // The hung original saw the cancellation and gave its slot back; it is recorded as superseded.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while backend.in_flight.load(Ordering::SeqCst) > 0 {
        assert!(std::time::Instant::now() < deadline, "the straggler was not stopped");
        std::thread::sleep(Duration::from_millis(5));
    }
    let attempts = s.board().attempts(id).unwrap();
    assert_eq!(attempts.len(), 21);
    let task0: Vec<_> = attempts.iter().filter(|a| a.task == 0).collect();
    assert_eq!(task0.len(), 2);
    let backup = task0.iter().find(|a| a.backup).expect("a backup attempt");
    assert_eq!((backup.attempt, backup.outcome), (1, "ok"));
    let original = task0.iter().find(|a| !a.backup).unwrap();
    assert_eq!((original.attempt, original.outcome), (0, "superseded"));
    assert_eq!(s.board().progress(id).unwrap().succeeded, 20);
}

#[test]
fn without_speculation_a_straggler_runs_alone() {
    let backend = Scripted::new(4, |task, _| Act::Sleep(Duration::from_millis(if task == 0 { 800 } else { 10 })));
    let s = Scheduler::new(backend.clone()).unwrap();
    let id = s.submit(job(20, 0)).unwrap();
    finish(&s, id);
    assert_eq!(backend.calls.load(Ordering::SeqCst), 20);
    assert!(s.board().attempts(id).unwrap().iter().all(|a| !a.backup && a.outcome == "ok"));
}

#[test]
fn every_attempt_is_recorded_with_its_outcome() {
    let backend = Scripted::new(2, |task, attempt| match (task, attempt) {
        (0, 0) => Act::Fail,
        (1, _) => Act::Raise,
        _ => Act::Echo,
    });
    let s = Scheduler::new(backend).unwrap();
    let id = s.submit(job(3, 1)).unwrap();
    finish(&s, id);
    let mut seen: Vec<(u32, u32, &str)> =
        s.board().attempts(id).unwrap().iter().map(|a| (a.task, a.attempt, a.outcome)).collect();
    seen.sort();
    assert_eq!(seen, vec![(0, 0, "lost"), (0, 1, "ok"), (1, 0, "raised"), (2, 0, "ok")]);
    for a in s.board().attempts(id).unwrap() {
        assert!(a.queued <= a.started && a.started <= a.finished, "{a:?}");
        assert_eq!(a.worker, if a.outcome == "lost" { "" } else { "test" });
    }
}

#[test]
fn an_answer_for_another_task_is_a_lost_worker_never_a_result() {
    // The first attempt of every task answers as its neighbour would: each is retried, and the
    // results are each task's own.
    let backend = Scripted::new(2, |_, attempt| if attempt == 0 { Act::Misroute } else { Act::Echo });
    let s = Scheduler::new(backend.clone()).unwrap();
    let id = s.submit(job(4, 2)).unwrap();
    finish(&s, id);
    for task in 0..4 {
        match s.board().take(id, task).unwrap() {
            Some(Outcome::Returned { body, .. }) => assert_eq!(*body, (task as u32).to_le_bytes().to_vec()),
            other => panic!("task {task}: {other:?}"),
        }
    }
    let lost: Vec<_> = s.board().attempts(id).unwrap().into_iter().filter(|a| a.outcome == "lost").collect();
    assert_eq!(lost.len(), 4);
    assert!(lost[0].error.contains("answered job"), "{}", lost[0].error);
}

#[test]
fn a_partition_report_naming_another_object_is_a_lost_worker_never_read() {
    // Attempt 0 names a file of the user's as its output (a wrong result if it were read);
    // attempt 1 names its own object.
    let planned = "file:///scratch/job-1/s0/part-00000.arrow";
    let backend = Scripted::new(1, move |_, attempt| match attempt {
        0 => Act::Report("file:///lab/events/2024.parquet".into()),
        a => Act::Report(attempt_url(planned, a)),
    });
    let s = Scheduler::new(backend.clone()).unwrap();
    let mut task =
        file_tasks(&[Input::whole("file:///lab/in.arrow".into(), Format::Ipc, 10)], None, None, &[]).remove(0);
    let url = planned.to_string();
    task.output =
        Some(TaskOutput::File(Output { format: Format::Ipc, url, compression: Compression::None, result: false }));
    let spec = JobSpec { work: vec![Work::Partition(Arc::new(task))], ..job(1, 2) };
    let id = s.submit(spec).unwrap();
    finish(&s, id);
    match s.board().take(id, 0).unwrap() {
        Some(Outcome::Returned { report, .. }) => {
            assert_eq!(report.partition.unwrap().url.unwrap(), attempt_url(planned, 1));
        }
        other => panic!("{other:?}"),
    }
    let lost: Vec<_> = s.board().attempts(id).unwrap().into_iter().filter(|a| a.outcome == "lost").collect();
    assert_eq!(lost.len(), 1);
    assert!(
        lost[0].error.contains("2024.parquet") && lost[0].error.contains("not asked to write"),
        "{}",
        lost[0].error
    );
}

#[test]
fn a_memory_limit_starts_only_the_tasks_whose_estimates_fit_together() {
    // Slots for 8 at once; a limit of 100 bytes and tasks of 40 (two at once), one of 250 (it
    // runs, alone) and a failing task retried: every task still ends, in whatever order.
    let backend = Scripted::new(8, |task, attempt| match (task, attempt) {
        (3, 0) => Act::Fail,
        _ => Act::Sleep(Duration::from_millis(20)),
    });
    let s = Scheduler::new(backend.clone()).unwrap();
    let mut spec = job(12, 1);
    let mut tasks = vec![40; 12];
    tasks[5] = 250;
    spec.memory = Some(squall_exec::MemoryLimit { limit: 100, tasks });
    let id = s.submit(spec).unwrap();
    finish(&s, id);
    for i in 0..12 {
        assert!(matches!(s.board().take(id, i).unwrap(), Some(Outcome::Returned { .. })), "task {i}");
    }
    assert_eq!(backend.max_in_flight.load(Ordering::SeqCst), 2, "two tasks of 40 fit in 100, three do not");

    // Cancelled while tasks wait for memory: none of the waiting ones starts.
    let backend = Scripted::new(8, |_, _| Act::Sleep(Duration::from_secs(5)));
    let s = Scheduler::new(backend.clone()).unwrap();
    let mut spec = job(6, 0);
    spec.memory = Some(squall_exec::MemoryLimit { limit: 10, tasks: vec![10; 6] });
    let id = s.submit(spec).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    s.cancel(id);
    finish(&s, id);
    assert_eq!(backend.calls.load(Ordering::SeqCst), 1, "one task at a time, and the rest never started");
}

#[test]
fn two_jobs_under_one_memory_limit_share_it() {
    // Two actions of one session at once (user threads), each with tasks of 40 under a limit of
    // 100: two tasks run at once over both jobs, not two per job; then a job cancelled while
    // its tasks wait for room gives back nothing it did not hold, and the other job goes on.
    let backend = Scripted::new(8, |_, _| Act::Sleep(Duration::from_millis(20)));
    let s = Scheduler::new(backend.clone()).unwrap();
    let limited = |n: usize| {
        let mut spec = job(n, 0);
        spec.memory = Some(squall_exec::MemoryLimit { limit: 100, tasks: vec![40; n] });
        spec
    };
    let (a, b) = (s.submit(limited(6)).unwrap(), s.submit(limited(6)).unwrap());
    finish(&s, a);
    finish(&s, b);
    for (id, i) in [a, b].into_iter().flat_map(|id| (0..6).map(move |i| (id, i))) {
        assert!(matches!(s.board().take(id, i).unwrap(), Some(Outcome::Returned { .. })), "job {id} task {i}");
    }
    assert_eq!(backend.max_in_flight.load(Ordering::SeqCst), 2, "tasks of 40 in 100, over both jobs");

    let backend = Scripted::new(8, |_, _| Act::Sleep(Duration::from_millis(300)));
    let s = Scheduler::new(backend.clone()).unwrap();
    let (a, b) = (s.submit(limited(4)).unwrap(), s.submit(limited(4)).unwrap());
    std::thread::sleep(Duration::from_millis(100));
    s.cancel(b);
    finish(&s, a);
    finish(&s, b);
    assert!(backend.max_in_flight.load(Ordering::SeqCst) <= 2);
    assert_eq!(backend.calls.load(Ordering::SeqCst), 4, "a's four tasks ran; b's waited and were cancelled");
}

#[test]
fn schedulers_sharing_a_memory_pool_share_its_limit() {
    // A session's workers and its driver's threads: a job on each, tasks of 40 under 100. The
    // first job's two tasks hold 80, so the second job's wait until they end.
    let slow = Scripted::new(8, |_, _| Act::Sleep(Duration::from_millis(400)));
    let fast = Scripted::new(8, |_, _| Act::Sleep(Duration::from_millis(10)));
    let workers = Scheduler::new(slow.clone()).unwrap();
    let threads = Scheduler::sharing(fast.clone(), workers.memory()).unwrap();
    let limited = |n: usize| {
        let mut spec = job(n, 0);
        spec.memory = Some(squall_exec::MemoryLimit { limit: 100, tasks: vec![40; n] });
        spec
    };
    let a = workers.submit(limited(2)).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(workers.memory().admitted(), 80);
    let b = threads.submit(limited(3)).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(fast.calls.load(Ordering::SeqCst), 0, "no room beside the other scheduler's tasks");
    finish(&workers, a);
    finish(&threads, b);
    assert_eq!(fast.calls.load(Ordering::SeqCst), 3, "they ran once the room was freed");
    std::thread::sleep(Duration::from_millis(50)); // the dispatcher releases after the outcome
    assert_eq!(workers.memory().admitted(), 0, "all given back");
}

#[test]
fn a_result_stored_by_an_attempt_that_then_crashed_is_deleted() {
    // Attempt 0 of task 0 stores its result and dies before answering (its object is left
    // behind); attempt 1 answers. Attempt 0's object is deleted; nothing else is.
    let dir = tempfile::tempdir().unwrap();
    let prefix = format!("file://{}", dir.path().display());
    let results = squall_core::spec::ResultStores { store: prefix, fast: None };
    let left = |job: u64, attempt: u32| {
        let url = results.attempt_urls(job, 0, attempt).remove(0);
        std::path::PathBuf::from(url.trim_start_matches("file://"))
    };
    let backend = Scripted::new(2, |_, attempt| if attempt == 0 { Act::Fail } else { Act::Echo });
    let s = Scheduler::new(backend).unwrap();
    let spec = JobSpec { results: Some(results.clone()), ..job(1, 2) };
    // The job's id is known before it runs: the first job of a scheduler is 1.
    std::fs::write(left(1, 0), b"a pickled result").unwrap();
    std::fs::write(left(1, 5), b"not this attempt's").unwrap();
    let id = s.submit(spec).unwrap();
    assert_eq!(id, 1);
    finish(&s, id);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while left(1, 0).exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!left(1, 0).exists(), "the crashed attempt's result is gone");
    assert!(left(1, 5).exists(), "another attempt's object is not touched");
}

#[test]
fn a_backup_starts_only_where_it_fits_in_the_memory_limit() {
    // The last task's first attempt straggles (1.5 s); the others take 10 ms. Tasks of 40 in
    // 100: a backup of 40 fits beside the straggler. Tasks of 60: it would not, so none starts.
    for (each, backups) in [(40, 1), (60, 0)] {
        let backend = Scripted::new(4, |task, attempt| match (task, attempt) {
            (9, 0) => Act::Sleep(Duration::from_millis(1500)),
            _ => Act::Sleep(Duration::from_millis(10)),
        });
        let s = Scheduler::new(backend.clone()).unwrap();
        let mut spec = speculative(job(10, 0));
        spec.memory = Some(squall_exec::MemoryLimit { limit: 100, tasks: vec![each; 10] });
        let id = s.submit(spec).unwrap();
        finish(&s, id);
        let attempts = s.board().attempts(id).unwrap();
        assert_eq!(attempts.iter().filter(|a| a.backup).count(), backups, "tasks of {each}");
        assert!(backend.max_in_flight.load(Ordering::SeqCst) <= (100 / each) as usize, "tasks of {each}");
    }
}

fn dependent(inputs: Vec<(u64, usize)>) -> JobSpec {
    let work = vec![Work::Call { args: Arc::new(vec![7]), inputs }];
    JobSpec { label: "g".into(), work, ..job(0, 0) }
}

#[test]
fn a_task_starts_after_its_inputs_and_gets_their_results_in_order() {
    let backend = Scripted::new(4, |_, _| Act::Echo);
    let s = Scheduler::new(backend).unwrap();
    let first = s.submit(job(2, 0)).unwrap();
    let second = s.submit(dependent(vec![(first, 1), (first, 0)])).unwrap();
    let third = s.submit(dependent(vec![(second, 0)])).unwrap();
    finish(&s, third);
    let mut want = vec![7];
    want.extend(1u32.to_le_bytes());
    want.extend(0u32.to_le_bytes());
    match s.board().take(second, 0).unwrap() {
        Some(Outcome::Returned { body, .. }) => assert_eq!(*body, want),
        other => panic!("{other:?}"),
    }
    // Taking an outcome keeps it for the tasks that take it as an input.
    let mut chained = vec![7];
    chained.extend(&want);
    match s.board().take(third, 0).unwrap() {
        Some(Outcome::Returned { body, .. }) => assert_eq!(*body, chained),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_failed_or_cancelled_input_reaches_every_task_down_the_graph() {
    let backend = Scripted::new(2, |task, _| match task {
        0 => Act::Raise,
        _ => Act::Sleep(Duration::from_secs(30)),
    });
    let s = Scheduler::new(backend).unwrap();
    let roots = s.submit(job(2, 0)).unwrap();
    let failing = s.submit(dependent(vec![(roots, 0)])).unwrap();
    let deeper = s.submit(dependent(vec![(failing, 0)])).unwrap();
    let waiting = s.submit(dependent(vec![(roots, 1)])).unwrap();
    let behind = s.submit(dependent(vec![(waiting, 0), (roots, 1)])).unwrap();
    finish(&s, deeper);
    for job in [failing, deeper] {
        match s.board().take(job, 0).unwrap() {
            Some(Outcome::Failed { failure: Failure::Input(root), attempts: 0 }) => {
                assert_eq!(root, "task 0 of f raised ValueError: bad")
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(s.cancel_task(waiting, 0), "a task waiting on its inputs can be cancelled");
    finish(&s, behind);
    assert!(matches!(s.board().take(behind, 0).unwrap(), Some(Outcome::Cancelled)));
    assert!(!s.board().is_finished(roots, 1).unwrap(), "the input itself keeps running");
    s.cancel(roots);
    finish(&s, roots);
}

#[test]
fn an_input_dropped_by_its_owner_is_kept_until_the_tasks_taking_it_finish() {
    let backend = Scripted::new(4, |task, _| match task {
        1 => Act::Sleep(Duration::from_millis(300)),
        _ => Act::Echo,
    });
    let s = Arc::new(Scheduler::new(backend).unwrap());
    let first = s.start(job(1, 0)).unwrap();
    let slow = s.submit(job(2, 0)).unwrap();
    let taker = s.submit(dependent(vec![(first.id(), 0), (slow, 1)])).unwrap();
    finish(&s, first.id());
    let id = first.id();
    assert!(s.board().release(id).is_empty());
    drop(first); // its futures are gone while `taker` still waits for `slow`
    finish(&s, taker);
    match s.board().take(taker, 0).unwrap() {
        Some(Outcome::Returned { body, .. }) => assert_eq!(*body, vec![7, 0, 0, 0, 0]),
        other => panic!("{other:?}"),
    }
    // The dispatcher unpins right after the outcome lands.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while s.board().progress(id).is_ok() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(s.board().progress(id).is_err(), "forgotten once nothing takes it any more");
}
