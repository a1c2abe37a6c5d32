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
    /// A task of a dataset stage failed for good.
    #[error("{0}")]
    Task(Box<TaskFailure>),
    /// Another job published a manifest of the same dataset first.
    #[error("{}: {why}", squall_core::redact::redact(.url))]
    Conflict {
        /// The dataset's directory.
        url: String,
        /// What happened, and what to do.
        why: String,
    },
    /// A bug: the driver panicked.
    #[error("squall's job driver failed (a bug; please report it): {0}")]
    Panic(String),
    /// The work was cancelled (Ctrl-C, a closed session) before it finished.
    #[error("the job was cancelled")]
    Cancelled,
}

/// How a task of a dataset stage failed, and which one.
#[derive(Debug)]
pub struct TaskFailure {
    /// The stage's label, e.g. `squall.sort (map)`.
    pub stage: String,
    /// The task's index in its stage.
    pub task: usize,
    /// What it read, e.g. `partition 3: s3://lab/x.parquet`.
    pub input: String,
    /// What went wrong.
    pub fault: Fault,
}

/// What went wrong in a task.
#[derive(Debug)]
pub enum Fault {
    /// A Python function raised, or the engine failed (`error.kind` says which); `body` is the
    /// pickled exception of a function (possibly empty).
    Raised {
        /// Type, message, traceback and kind.
        error: squall_core::UserError,
        /// The pickled exception.
        body: Vec<u8>,
    },
    /// Every attempt failed for infrastructure reasons; `failure` is the last one.
    Failed {
        /// The last attempt's failure.
        failure: crate::Failure,
        /// Attempts made.
        attempts: u32,
    },
}

impl std::fmt::Display for TaskFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let where_ = format!("task {} of {} (input {})", self.task, self.stage, self.input);
        match &self.fault {
            Fault::Raised { error, .. } if error.kind == squall_core::ErrorKind::User => {
                let name = error.error_type.trim_start_matches("builtins.");
                write!(f, "{where_} raised {name}: {}", error.message)?;
                if !error.traceback.is_empty() {
                    write!(f, "\n\nRemote traceback:\n{}", error.traceback.trim_end())?;
                }
                Ok(())
            }
            Fault::Raised { error, .. } => write!(f, "{}: {}", where_, error.message),
            Fault::Failed { failure, attempts } => {
                let tries = format!("after {attempts} attempt{}", if *attempts == 1 { "" } else { "s" });
                match failure {
                    crate::Failure::Timeout(_) => {
                        write!(f, "{where_} {failure} ({tries}); raise the job's timeout, or split the work")
                    }
                    crate::Failure::Spawn(_) | crate::Failure::Setup(_) => {
                        write!(f, "{where_} could not run ({tries}): {failure}")
                    }
                    _ => write!(
                        f,
                        "{where_} failed {tries}: {failure}. If the task needs more memory than a worker has, \
                         use fewer workers or smaller inputs; raise `retries` if failures are transient."
                    ),
                }
            }
        }
    }
}

impl Error {
    /// What kind of failure this is, as a task reports it.
    pub fn kind(&self) -> squall_core::ErrorKind {
        use squall_core::ErrorKind as K;
        match self {
            Error::Store(s) if s.is_not_found() => K::NotFound,
            Error::Store(squall_store::Error::PermissionDenied { .. }) => K::Permission,
            Error::Store(s) if s.is_transient() => K::Transient,
            Error::Store(_) => K::Store,
            Error::Core(squall_core::Error::Data { .. } | squall_core::Error::MissingColumn { .. }) => K::Data,
            Error::Core(squall_core::Error::Plan(_)) => K::Plan,
            Error::Cancelled | Error::Core(squall_core::Error::Cancelled) => K::Cancelled,
            _ => K::Engine,
        }
    }

    /// This error as a task reports it.
    pub fn to_user_error(&self) -> squall_core::UserError {
        let kind = self.kind();
        squall_core::UserError {
            kind,
            error_type: format!("squall.{kind:?}Error"),
            message: self.to_string(),
            traceback: String::new(),
        }
    }
}

/// `Result` with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
