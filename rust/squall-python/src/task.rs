//! Running one task attempt in this process: the code that worker processes, the Lambda handler
//! and the in-process backend share. A partition task runs in the engine (Python only for the
//! plan's functions); any other task calls its pickled function through `squall._task.call`.
//! The report names the job, task and attempt it answers.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use squall_core::frame::{decode_header, encode_header};
use squall_core::spec::{ResultStores, INLINE_RESULT_MAX};
use squall_core::{InputRef, TaskReport, TaskSpec, UserError};
use squall_exec::partition::{read_object, run_partition, write_object, PartitionError};
use squall_exec::runtime::now_epoch;
use squall_store::Bytes;

use crate::arrow::{batch_from_py, batch_to_py};
use crate::errors::json_error;

/// Runs one attempt of `spec`: `func` is the pickled function (empty when this process holds it
/// already), `args` the pickled arguments. Returns the report and the body (the pickled result,
/// or the pickled exception). Must be called without the GIL held.
pub fn run_attempt(spec: &TaskSpec, func: &[u8], args: &[u8]) -> (TaskReport, Vec<u8>) {
    let started = now_epoch();
    let io_before = squall_store::io_counts();
    let mut report = TaskReport::of(spec);
    let body = match &spec.partition {
        Some(task) => {
            let udfs = match task.calls_python() {
                true => Python::attach(|py| load_function(py, &spec.func, func).map(Bound::unbind)).map(Some),
                false => Ok(None),
            };
            let ran = udfs.map_err(PartitionError::Udf).and_then(|udfs| {
                run_partition(task, spec.attempt, |index, batch| -> PyResult<_> {
                    Python::attach(|py| {
                        let udfs = udfs.as_ref().ok_or_else(|| not_sent(index))?;
                        let udf = udfs.bind(py).get_item(index).map_err(|_| not_sent(index))?;
                        batch_from_py(&udf.call1((batch_to_py(py, batch)?,))?)
                    })
                })
            });
            match ran {
                Ok(partition) => {
                    report.ok = true;
                    report.partition = Some(partition);
                    Vec::new()
                }
                Err(PartitionError::Engine(e)) => {
                    report.error = Some(e.to_user_error());
                    Vec::new()
                }
                Err(PartitionError::Udf(exc)) => {
                    let (error, body) = describe(exc);
                    report.error = Some(error);
                    body
                }
            }
        }
        None => match call(spec, func, args) {
            Ok((ok, body, error)) => {
                report.ok = ok;
                report.error = error;
                match (&spec.results, ok && body.len() > INLINE_RESULT_MAX) {
                    (Some(results), true) => store_result(spec, results, body, &mut report),
                    _ => body,
                }
            }
            Err(exc) => {
                let (error, body) = describe(exc);
                report.error = Some(error);
                body
            }
        },
    };
    report.started = started;
    report.finished = now_epoch();
    report.io = squall_store::io_counts() - io_before;
    (report, body)
}

/// The pickled function `digest` (`pickled`, or held here from an earlier task).
fn load_function<'py>(py: Python<'py>, digest: &str, pickled: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    let pickled = (!pickled.is_empty()).then(|| PyBytes::new(py, pickled));
    py.import("squall._task")?.getattr("load_function")?.call1((digest, pickled))
}

/// Writes a result too large for the reply where the spec says (the fast store first, when it
/// is cheaper there); the reply then names it. A failed write fails the attempt (an engine
/// error the scheduler may retry elsewhere).
fn store_result(spec: &TaskSpec, results: &ResultStores, body: Vec<u8>, report: &mut TaskReport) -> Vec<u8> {
    let body = Bytes::from(body);
    let urls = results.urls(spec.job, spec.task, spec.attempt, body.len() as u64);
    let mut last = None;
    for url in urls {
        match write_object(&url, body.clone()) {
            Ok(()) => {
                report.stored = Some(url);
                return Vec::new();
            }
            Err(e) => last = Some((url, e)),
        }
    }
    if let Some((url, e)) = last {
        report.ok = false;
        let mut error = e.to_user_error();
        error.message = format!("could not store the task's result at {url}: {}", error.message);
        report.error = Some(error);
    }
    Vec::new()
}

