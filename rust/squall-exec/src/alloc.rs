//! squall's own allocations come from jemalloc, the extension's global allocator, built in with
//! a prefix of its own (`_rjem_`): the host's malloc (glibc's, which Python and the user's
//! libraries use) is never tuned or trimmed by squall in the user's process. jemalloc is tuned
//! through `SQUALL_MALLOC_CONF` only, e.g.
//! `SQUALL_MALLOC_CONF="dirty_decay_ms=0"`.
//!
//! Why jemalloc: it reuses the pages a query freed for the next allocations, where mimalloc (tried
//! first) kept mapping fresh memory for each query (its resident size grew by about 100 MB per
//! run of one group-by) and asked for transparent huge pages, which on virtual machines whose
//! host takes back free memory cost the kernel a slow fault per 2 MB when touched again.

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::{c_char, c_void, CString};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use squall_store::process::PerProcess;
use tikv_jemalloc_sys as je;
use tikv_jemallocator::Jemalloc;

/// The allocator: `squall._native` declares it its `#[global_allocator]`. jemalloc, except that
/// zeroed memory is written with zeros: jemalloc would hand the pages of a reused block back to
/// the system to get zeros (`MADV_DONTNEED`), and each one would then fault in anew when
/// touched (a group-by's accumulators, made per batch, faulted 12,000 pages per query).
pub struct Allocator;

// SAFETY: every call goes to jemalloc's own; a zeroed block is jemalloc's block filled with
// zeros over the size asked for.
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        unsafe { Jemalloc.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let block = unsafe { Jemalloc.alloc(layout) };
        if !block.is_null() {
            unsafe { block.write_bytes(0, layout.size()) };
        }
        block
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        unsafe { Jemalloc.dealloc(block, layout) }
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, size: usize) -> *mut u8 {
        unsafe { Jemalloc.realloc(block, layout, size) }
    }
}

/// jemalloc's settings when it starts, before any allocation. `oversize_threshold:0`: a big
/// allocation (a column, a list of a group's values) comes from the arenas every allocation
/// uses, whose freed pages the next query reuses; by default it would come from an arena of its
/// own that hands each freed one straight back to the system, so that every query faults its
/// memory in anew.
#[used]
#[export_name = "_rjem_malloc_conf"]
pub static MALLOC_CONF: Option<&'static c_char> = Some(
    // SAFETY: a reference to the first byte of a static, nul-terminated string.
    unsafe { &*c"oversize_threshold:0".as_ptr() },
);

/// The variable that tunes squall's allocator.
pub const CONF_VAR: &str = "SQUALL_MALLOC_CONF";

/// The jemalloc settings `SQUALL_MALLOC_CONF` may change while it runs, by name: each arena's
/// (and each later arena's) delay before freed pages go back to the system, in milliseconds
/// (-1: never; 0: at once), as jemalloc's documentation describes them.
const OPTIONS: &[&str] = &["dirty_decay_ms", "muzzy_decay_ms"];

/// `name=value` pairs separated by commas, for jemalloc's settings in [`OPTIONS`].
pub fn parse(conf: &str) -> Result<Vec<(&'static str, isize)>, String> {
    let mut settings = Vec::new();
    for pair in conf.split(',').map(str::trim).filter(|pair| !pair.is_empty()) {
        let (name, value) = pair.split_once('=').ok_or_else(|| format!("{pair:?} is not name=value"))?;
        let option = OPTIONS
            .iter()
            .find(|known| **known == name.trim())
            .ok_or_else(|| format!("unknown option {:?} (known: {})", name.trim(), OPTIONS.join(", ")))?;
        let value = value.trim().parse::<isize>().map_err(|_| format!("{pair:?}: the value is not an integer"))?;
        if value < -1 {
            return Err(format!("{pair:?}: the value is below -1"));
        }
        settings.push((*option, value));
    }
    Ok(settings)
}

/// Applies `SQUALL_MALLOC_CONF`, if set; an error names the variable and what was wrong.
pub fn configure() -> Result<(), String> {
    let Ok(conf) = std::env::var(CONF_VAR) else { return Ok(()) };
    let settings = parse(&conf).map_err(|e| format!("{CONF_VAR}={conf:?} was ignored: {e}"))?;
    for (option, value) in settings {
        // Arenas made from now on, then each one there is.
        write(&format!("arenas.{option}"), value).map_err(|e| format!("{CONF_VAR}={conf:?}: {option}: {e}"))?;
        for arena in 0..read::<u32>("arenas.narenas").unwrap_or(0) {
            // An arena not made yet has no setting of its own: it takes the default above.
            let _ = write(&format!("arena.{arena}.{option}"), value);
        }
    }
    Ok(())
}

/// jemalloc's value named `name`.
fn read<T: Copy + Default>(name: &str) -> Result<T, String> {
    let name = CString::new(name).map_err(|e| e.to_string())?;
    let mut value = T::default();
    let mut len = std::mem::size_of::<T>();
    // SAFETY: mallctl writes at most `len` bytes into `value`, a `T` of that size.
    let code = unsafe { je::mallctl(name.as_ptr(), (&mut value as *mut T).cast(), &mut len, std::ptr::null_mut(), 0) };
    (code == 0).then_some(value).ok_or_else(|| std::io::Error::from_raw_os_error(code).to_string())
}

