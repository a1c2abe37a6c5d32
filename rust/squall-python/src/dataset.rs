//! Bindings for datasets: plans, partition tasks, and reading and writing objects in stores.

use pyo3::prelude::*;
use pyo3::types::PyBytes;
use squall_core::codec::{decode_ipc, encode, Compression, Format};
use squall_core::groupby::{Agg, AggFunc, GroupBy};
use squall_core::plan::{Exchange, Input, Op, PartitionReport, PartitionTask, Plan as CorePlan, Sink};
use squall_core::sort::SortKey;
use squall_exec::partition::{read_object, run_partition, write_object, PartitionError};
use squall_exec::runtime::runtime;

use crate::arrow::{batch_from_py, batch_to_py, stream_from_py, ArrowStream};
use crate::errors::{exec_error, json_error};

fn parse_format(format: &str) -> PyResult<Format> {
    match format {
        "parquet" => Ok(Format::Parquet),
        "ipc" | "arrow" => Ok(Format::Ipc),
        other => Err(pyo3::exceptions::PyValueError::new_err(format!("format={other:?}: use \"parquet\" or \"ipc\""))),
    }
}

fn parse_compression(name: &str) -> PyResult<Compression> {
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

#[pymethods]
impl Plan {
    /// A scan of `inputs`, given as (url, format, size).
    #[staticmethod]
    fn scan(inputs: Vec<(String, String, u64)>, source: String) -> PyResult<Plan> {
        let inputs = inputs
            .into_iter()
            .map(|(url, format, size)| Ok(Input { url, format: parse_format(&format)?, size }))
            .collect::<PyResult<Vec<_>>>()?;
        Ok(Plan { inner: CorePlan::scan(inputs, source) })
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

    /// This plan followed by a group-by; `aggs` are (name, column or None, function). With
    /// `coalesce`, reducers may take several adjacent small buckets.
    #[pyo3(signature = (keys, aggs, partitions, coalesce=false))]
    fn then_groupby(
        &self,
        py: Python<'_>,
        keys: Vec<String>,
        aggs: Vec<(String, Option<String>, String)>,
        partitions: usize,
        coalesce: bool,
    ) -> PyResult<Plan> {
        let aggs = aggs
            .into_iter()
            .map(|(name, column, func)| {
                let func: AggFunc = serde_json::from_value(serde_json::Value::String(func.clone())).map_err(|_| {
                    pyo3::exceptions::PyValueError::new_err(format!(
                        "{name}=({column:?}, {func:?}): the aggregations are count, count_distinct, sum, mean, min, max, std, var, first, last"
                    ))
                })?;
                Ok(Agg { name, column, func })
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

    /// The plan's shuffle: "sort", "groupby", "repartition" or None.
    #[getter]
    fn shuffle(&self) -> Option<&'static str> {
        match &self.inner.exchange {
            Some((Exchange::Sort { .. }, _)) => Some("sort"),
            Some((Exchange::GroupBy { .. }, _)) => Some("groupby"),
            Some((Exchange::Repartition { .. }, _)) => Some("repartition"),
            None => None,
        }
    }

    /// Partitions of the result.
    #[getter]
    fn output_partitions(&self) -> usize {
        self.inner.partitions()
    }

    /// Stage 0 of a sort (JSON tasks): samples of the keys, written under `prefix`.
    fn sample_tasks(&self, py: Python<'_>, prefix: &str) -> PyResult<Vec<String>> {
        let tasks = self.inner.sample_tasks(prefix).map_err(|e| exec_error(py, e.into()))?;
        to_json(py, &tasks)
    }

    /// Stage 1 of a sort (JSON tasks): sorted runs cut at the splitters at `splitters`.
    fn map_tasks(&self, py: Python<'_>, prefix: &str, splitters: &str) -> PyResult<Vec<String>> {
        let tasks = self.inner.map_tasks(prefix, splitters).map_err(|e| exec_error(py, e.into()))?;
        to_json(py, &tasks)
    }

    /// The reduce stage (JSON tasks) from the map tasks' reports (JSON), into `sink` (JSON);
    /// a coalescing plan gives each reducer adjacent buckets until it reads `min_bytes`.
    fn reduce_tasks(
        &self,
        py: Python<'_>,
        map_reports: Vec<String>,
        sink: &str,
        min_bytes: u64,
    ) -> PyResult<Vec<String>> {
        let sink: Sink = serde_json::from_str(sink).map_err(|e| json_error(py, "sink", e))?;
        let mut maps = Vec::with_capacity(map_reports.len());
        for r in &map_reports {
            let report: PartitionReport = serde_json::from_str(r).map_err(|e| json_error(py, "report", e))?;
            maps.push((report.url.unwrap_or_default(), report.buckets.unwrap_or_default()));
        }
        let tasks = self.inner.reduce_tasks(&maps, &sink, min_bytes).map_err(|e| exec_error(py, e.into()))?;
        to_json(py, &tasks)
    }

    /// This plan followed by the first `rows` rows per partition in the order of `keys`.
    fn then_top_k(&self, py: Python<'_>, keys: Vec<(String, bool, bool)>, rows: usize) -> PyResult<Plan> {
        self.then(py, Op::TopK { keys: sort_keys(keys), rows })
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

    /// Total bytes of the inputs.
    #[getter]
    fn input_bytes(&self) -> u64 {
        self.inner.inputs.iter().map(|i| i.size).sum()
    }

    /// Number of Python functions the plan calls.
    #[getter]
    fn udf_count(&self) -> usize {
        self.inner.udf_count()
    }

    /// Partition tasks (JSON) that run the plan into `sink` (JSON).
    fn tasks(&self, py: Python<'_>, sink: &str) -> PyResult<Vec<String>> {
        let sink: Sink = serde_json::from_str(sink).map_err(|e| json_error(py, "sink", e))?;
        let tasks = self.inner.tasks(&sink).map_err(|e| exec_error(py, e.into()))?;
        to_json(py, &tasks)
    }

    /// How the plan runs into `sink` (JSON), its tasks on `runs_on`, as text.
    fn explain(&self, py: Python<'_>, sink: &str, runs_on: &str) -> PyResult<String> {
        let sink: Sink = serde_json::from_str(sink).map_err(|e| json_error(py, "sink", e))?;
        Ok(self.inner.explain(&sink, runs_on))
    }
}

/// Sort keys given from Python as (column, descending, nulls_first).
fn sort_keys(keys: Vec<(String, bool, bool)>) -> Vec<SortKey> {
    keys.into_iter().map(|(column, descending, nulls_first)| SortKey { column, descending, nulls_first }).collect()
}

fn to_json(py: Python<'_>, tasks: &[PartitionTask]) -> PyResult<Vec<String>> {
    tasks.iter().map(|t| serde_json::to_string(t).map_err(|e| json_error(py, "task", e))).collect()
}

impl Plan {
    fn then(&self, py: Python<'_>, op: Op) -> PyResult<Plan> {
        let inner = self.inner.then(op).map_err(|e| exec_error(py, e.into()))?;
        Ok(Plan { inner })
    }
}

/// Runs one partition task (JSON) in this process; `udfs[i]` maps a pyarrow.RecordBatch to
/// another. The GIL is released except while a function runs. Returns the report as JSON.
#[pyfunction]
pub fn execute_partition(py: Python<'_>, task: &str, attempt: u32, udfs: Vec<Py<PyAny>>) -> PyResult<String> {
    let task: PartitionTask = serde_json::from_str(task).map_err(|e| json_error(py, "partition task", e))?;
    let report = py.detach(|| {
        run_partition(&task, attempt, |index, batch| -> PyResult<_> {
            Python::attach(|py| {
                let udf = udfs.get(index).ok_or_else(|| not_sent(index))?;
                batch_from_py(&udf.bind(py).call1((batch_to_py(py, batch)?,))?)
            })
        })
    });
    report_json(py, report)
}

/// [`execute_partition`] of a task (JSON) that calls no Python function, on a thread that does
/// not hold the GIL: it is taken only to raise an error.
pub fn execute_partition_without_python(task: &[u8], attempt: u32) -> PyResult<String> {
    let report = match serde_json::from_slice::<PartitionTask>(task) {
        Ok(task) => run_partition(&task, attempt, |index, _| Err(not_sent(index))),
        Err(e) => return Err(Python::attach(|py| json_error(py, "partition task", e))),
    };
    match report {
        Ok(report) => serde_json::to_string(&report).map_err(|e| Python::attach(|py| json_error(py, "report", e))),
        failed => Python::attach(|py| report_json(py, failed)),
    }
}

fn not_sent(index: usize) -> PyErr {
    pyo3::exceptions::PyIndexError::new_err(format!("the task calls function {index}, which was not sent"))
}

/// A task's report as JSON, or its failure as the exception to raise.
fn report_json(py: Python<'_>, report: Result<PartitionReport, PartitionError<PyErr>>) -> PyResult<String> {
    match report {
        Ok(report) => serde_json::to_string(&report).map_err(|e| json_error(py, "report", e)),
        Err(PartitionError::Udf(e)) => Err(e),
        Err(PartitionError::Engine(e)) => Err(exec_error(py, e)),
    }
}

/// Picks `partitions - 1` splitters from the key samples at `samples`, writes them to `out`;
/// returns how many.
#[pyfunction]
pub fn choose_splitters(py: Python<'_>, samples: Vec<String>, partitions: usize, out: String) -> PyResult<usize> {
    py.detach(|| squall_exec::partition::choose_splitters(&samples, partitions, &out)).map_err(|e| exec_error(py, e))
}

/// Objects that `url` names (a file, a prefix or a glob), as (url, size), sorted.
#[pyfunction]
pub fn resolve(py: Python<'_>, url: String) -> PyResult<Vec<(String, u64)>> {
    let found = py.detach(|| -> squall_exec::Result<_> {
        let (store, objects) = runtime()?.block_on(squall_store::resolve(&url))?;
        Ok(objects.into_iter().map(|o| (store.url_of(&o.key), o.size)).collect())
    });
    found.map_err(|e| exec_error(py, e))
}

/// Reads Arrow IPC objects into one stream; their schemas must agree. Errors name each object by
/// its entry in `names` (e.g. the input a scratch object was computed from), or by its URL.
#[pyfunction]
#[pyo3(signature = (urls, names = None))]
pub fn read_ipc(py: Python<'_>, urls: Vec<String>, names: Option<Vec<String>>) -> PyResult<ArrowStream> {
    let names = names.unwrap_or_else(|| urls.clone());
    let read = py.detach(|| -> squall_exec::Result<_> {
        let mut schema = None;
        let mut batches = Vec::new();
        let mut first_url = String::new();
        for (url, name) in urls.iter().zip(&names) {
            let decoded = decode_ipc(read_object(url)?, url)?;
            let rows: usize = decoded.batches.iter().map(|b| b.num_rows()).sum();
            match &schema {
                None => {
                    schema = Some(decoded.schema.clone());
                    first_url = name.clone();
                }
                // A partition without rows may not know the schema a function would give.
                Some(_) if rows == 0 => continue,
                Some(s) if *s != decoded.schema && batches.is_empty() => {
                    schema = Some(decoded.schema.clone());
                    first_url = name.clone();
                }
                Some(s) if *s != decoded.schema => {
                    return Err(squall_core::Error::Data {
                        url: name.clone(),
                        what: "combine the result of".into(),
                        message: format!(
                            "its schema differs from that of {first_url}:\n  {}\nvs\n  {}",
                            decoded.schema, s
                        ),
                    }
                    .into())
                }
                Some(_) => {}
            }
            batches.extend(decoded.batches.into_iter().filter(|b| b.num_rows() > 0));
        }
        Ok((schema, batches))
    });
    let (schema, batches) = read.map_err(|e| exec_error(py, e))?;
    let schema = schema.unwrap_or_else(|| std::sync::Arc::new(arrow_schema::Schema::empty()));
    Ok(ArrowStream::new(schema, batches))
}

/// Writes a pyarrow.Table (any `__arrow_c_stream__` object) to `url` as parquet or ipc,
/// compressed as `compression` says (by default as squall's intermediate objects are); returns
/// the bytes written.
#[pyfunction]
#[pyo3(signature = (table, url, format, compression=None))]
pub fn write_table(
    py: Python<'_>,
    table: &Bound<'_, PyAny>,
    url: String,
    format: &str,
    compression: Option<&str>,
) -> PyResult<u64> {
    let format = parse_format(format)?;
    let compression = match compression {
        Some(name) => parse_compression(name)?,
        None => Compression::for_scratch(&url),
    };
    let (schema, batches) = stream_from_py(table)?;
    py.detach(|| -> squall_exec::Result<u64> {
        let bytes = encode(format, compression, &schema, &batches, &url)?;
        let n = bytes.len() as u64;
        write_object(&url, bytes)?;
        Ok(n)
    })
    .map_err(|e| exec_error(py, e))
}

/// Writes bytes to `url` atomically.
#[pyfunction]
pub fn write_bytes(py: Python<'_>, url: String, data: Vec<u8>) -> PyResult<()> {
    py.detach(|| write_object(&url, data.into())).map_err(|e| exec_error(py, e))
}

/// Reads the object at `url`.
#[pyfunction]
pub fn read_bytes<'py>(py: Python<'py>, url: String) -> PyResult<Bound<'py, PyBytes>> {
    let data = py.detach(|| read_object(&url)).map_err(|e| exec_error(py, e))?;
    Ok(PyBytes::new(py, &data))
}

/// Reads bytes `start..end` of the object at `url`.
#[pyfunction]
pub fn read_range<'py>(py: Python<'py>, url: String, start: u64, end: u64) -> PyResult<Bound<'py, PyBytes>> {
    let data = py
        .detach(|| -> squall_exec::Result<_> {
            let (store, key) = squall_store::open(&url)?;
            Ok(runtime()?.block_on(store.get_range(&key, start..end))?)
        })
        .map_err(|e| exec_error(py, e))?;
    Ok(PyBytes::new(py, &data))
}

/// Deletes the objects at `urls` (missing ones are fine), several at once; with `prefix`, every
/// object whose URL starts with one of `urls`.
#[pyfunction]
#[pyo3(signature = (urls, prefix = false))]
pub fn delete(py: Python<'_>, urls: Vec<String>, prefix: bool) -> PyResult<()> {
    py.detach(|| -> squall_exec::Result<()> {
        runtime()?.block_on(async {
            let mut jobs: Vec<squall_store::BoxFuture<'static, squall_store::Result<()>>> = Vec::new();
            for url in &urls {
                let (store, key) = squall_store::open(url)?;
                let keys = match prefix {
                    true => store.list(&key).await?.into_iter().map(|m| m.key).collect(),
                    false => vec![key],
                };
                for key in keys {
                    let store = store.clone();
                    jobs.push(Box::pin(async move { store.delete(&key).await }));
                }
            }
            squall_store::in_parallel(jobs).await?;
            Ok(())
        })
    })
    .map_err(|e| exec_error(py, e))
}

/// Moves objects (`from`, `to`) within their store, several at once; each replaces `to`
/// atomically.
#[pyfunction]
pub fn rename(py: Python<'_>, pairs: Vec<(String, String)>) -> PyResult<()> {
    py.detach(|| -> squall_exec::Result<()> {
        let mut jobs: Vec<squall_store::BoxFuture<'static, squall_store::Result<()>>> = Vec::new();
        for (from, to) in &pairs {
            let (store, from_key) = squall_store::open(from)?;
            let (_, to_key) = squall_store::open(to)?;
            jobs.push(Box::pin(async move { store.rename(&from_key, &to_key).await }));
        }
        runtime()?.block_on(squall_store::in_parallel(jobs))?;
        Ok(())
    })
    .map_err(|e| exec_error(py, e))
}

/// This process's store requests and bytes so far, or those of the task running on this
/// thread when it runs in-process: (puts, gets, lists, deletes, bytes_read, bytes_written).
#[pyfunction]
pub fn io_counts() -> (u64, u64, u64, u64, u64, u64) {
    let c = squall_store::io_counts();
    (c.puts, c.gets, c.lists, c.deletes, c.bytes_read, c.bytes_written)
}

/// Returns the process's free memory to the system: the big blocks kept for reuse, and the
/// heap (glibc's `malloc_trim`).
#[pyfunction]
pub fn release_memory() {
    squall_exec::malloc::trim();
}
