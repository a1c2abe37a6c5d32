//! Binding of the memory budget (`squall_core::budget`): `Session(memory_limit=...)`.

use pyo3::prelude::*;
use squall_core::budget::{parse_bytes, Budget as CoreBudget, DEFAULT_SHARE};

use crate::errors::core_error;

/// A session's memory budget: what its tasks may hold at once.
#[pyclass(frozen, module = "squall._native")]
pub struct Budget {
    pub(crate) inner: CoreBudget,
}

#[pymethods]
impl Budget {
    /// A budget of `limit` (bytes, or a size such as "8GB"; None: three quarters of the
    /// machine's memory, or of `function_mb` for Lambda functions) for `workers` tasks at once;
    /// with `function_mb`, each task (one function) has a budget of its own.
    #[new]
    #[pyo3(signature = (limit, workers, function_mb = None))]
    fn new(
        py: Python<'_>,
        limit: Option<&Bound<'_, PyAny>>,
        workers: usize,
        function_mb: Option<u64>,
    ) -> PyResult<Self> {
        let memory = match function_mb {
            Some(mb) => mb << 20,
            None => squall_exec::memory::machine_bytes(),
        };
        let bytes = match limit {
            None => (memory as f64 * DEFAULT_SHARE) as u64,
            Some(v) if v.is_instance_of::<pyo3::types::PyBool>() => {
                return Err(pyo3::exceptions::PyTypeError::new_err(
                    "memory_limit: give a size such as \"8GB\" or a number of bytes",
                ))
            }
            Some(v) => match v.extract::<u64>() {
                Ok(n) => n,
                Err(_) => parse_bytes(&v.extract::<String>().map_err(|_| {
                    pyo3::exceptions::PyTypeError::new_err(format!(
                        "memory_limit={v}: give a size such as \"8GB\" or a number of bytes"
                    ))
                })?)
                .map_err(|e| core_error(py, e))?,
            },
        };
        let inner = CoreBudget::new(bytes, workers, function_mb.is_some()).map_err(|e| core_error(py, e))?;
        Ok(Budget { inner })
    }

    /// Bytes the session's tasks may hold at once (on Lambda: each task).
    #[getter]
    fn limit(&self) -> u64 {
        self.inner.limit
    }

    /// Decoded input bytes a task is planned for.
    #[getter]
    fn task_input(&self) -> u64 {
        self.inner.task_input()
    }

    fn __repr__(&self) -> String {
        let each = if self.inner.per_task { " per function" } else { "" };
        format!("Budget({}{each})", squall_core::budget::human(self.inner.limit))
    }
}
