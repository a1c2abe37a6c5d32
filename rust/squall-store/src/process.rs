//! Values made once per process: threads, connections and clients that a forked child does not
//! get. After `fork` only the forking thread exists in the child; a runtime, a connection pool
//! or a client inherited from the parent waits forever on threads that are not there (or shares
//! a socket with the parent). A child makes its own on first use instead; the parent's copy is
//! left alone, never dropped (dropping it would stop or signal what belongs to the parent).

use std::sync::atomic::{AtomicPtr, Ordering};

/// A value made on first use in each process (see the module's documentation).
pub struct PerProcess<T: 'static> {
    /// The value and the process that made it; null until made. Never freed once published.
    current: AtomicPtr<(u32, T)>,
}

impl<T: Send + Sync + 'static> PerProcess<T> {
    /// Nothing made yet.
    pub const fn new() -> Self {
        PerProcess { current: AtomicPtr::new(std::ptr::null_mut()) }
    }

    /// This process's value, made by `make` if this process has none yet.
    pub fn get_or_init(&'static self, make: impl Fn() -> T) -> &'static T {
        match self.get_or_try_init(|| Ok::<T, std::convert::Infallible>(make())) {
            Ok(value) => value,
            Err(never) => match never {},
        }
    }

    /// This process's value, made by `make` if this process has none yet; `make`'s error is
    /// returned (and nothing kept) when it fails.
    pub fn get_or_try_init<E>(&'static self, make: impl Fn() -> Result<T, E>) -> Result<&'static T, E> {
        let pid = std::process::id();
        loop {
            let current = self.current.load(Ordering::Acquire);
            // SAFETY: a non-null pointer here was published below from `Box::into_raw` and is
            // never freed, so it stays valid for the rest of the process.
            if let Some((made_in, value)) = unsafe { current.as_ref() } {
                if *made_in == pid {
                    return Ok(value);
                }
            }
            let made = Box::into_raw(Box::new((pid, make()?)));
            match self.current.compare_exchange(current, made, Ordering::AcqRel, Ordering::Acquire) {
                // SAFETY: just published; never freed (see above).
                Ok(_) => return Ok(unsafe { &(*made).1 }),
                // Another thread of this process made one first: ours was never published,
                // so nothing else refers to it. (The parent's, if it was one, is left as is.)
                // SAFETY: `made` came from `Box::into_raw` above and is not shared.
                Err(_) => drop(unsafe { Box::from_raw(made) }),
            }
        }
    }
}

impl<T: Send + Sync + 'static> Default for PerProcess<T> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn one_value_per_process_even_when_threads_race() {
        static VALUE: PerProcess<usize> = PerProcess::new();
        static MADE: AtomicUsize = AtomicUsize::new(0);
        let seen: Vec<usize> = std::thread::scope(|s| {
            let threads: Vec<_> =
                (0..8).map(|_| s.spawn(|| *VALUE.get_or_init(|| MADE.fetch_add(1, Ordering::SeqCst) + 100))).collect();
            threads.into_iter().map(|t| t.join().unwrap()).collect()
        });
        assert!(seen.iter().all(|&v| v == seen[0]), "{seen:?}");
        static FAILS: PerProcess<u8> = PerProcess::new();
        assert_eq!(FAILS.get_or_try_init(|| Err::<u8, _>("no")), Err("no"));
        assert_eq!(FAILS.get_or_try_init(|| Ok::<u8, &str>(7)), Ok(&7));
    }

    #[test]
    fn a_forked_child_makes_its_own() {
        static VALUE: PerProcess<u32> = PerProcess::new();
        let parent = *VALUE.get_or_init(std::process::id);
        // SAFETY: the child only reads a static, writes to a pipe and exits.
        let (mut read, write) = std::io::pipe().unwrap();
        match unsafe { libc::fork() } {
            0 => {
                use std::io::Write;
                let child = *VALUE.get_or_init(std::process::id);
                let mut write = write;
                let _ = write.write_all(&child.to_le_bytes());
                // SAFETY: ends the child at once (no test harness teardown in it).
                unsafe { libc::_exit(0) };
            }
            pid => {
                drop(write);
                let mut bytes = [0u8; 4];
                std::io::Read::read_exact(&mut read, &mut bytes).unwrap();
                let mut status = 0;
                // SAFETY: waits for the child just forked.
                unsafe { libc::waitpid(pid, &mut status, 0) };
                assert_eq!(u32::from_le_bytes(bytes), pid as u32, "the child made its own");
                assert_eq!(*VALUE.get_or_init(|| 0), parent, "the parent's is unchanged");
            }
        }
    }
}
