//! Task specs (driver to worker) and task reports (worker to driver).

use serde::{Deserialize, Serialize};

/// One attempt of one task, as sent to a worker. The frame's body holds the pickled function
/// (its first `func_len` bytes, absent when the worker already holds that function) followed by
/// the pickled arguments.
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
}

/// A user exception raised by the task's function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserError {
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
}

/// What a worker returns for one attempt. The frame's body holds the pickled result when `ok`,
/// or the pickled exception (possibly empty, when it could not be pickled) when not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskReport {
    /// Index of the task within its job.
    pub task: u64,
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
    fn report_without_error_field_parses() {
        let r: TaskReport = serde_json::from_str(r#"{"task":3,"ok":true,"started":1.0,"finished":2.0}"#).unwrap();
        assert_eq!(r.task, 3);
        assert!(r.ok && r.error.is_none());
    }
}
