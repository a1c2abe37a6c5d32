//! Cancelling engine work that runs on a thread: a thread cannot be killed, so the engine checks
//! a flag between batches ([`check`]) and stops with [`Error::Cancelled`] once it is raised.
//! Worker processes need none of this: they are killed.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::{Error, Result};

thread_local! {
    static FLAG: RefCell<Option<Arc<AtomicBool>>> = const { RefCell::new(None) };
}

/// A flag that stops the engine work running under it ([`CancelFlag::run`]) at its next check.
#[derive(Debug, Clone, Default)]
pub struct CancelFlag(Arc<AtomicBool>);

impl CancelFlag {
    /// A lowered flag.
    pub fn new() -> Self {
        Self::default()
    }

    /// Raises the flag: the work stops at its next check.
    pub fn raise(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether the flag was raised.
    pub fn is_raised(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// Runs `f` on this thread with the flag as the one [`check`] looks at.
    pub fn run<T>(&self, f: impl FnOnce() -> T) -> T {
        let before = FLAG.with(|slot| slot.replace(Some(self.0.clone())));
        struct Restore(Option<Arc<AtomicBool>>);
        impl Drop for Restore {
            fn drop(&mut self) {
                FLAG.with(|slot| *slot.borrow_mut() = self.0.take());
            }
        }
        let _restore = Restore(before);
        f()
    }
}

/// Whether the work running on this thread was cancelled.
pub fn raised() -> bool {
    FLAG.with(|slot| slot.borrow().as_ref().is_some_and(|f| f.load(Ordering::Relaxed)))
}

/// A check for loops too hot to look at the flag every time: [`Every::tick`] looks once per
/// `2^16` calls, and stays raised once it saw the flag raised.
#[derive(Debug, Default)]
pub struct Every {
    count: u32,
    stopped: bool,
}

impl Every {
    /// Counts one step; true once the work was seen cancelled.
    #[inline]
    pub fn tick(&mut self) -> bool {
        self.count = self.count.wrapping_add(1);
        if self.count & 0xFFFF == 0 && !self.stopped {
            self.stopped = raised();
        }
        self.stopped
    }
}

/// Fails with [`Error::Cancelled`] when the work running on this thread was cancelled.
pub fn check() -> Result<()> {
    if raised() {
        return Err(Error::Cancelled);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_raised_flag_stops_only_the_work_under_it() {
        assert!(check().is_ok(), "no flag: nothing to stop");
        let flag = CancelFlag::new();
        flag.run(|| {
            assert!(check().is_ok());
            flag.raise();
            assert!(matches!(check(), Err(Error::Cancelled)));
            CancelFlag::new().run(|| assert!(check().is_ok(), "an inner flag of its own"));
            assert!(check().is_err(), "the outer flag is back");
        });
        assert!(check().is_ok());
    }
}
