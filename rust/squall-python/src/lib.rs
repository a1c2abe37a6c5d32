//! `squall._native`: the thin binding between Python and squall's Rust engine. It converts
//! arguments, releases the GIL around every wait, and maps errors (in `errors.rs` only).

use pyo3::prelude::*;

mod arrow;
mod budget;
mod dataset;
mod errors;
mod expr;
mod fleet_model;
mod in_process;
mod lambda;
mod scheduler;
mod store;
mod store_model;
mod task;

/// squall's own allocations never come from the host's malloc (`squall_exec::alloc`).
#[global_allocator]
static ALLOCATOR: squall_exec::alloc::Allocator = squall_exec::alloc::Allocator;

/// The compiled core of squall.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    if let Err(problem) = squall_exec::alloc::configure() {
        PyErr::warn(
            m.py(),
            &m.py().get_type::<pyo3::exceptions::PyRuntimeWarning>(),
            &std::ffi::CString::new(problem)?,
            1,
        )?;
    }
    m.add_class::<scheduler::Scheduler>()?;
    m.add_class::<scheduler::Job>()?;
    m.add_class::<scheduler::Outcome>()?;
    m.add_class::<budget::Budget>()?;
    m.add_class::<store_model::StoreModel>()?;
    m.add_class::<fleet_model::FleetModel>()?;
    m.add_class::<dataset::Plan>()?;
    m.add_class::<expr::Expr>()?;
    m.add_class::<dataset::Datasets>()?;
    m.add_class::<dataset::Running>()?;
    m.add_class::<arrow::ArrowBatch>()?;
    m.add_class::<arrow::ArrowStream>()?;
    m.add_function(wrap_pyfunction!(task::execute_frame, m)?)?;
    m.add_function(wrap_pyfunction!(store::resolve, m)?)?;
    m.add_function(wrap_pyfunction!(store::list_prefix, m)?)?;
    m.add_function(wrap_pyfunction!(store::write_table, m)?)?;
    m.add_function(wrap_pyfunction!(store::write_bytes, m)?)?;
    m.add_function(wrap_pyfunction!(store::read_bytes, m)?)?;
    m.add_function(wrap_pyfunction!(store::read_range, m)?)?;
    m.add_function(wrap_pyfunction!(store::delete, m)?)?;
    m.add_function(wrap_pyfunction!(store::clean, m)?)?;
    m.add_function(wrap_pyfunction!(store::reap_scratch, m)?)?;
    m.add_function(wrap_pyfunction!(store::reap_store, m)?)?;
    m.add_function(wrap_pyfunction!(store::heartbeat, m)?)?;
    m.add_function(wrap_pyfunction!(store::forget_session, m)?)?;
    m.add_function(wrap_pyfunction!(store::scratch_name, m)?)?;
    m.add_function(wrap_pyfunction!(store::io_counts, m)?)?;
    m.add_function(wrap_pyfunction!(store::release_memory, m)?)?;
    m.add_function(wrap_pyfunction!(lambda::deployed_hash, m)?)?;
    m.add_function(wrap_pyfunction!(lambda::deploy_function, m)?)?;
    m.add_function(wrap_pyfunction!(lambda::shard_names, m)?)?;
    m.add_function(wrap_pyfunction!(lambda::lambda_functions, m)?)?;
    m.add_function(wrap_pyfunction!(lambda::ensure_role, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("IO_FIELDS", squall_core::TaskIo::NAMES.to_vec())?;
    m.add("PRICES", squall_core::prices::PRICES.to_vec())?;
    m.add("MAX_SHARDS", squall_exec::deploy::MAX_SHARDS)?;
    m.add_function(wrap_pyfunction!(store::object_cost, m)?)?;
    m.add("TASK_END_MARK", pyo3::types::PyBytes::new(m.py(), squall_exec::local::TASK_END_MARK))?;
    Ok(())
}
