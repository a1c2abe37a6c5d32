//! Bindings for reading, writing, listing and cleaning objects in stores.

use pyo3::prelude::*;
use pyo3::types::PyBytes;
use squall_core::codec::{encode, Compression};
use squall_exec::partition::{delete_prefix, read_object, write_object};
use squall_exec::runtime::runtime;

use crate::arrow::stream_from_py;
use crate::dataset::{parse_compression, parse_format};
use crate::errors::exec_error;

/// A file's URL, its size, and the (column, value) pairs of its `column=value` directories
/// below the location it was found under (`squall_core::hive`).
type Found = (String, u64, squall_core::hive::PathValues);

/// Objects that `url` names (a file, a prefix or a glob), as (url, size, path's columns), sorted.
#[pyfunction]
pub fn resolve(py: Python<'_>, url: String) -> PyResult<Vec<Found>> {
    let found = py.detach(|| -> squall_exec::Result<_> {
        let under = squall_store::listed_under(squall_store::StoreUrl::parse(&url)?.key());
        let (store, objects) = runtime()?.block_on(squall_store::resolve(&url))?;
        let values = |key: &str| key.get(under..).map(squall_core::hive::path_values).unwrap_or_default();
        Ok(objects.into_iter().map(|o| (store.url_of(&o.key), o.size, values(&o.key))).collect())
    });
    found.map_err(|e| exec_error(py, e))
}

/// Every object whose URL starts with `url` (a raw prefix: hidden names and datasets' manifests
/// are not interpreted), as (url, size), sorted; empty when there is none.
#[pyfunction]
pub fn list_prefix(py: Python<'_>, url: String) -> PyResult<Vec<(String, u64)>> {
    let found = py.detach(|| -> squall_exec::Result<_> {
        let (store, prefix) = squall_store::open(&url)?;
        let listed = runtime()?.block_on(store.list(&prefix))?;
        Ok(listed.into_iter().map(|o| (store.url_of(&o.key), o.size)).collect())
    });
    found.map_err(|e| exec_error(py, e))
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
        for url in &urls {
            match prefix {
                true => delete_prefix(url)?,
                false => {
                    let (store, key) = squall_store::open(url)?;
                    runtime()?.block_on(store.delete(&key))?;
                }
            }
        }
        Ok(())
    })
    .map_err(|e| exec_error(py, e))
}

/// Removes what crashed or cancelled jobs left in the dataset directory `url` (attempts of jobs
/// whose process is gone, files no manifest lists any more); returns the URLs removed.
#[pyfunction]
pub fn clean(py: Python<'_>, url: String) -> PyResult<Vec<String>> {
    py.detach(|| squall_exec::commit::clean(&url)).map_err(|e| exec_error(py, e))
}

/// Removes the scratch directories under `parents` left by sessions whose process is gone;
/// returns the paths removed.
#[pyfunction]
pub fn reap_scratch(py: Python<'_>, parents: Vec<std::path::PathBuf>) -> Vec<String> {
    py.detach(|| squall_exec::scratch::reap(&parents.iter().map(|p| p.as_path()).collect::<Vec<_>>()))
}

/// Records that Lambda session `id` of this process uses `<store>/<id>/`, then removes the
/// scratch of the store's sessions that are gone (their process, on this machine) or gave no
/// sign of life for a day; returns the prefixes removed.
#[pyfunction]
pub fn reap_store(py: Python<'_>, store: String, id: String) -> PyResult<Vec<String>> {
    py.detach(|| {
        squall_exec::scratch::heartbeat(&store, &id)?;
        squall_exec::scratch::reap_store(&store)
    })
    .map_err(|e| exec_error(py, e))
}

/// Removes Lambda session `id`'s scratch `<store>/<id>/` and its record (the session closed).
#[pyfunction]
pub fn forget_session(py: Python<'_>, store: String, id: String) -> PyResult<()> {
    py.detach(|| squall_exec::scratch::forget(&store, &id)).map_err(|e| exec_error(py, e))
}

/// Records that Lambda session `id` of this process still uses `<store>/<id>/`.
#[pyfunction]
pub fn heartbeat(py: Python<'_>, store: String, id: String) -> PyResult<()> {
    py.detach(|| squall_exec::scratch::heartbeat(&store, &id)).map_err(|e| exec_error(py, e))
}

/// A name for a new scratch directory of this process (`squall-scratch-<owner>-<random>`).
#[pyfunction]
pub fn scratch_name() -> String {
    squall_exec::scratch::new_name()
}

/// What an intermediate object of `bytes`, read in `reads` requests, costs in the store (S3)
/// and in a fast store (ElastiCache Serverless for Valkey), in USD: a session with both puts
/// it where it costs less.
#[pyfunction]
pub fn object_cost(bytes: u64, reads: u64) -> (f64, f64) {
    let cost = squall_core::tier::ObjectCost::of(bytes, reads);
    (cost.store, cost.fast)
}

/// This process's store requests and bytes so far, outside the tasks it ran on its threads, or
/// those of the task running on this thread when it runs in-process, named by `IO_FIELDS`.
#[pyfunction]
pub fn io_counts() -> Vec<u64> {
    squall_store::io_counts().values().to_vec()
}

/// Returns the free memory of squall's allocator to the system; with `process_heap`, glibc's
/// free heap too (`malloc_trim`), which only squall's own worker processes ask for.
#[pyfunction]
#[pyo3(signature = (process_heap=false))]
pub fn release_memory(process_heap: bool) {
    squall_exec::alloc::release();
    if process_heap {
        squall_exec::alloc::trim_process_heap();
    }
}
