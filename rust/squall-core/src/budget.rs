//! The memory budget: how much memory a task needs for its input, how big tasks may be and how
//! many run at once so that a job stays within `Session(memory_limit=...)`.
//!
//! A task holds its decoded input, a sorted or aggregated copy of it and the encoded output at
//! its peak: about [`WORK_FACTOR`] times its decoded input (measured on this project's sort and
//! group-by tasks: a sort map task over 100 MB of decoded rows peaked at 455 MB, a reducer over
//! 155 MB at 757 MB, each with its worker's interpreter). Tasks are sized so that the session's
//! workers fit in the budget together; when a task is bigger than planned (skewed keys), fewer
//! run at once. What no task can be made small enough for is refused before anything runs.

use serde::{Deserialize, Serialize};

pub use crate::explain::human;
use crate::plan::{Exchange, Input, Op, Plan, Sink, Source, Stage};
use crate::{Error, Result};

/// A task's peak memory per byte of its decoded input.
pub const WORK_FACTOR: u64 = 4;

/// The smallest budget squall plans for: below it a task cannot hold even a small batch.
pub const MIN_LIMIT: u64 = 16_000_000;

/// Decoded input per task below which more tasks cost more than they save.
const MIN_TASK_INPUT: u64 = 1 << 20;

/// A session's memory budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Budget {
    /// Bytes that squall's tasks may hold at once: on this machine, all of them together (the
    /// driver's threads and worker processes); on Lambda, each function alone.
    pub limit: u64,
    /// Tasks that run at once when each fits (workers or functions).
    pub workers: usize,
    /// Whether `limit` is each task's own (one function per task, on Lambda).
    pub per_task: bool,
}

impl Budget {
    /// A budget of `limit` bytes for `workers` tasks at once; refused below [`MIN_LIMIT`].
    pub fn new(limit: u64, workers: usize, per_task: bool) -> Result<Budget> {
        if limit < MIN_LIMIT {
            return Err(Error::Plan(format!(
                "memory_limit={} is below the {} that squall needs to run a task",
                human(limit),
                human(MIN_LIMIT)
            )));
        }
        Ok(Budget { limit, workers: workers.max(1), per_task })
    }

    /// The memory one task may plan for: the limit shared by the tasks that run at once.
    pub fn per_task_limit(&self) -> u64 {
        if self.per_task {
            self.limit
        } else {
            self.limit / self.workers as u64
        }
    }

    /// Decoded input bytes a task is planned for, so that [`Budget::per_task_limit`] holds it.
    pub fn task_input(&self) -> u64 {
        (self.per_task_limit() / WORK_FACTOR).max(MIN_TASK_INPUT)
    }

    /// Whether one task over `decoded` bytes fits in the budget alone (fewer at once, if need be).
    pub fn fits_alone(&self, decoded: u64) -> bool {
        task_peak(decoded) <= self.limit
    }

    /// Parts a group-by reducer over `decoded` bytes splits its input into so that each part
    /// fits a task's share of the budget (1: it fits whole).
    pub fn parts(&self, decoded: u64) -> usize {
        task_peak(decoded).div_ceil(self.per_task_limit().max(1)).max(1) as usize
    }

    /// The memory tasks may hold together on this machine (None: each has its own, on Lambda).
    pub fn shared(&self) -> Option<u64> {
        (!self.per_task).then_some(self.limit)
    }

    /// How many tasks whose largest peaks at `peak` bytes run at once: as many as fit in the
    /// shared budget (at least one, at most the workers); every worker on Lambda.
    pub fn at_once(&self, peak: u64) -> usize {
        match self.shared() {
            Some(limit) => ((limit / peak.max(1)) as usize).clamp(1, self.workers),
            None => self.workers,
        }
    }
}

/// The share of the machine's memory (or of a function's) that a session's budget takes when
/// the user sets none, leaving the rest to the user's own process and the interpreters.
pub const DEFAULT_SHARE: f64 = 0.75;

/// Bytes written as people write them: `8GB`, `512 MB`, `1.5GiB`, `64mb`, `2e9` (GB and MB are
/// powers of 1000, GiB and MiB of 1024, as DuckDB reads them).
pub fn parse_bytes(text: &str) -> Result<u64> {
    let t = text.trim();
    let split = t.trim_end_matches(|c: char| c.is_ascii_alphabetic()).len();
    let (number, unit) = (t[..split].trim(), t[split..].trim().to_ascii_lowercase());
    let scale: u64 = match unit.as_str() {
        "" | "b" => 1,
        "kb" | "k" => 1_000,
        "mb" | "m" => 1_000_000,
        "gb" | "g" => 1_000_000_000,
        "tb" | "t" => 1_000_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        _ => return Err(bad_size(text)),
    };
    match number.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok((v * scale as f64) as u64),
        _ => Err(bad_size(text)),
    }
}

