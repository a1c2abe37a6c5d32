//! `squall.StoreModel`: the store of a simulated fleet (squall_exec::store_model).

use pyo3::prelude::*;
use squall_exec::store_model::StoreModel as Model;

/// The object store a simulated fleet's tasks talk to: each attempt's requests and bytes take
/// simulated time (a first byte per round of requests in flight, bytes at the function's
/// bandwidth), and requests past the store's rate (per prefix, over the prefixes squall spreads
/// its keys across) are answered 503 SlowDown and wait; `job.stats` counts them
/// (`slowdowns`). `StoreModel.s3_standard()` and `StoreModel.s3_express()` hold AWS's published
/// figures; keyword arguments change any of them.
#[pyclass(frozen, module = "squall._native", name = "StoreModel")]
#[derive(Clone)]
pub struct StoreModel {
    pub(crate) inner: Model,
}

#[pymethods]
impl StoreModel {
    /// S3 Standard's figures, changed by the keywords given.
    #[new]
    #[pyo3(signature = (*, first_byte_s = None, bandwidth_bytes_s = None, streams = None, prefixes = None, put_per_s = None, get_per_s = None))]
    fn new(
        first_byte_s: Option<f64>,
        bandwidth_bytes_s: Option<f64>,
        streams: Option<usize>,
        prefixes: Option<usize>,
        put_per_s: Option<f64>,
        get_per_s: Option<f64>,
    ) -> PyResult<Self> {
        let m = Model::s3_standard();
        let model = StoreModel {
            inner: Model {
                first_byte_s: first_byte_s.unwrap_or(m.first_byte_s),
                bandwidth_bytes_s: bandwidth_bytes_s.unwrap_or(m.bandwidth_bytes_s),
                streams: streams.unwrap_or(m.streams),
                prefixes: prefixes.unwrap_or(m.prefixes),
                put_per_s: put_per_s.unwrap_or(m.put_per_s),
                get_per_s: get_per_s.unwrap_or(m.get_per_s),
                name: m.name,
            },
        };
        let i = &model.inner;
        // A time of infinity (no bandwidth, no rate) would stop every simulated clock.
        let positive = [i.bandwidth_bytes_s, i.put_per_s, i.get_per_s].iter().all(|v| v.is_finite() && *v > 0.0);
        if !(positive && i.first_byte_s.is_finite() && i.first_byte_s >= 0.0) {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "StoreModel: bandwidth_bytes_s, put_per_s and get_per_s must be positive, first_byte_s 0 or more",
            ));
        }
        Ok(model)
    }

    /// S3 Standard: 150 ms to the first byte, 100 MB/s per function, 3,500 PUT and 5,500 GET
    /// per second per prefix over 256 prefixes.
    #[staticmethod]
    fn s3_standard() -> Self {
        StoreModel { inner: Model::s3_standard() }
    }

    /// S3 Express One Zone: 5 ms to the first byte, one directory bucket of 200,000 PUT and
    /// 2,000,000 GET per second.
    #[staticmethod]
    fn s3_express() -> Self {
        StoreModel { inner: Model::s3_express() }
    }

    /// The store's name.
    #[getter]
    fn name(&self) -> &str {
        &self.inner.name
    }
    /// Simulated seconds to the first byte of a request.
    #[getter]
    fn first_byte_s(&self) -> f64 {
        self.inner.first_byte_s
    }
    /// Bytes per simulated second one function moves.
    #[getter]
    fn bandwidth_bytes_s(&self) -> f64 {
        self.inner.bandwidth_bytes_s
    }
    /// Requests one function has in flight at once.
    #[getter]
    fn streams(&self) -> usize {
        self.inner.streams
    }
    /// Prefixes the requests spread over.
    #[getter]
    fn prefixes(&self) -> usize {
        self.inner.prefixes
    }
    /// PUT requests per second per prefix.
    #[getter]
    fn put_per_s(&self) -> f64 {
        self.inner.put_per_s
    }
    /// GET requests per second per prefix.
    #[getter(get_per_s)]
    fn gets_per_s(&self) -> f64 {
        self.inner.get_per_s
    }

    fn __repr__(&self) -> String {
        let m = &self.inner;
        format!(
            "StoreModel({:?}: first_byte_s={}, bandwidth_bytes_s={:.0}, streams={}, prefixes={}, put_per_s={}, \
             get_per_s={})",
            m.name, m.first_byte_s, m.bandwidth_bytes_s, m.streams, m.prefixes, m.put_per_s, m.get_per_s
        )
    }
}
