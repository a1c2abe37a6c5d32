//! The tokio runtime of a process, created on first use (a forked child creates its own: see
//! `squall_store::process`), and virtual clocks for simulations that run nothing for real.

use squall_store::process::PerProcess;
use tokio::runtime::{Builder, Runtime};

use crate::{Error, Result};

static RUNTIME: PerProcess<Runtime> = PerProcess::new();

/// The runtime's async workers: its other threads are its blocking pool.
const WORKERS: usize = 2;

/// Returns this process's runtime, creating it on first call.
pub fn runtime() -> Result<&'static Runtime> {
    RUNTIME.get_or_try_init(|| {
        Builder::new_multi_thread()
            .worker_threads(WORKERS)
            .thread_name("squall-io")
            .enable_all()
            .build()
            .map_err(Error::Runtime)
    })
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