fn bad_size(text: &str) -> Error {
    Error::Plan(format!(
        "memory_limit={text:?}: write a size such as \"8GB\", \"512MB\" or \"1.5GiB\", or a number of bytes"
    ))
}

impl Plan {
    /// Output partitions of a shuffle nobody gave a count for: one per input partition, or
    /// more when the input exceeds `target_bytes` per partition, or `budget`'s task input.
    pub fn shuffle_partitions(&self, target_bytes: u64, budget: &Budget) -> usize {
        let bytes: u64 = self.inputs.iter().map(Input::bytes).sum();
        let by_size = bytes.div_ceil(target_bytes.max(1)) as usize;
        let by_budget = self.decoded_bytes().div_ceil(budget.task_input()) as usize;
        self.inputs.len().max(by_size).max(by_budget).max(1)
    }

    /// About how many bytes the input takes decoded.
    pub fn decoded_bytes(&self) -> u64 {
        self.decoded(self.inputs.iter().map(Input::bytes).sum())
    }

    /// About how many bytes `bytes` of input take decoded.
    pub fn decoded(&self, bytes: u64) -> u64 {
        (bytes as f64 * self.decoded_per_byte) as u64
    }

    /// The decoded input of `stage`'s largest task, as estimated before anything runs: its
    /// biggest input partition, or a reducer's share of the whole input.
    pub fn stage_input(&self, stage: &Stage) -> u64 {
        match stage.source {
            Source::Shuffle(i) => self.decoded_bytes().div_ceil(self.shuffles[i].exchange.partitions().max(1) as u64),
            Source::Inputs | Source::Parts(_) => {
                self.inputs.iter().map(|input| self.decoded(input.bytes())).max().unwrap_or(0)
            }
        }
    }

    /// Refuses, before anything runs, a plan whose tasks cannot fit in `budget` even one at
    /// a time: an input partition (a row group is never split) or a reducer whose partition
    /// count the user fixed, too big for it, or a collected result bigger than the budget of
    /// this machine.
    pub fn check_budget(&self, sink: &Sink, budget: &Budget) -> Result<()> {
        let limit = human(budget.limit);
        for (p, input) in self.inputs.iter().enumerate() {
            let decoded = self.decoded(input.bytes());
            if !budget.fits_alone(decoded) {
                let part = input.row_groups.map_or(String::new(), |g| format!(", row groups {}..{}", g.start, g.end));
                return Err(Error::Plan(format!(
                    "input partition {p} ({}{part}) is about {} decoded; a task over it needs about {}, over \
                     memory_limit={limit}. Write the file with smaller row groups (pyarrow: row_group_size=...) \
                     or raise memory_limit",
                    input.url,
                    human(decoded),
                    human(task_peak(decoded)),
                )));
            }
        }
        for shuffle in self.shuffles.iter().filter(|s| !s.coalesce) {
            let (name, r) = (shuffle.exchange.name(), shuffle.exchange.partitions());
            let each = self.decoded_bytes().div_ceil(r as u64);
            let rows_move = !matches!(shuffle.exchange, Exchange::GroupBy { .. });
            if rows_move && !budget.fits_alone(each) {
                let least = self.decoded_bytes().div_ceil(budget.limit / WORK_FACTOR);
                return Err(Error::Plan(format!(
                    "{name}(num_partitions={r}) gives each reducer about {} of rows, which needs about {}, \
                     over memory_limit={limit}: use num_partitions={least} or more, or leave it unset",
                    human(each),
                    human(task_peak(each)),
                )));
            }
        }
        let narrow = self.shuffles.iter().all(|s| !matches!(s.exchange, Exchange::GroupBy { .. }))
            && self
                .ops
                .iter()
                .chain(self.shuffles.iter().flat_map(|s| &s.ops))
                .all(|op| matches!(op, Op::Compute { .. }))
            && self.columns.is_none();
        // On Lambda the budget is each function's; what is collected lands in this process.
        if *sink == Sink::Collect && narrow && budget.shared().is_some_and(|limit| self.decoded_bytes() > limit) {
            return Err(Error::Plan(format!(
                "collect() would bring about {} into this process, over memory_limit={limit}: write the \
                 result with write_parquet(url) instead, or raise memory_limit",
                human(self.decoded_bytes())
            )));
        }
        Ok(())
    }
}

