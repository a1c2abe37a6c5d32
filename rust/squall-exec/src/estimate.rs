//! A plan priced before it runs (`Dataset.estimate`): its stages by size
//! ([`squall_core::shape`]) through the same fleet and store models that a simulation runs, in
//! closed form. Each task takes its work, its requests' rounds of first bytes and its bytes at
//! the function's bandwidth; environments come as the fleet's ramp allows (a full bucket of
//! `ramp_per_10s` per function first, then `ramp_per_10s / 10` per second each), each paying
//! one cold start, and work back to back; a stage whose requests exceed the store's rate
//! lasts until the store has served them. Crashes (`failure_rate`) are attempts run again: a
//! task takes `1 / (1 - failure_rate)` attempts on average, each crash costs its work and its
//! requests again and a new environment's cold start. A straggler (`straggler_rate`) runs
//! `straggler_factor` times its work, or, when the session speculates, until its backup (started
//! once it runs past the speculation's threshold) has done the work again. Not modelled:
//! a backup that straggles too (it gets a backup of its own), a cold start slowed down with
//! its attempt, throttling by `throttle_rate`, retries' backoff and the client's window
//! backing off from 429s (a simulation runs them all).

use squall_core::shape::StageShape;
use squall_core::TaskIo;

use crate::simulated::FleetModel;
use crate::Speculation;

/// One stage's estimate.
#[derive(Debug, Clone, PartialEq)]
pub struct StageEstimate {
    /// The stage's label.
    pub label: String,
    /// Its tasks.
    pub tasks: usize,
    /// Its attempts (invocations): tasks, and the crashed attempts run again.
    pub attempts: usize,
    /// Seconds from its start to its last task's end.
    pub seconds: f64,
    /// Seconds of its tasks together (what Lambda bills, with the function's memory).
    pub task_seconds: f64,
    /// Its tasks' requests and bytes, and the driver's after it (`slowdowns`: requests past
    /// the store's rate).
    pub io: TaskIo,
    /// The share of `io` that touches the user's data (input read, output written), not
    /// intermediate objects.
    pub data: TaskIo,
}

/// Estimates `shapes` run one after another on the fleet `model`, stragglers getting backups
/// as `speculation` says (None: never).
pub fn estimate(shapes: &[StageShape], model: &FleetModel, speculation: Option<Speculation>) -> Vec<StageEstimate> {
    let mut fleet = Fleet { used: 0, now: 0.0, speculation };
    shapes.iter().map(|shape| fleet.stage(shape, model)).collect()
}

/// The environments a job has made so far, and its clock.
struct Fleet {
    used: usize,
    now: f64,
    speculation: Option<Speculation>,
}

/// How long a straggling attempt of `work` seconds runs (its `compute` seconds of them slowed
/// down; its requests are not), and the seconds it and its backup bill.
fn straggling(work: f64, compute: f64, m: &FleetModel, speculation: Option<Speculation>) -> (f64, f64) {
    let alone = work + compute * (m.straggler_factor.max(1.0) - 1.0);
    match speculation {
        // Its backup starts once it has run `multiple` times the median (and `min_runtime`),
        // and wins after the work.
        Some(sp) => {
            let threshold = (work * sp.multiple).max(sp.min_runtime.as_secs_f64());
            match alone > threshold + work {
                true => (threshold + work, threshold + 2.0 * work),
                false => (alone, alone),
            }
        }
        None => (alone, alone),
    }
}

impl Fleet {
    /// When environment `j` may first exist, counted from the job's start.
    fn ramp(j: usize, model: &FleetModel) -> f64 {
        let functions = model.functions.max(1) as f64;
        let burst = model.ramp_per_10s * functions;
        ((j as f64 + 1.0 - burst) / (model.ramp_per_10s / 10.0 * functions)).max(0.0)
    }

