//! The engine's global allocator: glibc's malloc for everything but big blocks, which are whole
//! mappings kept for reuse when freed.
//!
//! Why: a task allocates and frees buffers of tens of megabytes (decoded columns, sorted runs,
//! shuffle objects, encoded files). A fresh mapping costs a page fault and a zeroed page per
//! 4 KB on first touch, about as much as the work done on it. glibc reuses such blocks only in
//! its main arena, and a thread joins the main arena only if no other arena exists when it
//! first allocates: in a notebook, where numpy's and pyarrow's threads made arenas of their
//! own long before squall was imported, squall's threads land in one of those, whose heaps
//! cannot hold a block of 64 MB. Here a freed big block goes to a small cache instead (joined
//! to free neighbours), and the next big block is cut from it, pages already in place,
//! whatever thread asks.
//!
//! A block that grows (a vector doubling as a decoder fills it) grows where it lies when a
//! free block follows it, and otherwise moves to the head of a free block twice its new size,
//! whose tail then follows it for the next growth: the bytes are not copied at every doubling.
//! A block that shrinks gives back its tail where it lies.
//!
//! The cache holds at most an eighth of the machine's memory, and 2 GB, and is emptied by
//! [`release`] (squall calls it once the process has been idle for a second, see
//! `malloc::settle`, and in idle workers).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Once, OnceLock};

/// Blocks from this size up are mappings of their own.
const BIG: usize = 4 << 20;
const PAGE: usize = 4096;
const SLOTS: usize = 256;

/// The most bytes of free blocks kept for reuse.
fn keep() -> usize {
    static KEEP: OnceLock<usize> = OnceLock::new();
    *KEEP.get_or_init(|| {
        // SAFETY: sysconf only reads system facts.
        let pages = unsafe { libc::sysconf(libc::_SC_PHYS_PAGES) };
        (pages.max(0) as usize * PAGE / 8).clamp(BIG, 2 << 30)
    })
}

/// A free block: its size class (0 for an empty slot), address, and when it was freed.
#[derive(Clone, Copy)]
struct Free {
    class: usize,
    addr: usize,
    freed: u64,
}

const EMPTY: Free = Free { class: 0, addr: 0, freed: 0 };

/// Free blocks in a fixed array, so the allocator never allocates while it holds the lock.
struct Cache {
    free: [Free; SLOTS],
    bytes: usize,
    clock: u64,
}

/// The cache behind a spin lock that a fork cannot leave taken (see [`cache`]).
struct Locked {
    busy: AtomicBool,
    cache: UnsafeCell<Cache>,
}

// SAFETY: `cache` is only reached through a `Held`, which exists while `busy` is ours.
unsafe impl Sync for Locked {}

static CACHE: Locked =
    Locked { busy: AtomicBool::new(false), cache: UnsafeCell::new(Cache { free: [EMPTY; SLOTS], bytes: 0, clock: 0 }) };

struct Held;

impl std::ops::Deref for Held {
    type Target = Cache;
    fn deref(&self) -> &Cache {
        // SAFETY: this `Held` holds the lock.
        unsafe { &*CACHE.cache.get() }
    }
}

impl std::ops::DerefMut for Held {
    fn deref_mut(&mut self) -> &mut Cache {
        // SAFETY: this `Held` holds the lock.
        unsafe { &mut *CACHE.cache.get() }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        CACHE.busy.store(false, Ordering::Release);
    }
}

/// Takes the cache's lock. A fork waits for it, so the child's cache is whole and unlocked.
fn cache() -> Held {
    static AT_FORK: Once = Once::new();
    AT_FORK.call_once(|| {
        extern "C" fn prepare() {
            std::mem::forget(cache());
        }
        extern "C" fn after() {
            CACHE.busy.store(false, Ordering::Release);
        }
        // SAFETY: the handlers only take and give back the lock.
        unsafe {
            libc::pthread_atfork(Some(prepare), Some(after), Some(after));
        }
    });
    let mut spins = 0u32;
    while CACHE.busy.compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
        spins += 1;
        if spins < 64 {
            std::hint::spin_loop()
        } else {
            std::thread::yield_now()
        }
    }
    Held
}

