//! What tasks print: each attempt's last lines, kept with its record, and the lines themselves,
//! queued for the driver to show where its user looks (under the notebook cell that waits).
//!
//! The queue is bounded: a task that prints without end loses lines (they are counted and the
//! count is shown), never the driver's memory, and never blocks the worker.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// Lines waiting for the driver to show them; more are dropped (and counted).
const BACKLOG: usize = 10_000;

/// Lines of an attempt's output kept with its record.
const TAIL_LINES: usize = 20;

/// Bytes of an attempt's output kept with its record.
const TAIL_BYTES: usize = 4 << 10;

/// A line a task printed: (job, task, text without its newline).
pub type Line = (u64, u32, String);

/// Lines printed by tasks, waiting for the driver.
#[derive(Debug, Default)]
pub struct OutputQueue {
    state: Mutex<QueueState>,
    ready: Condvar,
}

#[derive(Debug, Default)]
struct QueueState {
    lines: VecDeque<Line>,
    dropped: u64,
    closed: bool,
}

impl OutputQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a line; drops it when the queue is full.
    pub fn push(&self, line: Line) {
        let mut state = self.lock();
        if state.lines.len() >= BACKLOG {
            state.dropped += 1;
            return;
        }
        state.lines.push_back(line);
        drop(state);
        self.ready.notify_all();
    }

    /// The lines queued, and how many were dropped since the last call, once some are there or
    /// `timeout` passed; None once the queue is closed and empty.
    pub fn take(&self, timeout: Duration) -> Option<(Vec<Line>, u64)> {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        while state.lines.is_empty() && state.dropped == 0 && !state.closed {
            let now = Instant::now();
            if now >= deadline {
                return Some((Vec::new(), 0));
            }
            state = self.ready.wait_timeout(state, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
        }
        if state.closed && state.lines.is_empty() && state.dropped == 0 {
            return None;
        }
        let lines = state.lines.drain(..).collect();
        Some((lines, std::mem::take(&mut state.dropped)))
    }

    /// No more lines will come: `take` returns what is left, then None.
    pub fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }
}

/// The output of the attempt a worker runs: its last lines, and whether the worker said it
/// ended (a mark it writes after each task, once its own buffers are flushed).
#[derive(Debug)]
pub struct Capture {
    /// The job and task of the attempt.
    pub job: u64,
    /// The task.
    pub task: u32,
    tail: VecDeque<String>,
    bytes: usize,
    /// The worker's end-of-task mark was read.
    pub ended: bool,
}

impl Capture {
    /// An empty capture for an attempt of `task` of `job`.
    pub fn new(job: u64, task: u32) -> Self {
        Capture { job, task, tail: VecDeque::new(), bytes: 0, ended: false }
    }

    /// Keeps `line` among the last ones.
    pub fn add(&mut self, line: &str) {
        let line: String = line.chars().take(TAIL_BYTES).collect();
        self.bytes += line.len();
        self.tail.push_back(line);
        while self.tail.len() > TAIL_LINES || (self.bytes > TAIL_BYTES && self.tail.len() > 1) {
            let gone = self.tail.pop_front().map_or(0, |l| l.len());
            self.bytes -= gone;
        }
    }

    /// The last lines, joined.
    pub fn text(&self) -> String {
        self.tail.iter().map(String::as_str).collect::<Vec<_>>().join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_is_bounded_and_counts_what_it_dropped() {
        let q = OutputQueue::default();
        for i in 0..BACKLOG + 5 {
            q.push((1, 0, format!("line {i}")));
        }
        let (lines, dropped) = q.take(Duration::ZERO).unwrap();
        assert_eq!((lines.len(), dropped), (BACKLOG, 5));
        assert_eq!(q.take(Duration::from_millis(1)).unwrap(), (Vec::new(), 0));
        q.push((1, 2, "last".into()));
        q.close();
        assert_eq!(q.take(Duration::ZERO).unwrap().0, vec![(1, 2, "last".to_string())]);
        assert!(q.take(Duration::ZERO).is_none());
    }

    #[test]
    fn a_capture_keeps_the_last_lines_within_its_bytes() {
        let mut c = Capture::new(1, 2);
        for i in 0..100 {
            c.add(&format!("line {i}"));
        }
        assert_eq!(c.text().lines().count(), TAIL_LINES);
        assert!(c.text().ends_with("line 99"));
        c.add(&"x".repeat(TAIL_BYTES * 2));
        assert_eq!(c.text().len(), TAIL_BYTES);
    }
}
