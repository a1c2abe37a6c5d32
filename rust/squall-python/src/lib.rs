//! `squall._native`: the thin binding between Python and squall's Rust engine. It converts
//! arguments, releases the GIL around every wait, and maps errors (in `errors.rs` only).

use pyo3::prelude::*;

mod errors;
mod scheduler;

/// The compiled core of squall.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<scheduler::Scheduler>()?;
    m.add_class::<scheduler::Job>()?;
    m.add_class::<scheduler::Outcome>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
