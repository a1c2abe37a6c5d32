//! How many invocations a client keeps in flight against a function service that answers 429
//! TooManyRequests when it is full: the Lambda backend's, and the simulated fleet's, which
//! models it. While more than a tenth of the answers in the current second are 429s (of ten
//! answers at least, or a window's worth), each 429 takes one place out of the window, so the window shrinks to what the service took; every
//! [`GROW_GAP`] it widens by a quarter again, up to the configured cap, to find out whether the
//! service takes more. A stray 429 changes nothing. Growth goes by time, not by answers: tasks
//! that run for minutes answer rarely, while Lambda adds 1,000 environments per function every
//! 10 s.

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::{AcquireError, Semaphore, SemaphorePermit};
use tokio::time::Instant;

/// How often the window widens, and the span over which the share of 429s is judged.
const GROW_GAP: Duration = Duration::from_secs(1);

/// Invocations allowed in flight.
pub struct Window {
    cap: usize,
    permits: Semaphore,
    state: Mutex<State>,
}

struct State {
    /// Places in the window: the semaphore's permits, given out or not.
    limit: usize,
    /// When the window last widened (or opened): the start of the current span.
    grown: Instant,
    /// Answers in the current span, and how many of them were 429s.
    answers: usize,
    throttled: usize,
}

impl Window {
    /// A window of `cap` (at least one), all open.
    pub fn new(cap: usize) -> Window {
        let cap = cap.max(1);
        let state = State { limit: cap, grown: Instant::now(), answers: 0, throttled: 0 };
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
        s.answers += 1;
        s.throttled += usize::from(throttled);
        let judged = s.answers >= s.limit.min(10);
        if throttled && judged && s.throttled * 10 > s.answers && s.limit > 1 {
            s.limit -= 1;
            permit.forget();
        }
    }

    /// Starts a new span every [`GROW_GAP`], widening the window by a quarter.
    fn grow(&self) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if s.grown.elapsed() < GROW_GAP {
            return;
        }
        (s.grown, s.answers, s.throttled) = (Instant::now(), 0, 0);
        let more = (s.limit / 4).max(1).min(self.cap - s.limit);
        s.limit += more;
        self.permits.add_permits(more);
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
    async fn each_429_of_a_burst_takes_a_place_and_time_widens_the_window_again() {
        let w = Window::new(8);
        for _ in 0..11 {
            attempt(&w, true);
        }
        assert_eq!((w.limit(), w.permits.available_permits()), (4, 4), "judged from the eighth answer on");
        attempt(&w, false);
        drop(w.acquire().await.unwrap());
        assert_eq!(w.limit(), 4, "not within the second");
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
    async fn a_stray_429_among_many_answers_changes_nothing() {
        let w = Window::new(100);
        for i in 0..1000 {
            attempt(&w, i % 50 == 0);
        }
        assert_eq!(w.limit(), 100);
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiter_widens_the_window_while_long_tasks_hold_it() {
        let w = Window::new(4);
        for _ in 0..4 {
            attempt(&w, true);
        }
        assert_eq!(w.limit(), 3);
        let _held: Vec<_> = (0..3).map(|_| w.permits.try_acquire().unwrap()).collect();
        let started = Instant::now();
        let got = tokio::time::timeout(Duration::from_secs(10), w.acquire()).await;
        assert!(got.is_ok(), "three still run, yet the window widened to four by itself");
        assert_eq!(started.elapsed(), GROW_GAP);
        assert_eq!(w.limit(), 4);
    }
}
