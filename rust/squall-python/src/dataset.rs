//! Bindings for datasets: plans, and the driver that runs them (`squall_exec::driver`).

use std::sync::Arc;
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use squall_core::codec::{Compression, Format};
use squall_core::groupby::{Agg, AggFunc, GroupBy};
use squall_core::hive::PathValues;
use squall_core::placement::Placement;
use squall_core::plan::{Exchange, Input, Op, Plan as CorePlan, Sink, WriteMode};
use squall_core::sort::SortKey;
use squall_core::tier::Intermediates;
use squall_exec::driver::{DatasetJob, Executors, JobOutput, Settings};
use squall_exec::scratch::Scratch;
use squall_exec::split::split_inputs;
use squall_exec::Function;

use crate::arrow::ArrowStream;
use crate::budget::Budget;
use crate::errors::exec_error;
use crate::expr::Expr;
use crate::fleet_model::FleetModel;
use crate::scheduler::{speculation_of, Job, Scheduler};

/// Longest single wait with the GIL released; callers loop, so signals are seen in time.
const MAX_WAIT: Duration = Duration::from_millis(200);

pub(crate) fn parse_format(format: &str) -> PyResult<Format> {
    match format {
        "parquet" => Ok(Format::Parquet),
        "ipc" | "arrow" => Ok(Format::Ipc),
        other => Err(pyo3::exceptions::PyValueError::new_err(format!("format={other:?}: use \"parquet\" or \"ipc\""))),
    }
}

pub(crate) fn parse_compression(name: &str) -> PyResult<Compression> {
    serde_json::from_value(serde_json::Value::String(name.to_string())).map_err(|_| {
        pyo3::exceptions::PyValueError::new_err(format!(
            "compression={name:?}: use \"zstd\", \"lz4\", \"snappy\" (Parquet only) or \"none\""
        ))
    })
}

/// A lazy dataset plan (held by `squall.Dataset`).
#[pyclass(frozen, module = "squall._native")]
pub struct Plan {
    inner: CorePlan,
}

/// One aggregate as `agg()` gives it: (name, column, second column, function, argument).
type AggSpec = (String, Option<String>, Option<String>, String, Option<f64>);

#[pymethods]
impl Plan {
    /// A scan of `inputs`, given as (url, format, size, the columns of its path); Parquet
    /// files bigger than `target_bytes` (or than `budget` wants a task's input to be), or fewer
    /// than `slots`, are read in several partitions of row groups.
    #[staticmethod]
    fn scan(
        py: Python<'_>,
        inputs: Vec<(String, String, u64, PathValues)>,
        source: String,
        target_bytes: u64,
        slots: usize,
        budget: &Budget,
    ) -> PyResult<Plan> {
        let inputs = inputs
            .into_iter()
            .map(|(url, format, size, path_values)| {
                Ok(Input { path_values, ..Input::whole(url, parse_format(&format)?, size) })
            })
            .collect::<PyResult<Vec<_>>>()?;
        let scanned = py
            .detach(|| split_inputs(inputs, target_bytes, slots, Some(&budget.inner)))
            .map_err(|e| exec_error(py, e))?;
        let from_paths = squall_core::hive::path_columns(&scanned.inputs, scanned.columns.as_deref(), &source)
            .map_err(|e| exec_error(py, e.into()))?;
        let plan = CorePlan::scan(scanned.inputs, source)
            .with_schema(scanned.columns, scanned.decoded_per_byte)
            .with_path_columns(from_paths);
        Ok(Plan { inner: plan })
    }