/// The size a big block of `size` bytes is given: at most an eighth more than asked, so
/// blocks of about the same size share a class.
fn class(size: usize) -> usize {
    let step = ((1usize << size.ilog2()) / 8).max(PAGE);
    size.div_ceil(step) * step
}

fn is_big(layout: &Layout) -> bool {
    layout.size() >= BIG && layout.align() <= PAGE
}

impl Cache {
    /// Takes the blocks freed longest ago out of the cache, oldest first, while `more` says so.
    fn evict(&mut self, mut more: impl FnMut(&Cache) -> bool) -> Evicted {
        let mut out = Evicted([EMPTY; SLOTS]);
        let mut n = 0;
        while more(self) {
            let Some(oldest) = self.free.iter_mut().filter(|f| f.class != 0).min_by_key(|f| f.freed) else {
                break;
            };
            out.0[n] = std::mem::replace(oldest, EMPTY);
            self.bytes -= out.0[n].class;
            n += 1;
        }
        out
    }
}

/// Blocks taken out of the cache, to unmap once its lock is released.
struct Evicted([Free; SLOTS]);

impl Drop for Evicted {
    fn drop(&mut self) {
        for f in self.0.iter().filter(|f| f.class != 0) {
            unmap(f.addr as *mut u8, f.class);
        }
    }
}

/// A block of `class` bytes, and whether it is fresh (so already zeroed): the most recently
/// freed block of that class, else the head of the smallest larger one (its tail stays free),
/// else a new mapping.
fn take(class: usize) -> (*mut u8, bool) {
    take_with_room(class, class)
}

/// [`take`], but cut from a free block of `room` bytes or more when there is one, so that the
/// block may grow where it lies ([`grow`]) into the tail left free after it.
fn take_with_room(class: usize, room: usize) -> (*mut u8, bool) {
    let mut c = cache();
    let roomy = c.free.iter().enumerate().filter(|(_, f)| room > class && f.class >= room).min_by_key(|(_, f)| f.class);
    let exact = || c.free.iter().enumerate().filter(|(_, f)| f.class == class).max_by_key(|(_, f)| f.freed);
    let larger = || c.free.iter().enumerate().filter(|(_, f)| f.class > class).min_by_key(|(_, f)| f.class);
    let Some((slot, _)) = roomy.or_else(exact).or_else(larger) else {
        drop(c);
        return (map(class), true);
    };
    let Free { addr, class: len, .. } = std::mem::replace(&mut c.free[slot], EMPTY);
    c.bytes -= len;
    drop(c);
    free_part(addr + class, len - class);
    (addr as *mut u8, false)
}

/// Frees `len` bytes at `addr`, part of a block: kept if big enough to serve a block, else
/// unmapped (nothing if empty).
fn free_part(addr: usize, len: usize) {
    if len >= BIG {
        give(addr as *mut u8, len)
    } else if len > 0 {
        unmap(addr as *mut u8, len)
    }
}

/// Keeps a freed block, joined to any free neighbour; the blocks freed longest ago make room
/// when the cache is full.
fn give(ptr: *mut u8, class: usize) {
    let keep = keep();
    let mut c = cache();
    // A free neighbour on either side becomes part of this block.
    let (mut addr, mut class) = (ptr as usize, class);
    while let Some(f) = c.free.iter_mut().find(|f| f.class != 0 && (f.addr + f.class == addr || addr + class == f.addr))
    {
        addr = addr.min(f.addr);
        class += f.class;
        let merged = std::mem::replace(f, EMPTY);
        c.bytes -= merged.class;
    }
    if class > keep {
        drop(c);
        return unmap(addr as *mut u8, class);
    }
    let evicted = c.evict(|c| c.bytes + class > keep || c.free.iter().all(|f| f.class != 0));
    c.clock += 1;
    let freed = c.clock;
    let slot = c.free.iter_mut().find(|f| f.class == 0).expect("an empty slot after eviction");
    *slot = Free { class, addr, freed };
    c.bytes += class;
    drop(c);
    drop(evicted);
}

