//! squall-exec: the scheduler and the backends that run task attempts.
//!
//! The [`Scheduler`] owns the task queue, retries, timeouts and cancellation; a [`Backend`]
//! runs one attempt at a time per slot (a local worker process, a Lambda invocation, or a
//! simulated fleet around either). Results land on a [`Board`] that callers wait on from any thread.

pub mod alloc;
pub mod backend;
pub mod board;
pub mod commit;
pub mod deploy;
pub mod driver;
pub mod error;
pub mod estimate;
mod graph;
pub mod ipc_scan;
mod job;
pub mod lambda;
pub mod local;
pub mod memory;
mod merge;
pub mod output;
pub mod owner;
pub mod parquet_scan;
pub mod partition;
mod policy;
mod prune;
pub mod runtime;
pub mod scheduler;
pub mod scratch;
mod shuffle_io;
pub mod simulated;
pub mod sized;
mod spill;
pub mod split;
pub mod spread;
pub mod store_model;
pub mod task_threads;
pub mod window;

pub use backend::{Backend, Failure, Function, Invocation, Reply};
pub use board::{AttemptRecord, Board, JobProgress, Outcome};
pub use error::{Error, Result};
pub use lambda::{LambdaBackend, LambdaConfig};
pub use local::{LocalBackend, LocalConfig};
pub use scheduler::{JobHandle, JobId, JobSpec, MemoryLimit, Scheduler, Speculation, Work};
pub use simulated::{FleetModel, SimulatedBackend};
