//! The contract between the scheduler and whatever runs task attempts.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use squall_core::{TaskReport, TaskSpec};
use tokio::sync::watch;

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A pickled function, stored once per job and cached by workers under its content hash; the
/// default is none (a job that calls no Python, such as a dataset stage of engine operators).
#[derive(Debug, Default)]
pub struct Function {
    /// Content hash of `bytes`.
    pub hash: String,
    /// The pickled function.
    pub bytes: Vec<u8>,
}

/// One attempt to run, handed to a backend.
#[derive(Debug)]
pub struct Invocation {
    /// The spec; the backend fills in `func_len`.
    pub spec: TaskSpec,
    /// The function to call.
    pub func: Arc<Function>,
    /// The pickled arguments, then the inline inputs (`spec.inputs`).
    pub input: Arc<Vec<u8>>,
    /// Kill the attempt after this long.
    pub timeout: Option<Duration>,
    /// Becomes `true` when the job is cancelled: the backend stops the attempt.
    pub cancel: watch::Receiver<bool>,
}

/// A finished attempt: the function returned or raised.
#[derive(Debug)]
pub struct Reply {
    /// The worker's report.
    pub report: TaskReport,
    /// Pickled result, or pickled exception.
    pub body: Vec<u8>,
    /// Which worker ran it.
    pub worker: String,
    /// Whether the worker started for this attempt.
    pub cold: bool,
    /// The last lines the attempt printed (empty when its backend does not capture them).
    pub output: String,
}

/// An attempt that did not produce a reply: an infrastructure failure, or a cancellation.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// The worker died (crash, `os._exit`, killed, out of memory) or broke the protocol.
    WorkerLost(String),
    /// The attempt ran past its timeout and was killed.
    Timeout(Duration),
    /// No worker could be started.
    Spawn(String),
    /// The function service refused the attempt for now (Lambda 429 TooManyRequests).
    Throttled(String),
    /// The function service failed (5xx, a dropped connection, the scratch store).
    Service(String),
    /// The backend cannot work as configured (e.g. no such function): retrying cannot help.
    Setup(String),
    /// The job was cancelled while the attempt ran.
    Cancelled,
    /// The task never ran: a task whose result it takes failed; says which and how.
    Input(String),
}

impl Failure {
    /// Whether the scheduler may try the task again.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, Failure::Cancelled | Failure::Setup(_) | Failure::Input(_))
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::WorkerLost(why) => write!(f, "worker lost: {why}"),
            Failure::Timeout(t) => {
                write!(f, "timed out after {:.3} s and was killed", t.as_secs_f64())
            }
            Failure::Spawn(why) => write!(f, "could not start a worker: {why}"),
            Failure::Throttled(why) => write!(f, "throttled by the function service: {why}"),
            Failure::Service(why) => write!(f, "the function service failed: {why}"),
            Failure::Setup(why) => write!(f, "{why}"),
            Failure::Cancelled => write!(f, "cancelled"),
            Failure::Input(root) => write!(f, "its input {root}"),
        }
    }
}

/// Runs `attempt` to its end, unless `timeout` passes first (`Failure::Timeout`) or the job is
/// cancelled (`Failure::Cancelled`); either way the attempt's future is dropped.
pub async fn bounded<T>(
    attempt: impl Future<Output = T>,
    timeout: Option<Duration>,
    cancel: &mut watch::Receiver<bool>,
) -> Result<T, Failure> {
    let deadline = async {
        match timeout {
            Some(t) => tokio::time::sleep(t).await,
            None => std::future::pending().await,
        }
    };
    let cancelled = async {
        if cancel.wait_for(|c| *c).await.is_err() {
            std::future::pending::<()>().await; // the scheduler is gone: nobody will cancel
        }
    };
    tokio::select! {
        r = attempt => Ok(r),
        _ = deadline => Err(Failure::Timeout(timeout.unwrap_or_default())),
        _ = cancelled => Err(Failure::Cancelled),
    }
}

/// Runs attempts. `slots` attempts may be in flight at once.
pub trait Backend: Send + Sync + 'static {
    /// How many attempts may run at once.
    fn slots(&self) -> usize;
    /// Runs one attempt to its end.
    fn invoke(&self, inv: Invocation) -> BoxFuture<'_, Result<Reply, Failure>>;
    /// Stops every worker; later invocations fail.
    fn shutdown(&self) -> BoxFuture<'_, ()>;
}
