//! Task specs (driver to worker) and task reports (worker to driver).
//!
//! A report names the job, task and attempt it answers: the driver takes an answer that names
//! anything else for a broken worker, never for a result.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::plan::{PartitionReport, PartitionTask};

/// Results of calls up to this size travel back in the worker's reply; larger ones stay in the
/// store the task names (`TaskSpec::results`) and the reply names where.
pub const INLINE_RESULT_MAX: usize = 64 * 1024;

/// One attempt of one task, as sent to a worker. The frame's body holds the pickled function
/// (its first `func_len` bytes, absent when the worker already holds that function) followed by
/// the pickled arguments and then the inline inputs (`inputs`, in order); for a partition task,
/// the function is the list of the plan's Python functions (possibly empty) and nothing follows
/// it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskSpec {
    /// Job the task belongs to.
    pub job: u64,
    /// Index of the task within its job.
    pub task: u64,
    /// Attempt number, from 0.
    pub attempt: u32,
    /// Content hash of the pickled function: workers cache functions under it.
    pub func: String,
    /// Bytes of pickled function at the start of the body; 0 when the worker holds it already.
    pub func_len: u64,
    /// A dataset stage's partition task, run by the engine instead of a pickled call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<Arc<PartitionTask>>,
    /// The results of other tasks that this call takes as arguments, in the order its pickled
    /// arguments refer to them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<InputRef>,
    /// Where a result larger than [`INLINE_RESULT_MAX`] is written; None keeps every result in
    /// the reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub results: Option<ResultStores>,
}

impl TaskSpec {
    /// A spec of attempt `attempt` of a call, with no inputs and every result inline.
    pub fn call(job: u64, task: u64, attempt: u32, func: String) -> TaskSpec {
        TaskSpec { job, task, attempt, func, func_len: 0, partition: None, inputs: Vec::new(), results: None }
    }
}

/// Where calls write results too large for their reply: a prefix of the session's store, and
/// of its fast store beside it (where a result goes when it costs less there, see
/// [`crate::tier::ObjectCost`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultStores {
    /// A prefix in the session's store.
    pub store: String,
    /// A prefix in its fast store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fast: Option<String>,
}

impl ResultStores {
    /// Where attempt `attempt` of `task` of `job` writes a result of `bytes`: in the fast store
    /// when it costs less there, else (or when the fast store refuses it) in the store, in the
    /// order to try.
    pub fn urls(&self, job: u64, task: u64, attempt: u32, bytes: u64) -> Vec<String> {
        let url = |prefix: &str| result_url(prefix, job, task, attempt);
        let cheaper = crate::tier::ObjectCost::of(bytes, 1).fast_is_cheaper();
        let fast = self.fast.as_deref().filter(|_| cheaper).map(url);
        fast.into_iter().chain([url(&self.store)]).collect()
    }

    /// Every object attempt `attempt` of `task` of `job` may have written its result to.
    pub fn attempt_urls(&self, job: u64, task: u64, attempt: u32) -> Vec<String> {
        let url = |prefix: &str| result_url(prefix, job, task, attempt);
        self.fast.as_deref().map(url).into_iter().chain([url(&self.store)]).collect()
    }

    /// Whether `url` is where attempt `attempt` of `task` of `job` may write its result.
    pub fn allows(&self, url: &str, job: u64, task: u64, attempt: u32) -> bool {
        let at = |prefix: &str| result_url(prefix, job, task, attempt);
        url == at(&self.store) || self.fast.as_deref().is_some_and(|f| url == at(f))
    }
}

/// The object one attempt's result is written to under the results prefix `prefix`.
fn result_url(prefix: &str, job: u64, task: u64, attempt: u32) -> String {
    format!("{}/job-{job}-{task}-{attempt}.pkl", prefix.trim_end_matches('/'))
}

/// Where one input of a call is: after the arguments in the frame, or in a store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputRef {
    /// The next `len` bytes after the arguments (and the inline inputs before it).
    Inline {
        /// Bytes of the pickled result.
        len: u64,
    },
    /// The pickled result at this URL.
    Stored {
        /// Where it is.
        url: String,
    },
}

