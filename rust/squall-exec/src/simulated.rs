//! The `simulated` backend: a fleet model around a real backend, so results are real while
//! cold starts, latency, ramp-up, stragglers, crashes and throttling behave like a Lambda fleet
//! of thousands of execution environments, over one function or several (each ramps up on its
//! own, as `squall.deploy(shards=k)` makes them). Simulated time runs `time_scale` times real
//! time (0.01: one simulated second is 10 ms here). Without a real backend (`execute: false`)
//! calls are not run at all: each attempt takes the model's time on a virtual clock (see
//! [`crate::runtime::VirtualClock`]) and returns None. Fault decisions are seeded per (task,
//! attempt): the same seed injects the same faults whatever the timing.

use std::hash::{BuildHasher, Hash, Hasher};

use std::sync::{Arc, Mutex};
use std::time::Duration;

use squall_core::plan::{PartitionReport, PartitionTask, TaskInput};
use squall_core::TaskReport;
use tokio::time::Instant;

use crate::backend::{bounded, BoxFuture};
use crate::spread::Spread;
use crate::store_model::{StoreModel, StoreRates};
use crate::window::Window;
use crate::{Backend, Failure, Invocation, Reply};

/// What the simulated fleet does. Times are simulated seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetModel {
    /// Execution environments at most, over all functions (the account's concurrency limit).
    pub concurrency: usize,
    /// New environments allowed per function per 10 s (AWS: 1,000); beyond that, 429s.
    pub ramp_per_10s: f64,
    /// Identical functions the invocations are spread over (`squall.deploy(shards=...)`).
    pub functions: usize,
    /// Start-up time of a new environment (varies +-50%).
    pub cold_start_s: f64,
    /// Per-invocation overhead.
    pub latency_s: f64,
    /// Run time of a task (added to the real one).
    pub task_s: f64,
    /// Decoded bytes a function works through per second (decoding, sorting, encoding): the
    /// time of a dataset task simulated by size (see [`squall_core::shape`]), besides its
    /// requests. About what one vCPU (a function of 1,769 MB) does.
    pub work_bytes_s: f64,
    /// Share of attempts that straggle, and how much slower they are.
    pub straggler_rate: f64,
    /// Slowdown of a straggling attempt.
    pub straggler_factor: f64,
    /// Share of attempts whose environment crashes (after running: its answer is lost).
    pub failure_rate: f64,
    /// Share of invocations answered 429 TooManyRequests.
    pub throttle_rate: f64,
    /// Real seconds per simulated second.
    pub time_scale: f64,
    /// Seed of the fault decisions.
    pub seed: u64,
    /// The store the tasks' requests go to (None: their real time only).
    pub store: Option<StoreModel>,
    /// Whether tasks run for real; without, each call takes the model's time on a virtual
    /// clock and returns None.
    pub execute: bool,
}

impl Default for FleetModel {
    fn default() -> Self {
        FleetModel {
            concurrency: 1000,
            ramp_per_10s: 1000.0,
            functions: 1,
            cold_start_s: 0.5,
            latency_s: 0.02,
            task_s: 1.0,
            work_bytes_s: 100e6,
            straggler_rate: 0.0,
            straggler_factor: 10.0,
            failure_rate: 0.0,
            throttle_rate: 0.0,
            time_scale: 0.01,
            seed: 0,
            store: None,
            execute: true,
        }
    }
}

/// One function's environments.
struct Fleet {
    idle: Vec<usize>,
    /// Token bucket of new environments, refilled at `ramp_per_10s / 10` per simulated second.
    tokens: f64,
    refilled: Instant,
}

/// What `pickle.dumps(None)` gives: the result of a call that was not run.
const NONE_PICKLE: &[u8] = b"\x80\x04N.";

/// A simulated fleet over `inner`, which runs the tasks for real (or over nothing).
pub struct SimulatedBackend {
    inner: Option<Arc<dyn Backend>>,
    model: FleetModel,
    fleets: Vec<Mutex<Fleet>>,
    /// Environments made so far, over all functions (their names).
    created: std::sync::atomic::AtomicUsize,
    spread: Spread,
    /// What the Lambda backend's client keeps in flight, modelled with its own code.
    window: Window,
    /// The store's request rate across the fleet (with a store model).
    rates: Option<Mutex<StoreRates>>,
}

impl SimulatedBackend {
    /// A fleet following `model` whose tasks run on `inner`; with none, calls are not run and
    /// the scheduler over it belongs on a [`crate::runtime::VirtualClock`].
    pub fn new(inner: Option<Arc<dyn Backend>>, model: FleetModel) -> Self {
        let functions = model.functions.max(1);
        let fleet = || Mutex::new(Fleet { idle: Vec::new(), tokens: model.ramp_per_10s, refilled: Instant::now() });
        let fleets = (0..functions).map(|_| fleet()).collect();
        let window = Window::new(model.concurrency);
        let rates = model.store.as_ref().map(|s| Mutex::new(StoreRates::new(s)));
        let spread = Spread::new(functions);
        SimulatedBackend { inner, model, fleets, created: Default::default(), spread, window, rates }
    }

