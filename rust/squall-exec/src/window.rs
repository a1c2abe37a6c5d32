//! How many invocations a client keeps in flight against a function service that answers 429
//! TooManyRequests when it is full: the Lambda backend's, and the simulated fleet's, which
//! models it. A burst of 429s halves the window (at most once per [`DECREASE_GAP`]); every
//! [`GROW_GAP`] without one widens it by a quarter, up to the configured cap. Growth goes by
//! time, not by answers: tasks that run for minutes answer rarely, while Lambda adds 1,000
//! environments per function every 10 s.

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::{AcquireError, Semaphore, SemaphorePermit};
use tokio::time::Instant;

/// Shortest time between two halvings: one burst of 429s is one signal.
const DECREASE_GAP: Duration = Duration::from_millis(500);
/// Time without 429s after which the window widens by a quarter.
const GROW_GAP: Duration = Duration::from_secs(1);

/// Invocations allowed in flight.
pub struct Window {
    cap: usize,
    permits: Semaphore,
    state: Mutex<State>,
}

struct State {
    limit: usize,
    /// Permits to retire as they come back before the semaphore matches `limit`.
    debt: usize,
    /// When the limit was last halved.
    halved: Instant,
    /// When the limit last changed, or a 429 came: it widens a [`GROW_GAP`] after.
    quiet_since: Instant,
}

impl Window {
    /// A window of `cap` (at least one), all open.
    pub fn new(cap: usize) -> Window {
        let cap = cap.max(1);
        let now = Instant::now();
        let state = State { limit: cap, debt: 0, halved: now - DECREASE_GAP, quiet_since: now };
        Window { cap, permits: Semaphore::new(cap), state: Mutex::new(state) }
    }

    /// Invocations allowed in flight now.
    pub fn limit(&self) -> usize {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).limit
    }

    /// A place in the window, once there is one (the window widens while this waits).
    pub async fn acquire(&self) -> Result<SemaphorePermit<'_>, AcquireError> {
        loop {
            self.grow();
            tokio::select! {
                permit = self.permits.acquire() => return permit,
                _ = tokio::time::sleep(GROW_GAP) => {}
            }
        }
    }

    /// Gives a place back; `throttled` when its invocation was answered 429.
    pub fn release(&self, permit: SemaphorePermit<'_>, throttled: bool) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if throttled {
            let now = Instant::now();
            if now.duration_since(s.halved) >= DECREASE_GAP && s.limit > 1 {
                let target = (s.limit / 2).max(1);
                s.debt += s.limit - target;
                s.limit = target;
                s.halved = now;
            }
            s.quiet_since = now;
        }
        if s.debt > 0 {
            s.debt -= 1;
            permit.forget();
        }
    }

    /// Widens the window by a quarter when it has had no 429 for [`GROW_GAP`].
    fn grow(&self) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if s.limit >= self.cap || s.quiet_since.elapsed() < GROW_GAP {
            return;
        }
        let more = (s.limit / 4).max(1).min(self.cap - s.limit);
        s.limit += more;
        s.quiet_since = Instant::now();
        let repaid = more.min(s.debt);
        s.debt -= repaid;
        self.permits.add_permits(more - repaid);
    }

    /// Refuses every waiting and later acquire.
    pub fn close(&self) {
        self.permits.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(w: &Window, throttled: bool) {
        let permit = w.permits.try_acquire().unwrap();
        w.release(permit, throttled);
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_of_429s_halves_the_window_once_and_quiet_time_widens_it_again() {
        let w = Window::new(8);
        attempt(&w, true);
        attempt(&w, true);
        assert_eq!(w.limit(), 4, "one halving per burst");
        assert_eq!(w.permits.available_permits(), 6, "returning permits retire the excess");
        attempt(&w, false);
        attempt(&w, false);
        assert_eq!(w.permits.available_permits(), 4);
        drop(w.acquire().await.unwrap());
        assert_eq!(w.limit(), 4, "not before a quiet second");
        tokio::time::advance(GROW_GAP).await;
        drop(w.acquire().await.unwrap());
        assert_eq!((w.limit(), w.permits.available_permits()), (5, 5));
        for _ in 0..20 {
            tokio::time::advance(GROW_GAP).await;
            drop(w.acquire().await.unwrap());
        }
        assert_eq!((w.limit(), w.permits.available_permits()), (8, 8), "never past the cap");
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiter_widens_the_window_while_long_tasks_hold_it() {
        let w = Window::new(4);
        let mut held: Vec<_> = (0..4).map(|_| w.permits.try_acquire().unwrap()).collect();
        w.release(held.pop().unwrap(), true);
        assert_eq!(w.limit(), 2, "a 429 with four in flight");
        let started = Instant::now();
        let got = tokio::time::timeout(Duration::from_secs(10), w.acquire()).await;
        assert!(got.is_ok(), "three still run, yet the window widened to four by itself");
        assert_eq!(started.elapsed(), 2 * GROW_GAP);
        assert_eq!(w.limit(), 4);
    }
}