/// What kind of failure a task reports: the function's own exception, or one of the engine's
/// (which reach the user as their own error classes, never as the function's).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The user's function raised.
    #[default]
    User,
    /// Data could not be read, converted or written.
    Data,
    /// A plan that cannot run as asked.
    Plan,
    /// An object does not exist.
    NotFound,
    /// The store refused access.
    Permission,
    /// The store was throttled or failing; trying again later may succeed.
    Transient,
    /// Any other store failure.
    Store,
    /// The task was cancelled while it ran.
    Cancelled,
    /// Anything else in the engine.
    Engine,
}

/// An exception raised by the task's function, or an engine failure (`kind`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserError {
    /// Whose failure it is.
    #[serde(default)]
    pub kind: ErrorKind,
    /// Qualified name of the exception type, e.g. `builtins.ZeroDivisionError`.
    pub error_type: String,
    /// `str()` of the exception.
    pub message: String,
    /// The formatted remote traceback.
    pub traceback: String,
}

/// Store requests and bytes: of one attempt (counted in its worker's process), or of a process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskIo {
    /// Objects written.
    pub puts: u64,
    /// Reads and size lookups.
    pub gets: u64,
    /// Listings.
    pub lists: u64,
    /// Deletions.
    pub deletes: u64,
    /// Bytes read.
    pub bytes_read: u64,
    /// Bytes written.
    pub bytes_written: u64,
    /// Requests to a fast store (`redis://`), which are not counted as puts, gets, lists or
    /// deletes: it bills by the kilobyte moved, not by the request.
    #[serde(default)]
    pub fast_requests: u64,
    /// Bytes read from and written to a fast store (also counted in `bytes_read` and
    /// `bytes_written`).
    #[serde(default)]
    pub fast_bytes: u64,
    /// Requests answered `503 SlowDown` first, then retried (counted by a simulated store).
    #[serde(default)]
    pub slowdowns: u64,
}

impl TaskIo {
    /// The counters' names, in the order of [`TaskIo::values`].
    pub const NAMES: [&'static str; 9] =
        ["puts", "gets", "lists", "deletes", "bytes_read", "bytes_written", "fast_requests", "fast_bytes", "slowdowns"];

    /// The counters, in the order of [`TaskIo::NAMES`].
    pub fn values(&self) -> [u64; 9] {
        [
            self.puts,
            self.gets,
            self.lists,
            self.deletes,
            self.bytes_read,
            self.bytes_written,
            self.fast_requests,
            self.fast_bytes,
            self.slowdowns,
        ]
    }
}

impl std::ops::Sub for TaskIo {
    type Output = TaskIo;

    /// The requests made between two readings of the counters.
    fn sub(self, before: TaskIo) -> TaskIo {
        TaskIo {
            puts: self.puts.saturating_sub(before.puts),
            gets: self.gets.saturating_sub(before.gets),
            lists: self.lists.saturating_sub(before.lists),
            deletes: self.deletes.saturating_sub(before.deletes),
            bytes_read: self.bytes_read.saturating_sub(before.bytes_read),
            bytes_written: self.bytes_written.saturating_sub(before.bytes_written),
            fast_requests: self.fast_requests.saturating_sub(before.fast_requests),
            fast_bytes: self.fast_bytes.saturating_sub(before.fast_bytes),
            slowdowns: self.slowdowns.saturating_sub(before.slowdowns),
        }
    }
}

impl std::ops::Add for TaskIo {
    type Output = TaskIo;

    /// The requests of both.
    fn add(self, other: TaskIo) -> TaskIo {
        let (a, b) = (self.values(), other.values());
        let n = |i: usize| a[i] + b[i];
        TaskIo {
            puts: n(0),
            gets: n(1),
            lists: n(2),
            deletes: n(3),
            bytes_read: n(4),
            bytes_written: n(5),
            fast_requests: n(6),
            fast_bytes: n(7),
            slowdowns: n(8),
        }
    }
}

impl std::ops::Mul<u64> for TaskIo {
    type Output = TaskIo;

