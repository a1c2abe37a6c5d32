//! The one place where Rust errors become Python exceptions (classes from `squall.errors`).

use pyo3::prelude::*;

/// Builds an exception of class `squall.errors.<class>` with `message`.
pub fn squall_error(py: Python<'_>, class: &str, message: String) -> PyErr {
    let built = py.import("squall.errors").and_then(|m| m.getattr(class)).and_then(|cls| cls.call1((message.clone(),)));
    match built {
        Ok(exc) => PyErr::from_value(exc),
        Err(_) => pyo3::exceptions::PyRuntimeError::new_err(message),
    }
}

/// Maps an engine error to the matching `squall.errors` class.
pub fn exec_error(py: Python<'_>, err: squall_exec::Error) -> PyErr {
    use squall_exec::Error as E;
    let class = match &err {
        E::Store(s) if s.is_not_found() => "StoreNotFoundError",
        E::Store(squall_store::Error::PermissionDenied { .. }) => "StorePermissionError",
        E::Store(s) if s.is_transient() => "TransientError",
        E::Store(_) => "StoreError",
        E::Core(squall_core::Error::Data { .. }) => "DataError",
        E::Core(squall_core::Error::Plan(_)) => "PlanError",
        _ => "SquallError",
    };
    squall_error(py, class, err.to_string())
}

/// A spec or report that did not (de)serialise: a bug or a version mismatch.
pub fn json_error(py: Python<'_>, what: &str, err: serde_json::Error) -> PyErr {
    squall_error(
        py,
        "SquallError",
        format!("malformed {what} ({err}): are the driver and the workers running the same squall version?"),
    )
}