    /// A plan over a synthetic input of `rows` rows of `columns` ((name, bytes per row) each)
    /// in `partitions` equal parts: sizes without bytes, to estimate and simulate.
    #[staticmethod]
    fn synthetic(columns: Vec<(String, u64)>, rows: u64, partitions: usize, source: String) -> PyResult<Plan> {
        if columns.is_empty() || partitions == 0 || columns.iter().any(|(_, w)| *w == 0) {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "synthetic(): give at least one column of 1 byte or more per row, and 1 partition or more",
            ));
        }
        if partitions > MAX_SYNTHETIC_PARTITIONS {
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                "synthetic(partitions={partitions}): at most {MAX_SYNTHETIC_PARTITIONS} (each is held in memory)"
            )));
        }
        if columns
            .iter()
            .try_fold(0u64, |sum, (_, w)| sum.checked_add(*w))
            .and_then(|row| row.checked_mul(rows))
            .is_none()
        {
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                "synthetic(rows={rows}): that many rows of these columns exceed 2**64 bytes"
            )));
        }
        Ok(Plan { inner: CorePlan::synthetic(columns, rows, partitions, source) })
    }

    /// Output partitions of a shuffle nobody gave a count for: one per input partition, or
    /// more when the input exceeds `target_bytes` per partition or the budget's task size.
    fn shuffle_partitions(&self, target_bytes: u64, budget: &Budget) -> usize {
        self.inner.shuffle_partitions(target_bytes, &budget.inner)
    }

    /// This plan followed by the `index`-th Python function (`kind`: map_batches or filter).
    fn then_udf(&self, py: Python<'_>, index: usize, kind: String, name: String) -> PyResult<Plan> {
        self.then(py, Op::Udf { index, kind, name })
    }

    /// This plan followed by a column selection.
    fn then_select(&self, py: Python<'_>, columns: Vec<String>) -> PyResult<Plan> {
        self.then(py, Op::Select { columns })
    }

    /// This plan followed by a sample sort into `partitions` partitions; `keys` are
    /// (column, descending, nulls_first). With `coalesce`, reducers may take several adjacent
    /// small buckets.
    #[pyo3(signature = (keys, partitions, coalesce=false))]
    fn then_sort(
        &self,
        py: Python<'_>,
        keys: Vec<(String, bool, bool)>,
        partitions: usize,
        coalesce: bool,
    ) -> PyResult<Plan> {
        let exchange = Exchange::Sort { keys: sort_keys(keys), partitions };
        let inner = self.inner.then_exchange(exchange, coalesce).map_err(|e| exec_error(py, e.into()))?;
        Ok(Plan { inner })
    }

    /// This plan followed by a group-by; `aggs` are (name, column or None, second column (corr,
    /// cov) or None, function, argument (quantile's q, top_k's k) or None). With `coalesce`,
    /// reducers may take several adjacent small buckets.
    #[pyo3(signature = (keys, aggs, partitions, coalesce=false))]
    fn then_groupby(
        &self,
        py: Python<'_>,
        keys: Vec<String>,
        aggs: Vec<AggSpec>,
        partitions: usize,
        coalesce: bool,
    ) -> PyResult<Plan> {
        let aggs = aggs
            .into_iter()
            .map(|(name, column, with, func, arg)| {
                let func = AggFunc::named(&func).map_err(|e| exec_error(py, e.into()))?;
                Ok(Agg { name, column, func, with, arg })
            })
            .collect::<PyResult<Vec<_>>>()?;
        let exchange = Exchange::GroupBy { group: GroupBy { keys, aggs }, partitions };
        let inner = self.inner.then_exchange(exchange, coalesce).map_err(|e| exec_error(py, e.into()))?;
        Ok(Plan { inner })
    }

    /// This plan followed by a repartition into `partitions` by the hash of `keys` (round robin
    /// without keys).
    fn then_repartition(&self, py: Python<'_>, keys: Vec<String>, partitions: usize) -> PyResult<Plan> {
        let inner = self
            .inner
            .then_exchange(Exchange::Repartition { keys, partitions }, false)
            .map_err(|e| exec_error(py, e.into()))?;
        Ok(Plan { inner })
    }

    /// Number of shuffles in the plan.
    #[getter]
    fn shuffles(&self) -> usize {
        self.inner.shuffles.len()
    }

    /// The columns the scan reads (None: all).
    #[getter]
    fn scan_columns(&self) -> Option<Vec<String>> {
        self.inner.scan_columns()
    }

    /// This plan followed by the first `rows` rows per partition in the order of `keys`.
    fn then_top_k(&self, py: Python<'_>, keys: Vec<(String, bool, bool)>, rows: usize) -> PyResult<Plan> {
        self.then(py, Op::TopK { keys: sort_keys(keys), rows })
    }

    /// This plan followed by a filter keeping the rows where `expr` is true.
    fn then_filter(&self, py: Python<'_>, expr: &Expr) -> PyResult<Plan> {
        self.then(py, Op::Filter { expr: expr.inner.clone() })
    }

    /// This plan followed by columns computed from others: (name, expression) each.
    fn then_compute(&self, py: Python<'_>, columns: Vec<(String, PyRef<'_, Expr>)>) -> PyResult<Plan> {
        let columns = columns.into_iter().map(|(name, e)| (name, e.inner.clone())).collect();
        self.then(py, Op::Compute { columns })
    }

    /// This plan followed by a per-partition row limit.
    fn then_limit(&self, py: Python<'_>, rows: usize) -> PyResult<Plan> {
        self.then(py, Op::Limit { rows })
    }

    /// The same plan over only `count` inputs from `start` on.
    fn slice_partitions(&self, start: usize, count: usize) -> Plan {
        let mut inner = self.inner.clone();
        inner.inputs = inner.inputs.into_iter().skip(start).take(count).collect();
        Plan { inner }
    }

    /// Number of partitions (input objects).
    #[getter]
    fn num_partitions(&self) -> usize {
        self.inner.inputs.len()
    }

    /// The columns of the plan's output, when the input's schema says (None: unknown, e.g.
    /// after a Python function).
    #[getter]
    fn columns(&self) -> Option<Vec<String>> {
        squall_core::columns::output_columns(&self.inner)
    }

    /// Number of Python functions the plan calls.
    #[getter]
    fn udf_count(&self) -> usize {
        self.inner.udf_count()
    }

    /// How the plan runs into `sink` (see `Datasets.execute`), placed as a session with these
    /// settings would place it (intermediate objects in its `store` and `fast` store, merge
    /// levels as `two_level` says), as text.
    #[pyo3(signature = (sink, write, in_process, remote, budget, store = None, fast = None, two_level = None))]
    #[allow(clippy::too_many_arguments)]
    fn explain(
        &self,
        sink: &str,
        write: Option<(String, String, String, String)>,
        in_process: bool,
        remote: bool,
        budget: &Budget,
        store: Option<String>,
        fast: Option<String>,
        two_level: Option<bool>,
    ) -> PyResult<String> {
        let placement = Placement { in_process, remote };
        let tiers = Intermediates { store, fast, two_level };
        Ok(self.inner.explain(&parse_sink(sink, write)?, &placement, &budget.inner, &tiers))
    }
}

