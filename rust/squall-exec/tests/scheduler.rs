//! The scheduler against an in-process backend whose behaviour each test scripts.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use squall_core::{TaskReport, UserError};
use squall_exec::backend::BoxFuture;
use squall_exec::{Backend, Failure, Function, Invocation, JobSpec, Outcome, Reply, Scheduler};

/// What one attempt does, decided from (task, attempt).
#[derive(Clone)]
enum Act {
    Echo,
    Raise,
    Fail,
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
        let report = |ok: bool, error: Option<UserError>| TaskReport { task, ok, error, started: 0.0, finished: 0.0 };
        let result = match (self.script)(task, inv.spec.attempt) {
            Act::Echo => Ok(Reply { report: report(true, None), body: inv.input.to_vec(), worker: "test".into() }),
            Act::Raise => {
                let error =
                    UserError { error_type: "ValueError".into(), message: "bad".into(), traceback: "tb".into() };
                Ok(Reply { report: report(false, Some(error)), body: vec![], worker: "test".into() })
            }
            Act::Fail => Err(Failure::WorkerLost("scripted crash".into())),
            Act::Sleep(d) => tokio::select! {
                _ = tokio::time::sleep(d) => Ok(Reply { report: report(true, None), body: vec![], worker: "test".into() }),
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
        func: Arc::new(Function { hash: "f".into(), bytes: vec![1, 2, 3] }),
        inputs: (0..n).map(|i| Arc::new((i as u32).to_le_bytes().to_vec())).collect(),
        timeout: None,
        retries,
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
            Some(Outcome::Returned { body, .. }) => assert_eq!(body, (i as u32).to_le_bytes()),
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
    while s.board().progress(id).unwrap().running < 2 {
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