/// Sets jemalloc's value named `name` (or runs the command, for a unit `value`).
fn write<T>(name: &str, mut value: T) -> Result<(), String> {
    let name = CString::new(name).map_err(|e| e.to_string())?;
    let (new, len) = match std::mem::size_of::<T>() {
        0 => (std::ptr::null_mut(), 0),
        size => ((&mut value as *mut T).cast::<c_void>(), size),
    };
    // SAFETY: mallctl reads `len` bytes from `new`, a `T` of that size (none for a command).
    let code = unsafe { je::mallctl(name.as_ptr(), std::ptr::null_mut(), std::ptr::null_mut(), new, len) };
    (code == 0).then_some(()).ok_or_else(|| std::io::Error::from_raw_os_error(code).to_string())
}

/// How long squall's allocator keeps what finished jobs freed, for the next job to reuse, before
/// giving it back to the system (as a worker process does between tasks). A query run again
/// within it finds its memory mapped instead of having the kernel zero every page anew.
pub const IDLE: Duration = Duration::from_secs(1);

/// Jobs running in this process, and how many have ended (a forked child counts its own).
#[derive(Default)]
struct Jobs {
    running: AtomicUsize,
    ended: AtomicU64,
    /// Whether a job ended since the allocator last gave its free memory back.
    kept: AtomicBool,
}

/// This process's jobs.
fn jobs() -> &'static Jobs {
    static JOBS: PerProcess<Jobs> = PerProcess::new();
    JOBS.get_or_init(Jobs::default)
}

/// A running job's hold on what squall's allocator has freed: while any job holds one, nothing
/// is given back; once the last is dropped and no job starts for [`IDLE`], everything is.
pub struct Busy(&'static Jobs);

impl Busy {
    /// Marks a job running.
    pub fn start() -> Busy {
        let jobs = jobs();
        jobs.running.fetch_add(1, Ordering::SeqCst);
        Busy(jobs)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let jobs = self.0;
        let ended = jobs.ended.fetch_add(1, Ordering::SeqCst) + 1;
        jobs.kept.store(true, Ordering::SeqCst);
        jobs.running.fetch_sub(1, Ordering::SeqCst);
        let idle = move || jobs.running.load(Ordering::SeqCst) == 0 && jobs.ended.load(Ordering::SeqCst) == ended;
        match crate::runtime::runtime() {
            Ok(rt) => drop(rt.spawn(async move {
                tokio::time::sleep(IDLE).await;
                if idle() {
                    drop(tokio::task::spawn_blocking(release));
                }
            })),
            Err(_) => release(),
        }
    }
}

/// Gives back now what finished jobs freed, if the allocator may still keep some (a job that
/// needs the room cannot wait for [`IDLE`]); whether it did.
pub fn release_kept() -> bool {
    let kept = jobs().kept.swap(false, Ordering::SeqCst);
    if kept {
        release();
    }
    kept
}

/// Returns the free pages of squall's allocator (every arena's) to the system. The host's heap
/// is not touched.
pub fn release() {
    jobs().kept.store(false, Ordering::SeqCst);
    // 4096 is MALLCTL_ARENAS_ALL: every arena. It only fails where jemalloc cannot purge; then
    // its pages go back as they decay.
    let _ = write("arena.4096.purge", ());
}

/// glibc's `malloc_trim`: for squall's worker processes only, never the user's process.
pub fn trim_process_heap() {
    // SAFETY: malloc_trim only releases free memory.
    unsafe { libc::malloc_trim(0) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_known_options_and_names_the_wrong_ones() {
        assert_eq!(
            parse(" dirty_decay_ms=0, muzzy_decay_ms = -1,").unwrap(),
            vec![("dirty_decay_ms", 0), ("muzzy_decay_ms", -1)]
        );
        assert!(parse("").unwrap().is_empty());
        assert!(parse("dirty_decay=0")
            .unwrap_err()
            .contains("unknown option \"dirty_decay\" (known: dirty_decay_ms, muzzy_decay_ms)"));
        assert!(parse("dirty_decay_ms").unwrap_err().contains("not name=value"));
        assert!(parse("dirty_decay_ms=soon").unwrap_err().contains("not an integer"));
        assert!(parse("dirty_decay_ms=-2").unwrap_err().contains("below -1"));
    }

    #[test]
    fn zeroed_blocks_are_zero_where_a_freed_block_held_data() {
        for size in [24, 80_000, 5 << 20] {
            let layout = Layout::from_size_align(size, 64).unwrap();
            // SAFETY: blocks of `layout` from the allocator, written and read within their size.
            unsafe {
                let used = Allocator.alloc(layout);
                used.write_bytes(0xab, size);
                Allocator.dealloc(used, layout);
                let zeroed = Allocator.alloc_zeroed(layout);
                assert!(std::slice::from_raw_parts(zeroed, size).iter().all(|&b| b == 0), "{size} bytes");
                Allocator.dealloc(zeroed, layout);
            }
        }
    }

    #[test]
    fn jemalloc_starts_with_squalls_settings_and_takes_new_ones() {
        assert_eq!(read::<usize>("opt.oversize_threshold"), Ok(0));
        let default = read::<isize>("arenas.dirty_decay_ms").unwrap();
        write("arenas.dirty_decay_ms", 2500isize).unwrap();
        assert_eq!(read::<isize>("arenas.dirty_decay_ms"), Ok(2500));
        write("arenas.dirty_decay_ms", default).unwrap();
        assert!(read::<u32>("no.such.setting").is_err());
        release();
    }
}