/// Partitions a synthetic input may have: each is an input held in the plan (about 100 bytes).
const MAX_SYNTHETIC_PARTITIONS: usize = 10_000_000;

/// Sort keys given from Python as (column, descending, nulls_first).
fn sort_keys(keys: Vec<(String, bool, bool)>) -> Vec<SortKey> {
    keys.into_iter().map(|(column, descending, nulls_first)| SortKey { column, descending, nulls_first }).collect()
}

impl Plan {
    fn then(&self, py: Python<'_>, op: Op) -> PyResult<Plan> {
        let inner = self.inner.then(op).map_err(|e| exec_error(py, e.into()))?;
        Ok(Plan { inner })
    }
}

/// The sink a dataset action writes into: "collect", "count", or "write" with `write` =
/// (format, dir, compression, mode).
fn parse_sink(sink: &str, write: Option<(String, String, String, String)>) -> PyResult<Sink> {
    let bad = |m: String| pyo3::exceptions::PyValueError::new_err(m);
    match (sink, write) {
        ("collect", None) => Ok(Sink::Collect),
        ("count", None) => Ok(Sink::Count),
        ("write", Some((format, dir, compression, mode))) => {
            let format = parse_format(&format)?;
            let compression = parse_compression(&compression)?;
            let mode: WriteMode = serde_json::from_value(serde_json::Value::String(mode.clone()))
                .map_err(|_| bad(format!("mode={mode:?}: use \"error\", \"overwrite\" or \"append\"")))?;
            Ok(Sink::Write { format, dir, compression, mode })
        }
        (other, _) => Err(bad(format!("sink {other:?}: use \"collect\", \"count\" or \"write\" (with its settings)"))),
    }
}

/// A session's runner of dataset actions: where stages run and how.
#[pyclass(frozen, module = "squall._native")]
pub struct Datasets {
    exec: Executors,
    settings: Settings,
}

