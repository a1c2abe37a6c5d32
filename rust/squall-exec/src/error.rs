//! Errors of `squall-exec`.

/// What can go wrong in the scheduler or a backend, outside of a task attempt.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The async runtime could not be created.
    #[error("could not start squall's async runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// A job id that this scheduler does not know, or no longer tracks.
    #[error("job {0} is unknown to this session (it was dropped or belongs to another session)")]
    UnknownJob(u64),
    /// A task index past the end of its job.
    #[error("task {task} is out of range for job {job}, which has {len} tasks")]
    UnknownTask {
        /// The job.
        job: u64,
        /// The requested task.
        task: usize,
        /// Tasks in the job.
        len: usize,
    },
    /// A task's outcome was already handed out once.
    #[error("the outcome of task {task} of job {job} was already taken")]
    AlreadyTaken {
        /// The job.
        job: u64,
        /// The task.
        task: usize,
    },
    /// A store operation failed.
    #[error(transparent)]
    Store(#[from] squall_store::Error),
    /// Data could not be read, converted or written.
    #[error(transparent)]
    Core(#[from] squall_core::Error),
    /// A Lambda control-plane call (deploy, configuration) failed.
    #[error("Lambda {op} of `{function}` failed: {message}")]
    Lambda {
        /// What was being done.
        op: &'static str,
        /// The function.
        function: String,
        /// The service's answer.
        message: String,
    },
    /// The scheduler was shut down.
    #[error("the session is closed: create a new one to run more work")]
    Closed,
}

/// `Result` with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
