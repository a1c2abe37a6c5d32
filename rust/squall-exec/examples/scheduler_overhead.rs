//! Scheduler overhead: jobs of instant tasks through the real scheduler, over a backend that
//! answers at once, so all time measured is the scheduler's (queue, dispatch, board, records).
//!
//! Usage: cargo run --profile ci -p squall-exec --example scheduler_overhead [tasks...]

use std::sync::Arc;
use std::time::{Duration, Instant};

use squall_core::TaskReport;
use squall_exec::backend::BoxFuture;
use squall_exec::{Backend, Failure, Function, Invocation, JobSpec, Reply, Scheduler, Speculation, Work};

/// Answers every attempt at once, as a warm worker with a no-op function would.
struct Instant0 {
    slots: usize,
}

impl Backend for Instant0 {
    fn slots(&self) -> usize {
        self.slots
    }
    fn invoke(&self, inv: Invocation) -> BoxFuture<'_, Result<Reply, Failure>> {
        let report = TaskReport { ok: true, ..TaskReport::of(&inv.spec) };
        Box::pin(async move {
            Ok(Reply { report, body: Vec::new(), worker: "w".into(), cold: false, output: String::new() })
        })
    }
    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

/// Peak resident memory of this process, in MB (Linux).
fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

fn main() {
    let sizes: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let sizes = if sizes.is_empty() { vec![10_000, 100_000] } else { sizes };
    let scheduler = Scheduler::new(Arc::new(Instant0 { slots: 1000 })).expect("runtime");
    let func = Arc::new(Function { hash: "noop".into(), bytes: vec![0; 64] });
    println!("| tasks | wall (ms) | scheduler time per task (us) | peak RSS (MB) |");
    println!("|---|---|---|---|");
    for n in sizes {
        let input = Arc::new(vec![0u8; 16]);
        let spec = JobSpec {
            label: "noop".into(),
            results: None,
            func: func.clone(),
            work: (0..n).map(|_| Work::Call { args: input.clone(), inputs: Vec::new() }).collect(),
            timeout: None,
            retries: 2,
            speculation: Some(Speculation::default()),
            memory: None,
        };
        let started = Instant::now();
        let id = scheduler.submit(spec).expect("submit");
        assert!(scheduler.board().wait_job(id, Duration::from_secs(600)).expect("job"), "job did not finish");
        let wall = started.elapsed();
        assert_eq!(scheduler.board().progress(id).expect("job").succeeded, n);
        assert_eq!(scheduler.board().attempts(id).expect("job").len(), n);
        println!(
            "| {n} | {:.1} | {:.2} | {:.0} |",
            wall.as_secs_f64() * 1e3,
            wall.as_secs_f64() * 1e6 / n as f64,
            peak_rss_mb()
        );
        scheduler.board().forget_job(id);
    }
}
