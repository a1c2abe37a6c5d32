//! `squall.FleetModel`: the simulated Lambda fleet (squall_exec::simulated::FleetModel), one
//! definition whose defaults Python reads from here.

use pyo3::prelude::*;
use squall_exec::simulated::FleetModel as Model;

use crate::store_model::StoreModel;

/// A simulated Lambda fleet for `Session(backend="simulated", fleet=...)`.
///
/// Around each attempt the model adds what a fleet of functions does: cold starts, latency, a
/// concurrency cap, Lambda's ramp-up per function, stragglers, crashes and throttling, and
/// with `store=` the object store's request time and rates. Faults are drawn per (task,
/// attempt) from `seed`: the same seed injects the same faults. Times are simulated seconds.
///
/// With `execute=True` (the default) tasks run for real on local workers, so results are real,
/// and simulated time runs `time_scale` times real time. With `execute=False` nothing runs:
/// each attempt takes `task_s` and returns None, on a virtual clock that jumps ahead whenever
/// every task waits, so a job of 100,000 tasks on 10,000 functions is simulated in seconds
/// (calls: `map` and `submit`; datasets by size: `Dataset.simulate`, whose tasks take
/// `work_bytes_s` per byte).
#[pyclass(frozen, eq, module = "squall._native", name = "FleetModel")]
#[derive(Clone, PartialEq)]
pub struct FleetModel {
    pub(crate) inner: Model,
}

#[pymethods]
impl FleetModel {
    /// The default fleet, changed by the keywords given.
    #[new]
    #[pyo3(signature = (**changes))]
    fn new(changes: Option<&Bound<'_, pyo3::types::PyDict>>) -> PyResult<Self> {
        FleetModel { inner: Model::default() }.replace(changes)
    }

    /// A copy with the keywords given changed.
    #[pyo3(signature = (**changes))]
    fn replace(&self, changes: Option<&Bound<'_, pyo3::types::PyDict>>) -> PyResult<Self> {
        let mut m = self.inner.clone();
        for (key, value) in changes.into_iter().flatten() {
            let key: String = key.extract()?;
            // A value of the wrong type names the setting and what it got.
            let wrong = |e: PyErr| pyo3::exceptions::PyTypeError::new_err(format!("FleetModel {key}={value}: {e}"));
            match key.as_str() {
                "concurrency" => m.concurrency = value.extract().map_err(wrong)?,
                "ramp_per_10s" => m.ramp_per_10s = value.extract().map_err(wrong)?,
                "functions" => m.functions = value.extract().map_err(wrong)?,
                "cold_start_s" => m.cold_start_s = value.extract().map_err(wrong)?,
                "latency_s" => m.latency_s = value.extract().map_err(wrong)?,
                "task_s" => m.task_s = value.extract().map_err(wrong)?,
                "work_bytes_s" => m.work_bytes_s = value.extract().map_err(wrong)?,
                "straggler_rate" => m.straggler_rate = value.extract().map_err(wrong)?,
                "straggler_factor" => m.straggler_factor = value.extract().map_err(wrong)?,
                "failure_rate" => m.failure_rate = value.extract().map_err(wrong)?,
                "throttle_rate" => m.throttle_rate = value.extract().map_err(wrong)?,
                "time_scale" => m.time_scale = value.extract().map_err(wrong)?,
                "seed" => m.seed = value.extract().map_err(wrong)?,
                "execute" => m.execute = value.extract().map_err(wrong)?,
                "store" => {
                    m.store = value
                        .extract::<Option<PyRef<StoreModel>>>()
                        .map_err(|e| wrong(e.into()))?
                        .map(|s| s.inner.clone())
                }
                other => {
                    return Err(pyo3::exceptions::PyTypeError::new_err(format!(
                        "FleetModel has no setting {other:?}: see help(squall.FleetModel)"
                    )))
                }
            }
        }
        // NaN and infinity included: a simulated clock must move and stop.
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if m.concurrency == 0
            || m.functions == 0
            || !positive(m.time_scale)
            || !positive(m.ramp_per_10s)
            || !positive(m.work_bytes_s)
        {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "FleetModel: concurrency, functions, time_scale, ramp_per_10s and work_bytes_s must be positive",
            ));
        }
        Ok(FleetModel { inner: m })
    }

    /// Execution environments at most, over all functions (the account's concurrency limit).
    #[getter]
    fn concurrency(&self) -> usize {
        self.inner.concurrency
    }
    /// New environments per function per 10 s (AWS: 1,000); beyond that, 429 TooManyRequests.
    #[getter]
    fn ramp_per_10s(&self) -> f64 {
        self.inner.ramp_per_10s
    }
    /// Identical functions the invocations are spread over, each ramping up on its own, as
    /// `squall.deploy(shards=...)` makes them.
    #[getter]
    fn functions(&self) -> usize {
        self.inner.functions
    }
    /// Start-up time of a new environment (varies +-50%).
    #[getter]
    fn cold_start_s(&self) -> f64 {
        self.inner.cold_start_s
    }
    /// Per-invocation overhead.
    #[getter]
    fn latency_s(&self) -> f64 {
        self.inner.latency_s
    }
    /// Run time of a task (added to its real one when tasks execute).
    #[getter]
    fn task_s(&self) -> f64 {
        self.inner.task_s
    }
    /// Decoded bytes a function works through per second in a dataset simulated by size.
    #[getter]
    fn work_bytes_s(&self) -> f64 {
        self.inner.work_bytes_s
    }
    /// Share of attempts that straggle.
    #[getter]
    fn straggler_rate(&self) -> f64 {
        self.inner.straggler_rate
    }
    /// How many times slower a straggling attempt is.
    #[getter]
    fn straggler_factor(&self) -> f64 {
        self.inner.straggler_factor
    }
    /// Share of attempts whose environment crashes after running (the answer is lost).
    #[getter]
    fn failure_rate(&self) -> f64 {
        self.inner.failure_rate
    }
    /// Share of invocations answered 429.
    #[getter]
    fn throttle_rate(&self) -> f64 {
        self.inner.throttle_rate
    }
    /// Real seconds per simulated second (when tasks execute).
    #[getter]
    fn time_scale(&self) -> f64 {
        self.inner.time_scale
    }
    /// Seed of the fault decisions.
    #[getter]
    fn seed(&self) -> u64 {
        self.inner.seed
    }
    /// Whether tasks run for real (False: a virtual clock, and every result is None).
    #[getter]
    fn execute(&self) -> bool {
        self.inner.execute
    }
    /// The store the tasks' requests go to (None: their real store time only).
    #[getter]
    fn store(&self) -> Option<StoreModel> {
        self.inner.store.clone().map(|inner| StoreModel { inner })
    }

    fn __repr__(&self) -> String {
        let m = &self.inner;
        let store = m.store.as_ref().map_or("None".to_string(), |s| format!("{:?}", s.name));
        format!(
            "FleetModel(concurrency={}, ramp_per_10s={}, functions={}, cold_start_s={}, latency_s={}, task_s={}, \
             work_bytes_s={}, straggler_rate={}, straggler_factor={}, failure_rate={}, throttle_rate={}, time_scale={}, seed={}, \
             execute={}, store={store})",
            m.concurrency,
            m.ramp_per_10s,
            m.functions,
            m.cold_start_s,
            m.latency_s,
            m.task_s,
            m.work_bytes_s,
            m.straggler_rate,
            m.straggler_factor,
            m.failure_rate,
            m.throttle_rate,
            m.time_scale,
            m.seed,
            if m.execute { "True" } else { "False" },
        )
    }
}