/// Grows the block at `ptr` from `class` to `to` bytes where it lies, out of a free block that
/// starts where it ends (often the tail left by the cut that made it); false if there is none.
fn grow(ptr: *mut u8, class: usize, to: usize) -> bool {
    let (end, need) = (ptr as usize + class, to - class);
    let mut c = cache();
    let Some(next) = c.free.iter_mut().find(|f| f.class >= need && f.addr == end) else {
        return false;
    };
    let Free { class: len, .. } = std::mem::replace(next, EMPTY);
    c.bytes -= len;
    drop(c);
    free_part(end + need, len - need);
    true
}

/// Unmaps every cached block; returns the bytes given back.
pub fn release() -> usize {
    let mut c = cache();
    let freed = c.bytes;
    let evicted = c.evict(|c| c.bytes > 0);
    drop(c);
    drop(evicted);
    freed
}

fn map(len: usize) -> *mut u8 {
    // SAFETY: an anonymous private mapping touches no existing memory.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        std::ptr::null_mut()
    } else {
        p.cast()
    }
}

fn unmap(ptr: *mut u8, len: usize) {
    // SAFETY: `ptr` is a whole mapping of `len` bytes from `map` that nothing uses any more.
    unsafe {
        libc::munmap(ptr.cast(), len);
    }
}

/// glibc's malloc, with big blocks mapped and kept as above.
pub struct Allocator;