    fn stage(&mut self, shape: &StageShape, m: &FleetModel) -> StageEstimate {
        let each = &shape.each;
        let store = m.store.as_ref().map_or(0.0, |s| s.busy_s(&each.io));
        // At least a nanosecond: a task of nothing in a model of no latency still ends.
        let compute = each.work_bytes as f64 / m.work_bytes_s.max(1.0);
        let work = (m.latency_s + compute + store).max(1e-9);
        // Attempts, crashed ones run again (each on a new environment, after its cold start).
        let crash = m.failure_rate.clamp(0.0, 0.99);
        let attempts = (shape.tasks as f64 / (1.0 - crash)).round().max(shape.tasks as f64) as usize;
        let crashes = attempts - shape.tasks;
        // Stragglers: each attempt bills its share of them; the stage's last wave waits for one
        // when it likely holds one (a chance of one in ten or more).
        let slow = m.straggler_rate.clamp(0.0, 1.0);
        let (straggler_s, straggler_billed) = straggling(work, compute, m, self.speculation);
        let task = work + crash * m.cold_start_s + slow * (straggler_s - work);
        let envs = shape.tasks.min(m.concurrency.max(1));
        // When each environment takes its first task: a new one after its cold start.
        let start = self.now;
        let ready: Vec<f64> = (0..envs)
            .map(|j| match j < self.used {
                true => start,
                false => start.max(Fleet::ramp(j, m)) + m.cold_start_s,
            })
            .collect();
        let done_by = |t: f64| -> usize { ready.iter().map(|r| ((t - r) / task).max(0.0).floor() as usize).sum() };
        // The earliest end by which `n` attempts are done: bisect between the first wave's end
        // and every attempt on the last environment.
        let end_of = |n: usize| {
            let (mut lo, mut hi) = (start, ready.iter().cloned().fold(start, f64::max) + task * n as f64);
            for _ in 0..60 {
                let mid = (lo + hi) / 2.0;
                if done_by(mid) >= n {
                    hi = mid;
                } else {
                    lo = mid;
                }
            }
            hi
        };
        // Crashes in the last wave are run again after it, each on a new environment: the
        // stage waits for the longest such chain (`chain` attempts: the longest that one of
        // the last wave's tasks reaches with a chance of one in ten or more, a planning
        // margin rather than the mean).
        let mut chain = 1;
        while crash > 0.0 && envs as f64 * crash.powi(chain) >= 0.1 && chain < 20 {
            chain += 1;
        }
        let last_wave = envs.min(shape.tasks) as f64;
        let straggle = if last_wave * slow >= 0.1 { straggler_s - work } else { 0.0 };
        let tail = end_of(shape.tasks) + (chain - 1) as f64 * (work + m.cold_start_s) + straggle;
        let mut seconds = end_of(attempts).max(tail) - start;
        // A crashed attempt made its requests before it died.
        let mut io = shape.total() + shape.each.io * crashes as u64;
        let mut waited = 0.0;
        if let Some(s) = &m.store {
            // Requests past the store's rate wait for it (each answered 503 SlowDown first),
            // their tasks billed while they wait: a single wave's waits spread evenly over the
            // stage (half of it each, on average), later waves' fill it.
            let prefixes = s.prefixes.max(1) as f64;
            let (puts, gets) = ((io.puts + io.deletes) as f64, (io.gets + io.lists) as f64);
            let (put_rate, get_rate) = (s.put_per_s * prefixes, s.get_per_s * prefixes);
            let served = (puts / put_rate).max(gets / get_rate);
            if served > seconds {
                let past = |asked: f64, rate: f64| (asked - rate * (seconds + 1.0)).max(0.0);
                io.slowdowns = (past(puts, put_rate) + past(gets, get_rate)) as u64;
                let busy = 1.0 - envs as f64 / (2.0 * shape.tasks as f64);
                waited = envs as f64 * (served - seconds) * busy;
                seconds = served;
            }
        }
        let cold = (envs.saturating_sub(self.used) + crashes) as f64 * m.cold_start_s;
        let billed = work + slow * (straggler_billed - work);
        let task_seconds = billed * attempts as f64 + cold + waited;
        self.used = self.used.max(envs);
        self.now = start + seconds;
        let (label, tasks, data) = (shape.label.clone(), shape.tasks, shape.data_total() + shape.data * crashes as u64);
        StageEstimate { label, tasks, attempts, seconds, task_seconds, io, data }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use squall_core::shape::TaskSize;

    fn shape(tasks: usize, work_bytes: u64) -> StageShape {
        let each = TaskSize { io: TaskIo::default(), work_bytes };
        StageShape { label: "s".into(), tasks, each, data: TaskIo::default(), driver: TaskIo::default() }
    }

    #[test]
    fn tasks_run_in_waves_on_warm_environments() {
        let m = FleetModel { concurrency: 100, latency_s: 0.0, cold_start_s: 0.0, ..Default::default() };
        // 1,000 tasks of 1 s on 100 environments: ten waves.
        let e = estimate(&[shape(1000, 100_000_000)], &m, None);
        assert!((e[0].seconds - 10.0).abs() < 1e-6, "{e:?}");
        assert!((e[0].task_seconds - 1000.0).abs() < 1e-6);
    }

    #[test]
    fn tasks_of_nothing_take_no_time() {
        let m = FleetModel { latency_s: 0.0, cold_start_s: 0.0, ..Default::default() };
        let e = estimate(&[shape(10, 0)], &m, None);
        assert!(e[0].seconds < 1e-6 && e[0].task_seconds < 1e-6, "{e:?}");
    }

    #[test]
    fn a_fleet_past_its_burst_ramps_up() {
        let m = FleetModel { concurrency: 3000, latency_s: 0.0, cold_start_s: 0.0, ..Default::default() };
        // 3,000 tasks of 100 s: 1,000 environments at once, then 100 more a second.
        let one = estimate(&[shape(3000, 10_000_000_000)], &m, None)[0].seconds;
        assert!((one - 120.0).abs() < 1.0, "{one}");
        let four = estimate(&[shape(3000, 10_000_000_000)], &FleetModel { functions: 4, ..m }, None)[0].seconds;
        assert!((four - 100.0).abs() < 1e-6, "{four}");
    }
}
