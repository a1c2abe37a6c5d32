//! The one place where Rust errors become Python exceptions (classes from `squall.errors`).
//! The engine's failures reach the user as their own classes (`DataError`,
//! `StoreNotFoundError`, ...); `TaskError` is for exceptions of the user's own functions.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use squall_core::ErrorKind;
use squall_exec::error::{Fault, TaskFailure};
use squall_exec::Failure;

/// Builds an exception of class `squall.errors.<class>` with `message`.
pub fn squall_error(py: Python<'_>, class: &str, message: String) -> PyErr {
    let built = py.import("squall.errors").and_then(|m| m.getattr(class)).and_then(|cls| cls.call1((message.clone(),)));
    match built {
        Ok(exc) => PyErr::from_value(exc),
        Err(_) => pyo3::exceptions::PyRuntimeError::new_err(message),
    }
}

/// The `squall.errors` class of a kind of failure.
fn class_of(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::User => "TaskError",
        ErrorKind::Data => "DataError",
        ErrorKind::Plan => "PlanError",
        ErrorKind::NotFound => "StoreNotFoundError",
        ErrorKind::Permission => "StorePermissionError",
        ErrorKind::Transient => "TransientError",
        ErrorKind::Store => "StoreError",
        ErrorKind::Cancelled => "CancelledError",
        _ => "SquallError",
    }
}

/// Maps an engine error to the matching `squall.errors` class.
pub fn exec_error(py: Python<'_>, err: squall_exec::Error) -> PyErr {
    match err {
        squall_exec::Error::Task(failure) => task_error(py, *failure),
        squall_exec::Error::Conflict { .. } => squall_error(py, "CommitConflict", err.to_string()),
        squall_exec::Error::Store(squall_store::Error::Dataset { missing: false, .. }) => {
            squall_error(py, "DataError", err.to_string())
        }
        other => squall_error(py, class_of(other.kind()), other.to_string()),
    }
}

/// Maps an error of `squall-core` (a plan or data error).
pub fn core_error(py: Python<'_>, err: squall_core::Error) -> PyErr {
    exec_error(py, err.into())
}

/// A task of a dataset stage that failed for good: the function's own exception as a
/// `TaskError` (with the remote traceback, the original as its cause); the engine's failure
/// as its own class; a lost worker, a timeout or a worker that would not start as theirs.
fn task_error(py: Python<'_>, f: TaskFailure) -> PyErr {
    let message = f.to_string();
    match &f.fault {
        Fault::Raised { error, body } if error.kind == ErrorKind::User => {
            let built = (|| -> PyResult<PyErr> {
                let described = PyDict::new(py);
                described.set_item("error_type", &error.error_type)?;
                described.set_item("message", &error.message)?;
                described.set_item("traceback", &error.traceback)?;
                described.set_item("exception", PyBytes::new(py, body))?;
                let where_ = format!("task {} of {} (input {})", f.task, f.stage, f.input);
                let make = py.import("squall.futures")?.getattr("_task_error")?;
                Ok(PyErr::from_value(make.call1((where_, f.task, &f.input, described))?))
            })();
            built.unwrap_or_else(|e| e)
        }
        Fault::Raised { error, .. } => squall_error(py, class_of(error.kind), message),
        Fault::Failed { failure: Failure::Timeout(_), .. } => squall_error(py, "TaskTimeoutError", message),
        Fault::Failed { failure: Failure::Spawn(_) | Failure::Setup(_), .. } => {
            squall_error(py, "WorkerStartError", message)
        }
        Fault::Failed { failure: Failure::Cancelled, .. } => squall_error(py, "CancelledError", message),
        Fault::Failed { .. } => squall_error(py, "WorkerLostError", message),
    }
}

/// A spec or report that did not (de)serialise: a bug or a version mismatch.
pub fn json_error(py: Python<'_>, what: &str, err: impl std::fmt::Display) -> PyErr {
    squall_error(
        py,
        "SquallError",
        format!("malformed {what} ({err}): are the driver and the workers running the same squall version?"),
    )
}