    /// The requests of `n` tasks that each make these.
    fn mul(self, n: u64) -> TaskIo {
        let v = self.values().map(|x| x * n);
        TaskIo {
            puts: v[0],
            gets: v[1],
            lists: v[2],
            deletes: v[3],
            bytes_read: v[4],
            bytes_written: v[5],
            fast_requests: v[6],
            fast_bytes: v[7],
            slowdowns: v[8],
        }
    }
}

/// What a worker returns for one attempt. The frame's body holds the pickled result when `ok`,
/// or the pickled exception (possibly empty, when it could not be pickled) when not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskReport {
    /// The job of the task.
    pub job: u64,
    /// Index of the task within its job.
    pub task: u64,
    /// The attempt answered.
    pub attempt: u32,
    /// Whether the function returned normally.
    pub ok: bool,
    /// The user exception, when `ok` is false.
    #[serde(default)]
    pub error: Option<UserError>,
    /// Wall-clock start of the function call, seconds since the Unix epoch.
    pub started: f64,
    /// Wall-clock end of the function call, seconds since the Unix epoch.
    pub finished: f64,
    /// What the attempt asked of the stores.
    #[serde(default)]
    pub io: TaskIo,
    /// What a partition task did (when `ok`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<PartitionReport>,
    /// Peak resident bytes while the attempt ran: its worker process's high-water mark, or, on
    /// the driver's threads, the driver process's largest sampled size (0: not measured).
    #[serde(default)]
    pub peak_rss: u64,
    /// Where the call's result was written, when it was too large for the reply (the body is
    /// then empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored: Option<String>,
}

impl TaskReport {
    /// A report for `spec`, with no outcome yet.
    pub fn of(spec: &TaskSpec) -> TaskReport {
        TaskReport {
            job: spec.job,
            task: spec.task,
            attempt: spec.attempt,
            ok: false,
            error: None,
            started: 0.0,
            finished: 0.0,
            io: TaskIo::default(),
            partition: None,
            peak_rss: 0,
            stored: None,
        }
    }

    /// Whether this report answers `spec` (its job, task and attempt).
    pub fn answers(&self, spec: &TaskSpec) -> bool {
        (self.job, self.task, self.attempt) == (spec.job, spec.task, spec.attempt)
    }
}

/// The first frame a worker sends: it is up and ready for tasks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerHello {
    /// The worker's process id.
    pub pid: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_answers_only_its_own_job_task_and_attempt() {
        let spec = TaskSpec::call(2, 5, 1, "h".into());
        let report = TaskReport::of(&spec);
        assert!(report.answers(&spec));
        for (job, task, attempt) in [(3, 5, 1), (2, 4, 1), (2, 5, 0)] {
            assert!(!report.answers(&TaskSpec { job, task, attempt, ..spec.clone() }));
        }
    }

    #[test]
    fn report_without_error_field_parses() {
        let json = r#"{"job":1,"task":3,"attempt":0,"ok":true,"started":1.0,"finished":2.0}"#;
        let r: TaskReport = serde_json::from_str(json).unwrap();
        assert_eq!(r.task, 3);
        assert!(r.ok && r.error.is_none() && r.partition.is_none());
    }

    #[test]
    fn results_go_to_the_fast_store_when_cheaper_and_nowhere_else() {
        let both = ResultStores { store: "s3://b/s/results".into(), fast: Some("redis://h:1/s/results".into()) };
        let small = both.urls(3, 4, 1, 100_000);
        assert_eq!(small, ["redis://h:1/s/results/job-3-4-1.pkl", "s3://b/s/results/job-3-4-1.pkl"]);
        assert_eq!(both.urls(3, 4, 1, 64 << 20), ["s3://b/s/results/job-3-4-1.pkl"], "large: the store only");
        assert!(both.allows(&small[0], 3, 4, 1) && both.allows(&small[1], 3, 4, 1));
        assert!(!both.allows(&small[0], 3, 4, 2), "another attempt's object");
        let store_only = ResultStores { fast: None, ..both };
        assert!(!store_only.allows(&small[0], 3, 4, 1));
    }
}
