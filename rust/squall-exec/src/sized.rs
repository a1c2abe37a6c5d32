//! Datasets simulated by size (`Dataset.simulate`): the plan's stages as
//! [`squall_core::shape`] sizes them, each task a [`TaskInput::Sized`] that carries sizes and
//! no bytes, run by the real scheduler (queue, retries, backoff, speculation, the client's
//! window) over a simulated fleet that does not execute, on a virtual clock. Each task takes
//! the time its work and its requests take in the fleet's model, and reports its requests, so
//! the job record's stats, timeline and cost are those of the simulated run. Stages run one
//! after another, as the driver runs them; the driver holds one task per stage, shared by all
//! its tasks, so 100,000 x 100,000 partitions fit in memory.

use std::sync::Arc;

use squall_core::plan::{PartitionTask, TaskInput};
use squall_core::shape::StageShape;
use squall_core::tier::Intermediates;
use squall_core::TaskIo;

use crate::driver::{DatasetJob, JobOutput, Running, Settings};
use crate::scheduler::Work;
use crate::simulated::{FleetModel, SimulatedBackend};
use crate::{Error, Function, JobSpec, Result, Scheduler};

/// The stages of `job` by size, as a session with `settings` would run them.
pub fn shapes(job: &DatasetJob, settings: &Settings) -> Vec<StageShape> {
    let tiers = Intermediates { two_level: settings.two_level, ..Default::default() };
    job.plan.shapes(&job.sink, &settings.budget, &tiers, &job.verb)
}

/// Starts simulating `job` on a fleet following `model` (which is not asked to execute), on a
/// thread of its own; the result is [`JobOutput::Simulated`], the driver's modelled requests
/// [`Running::driver_io`].
pub fn start(settings: Settings, job: DatasetJob, model: FleetModel) -> Result<Arc<Running>> {
    let shapes = shapes(&job, &settings);
    let backend = Arc::new(SimulatedBackend::new(None, FleetModel { execute: false, ..model }));
    let sched = Arc::new(Scheduler::on_virtual_clock(backend)?);
    let running = Running::new();
    let run = running.clone();
    let spawned = std::thread::Builder::new().name("squall-simulate".into()).spawn(move || {
        let result = run_shapes(&run, &sched, &settings, shapes);
        let (result, io) = match result {
            Ok(io) => (Ok(JobOutput::Simulated), io),
            Err(e) => (Err(e), TaskIo::default()),
        };
        run.end(result, io);
    });
    spawned.map_err(Error::Runtime)?;
    Ok(running)
}

/// Runs `shapes` one after another; returns the requests the driver would have made.
fn run_shapes(
    running: &Running,
    sched: &Arc<Scheduler>,
    settings: &Settings,
    shapes: Vec<StageShape>,
) -> Result<TaskIo> {
    let mut driver = TaskIo::default();
    for shape in shapes {
        let task = Arc::new(PartitionTask {
            partition: 0,
            input: TaskInput::Sized(shape.each),
            columns: None,
            expected: None,
            ops: Vec::new(),
            output: None,
            fast: None,
        });
        let spec = JobSpec {
            label: shape.label,
            results: None,
            func: Arc::new(Function::default()),
            work: vec![Work::Partition(task); shape.tasks],
            timeout: None,
            retries: settings.retries,
            speculation: settings.speculation,
            memory: None,
        };
        running.run(sched, spec, |task| format!("partition {task} (simulated by size)"))?;
        driver = driver + shape.driver;
    }
    Ok(driver)
}