#[pymethods]
impl Datasets {
    /// Stages run on `threads` (this process) or `workers`; `scratch` is (memory URL, shared
    /// memory URL or None, disk URL, the session's store prefix or None, its fast store prefix
    /// or None); `two_level` whether shuffles get a merge level (None: when it saves requests).
    #[new]
    #[pyo3(signature = (threads, workers, *, in_process, remote, slots, target_partition_bytes, retries, speculation, scratch, budget, two_level = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        threads: &Scheduler,
        workers: &Scheduler,
        in_process: bool,
        remote: bool,
        slots: usize,
        target_partition_bytes: u64,
        retries: u32,
        speculation: Option<(f64, f64, f64)>,
        scratch: (String, Option<String>, String, Option<String>, Option<String>),
        budget: &Budget,
        two_level: Option<bool>,
    ) -> PyResult<Self> {
        let (memory, shm, disk, remote_store, fast) = scratch;
        Ok(Datasets {
            exec: Executors { threads: threads.inner.clone(), workers: workers.inner.clone() },
            settings: Settings {
                placement: Placement { in_process, remote },
                workers: slots,
                target_partition_bytes,
                retries,
                speculation: speculation_of(speculation)?,
                scratch: Scratch { memory, shm, disk, remote: remote_store, fast },
                budget: budget.inner,
                two_level,
            },
        })
    }

    /// Starts simulating `plan` into `sink` (as `execute` takes it) by size on the fleet
    /// `fleet`, which is not asked to execute, on a virtual clock: each function with the
    /// memory `budget` gives it, backups as `speculation` says (in simulated seconds).
    #[pyo3(signature = (plan, sink, verb, fleet, budget, speculation, write = None))]
    #[allow(clippy::too_many_arguments)]
    fn simulate(
        &self,
        py: Python<'_>,
        plan: &Plan,
        sink: &str,
        verb: String,
        fleet: &FleetModel,
        budget: &Budget,
        speculation: Option<(f64, f64, f64)>,
        write: Option<(String, String, String, String)>,
    ) -> PyResult<Running> {
        let job = self.sized_job(plan, sink, verb, write)?;
        let settings =
            Settings { budget: budget.inner, speculation: speculation_of(speculation)?, ..self.settings.clone() };
        let model = fleet.inner.clone();
        let running = py.detach(|| squall_exec::sized::start(settings, job, model)).map_err(|e| exec_error(py, e))?;
        Ok(Running { inner: running })
    }

    /// Estimates `plan` into `sink` (as `simulate` takes them) on `fleet` with `budget`: per
    /// stage (label, tasks, seconds, task seconds, requests and bytes as `io_counts` gives
    /// them, and those of them that touch the user's data rather than intermediate objects).
    #[pyo3(signature = (plan, sink, verb, fleet, budget, write = None))]
    fn estimate(
        &self,
        plan: &Plan,
        sink: &str,
        verb: String,
        fleet: &FleetModel,
        budget: &Budget,
        write: Option<(String, String, String, String)>,
    ) -> PyResult<Vec<StageRow>> {
        let job = self.sized_job(plan, sink, verb, write)?;
        let settings = Settings { budget: budget.inner, ..self.settings.clone() };
        let shapes = squall_exec::sized::shapes(&job, &settings);
        let stages = squall_exec::estimate::estimate(&shapes, &fleet.inner, settings.speculation);
        Ok(stages
            .into_iter()
            .map(|e| (e.label, e.tasks, e.attempts, e.seconds, e.task_seconds, e.io.values(), e.data.values()))
            .collect())
    }

    /// Starts running `plan` into `sink` ("collect", "count", or "write" with `write` = (format,
    /// dir, compression, mode)); `functions` is the plan's Python functions pickled as one list
    /// (`functions_hash` its content hash). A plan that cannot run as asked fails here.
    #[pyo3(signature = (plan, sink, functions, functions_hash, verb, write = None))]
    #[allow(clippy::too_many_arguments)]
    fn execute(
        &self,
        py: Python<'_>,
        plan: &Plan,
        sink: &str,
        functions: &Bound<'_, PyBytes>,
        functions_hash: String,
        verb: String,
        write: Option<(String, String, String, String)>,
    ) -> PyResult<Running> {
        let job = DatasetJob {
            plan: plan.inner.clone(),
            sink: parse_sink(sink, write)?,
            functions: Arc::new(Function { hash: functions_hash, bytes: functions.as_bytes().to_vec() }),
            verb,
        };
        let (exec, settings) = (self.exec.clone(), self.settings.clone());
        let running = py.detach(|| squall_exec::driver::start(exec, settings, job)).map_err(|e| exec_error(py, e))?;
        Ok(Running { inner: running })
    }
}

