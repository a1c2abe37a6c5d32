//! The one tokio runtime of a process, created on first use (never before a fork), and virtual
//! clocks for simulations that run nothing for real.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use tokio::runtime::{Builder, Runtime};

use crate::{Error, Result};

static RUNTIME: OnceLock<Runtime> = OnceLock::new();

/// The runtime's async workers: its other threads are its blocking pool.
const WORKERS: usize = 2;

/// The runtime's threads alive now.
static THREADS: AtomicUsize = AtomicUsize::new(0);

/// Threads of the runtime's blocking pool alive now (those that run tasks and file I/O).
pub fn blocking_threads() -> usize {
    THREADS.load(Ordering::Relaxed).saturating_sub(WORKERS)
}

/// Returns the process-wide runtime, creating it on first call.
pub fn runtime() -> Result<&'static Runtime> {
    if let Some(rt) = RUNTIME.get() {
        return Ok(rt);
    }
    let rt = Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .thread_name("squall-io")
        .on_thread_start(|| {
            THREADS.fetch_add(1, Ordering::Relaxed);
        })
        .on_thread_stop(|| {
            THREADS.fetch_sub(1, Ordering::Relaxed);
        })
        .enable_all()
        .build()
        .map_err(Error::Runtime)?;
    // Another thread may have won the race; its runtime is kept and ours dropped.
    let _ = RUNTIME.set(rt);
    Ok(RUNTIME.get().expect("runtime was just set"))
}

/// A runtime of its own on one thread whose clock is virtual: it stands still while tasks
/// work and jumps to the next timer whenever every task waits, so simulated hours of sleeps
/// pass in the time the work between them takes. Dropping it stops the thread.
pub struct VirtualClock {
    handle: tokio::runtime::Handle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl VirtualClock {
    /// Starts the runtime's thread.
    pub fn start() -> Result<VirtualClock> {
        let rt = Builder::new_current_thread().enable_time().start_paused(true).build().map_err(Error::Runtime)?;
        let handle = rt.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("squall-virtual-clock".into())
            .spawn(move || {
                let _ = rt.block_on(stopped);
            })
            .map_err(Error::Runtime)?;
        Ok(VirtualClock { handle, stop: Some(stop) })
    }

    /// Where to spawn the tasks that run on this clock.
    pub fn handle(&self) -> &tokio::runtime::Handle {
        &self.handle
    }
}

impl Drop for VirtualClock {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Seconds since the Unix epoch, as attempts' reports give their start and end; on a
/// [`VirtualClock`]'s runtime, its virtual time.
pub fn now_epoch() -> f64 {
    static BASE: std::sync::OnceLock<(std::time::Instant, f64)> = std::sync::OnceLock::new();
    let (instant, epoch) = *BASE.get_or_init(|| {
        let epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or_default();
        (std::time::Instant::now(), epoch)
    });
    epoch + tokio::time::Instant::now().into_std().saturating_duration_since(instant).as_secs_f64()
}
