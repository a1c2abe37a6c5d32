//! Spreading invocations over several identical functions (the shards `squall.deploy` makes, or
//! the simulated fleet's): Lambda adds execution environments at a rate per function, so k
//! functions ramp up k times as fast. Each invocation goes to the function with the fewest in
//! flight, which keeps their warm environments evenly used.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Invocations in flight per function.
#[derive(Debug)]
pub struct Spread {
    in_flight: Vec<AtomicUsize>,
    /// Where the search for the least busy starts, turning, so ties go round.
    next: AtomicUsize,
}

/// One invocation's place: its function's index, given back when dropped.
#[derive(Debug)]
pub struct Pick<'a> {
    spread: &'a Spread,
    /// The function's index.
    pub index: usize,
}

impl Spread {
    /// Over `functions` functions (at least one).
    pub fn new(functions: usize) -> Spread {
        Spread { in_flight: (0..functions.max(1)).map(|_| AtomicUsize::new(0)).collect(), next: AtomicUsize::new(0) }
    }

    /// The function with the fewest invocations in flight, now holding one more.
    pub fn pick(&self) -> Pick<'_> {
        let k = self.in_flight.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % k;
        let index =
            (0..k).map(|i| (start + i) % k).min_by_key(|&i| self.in_flight[i].load(Ordering::Relaxed)).unwrap_or(0);
        self.in_flight[index].fetch_add(1, Ordering::Relaxed);
        Pick { spread: self, index }
    }
}

impl Drop for Pick<'_> {
    fn drop(&mut self) {
        self.spread.in_flight[self.index].fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invocations_go_to_the_least_busy_function_and_come_back() {
        let s = Spread::new(3);
        let held: Vec<_> = (0..6).map(|_| s.pick()).collect();
        let mut per = [0; 3];
        held.iter().for_each(|p| per[p.index] += 1);
        assert_eq!(per, [2, 2, 2]);
        let freed = held.iter().position(|p| p.index == 1).unwrap();
        let mut held = held;
        held.remove(freed);
        let next = s.pick();
        assert_eq!(next.index, 1, "the one with room goes next");
        drop(held);
        assert!(s.in_flight.iter().map(|n| n.load(Ordering::Relaxed)).sum::<usize>() == 1);
    }
}
