//! The scheduler's policies: when to retry and after how long, and when a straggler gets a
//! backup attempt.

use std::time::Duration;

use crate::Failure;

/// When a running task gets a backup attempt on another worker.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Speculation {
    /// Share of the job's tasks that must have finished first.
    pub after: f64,
    /// The task has run longer than this multiple of the finished attempts' median...
    pub multiple: f64,
    /// ...and longer than this.
    pub min_runtime: Duration,
}

impl Default for Speculation {
    fn default() -> Self {
        Speculation { after: 0.75, multiple: 3.0, min_runtime: Duration::from_secs(2) }
    }
}

/// How long throttling is retried while no attempt of the scheduler is accepted: a 429 means
/// "not now", and Lambda's ramp to 10,000 environments through one function takes 90 s, a
/// reserved concurrency far below the job's width throttles as long as the job runs. Only a
/// service that accepts nothing for this long fails the throttled tasks.
pub(crate) const THROTTLE_PATIENCE: Duration = Duration::from_secs(600);
/// Infrastructure retries a whole job may spend: this many, or a fifth of its tasks if more.
pub(crate) const JOB_RETRY_BUDGET: usize = 50;
/// Backups per task: a second one when the first straggles too.
pub(crate) const MAX_BACKUPS: u32 = 2;
/// How often running tasks are checked for stragglers.
pub(crate) const SPECULATION_TICK: Duration = Duration::from_millis(20);
/// First and longest pause before retrying after throttling or a service error.
const BACKOFF_BASE: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// How long to wait before retrying after the `failures`-th failure: exponential with jitter after
/// throttling and service errors (the service needs air); at once after a lost worker or a timeout.
pub(crate) fn backoff(failure: &Failure, failures: u32) -> Duration {
    if !matches!(failure, Failure::Throttled(_) | Failure::Service(_)) {
        return Duration::ZERO;
    }
    let ceiling = BACKOFF_BASE.saturating_mul(1 << failures.min(16)).min(BACKOFF_MAX);
    let jitter = std::hash::BuildHasher::hash_one(&std::collections::hash_map::RandomState::new(), failures);
    ceiling.mul_f64(0.5 + (jitter % 1000) as f64 / 2000.0)
}

/// The name a failure has in attempt records.
pub(crate) fn failure_kind(failure: &Failure) -> &'static str {
    match failure {
        Failure::WorkerLost(_) => "lost",
        Failure::Timeout(_) => "timeout",
        Failure::Spawn(_) => "spawn",
        Failure::Throttled(_) => "throttled",
        Failure::Service(_) => "service",
        Failure::Setup(_) => "setup",
        Failure::Cancelled => "cancelled",
        Failure::Input(_) => "input",
    }
}

/// The median of `values` (not empty).
pub(crate) fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    let mid = v.len() / 2;
    let (_, m, _) = v.select_nth_unstable_by(mid, |a, b| a.total_cmp(b));
    *m
}
