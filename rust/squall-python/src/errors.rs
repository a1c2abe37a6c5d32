//! The one place where Rust errors become Python exceptions (classes from `squall.errors`).

use pyo3::prelude::*;

/// Builds an exception of class `squall.errors.<class>` with `message`.
pub fn squall_error(py: Python<'_>, class: &str, message: String) -> PyErr {
    let built = py
        .import("squall.errors")
        .and_then(|m| m.getattr(class))
        .and_then(|cls| cls.call1((message.clone(),)));
    match built {
        Ok(exc) => PyErr::from_value(exc),
        Err(_) => pyo3::exceptions::PyRuntimeError::new_err(message),
    }
}

/// Maps a scheduler error.
pub fn exec_error(py: Python<'_>, err: squall_exec::Error) -> PyErr {
    squall_error(py, "SquallError", err.to_string())
}