/// The results of other tasks that this call takes: inline after the arguments in `payload`,
/// or read from the store. Returns the arguments and the inputs.
fn inputs<'a>(spec: &TaskSpec, payload: &'a [u8]) -> PyResult<(&'a [u8], Vec<Bytes>)> {
    let inline: u64 = spec.inputs.iter().map(|i| if let InputRef::Inline { len } = i { *len } else { 0 }).sum();
    let split = payload.len().checked_sub(inline as usize).ok_or_else(|| {
        let message = format!("the task's frame holds {} bytes, fewer than its inputs' {inline}", payload.len());
        pyo3::exceptions::PyRuntimeError::new_err(message)
    })?;
    let (args, mut rest) = payload.split_at(split);
    let mut out = Vec::with_capacity(spec.inputs.len());
    for input in &spec.inputs {
        match input {
            InputRef::Inline { len } => {
                let (value, tail) = rest.split_at(*len as usize);
                out.push(Bytes::copy_from_slice(value));
                rest = tail;
            }
            InputRef::Stored { url } => {
                out.push(read_object(url).map_err(|e| Python::attach(|py| crate::errors::exec_error(py, e)))?)
            }
        }
    }
    Ok((args, out))
}

/// Calls the task's function through `squall._task.call`: (returned, body, its exception).
fn call(spec: &TaskSpec, func: &[u8], payload: &[u8]) -> PyResult<(bool, Vec<u8>, Option<UserError>)> {
    let (args, given) = match spec.inputs.is_empty() {
        true => (payload, Vec::new()),
        false => inputs(spec, payload)?,
    };
    Python::attach(|py| {
        let fn_ = load_function(py, &spec.func, func)?;
        let given: Vec<Bound<'_, PyBytes>> = given.iter().map(|b| PyBytes::new(py, b)).collect();
        let (ok, body, error): (bool, Vec<u8>, Option<Bound<'_, PyDict>>) = py
            .import("squall._task")?
            .getattr("call")?
            .call1((fn_, PyBytes::new(py, args), spec.attempt, given))?
            .extract()?;
        Ok((ok, body, error.map(|e| user_error(&e)).transpose()?))
    })
}

/// A Python exception as a failed attempt reports it: `squall._task.describe_error`'s type,
/// message and traceback, and the pickled exception.
fn describe(exc: PyErr) -> (UserError, Vec<u8>) {
    let described = Python::attach(|py| -> PyResult<_> {
        let d = py.import("squall._task")?.getattr("describe_error")?.call1((exc.value(py),))?;
        let d = d.cast_into::<PyDict>()?;
        Ok((user_error(&d)?, d.get_item("exception")?.map(|b| b.extract::<Vec<u8>>()).transpose()?.unwrap_or_default()))
    });
    described.unwrap_or_else(|e| {
        let message = format!("the task failed, and its error could not be described: {e}");
        (
            UserError {
                kind: Default::default(),
                error_type: "RuntimeError".into(),
                message,
                traceback: String::new(),
            },
            Vec::new(),
        )
    })
}

fn user_error(d: &Bound<'_, PyDict>) -> PyResult<UserError> {
    let text = |key: &str| -> PyResult<String> {
        d.get_item(key)?.map(|v| v.extract::<String>()).transpose().map(Option::unwrap_or_default)
    };
    Ok(UserError {
        kind: Default::default(),
        error_type: text("error_type")?,
        message: text("message")?,
        traceback: text("traceback")?,
    })
}

fn not_sent(index: usize) -> PyErr {
    pyo3::exceptions::PyIndexError::new_err(format!("the task calls function {index}, which was not sent"))
}

/// Runs one task frame (a JSON spec, then `func_len` bytes of function and the arguments) in
/// this process; returns the reply frame's header (the report) and body. The GIL is released
/// except while Python runs. For squall's worker processes (local and Lambda) only: it
/// restarts the process's resident high-water mark, to report the attempt's peak.
#[pyfunction]
pub fn execute_frame<'py>(
    py: Python<'py>,
    header: &[u8],
    payload: &[u8],
) -> PyResult<(Bound<'py, PyBytes>, Bound<'py, PyBytes>)> {
    let spec: TaskSpec = decode_header(header).map_err(|e| crate::errors::core_error(py, e))?;
    let split = (spec.func_len as usize).min(payload.len());
    let (func, args) = payload.split_at(split);
    // A worker process runs one attempt at a time: its high-water mark is the attempt's.
    let (mut report, body) = py.detach(|| {
        squall_exec::memory::restart_peak();
        run_attempt(&spec, func, args)
    });
    report.peak_rss = squall_exec::memory::peak_bytes();
    let header = encode_header(&report).map_err(|e| json_error(py, "report", e))?;
    Ok((PyBytes::new(py, &header), PyBytes::new(py, &body)))
}
