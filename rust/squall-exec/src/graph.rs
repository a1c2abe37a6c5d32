//! The scheduler's task graph: which tasks wait for the results of which, and in what order the
//! ready ones go. A task whose inputs have all returned is ready; among ready tasks, the one
//! with the longest known chain of tasks waiting below it goes first (the critical path), the
//! earlier-ready one on a tie.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use crate::scheduler::TaskRef;

/// Levels are raised at most this many tasks up the graph per new dependent: a chain built
/// faster than it runs costs linear time, not quadratic (deeper levels lag behind, which only
/// matters between chains that are both that long).
const MAX_RAISE: usize = 256;

/// A ready task: its level, the order it became ready in (earlier first), and when.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Ready(u32, Reverse<u64>, TaskRef, u64);

/// Tasks that wait for other tasks' results, and the ready ones in the order they go.
#[derive(Default)]
pub(crate) struct Graph {
    /// Tasks waiting for their inputs: how many have not returned yet, and since when.
    blocked: HashMap<TaskRef, (usize, f64)>,
    /// Their unfinished inputs (for raising levels up the graph).
    inputs: HashMap<TaskRef, Vec<TaskRef>>,
    /// The waiting tasks that take each unfinished task's result.
    dependents: HashMap<TaskRef, Vec<TaskRef>>,
    /// The longest chain of waiting tasks below each unfinished task (absent: none).
    level: HashMap<TaskRef, u32>,
    ready: BinaryHeap<Ready>,
    seq: u64,
}

impl Graph {
    /// `task` waits for `inputs` (unfinished, each once or more), since `now`.
    pub fn wait_for(&mut self, task: TaskRef, inputs: Vec<TaskRef>, now: f64) {
        for &input in &inputs {
            self.dependents.entry(input).or_default().push(task);
        }
        self.blocked.insert(task, (inputs.len(), now));
        let below = self.level.get(&task).copied().unwrap_or(0) + 1;
        let mut todo: Vec<(TaskRef, u32)> = inputs.iter().map(|&i| (i, below)).collect();
        self.inputs.insert(task, inputs);
        let mut steps = 0;
        while let Some((at, level)) = todo.pop() {
            steps += 1;
            let current = self.level.entry(at).or_default();
            if *current >= level || steps > MAX_RAISE {
                continue;
            }
            *current = level;
            if let Some(above) = self.inputs.get(&at) {
                todo.extend(above.iter().map(|&i| (i, level + 1)));
            }
        }
    }

    /// A task that can start now, with when it became ready.
    pub fn push_ready(&mut self, task: TaskRef, at: f64) {
        self.seq += 1;
        let level = self.level.get(&task).copied().unwrap_or(0);
        self.ready.push(Ready(level, Reverse(self.seq), task, at.to_bits()));
    }

    /// The ready task that goes next.
    pub fn pop_ready(&mut self) -> Option<(TaskRef, f64)> {
        self.ready.pop().map(|Ready(_, _, task, at)| (task, f64::from_bits(at)))
    }

    /// `input` reached a final state: the tasks that wait for it (it is forgotten).
    pub fn finished(&mut self, input: TaskRef) -> Vec<TaskRef> {
        self.level.remove(&input);
        self.dependents.remove(&input).unwrap_or_default()
    }

    /// One input of a waiting task returned: true when it was the last (the task is no longer
    /// waiting). False for a task that does not wait (any more).
    pub fn returned(&mut self, task: TaskRef) -> bool {
        let Some(blocked) = self.blocked.get_mut(&task) else { return false };
        blocked.0 -= 1;
        if blocked.0 > 0 {
            return false;
        }
        self.blocked.remove(&task);
        self.inputs.remove(&task);
        true
    }

    /// Stops `task` waiting (an input failed, or it was cancelled); false if it did not wait.
    pub fn unblock(&mut self, task: TaskRef) -> bool {
        self.inputs.remove(&task);
        self.blocked.remove(&task).is_some()
    }

    /// Removes the waiting and ready tasks of `job`; returns them.
    pub fn drop_job(&mut self, job: u64) -> Vec<usize> {
        let mut dropped: Vec<usize> = self.blocked.keys().filter(|t| t.0 == job).map(|t| t.1).collect();
        self.blocked.retain(|t, _| t.0 != job);
        self.inputs.retain(|t, _| t.0 != job);
        dropped.extend(self.ready.iter().filter(|r| r.2 .0 == job).map(|r| r.2 .1));
        self.ready.retain(|r| r.2 .0 != job);
        dropped
    }

    /// Tasks of `job` that others wait for.
    pub fn awaited_in(&self, job: u64) -> Vec<TaskRef> {
        self.dependents.keys().filter(|t| t.0 == job).copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ready_task_with_the_longest_chain_below_goes_first() {
        let mut g = Graph::default();
        let (root, short, long, tail) = ((1, 0), (2, 0), (3, 0), (4, 0));
        g.wait_for(short, vec![root], 0.0);
        g.wait_for(long, vec![root], 0.0);
        g.wait_for(tail, vec![long], 0.0);
        assert_eq!(g.level.get(&root), Some(&2));
        for task in g.finished(root) {
            if g.returned(task) {
                g.push_ready(task, 1.0);
            }
        }
        assert_eq!(g.pop_ready(), Some((long, 1.0)));
        assert_eq!(g.pop_ready(), Some((short, 1.0)));
        assert_eq!(g.pop_ready(), None);
    }

    #[test]
    fn a_task_waits_for_every_input_and_a_job_can_be_dropped() {
        let mut g = Graph::default();
        g.wait_for((5, 0), vec![(1, 0), (1, 1)], 0.0);
        g.wait_for((5, 1), vec![(1, 1)], 0.0);
        assert_eq!(g.finished((1, 0)), vec![(5, 0)]);
        assert!(!g.returned((5, 0)), "one input is still out");
        assert_eq!(g.awaited_in(1), vec![(1, 1)]);
        let mut dropped = g.drop_job(5);
        dropped.sort();
        assert_eq!(dropped, vec![0, 1]);
        assert!(!g.returned((5, 1)), "a dropped task waits no more");
    }
}