// SAFETY: every block comes from and goes back to one source, chosen by its layout alone (the
// same on allocation and deallocation); big blocks are page-aligned mappings at least as large
// as asked.
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if is_big(&layout) {
            take(class(layout.size())).0
        } else {
            // SAFETY: the caller's contract.
            unsafe { System.alloc(layout) }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !is_big(&layout) {
            // SAFETY: the caller's contract.
            return unsafe { System.alloc_zeroed(layout) };
        }
        let (ptr, fresh) = take(class(layout.size()));
        if !fresh && !ptr.is_null() {
            // SAFETY: the block holds at least `layout.size()` bytes.
            unsafe { ptr.write_bytes(0, layout.size()) };
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if is_big(&layout) {
            give(ptr, class(layout.size()));
        } else {
            // SAFETY: the caller's contract.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract guarantees a valid layout of `new_size` bytes.
        let new = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        match (is_big(&layout), is_big(&new)) {
            // SAFETY: the caller's contract.
            (false, false) => unsafe { System.realloc(ptr, layout, new_size) },
            (true, true) if class(layout.size()) == class(new_size) => ptr,
            (true, true) if class(new_size) < class(layout.size()) => {
                // The tail is freed where it lies.
                free_part(ptr as usize + class(new_size), class(layout.size()) - class(new_size));
                ptr
            }
            (true, true) if grow(ptr, class(layout.size()), class(new_size)) => ptr,
            (_, big) => {
                // A block that grew is likely to grow again (a vector doubling): a big one moves
                // to where it can.
                let moved = match big {
                    true => take_with_room(class(new_size), 2 * class(new_size)).0,
                    // SAFETY: the caller's contract.
                    false => unsafe { System.alloc(new) },
                };
                if !moved.is_null() {
                    // SAFETY: the new block holds the old one's bytes (or as many as fit); the
                    // old one is freed once, through the path that allocated it.
                    unsafe {
                        std::ptr::copy_nonoverlapping(ptr, moved, layout.size().min(new_size));
                        self.dealloc(ptr, layout);
                    }
                }
                moved
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_round_up_by_at_most_an_eighth() {
        assert_eq!(class(BIG), BIG);
        assert_eq!(class(56 << 20), 56 << 20);
        assert_eq!(class((56 << 20) + 1), 60 << 20);
        assert_eq!(class((64 << 20) + 1), 72 << 20);
        for size in [BIG, BIG + 1, 10 << 20, 100 << 20, 1 << 30] {
            let c = class(size);
            assert!(c >= size && c - size <= size / 8 + PAGE, "{size} -> {c}");
        }
    }

    /// The tests share the one cache.
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn at(size: usize) -> Layout {
        Layout::from_size_align(size, 64).unwrap()
    }

    #[test]
    fn a_freed_big_block_serves_the_next_of_its_class_and_release_unmaps_it() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        release();
        let a = Allocator;
        let layout = Layout::from_size_align(BIG + 12_345, 64).unwrap();
        // SAFETY: blocks used within their layouts and freed once.
        unsafe {
            let p = a.alloc(layout);
            assert!(!p.is_null());
            p.write_bytes(7, layout.size());
            a.dealloc(p, layout);
            let q = a.alloc_zeroed(layout);
            assert_eq!(q, p, "the cached block is reused");
            assert!((0..layout.size()).step_by(4093).all(|i| *q.add(i) == 0), "alloc_zeroed zeroes it");
            // Growing within the class keeps the block; growing past it moves the bytes (no
            // free block follows this one).
            *q = 42;
            let r = a.realloc(q, layout, class(layout.size()));
            assert_eq!(r, q);
            let grown = Layout::from_size_align(class(layout.size()), 64).unwrap();
            let s = a.realloc(r, grown, 3 * BIG);
            assert_eq!(*s, 42);
            let small = a.realloc(s, Layout::from_size_align(3 * BIG, 64).unwrap(), 100);
            assert_eq!(*small, 42);
            a.dealloc(small, Layout::from_size_align(100, 64).unwrap());
        }
        assert!(release() >= class(3 * BIG));
        assert_eq!(cache().bytes, 0);
    }

    #[test]
    fn neighbours_freed_apart_serve_a_block_as_large_as_both() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        release();
        let (p, fresh) = take(4 * BIG);
        assert!(fresh && !p.is_null());
        // SAFETY: p is 4 * BIG bytes; its halves are handed back as two blocks.
        let second = unsafe { p.add(2 * BIG) };
        give(second, 2 * BIG);
        give(p, 2 * BIG);
        assert_eq!(cache().bytes, 4 * BIG);
        assert_eq!(take(3 * BIG), (p, false), "one block, split again");
        assert_eq!(cache().bytes, BIG, "the tail stays free");
        give(p, 3 * BIG);
        assert_eq!(release(), 4 * BIG);
    }

    #[test]
    fn a_block_grows_into_the_free_block_after_it_and_shrinks_in_place() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        release();
        let a = Allocator;
        // One mapping of 8 BIG, then a block cut from its head: the rest stays free after it.
        let (whole, _) = take(8 * BIG);
        give(whole, 8 * BIG);
        // SAFETY: blocks used within their layouts and freed once.
        unsafe {
            let p = a.alloc(at(BIG));
            assert_eq!(p, whole);
            p.add(BIG - 1).write(9);
            let q = a.realloc(p, at(BIG), 5 * BIG);
            assert_eq!((q, *q.add(BIG - 1)), (p, 9), "grown where it lies, bytes untouched");
            assert_eq!(cache().bytes, 3 * BIG, "the rest is still free");
            // Past the free rest: moved.
            let r = a.realloc(q, at(5 * BIG), 9 * BIG);
            assert_ne!(r, q);
            assert_eq!(*r.add(BIG - 1), 9);
            // Shrinking frees the tail where it lies; the block, freed, joins it again.
            let s = a.realloc(r, at(9 * BIG), 2 * BIG);
            assert_eq!(s, r);
            let before = cache().bytes;
            a.dealloc(s, at(2 * BIG));
            assert_eq!(cache().bytes, before + 2 * BIG);
        }
        release();
    }

    #[test]
    fn a_block_that_must_move_to_grow_moves_where_it_can_grow_again() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        release();
        let a = Allocator;
        let (roomy, _) = take(32 * BIG);
        let (exact, _) = take(8 * BIG);
        // p is followed by a block in use (the guard, cut from the same mapping), so it cannot
        // grow where it lies.
        let (p, _) = take(5 * BIG);
        // SAFETY: blocks used within their layouts and freed once.
        unsafe {
            let guard = p.add(4 * BIG);
            give(roomy, 32 * BIG);
            give(exact, 8 * BIG);
            p.write(5);
            let q = a.realloc(p, at(4 * BIG), 8 * BIG);
            assert_eq!(*q, 5);
            let r = a.realloc(q, at(8 * BIG), 16 * BIG);
            assert_eq!((r, *r), (q, 5), "the second doubling is where it lies");
            a.dealloc(r, at(16 * BIG));
            a.dealloc(guard, at(BIG));
        }
        release();
    }
}
