//! squall-core: plans, task specs, task reports, the frame format and Arrow kernels.
//!
//! This crate has no async runtime, no AWS and no Python: the same types are read by the
//! scheduler (`squall-exec`), the binding (`squall-python`) and, through JSON, by the Python
//! worker (`squall._worker`).

pub mod budget;
pub mod cancel;
pub mod codec;
pub mod columns;
mod dictionary;
pub mod error;
mod explain;
pub mod expr;
pub mod file_types;
mod floats;
pub mod frame;
pub mod groupby;
pub mod hive;
pub mod manifest;
pub mod merge;
mod native;
pub mod placement;
pub mod plan;
pub mod prices;
pub mod redact;
pub mod shape;
pub mod shuffle;
pub mod sort;
pub mod spec;
pub mod stages;
pub mod tier;

pub use error::{Error, Result};
pub use spec::{ErrorKind, InputRef, TaskIo, TaskReport, TaskSpec, UserError, WorkerHello};
