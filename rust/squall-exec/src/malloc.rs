//! glibc's malloc settings for engine tasks on threads of a process that squall does not own
//! (a notebook's). Worker processes get the same settings from their environment
//! (`GLIBC_TUNABLES`, see the Python session); a notebook is running before squall is imported,
//! so here they are set with `mallopt`.
//!
//! Why: a task allocates and frees many buffers. By default those above glibc's (sliding)
//! mapping threshold are fresh mappings whose pages the kernel zeroes on first touch, and every
//! thread allocates from an arena of its own. With one arena and no mappings, the pages a task
//! freed serve the next one. On two cores this took a 1 GB sort on threads from about 2.6 s to
//! 1.5 s. Blocks of 4 MB and more no longer come from glibc at all ([`crate::big_alloc`], which
//! serves any thread); the settings here still save 5% or more of the sort's CPU on the smaller
//! ones.
//!
//! - [`one_arena`]: threads that allocate for the first time after it share the main arena.
//!   It is called when squall creates its runtime, before its own threads exist; glibc fixes
//!   the arena limit for good once it is first reached, so this one setting stays.
//! - While tasks run ([`task_started`]), large blocks come from the heap and freed memory stays
//!   there. Once the process has been idle for a while ([`settle`]), glibc's usual steady state
//!   returns (32 MB mapping threshold, 64 MB trim threshold) and free memory goes back to the
//!   system.

use std::sync::Mutex;

struct State {
    running: usize,
    generation: u64,
}

static STATE: Mutex<State> = Mutex::new(State { running: 0, generation: 0 });

fn state() -> std::sync::MutexGuard<'static, State> {
    STATE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Threads that allocate for the first time from now on share the main malloc arena.
pub fn one_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes how allocations to come are served; it is thread-safe.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// A task starts: the engine's settings hold until the process is idle again.
pub fn task_started() {
    let mut s = state();
    s.running += 1;
    s.generation += 1;
    if s.running == 1 {
        set(i32::MAX, i32::MAX);
    }
}

/// A task ended; returns what to hand [`settle`] after an idle pause.
pub fn task_finished() -> u64 {
    let mut s = state();
    s.running = s.running.saturating_sub(1);
    s.generation
}

/// glibc's usual mapping threshold, and its trim threshold once the process has settled.
const USUAL: (i32, i32) = (32 << 20, 64 << 20);

/// Whether no task has started since [`task_finished`] returned `generation`.
fn idle_since(s: &State, generation: u64) -> bool {
    s.running == 0 && s.generation == generation
}

/// Restores glibc's usual settings and returns free memory to the system, unless a task has
/// started since [`task_finished`] returned `generation`. Returns whether it did.
///
/// `malloc_trim` (in [`trim`]) frees the main arena's top only. In a process where other arenas
/// existed before squall's runtime (a notebook's numpy and pyarrow threads make them), some of
/// squall's threads allocate from those, and such an arena's top goes back to the system only
/// when one of its threads frees a large block while the trim threshold is below the top's
/// size: so each blocking thread of the runtime, held by a barrier until all have one, frees
/// such a block at a low threshold before the usual one returns.
pub async fn settle(generation: u64) -> bool {
    {
        let s = state();
        if !idle_since(&s, generation) {
            return false;
        }
        set(USUAL.0, 128 << 10);
        trim();
    }
    let threads = crate::runtime::blocking_threads();
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(threads.max(1)));
    let frees: Vec<_> = (0..threads)
        .map(|_| {
            let barrier = barrier.clone();
            tokio::task::spawn_blocking(move || {
                barrier.wait();
                // From this thread's arena (below the mapping threshold), then freed into its top.
                drop(std::hint::black_box(Vec::<u8>::with_capacity(1 << 20)));
            })
        })
        .collect();
    for free in frees {
        let _ = free.await;
    }
    // A task that started meanwhile set its own thresholds.
    if idle_since(&state(), generation) {
        set(USUAL.0, USUAL.1);
    }
    true
}

/// Returns free heap memory, and the big blocks kept for reuse, to the system.
pub fn trim() {
    crate::big_alloc::release();
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn set(mmap_threshold: i32, trim_threshold: i32) {
    // SAFETY: as in one_arena.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, mmap_threshold);
        libc::mallopt(libc::M_TRIM_THRESHOLD, trim_threshold);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set(_mmap_threshold: i32, _trim_threshold: i32) {}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tests share the one malloc state.
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

    #[test]
    fn settles_only_when_idle_and_nothing_started_since() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let rt = crate::runtime::runtime().unwrap();
        task_started();
        task_started();
        let first = task_finished();
        assert!(!rt.block_on(settle(first)), "a task still runs");
        let idle = task_finished();
        task_started();
        assert!(!rt.block_on(settle(idle)), "a task started since");
        let idle = task_finished();
        assert!(rt.block_on(settle(idle)));
    }

    #[test]
    fn arenas_are_trimmed_on_every_blocking_thread_once_idle() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let rt = crate::runtime::runtime().unwrap();
        let pause = || std::thread::sleep(std::time::Duration::from_millis(20));
        rt.block_on(async {
            let busy: Vec<_> = (0..4).map(|_| tokio::task::spawn_blocking(pause)).collect();
            for b in busy {
                b.await.unwrap();
            }
        });
        assert!(crate::runtime::blocking_threads() >= 4, "the pool keeps its idle threads");
        task_started();
        let generation = task_finished();
        // Every blocking thread takes part (the barrier waits for all): it returns.
        let limit = std::time::Duration::from_secs(10);
        assert!(rt.block_on(async { tokio::time::timeout(limit, settle(generation)).await }).expect("trimmed"));
        // A task started since: nothing to do.
        task_started();
        assert!(!rt.block_on(async { tokio::time::timeout(limit, settle(generation)).await }).expect("returned"));
        task_finished();
    }
}
