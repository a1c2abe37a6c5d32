//! Where a stage's tasks run: on the driver's threads or on the session's workers (local
//! processes or Lambda functions). Decided from the plan's typed inputs and operators.

use crate::plan::{Plan, Sink, Stage};
use crate::{Error, Result};

/// Where a stage's tasks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// Threads of the driver's process: no Python function of the user's, or data in its memory.
    Threads,
    /// The session's workers.
    Workers,
}

/// What a session allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    /// Stages with no Python function may run on the driver's threads.
    pub in_process: bool,
    /// The workers are Lambda functions, which cannot reach this machine's files.
    pub remote: bool,
}

impl Placement {
    /// Where `stage` of `plan` (writing into `sink`) runs. A plan that reads or writes memory://
    /// runs on the driver's threads, its functions included (only this process sees that
    /// memory); a stage on Lambda may not touch this machine's files.
    pub fn place(&self, plan: &Plan, sink: &Sink, stage: &Stage) -> Result<Place> {
        let mut urls = plan.inputs.iter().map(|i| i.url.as_str());
        let dir = match sink {
            Sink::Write { dir, .. } => Some(dir.as_str()),
            _ => None,
        };
        if urls.clone().chain(dir).any(|u| u.starts_with("memory://")) {
            return Ok(Place::Threads);
        }
        if self.in_process && !stage.calls_python() {
            return Ok(Place::Threads);
        }
        if self.remote {
            let here = |u: &&str| !u.starts_with("s3://") && !u.starts_with("redis://");
            if let Some(local) = urls.find(here).or(dir.filter(here)) {
                return Err(Error::Plan(format!(
                    "{local} is on this machine, where Lambda functions cannot reach it: on a lambda \
                     session read from and write to s3:// (or redis://) URLs"
                )));
            }
        }
        Ok(Place::Workers)
    }

    /// Where `place` is, in words.
    pub fn describe(&self, place: Place) -> &'static str {
        match (place, self.remote) {
            (Place::Threads, _) => "the driver's threads",
            (Place::Workers, true) => "Lambda functions",
            (Place::Workers, false) => "worker processes",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Format;
    use crate::plan::{Input, Op};

    fn plan(url: &str) -> Plan {
        Plan::scan(vec![Input::whole(url.into(), Format::Parquet, 1)], url.into())
    }

    #[test]
    fn python_goes_to_workers_unless_the_data_is_in_memory() {
        let udf = Op::Udf { index: 0, kind: "map_batches".into(), name: "f".into() };
        let local = Placement { in_process: true, remote: false };
        let p = plan("file:///d/x.parquet");
        let stages = p.then(udf.clone()).unwrap().stages();
        assert_eq!(local.place(&p, &Sink::Count, &p.stages()[0]).unwrap(), Place::Threads);
        assert_eq!(local.place(&p, &Sink::Count, &stages[0]).unwrap(), Place::Workers);
        let mem = plan("memory://m/x.parquet");
        assert_eq!(local.place(&mem, &Sink::Count, &stages[0]).unwrap(), Place::Threads);
        let off = Placement { in_process: false, remote: false };
        assert_eq!(off.place(&p, &Sink::Count, &p.stages()[0]).unwrap(), Place::Workers);
    }

    #[test]
    fn lambda_refuses_this_machines_files_naming_them() {
        let lambda = Placement { in_process: false, remote: true };
        let p = plan("file:///d/x.parquet");
        let err = lambda.place(&p, &Sink::Count, &p.stages()[0]).unwrap_err().to_string();
        assert!(err.contains("file:///d/x.parquet") && err.contains("s3://"), "{err}");
        let s3 = plan("s3://b/x.parquet");
        assert_eq!(lambda.place(&s3, &Sink::Count, &s3.stages()[0]).unwrap(), Place::Workers);
        let sink = Sink::Write {
            format: Format::Parquet,
            dir: "/tmp/out".into(),
            compression: Default::default(),
            mode: Default::default(),
        };
        assert!(lambda.place(&s3, &sink, &s3.stages()[0]).is_err());
    }
}
