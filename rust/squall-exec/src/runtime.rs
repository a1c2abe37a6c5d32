//! The one tokio runtime of a process, created on first use (never before a fork).

use std::sync::OnceLock;

use tokio::runtime::{Builder, Runtime};

use crate::{Error, Result};

static RUNTIME: OnceLock<Runtime> = OnceLock::new();

/// Returns the process-wide runtime, creating it on first call.
pub fn runtime() -> Result<&'static Runtime> {
    if let Some(rt) = RUNTIME.get() {
        return Ok(rt);
    }
    // Before the runtime's threads exist, so that they allocate from the main arena.
    crate::malloc::one_arena();
    let rt = Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("squall-io")
        .enable_all()
        .build()
        .map_err(Error::Runtime)?;
    // Another thread may have won the race; its runtime is kept and ours dropped.
    let _ = RUNTIME.set(rt);
    Ok(RUNTIME.get().expect("runtime was just set"))
}
