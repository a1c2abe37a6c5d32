//! Arrow data across the Python boundary, zero-copy, through the Arrow PyCapsule protocol
//! (`__arrow_c_array__`, `__arrow_c_stream__`) over arrow-rs's C Data Interface.

use std::sync::Mutex;

use arrow_array::ffi::{from_ffi, to_ffi, FFI_ArrowArray, FFI_ArrowSchema};
use arrow_array::ffi_stream::{FFI_ArrowArrayStream, RecordBatchStreamReader};
use arrow_array::{Array, RecordBatch, RecordBatchIterator, RecordBatchReader, StructArray};
use arrow_schema::SchemaRef;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyCapsule, PyTuple};

fn arrow_error(e: arrow_schema::ArrowError) -> PyErr {
    PyValueError::new_err(format!("Arrow data could not cross into squall: {e}"))
}

/// Takes what an export object holds; the C interface moves data, so it goes out once.
fn take_once<T>(slot: &Mutex<Option<T>>, spent: &'static str) -> PyResult<T> {
    slot.lock().unwrap_or_else(|e| e.into_inner()).take().ok_or_else(|| PyValueError::new_err(spent))
}

/// Takes a record batch from any object with `__arrow_c_array__` (a pyarrow.RecordBatch).
pub fn batch_from_py(obj: &Bound<'_, PyAny>) -> PyResult<RecordBatch> {
    if !obj.hasattr("__arrow_c_array__")? {
        let kind = obj.get_type().name()?;
        return Err(PyTypeError::new_err(format!("expected a pyarrow.RecordBatch, got {kind}")));
    }
    let pair = obj.call_method0("__arrow_c_array__")?;
    let (schema, array): (Bound<'_, PyCapsule>, Bound<'_, PyCapsule>) = pair.extract()?;
    let schema = schema.pointer_checked(Some(c"arrow_schema"))?.cast::<FFI_ArrowSchema>();
    let array = array.pointer_checked(Some(c"arrow_array"))?.cast::<FFI_ArrowArray>();
    // SAFETY: the capsules hold C Data Interface structs, as their names promise; `from_raw`
    // moves the array out and leaves the capsule's copy released.
    let data = unsafe {
        let array = FFI_ArrowArray::from_raw(array.as_ptr());
        from_ffi(array, schema.as_ref())
    }
    .map_err(arrow_error)?;
    Ok(RecordBatch::from(StructArray::from(data)))
}

/// Hands a record batch to Python as a pyarrow.RecordBatch (no copy).
pub fn batch_to_py<'py>(py: Python<'py>, batch: RecordBatch) -> PyResult<Bound<'py, PyAny>> {
    static RECORD_BATCH: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let make = RECORD_BATCH.get_or_try_init(py, || py.import("pyarrow")?.getattr("record_batch").map(Bound::unbind))?;
    make.bind(py).call1((ArrowBatch { batch: Mutex::new(Some(batch)) },))
}

/// One record batch, exported once through `__arrow_c_array__`.
#[pyclass(frozen, module = "squall._native")]
pub struct ArrowBatch {
    batch: Mutex<Option<RecordBatch>>,
}

#[pymethods]
impl ArrowBatch {
    #[pyo3(signature = (requested_schema = None))]
    fn __arrow_c_array__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let _ = requested_schema;
        let batch = take_once(&self.batch, "this batch was already exported")?;
        let (array, schema) = to_ffi(&StructArray::from(batch).to_data()).map_err(arrow_error)?;
        let schema = PyCapsule::new_with_value(py, schema, c"arrow_schema")?;
        let array = PyCapsule::new_with_value(py, array, c"arrow_array")?;
        PyTuple::new(py, [schema.into_any(), array.into_any()])
    }
}

/// A stream of record batches with one schema, exported once through `__arrow_c_stream__`
/// (``pyarrow.table(stream)`` reads it).
#[pyclass(frozen, module = "squall._native")]
pub struct ArrowStream {
    inner: Mutex<Option<(SchemaRef, Vec<RecordBatch>)>>,
}

impl ArrowStream {
    /// A stream over `batches`.
    pub fn new(schema: SchemaRef, batches: Vec<RecordBatch>) -> Self {
        ArrowStream { inner: Mutex::new(Some((schema, batches))) }
    }
}

#[pymethods]
impl ArrowStream {
    #[pyo3(signature = (requested_schema = None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let _ = requested_schema;
        let (schema, batches) = take_once(&self.inner, "this stream was already read")?;
        let reader = RecordBatchIterator::new(batches.into_iter().map(Ok), schema);
        let stream = FFI_ArrowArrayStream::new(Box::new(reader));
        PyCapsule::new_with_value(py, stream, c"arrow_array_stream")
    }
}

/// Reads every batch of any object with `__arrow_c_stream__` (a pyarrow.Table or reader).
pub fn stream_from_py(obj: &Bound<'_, PyAny>) -> PyResult<(SchemaRef, Vec<RecordBatch>)> {
    if !obj.hasattr("__arrow_c_stream__")? {
        let kind = obj.get_type().name()?;
        return Err(PyTypeError::new_err(format!("expected a pyarrow.Table, got {kind}")));
    }
    let capsule = obj.call_method0("__arrow_c_stream__")?;
    let capsule = capsule.cast::<PyCapsule>()?;
    let ptr = capsule.pointer_checked(Some(c"arrow_array_stream"))?.cast::<FFI_ArrowArrayStream>();
    // SAFETY: the capsule holds a C stream struct; `from_raw` moves it out.
    let stream = unsafe { FFI_ArrowArrayStream::from_raw(ptr.as_ptr()) };
    let reader = RecordBatchStreamReader::try_new(stream).map_err(arrow_error)?;
    let schema = reader.schema();
    let batches = reader.collect::<Result<Vec<_>, _>>().map_err(arrow_error)?;
    Ok((schema, batches))
}