/// The estimated peak of a task over `decoded` bytes of decoded input.
pub fn task_peak(decoded: u64) -> u64 {
    decoded.saturating_mul(WORK_FACTOR)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Format;
    use crate::plan::Input;
    use crate::sort::SortKey;

    #[test]
    fn tasks_are_sized_so_that_the_workers_fit_together() {
        let b = Budget::new(1 << 30, 4, false).unwrap();
        assert_eq!(b.per_task_limit(), 256 << 20);
        assert_eq!(b.task_input(), 64 << 20);
        assert!(b.fits_alone(256 << 20));
        assert!(!b.fits_alone((256 << 20) + 1));
        assert_eq!(b.shared(), Some(1 << 30));
        assert_eq!(b.parts(64 << 20), 1);
        assert_eq!(b.parts((64 << 20) + 1), 2);
        assert_eq!(b.parts(1 << 30), 16);
        let lambda = Budget::new(1536 << 20, 1000, true).unwrap();
        assert_eq!(lambda.task_input(), 384 << 20);
        assert_eq!(lambda.shared(), None);
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(parse_bytes("8GB").unwrap(), 8_000_000_000);
        assert_eq!(parse_bytes(" 512 mb ").unwrap(), 512_000_000);
        assert_eq!(parse_bytes("1.5GiB").unwrap(), 3 << 29);
        assert_eq!(parse_bytes("2e9").unwrap(), 2_000_000_000);
        assert_eq!(parse_bytes("100").unwrap(), 100);
        for bad in ["lots", "8 GBs", "-1GB", "", "GB"] {
            assert!(parse_bytes(bad).unwrap_err().to_string().contains("memory_limit="), "{bad}");
        }
    }

    fn plan(files: usize, bytes: u64) -> Plan {
        let input = |i: usize| Input::whole(format!("file:///d/{i}.parquet"), Format::Parquet, bytes);
        Plan::scan((0..files).map(input).collect(), "file:///d/".into()).with_schema(None, 2.0)
    }

    fn sort(plan: &Plan, partitions: usize, coalesce: bool) -> Plan {
        let keys = vec![SortKey { column: "k".into(), descending: false, nulls_first: false }];
        plan.then_exchange(Exchange::Sort { keys, partitions }, coalesce).unwrap()
    }

    #[test]
    fn plans_that_cannot_fit_are_refused_with_their_numbers() {
        let budget = Budget::new(400_000_000, 4, false).unwrap();
        // 8 files of 10 MB, 20 MB decoded each: tasks of 80 MB fit alone and 5 at once.
        let fits = sort(&plan(8, 10_000_000), 8, true);
        fits.check_budget(&Sink::Count, &budget).unwrap();
        assert_eq!(fits.stage_input(&fits.stages()[1]), 20_000_000);
        assert_eq!(budget.at_once(task_peak(20_000_000)), 4, "no more than the workers");
        assert_eq!(budget.at_once(task_peak(60_000_000)), 1);
        // A file of 60 MB (120 MB decoded, 480 MB at its peak) is not cut by the plan here.
        let e = plan(1, 60_000_000).check_budget(&Sink::Count, &budget).unwrap_err().to_string();
        assert!(e.contains("input partition 0 (file:///d/0.parquet)") && e.contains("120.0 MB"), "{e}");
        // One reducer for 160 MB of rows; at least two are needed.
        let e = sort(&plan(8, 10_000_000), 1, false).check_budget(&Sink::Count, &budget).unwrap_err().to_string();
        assert!(e.contains("sort(num_partitions=1)") && e.contains("num_partitions=2 or more"), "{e}");
        // Collecting 160 MB fits in 400 MB, 800 MB does not; on Lambda the budget is the
        // function's, not this process's.
        fits.check_budget(&Sink::Collect, &budget).unwrap();
        let big = sort(&plan(40, 10_000_000), 40, true);
        let e = big.check_budget(&Sink::Collect, &budget).unwrap_err().to_string();
        assert!(e.contains("collect() would bring about 800.0 MB"), "{e}");
        big.check_budget(&Sink::Collect, &Budget { per_task: true, ..budget }).unwrap();
        let counted = big.then(Op::Limit { rows: 10 }).unwrap();
        counted.check_budget(&Sink::Collect, &budget).unwrap();
    }

    #[test]
    fn a_budget_too_small_for_any_task_is_refused() {
        let e = Budget::new(1 << 20, 2, false).unwrap_err().to_string();
        assert!(e.contains("memory_limit=1.0 MB") && e.contains("16.0 MB"), "{e}");
    }
}