    /// A uniform number in [0, 1), fixed by the seed, the task, the attempt and `what`.
    fn draw(&self, task: u64, attempt: u32, what: &str) -> f64 {
        let mut h = fixed_hasher();
        (self.model.seed, task, attempt, what).hash(&mut h);
        (h.finish() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Real seconds per simulated second: `time_scale`, or 1 on a virtual clock.
    fn scale(&self) -> f64 {
        if self.inner.is_some() {
            self.model.time_scale
        } else {
            1.0
        }
    }

    fn real(&self, simulated_s: f64) -> Duration {
        Duration::from_secs_f64((simulated_s * self.scale()).max(0.0))
    }

    /// An environment of function `function` for one attempt: a warm idle one, or a new one if
    /// the function's ramp allows.
    fn environment(&self, function: usize) -> Option<(usize, bool)> {
        let mut f = self.fleets[function].lock().unwrap_or_else(|e| e.into_inner());
        if let Some(env) = f.idle.pop() {
            return Some((env, false));
        }
        let simulated = f.refilled.elapsed().as_secs_f64() / self.scale();
        f.tokens = (f.tokens + simulated * self.model.ramp_per_10s / 10.0).min(self.model.ramp_per_10s);
        f.refilled = Instant::now();
        if f.tokens < 1.0 {
            return None;
        }
        f.tokens -= 1.0;
        Some((self.created.fetch_add(1, std::sync::atomic::Ordering::Relaxed), true))
    }

    fn give_back(&self, function: usize, env: usize) {
        self.fleets[function].lock().unwrap_or_else(|e| e.into_inner()).idle.push(env);
    }

    async fn run(&self, inv: Invocation) -> Result<Reply, Failure> {
        let permit = self.window.acquire().await.map_err(|_| Failure::Setup("the session was closed".into()))?;
        let result = self.attempt(inv).await;
        self.window.release(permit, matches!(result, Err(Failure::Throttled(_))));
        result
    }

    async fn attempt(&self, inv: Invocation) -> Result<Reply, Failure> {
        let (task, attempt) = (inv.spec.task, inv.spec.attempt);
        let m = &self.model;
        tokio::time::sleep(self.real(m.latency_s)).await;
        if self.draw(task, attempt, "throttle") < m.throttle_rate {
            return Err(Failure::Throttled("simulated 429 TooManyRequests".into()));
        }
        let function = self.spread.pick();
        let Some((env, cold)) = self.environment(function.index) else {
            return Err(Failure::Throttled("simulated 429: the fleet is still ramping up".into()));
        };
        let sized = match inv.spec.partition.as_deref() {
            Some(PartitionTask { input: TaskInput::Sized(size), partition, .. }) if self.inner.is_none() => {
                Some((*partition, size.clone()))
            }
            _ => None,
        };
        let mut simulated = match &sized {
            Some((_, size)) => size.work_bytes as f64 / m.work_bytes_s.max(1.0),
            None => m.task_s,
        };
        if cold {
            simulated += m.cold_start_s * (0.5 + self.draw(task, attempt, "cold"));
        }
        if self.draw(task, attempt, "straggle") < m.straggler_rate {
            simulated *= m.straggler_factor;
        }
        let mut cancel = inv.cancel.clone();
        let wait = async {
            let started = crate::runtime::now_epoch();
            tokio::time::sleep(self.real(simulated)).await;
            match &self.inner {
                Some(inner) => inner.invoke(inv).await,
                None if inv.spec.partition.is_some() && sized.is_none() => Err(Failure::Setup(
                    "a fleet model that does not execute (FleetModel(execute=False)) runs calls (map, \
                     submit) and datasets by size (Dataset.simulate) only: run datasets with execute=True"
                        .into(),
                )),
                None => {
                    let finished = crate::runtime::now_epoch();
                    let mut report = TaskReport { ok: true, started, finished, ..TaskReport::of(&inv.spec) };
                    if let Some((partition, size)) = &sized {
                        // A task by size reports its sizes as if it had moved them.
                        report.io = size.io;
                        let (bytes_read, bytes_written) = (size.io.bytes_read, size.io.bytes_written);
                        report.partition = Some(PartitionReport {
                            partition: *partition,
                            bytes_read,
                            bytes_written,
                            ..Default::default()
                        });
                    }
                    Ok(Reply { report, body: NONE_PICKLE.to_vec(), worker: String::new(), cold, output: String::new() })
                }
            }
        };
        let mut result = bounded(wait, None, &mut cancel).await.and_then(|r| r);
        if let (Ok(reply), Some(store), Some(rates)) = (&mut result, &m.store, &self.rates) {
            // The attempt's requests and bytes take the store's time, and those past its rate
            // wait (each answered 503 SlowDown first, and counted).
            let io = &mut reply.report.io;
            let throttled = rates.lock().unwrap_or_else(|e| e.into_inner()).take(store, io, self.scale());
            io.slowdowns += throttled.slowdowns;
            tokio::time::sleep(self.real(store.busy_s(io) + throttled.wait_s)).await;
        }
        if self.draw(task, attempt, "fail") < m.failure_rate {
            // The environment dies with the attempt: its answer never arrives.
            return Err(Failure::WorkerLost(format!("simulated crash of sim-{env}")));
        }
        self.give_back(function.index, env);
        result.map(|mut reply| {
            reply.worker = format!("sim-{env}");
            reply.cold = cold;
            reply
        })
    }
}

/// A hasher with fixed keys, so draws are the same in every process and run.
fn fixed_hasher() -> impl Hasher {
    std::hash::BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().build_hasher()
}

impl Backend for SimulatedBackend {
    fn slots(&self) -> usize {
        self.model.concurrency.max(1)
    }

    fn invoke(&self, inv: Invocation) -> BoxFuture<'_, Result<Reply, Failure>> {
        Box::pin(self.run(inv))
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.window.close();
            if let Some(inner) = &self.inner {
                inner.shutdown().await;
            }
        })
    }
}