/// One stage of an estimate: (label, tasks, seconds, task seconds, requests and bytes, those
/// of them on the user's data).
type StageRow = (String, usize, usize, f64, f64, [u64; 9], [u64; 9]);

impl Datasets {
    /// A job of `plan` into `sink` that runs no Python function: it is simulated by size.
    fn sized_job(
        &self,
        plan: &Plan,
        sink: &str,
        verb: String,
        write: Option<(String, String, String, String)>,
    ) -> PyResult<DatasetJob> {
        let functions = Arc::new(Function::default());
        Ok(DatasetJob { plan: plan.inner.clone(), sink: parse_sink(sink, write)?, functions, verb })
    }
}

/// A running dataset action.
#[pyclass(frozen, module = "squall._native")]
pub struct Running {
    inner: Arc<squall_exec::driver::Running>,
}

#[pymethods]
impl Running {
    /// Waits (GIL released, at most 0.2 s) for the action to end; true when it has.
    fn wait(&self, py: Python<'_>, timeout: f64) -> bool {
        let wait = Duration::try_from_secs_f64(timeout.max(0.0)).unwrap_or(MAX_WAIT).min(MAX_WAIT);
        let inner = self.inner.clone();
        py.detach(move || inner.wait(wait))
    }

    /// Cancels the action: running tasks stop, no further stage starts.
    fn cancel(&self) {
        self.inner.cancel();
    }

    /// The requests the driver made itself once the action ended (a simulation's: those it
    /// would have made), as `io_counts` gives them; its tasks count their own.
    fn driver_io(&self) -> Vec<u64> {
        self.inner.driver_io().values().to_vec()
    }

    /// The stages started so far: (label, job).
    fn stages(&self) -> Vec<(String, Job)> {
        self.inner.stages().into_iter().map(|(label, job)| (label, Job::of(job))).collect()
    }

    /// The result, once the action ended: an Arrow stream (collect), a row count (count), the
    /// manifest (write), as a dict, or None (a simulation). Raises the action's error.
    fn result<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let taken = self.inner.take().ok_or_else(|| {
            pyo3::exceptions::PyRuntimeError::new_err("the action has not ended, or its result was taken")
        })?;
        match taken.map_err(|e| exec_error(py, e))? {
            JobOutput::Batches(schema, batches) => Ok(Bound::new(py, ArrowStream::new(schema, batches))?.into_any()),
            JobOutput::Rows(n) => Ok(n.into_pyobject(py)?.into_any()),
            JobOutput::Simulated => Ok(py.None().into_bound(py)),
            JobOutput::Written(manifest) => {
                let value =
                    serde_json::to_value(&manifest).map_err(|e| crate::errors::json_error(py, "manifest", e))?;
                to_py(py, &value)
            }
        }
    }
}

/// A JSON value as Python's own objects (dict, list, str, int, float, bool, None).
fn to_py<'py>(py: Python<'py>, value: &serde_json::Value) -> PyResult<Bound<'py, PyAny>> {
    use serde_json::Value;
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => b.into_pyobject(py)?.to_owned().into_any(),
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => u.into_pyobject(py)?.into_any(),
            (_, Some(i)) => i.into_pyobject(py)?.into_any(),
            _ => n.as_f64().unwrap_or_default().into_pyobject(py)?.into_any(),
        },
        Value::String(s) => s.into_pyobject(py)?.into_any(),
        Value::Array(items) => {
            PyList::new(py, items.iter().map(|v| to_py(py, v)).collect::<PyResult<Vec<_>>>()?)?.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, v) in map {
                dict.set_item(k, to_py(py, v)?)?;
            }
            dict.into_any()
        }
    })
}
