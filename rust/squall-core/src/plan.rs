//! Lazy dataset plans: a scan of files followed by narrow operators, cut into partition tasks.
//!
//! Every operator here is narrow (one input partition gives one output partition), so a plan
//! runs as one stage of fused tasks, one per input file. Shuffles will end stages.

use serde::{Deserialize, Serialize};

use crate::codec::Format;
use crate::{Error, Result};

/// One input object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Input {
    /// Where it is.
    pub url: String,
    /// How it is encoded.
    pub format: Format,
    /// Its size in bytes.
    pub size: u64,
}

/// A narrow operator on record batches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// A Python function, the `index`-th of the plan's functions (they travel with the task).
    Udf {
        /// Index into the plan's function list.
        index: usize,
        /// "map_batches" or "filter".
        kind: String,
        /// The function's name, for explain().
        name: String,
    },
    /// Keep these columns, in this order.
    Select {
        /// Column names.
        columns: Vec<String>,
    },
    /// Stop after this many rows of the partition.
    Limit {
        /// Row count.
        rows: usize,
    },
}

/// Where a stage's output goes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Sink {
    /// Arrow IPC objects under `prefix`, one per attempt, read back by the driver.
    Collect {
        /// URL prefix (a directory).
        prefix: String,
    },
    /// One file per partition under `dir`, named `part-NNNNN.<ext>`.
    Write {
        /// File format.
        format: Format,
        /// Destination directory URL.
        dir: String,
    },
    /// Only count rows.
    Count,
}

/// Where one task writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Output {
    /// File format.
    pub format: Format,
    /// The object's URL; for collected output the attempt number is appended before the extension.
    pub url: String,
    /// Whether each attempt writes its own object (scratch output committed by the driver).
    pub per_attempt: bool,
}

/// One task of a stage: read one input, apply the operators, write one output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartitionTask {
    /// Partition index.
    pub partition: usize,
    /// The input object.
    pub input: Input,
    /// Columns to read (None: all).
    pub columns: Option<Vec<String>>,
    /// Operators, in order.
    pub ops: Vec<Op>,
    /// Where the result goes (None: nowhere, rows are only counted).
    pub output: Option<Output>,
}

/// What a partition task did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PartitionReport {
    /// Partition index.
    pub partition: usize,
    /// Rows read.
    pub rows_in: u64,
    /// Rows produced.
    pub rows: u64,
    /// Bytes read from the store.
    pub bytes_read: u64,
    /// Bytes written to the store.
    pub bytes_written: u64,
    /// The object written, if any.
    pub url: Option<String>,
}

/// A lazy plan: a scan of `inputs` and narrow operators.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Input objects, one partition each.
    pub inputs: Vec<Input>,
    /// What the scan is, for explain() (e.g. "parquet files under s3://lab/events/").
    pub source: String,
    /// Columns to read (None: all), from selects pushed into the scan.
    pub columns: Option<Vec<String>>,
    /// Operators after the scan.
    pub ops: Vec<Op>,
}

impl Plan {
    /// A scan of `inputs`.
    pub fn scan(inputs: Vec<Input>, source: String) -> Self {
        Plan { inputs, source, columns: None, ops: Vec::new() }
    }

    /// This plan followed by `op`; a select right after the scan becomes the scan's projection.
    pub fn then(&self, op: Op) -> Result<Plan> {
        if let Op::Select { columns } = &op {
            if columns.is_empty() {
                return Err(Error::Plan("select() needs at least one column".into()));
            }
            let mut seen = std::collections::HashSet::new();
            if let Some(dup) = columns.iter().find(|c| !seen.insert(*c)) {
                return Err(Error::Plan(format!("select() names the column {dup:?} twice")));
            }
        }
        let mut next = self.clone();
        match op {
            Op::Select { columns } if next.ops.is_empty() => next.columns = Some(columns),
            op => next.ops.push(op),
        }
        Ok(next)
    }

    /// Number of Python functions the plan calls.
    pub fn udf_count(&self) -> usize {
        self.ops.iter().filter(|o| matches!(o, Op::Udf { .. })).count()
    }

    /// The tasks that run the plan into `sink`, one per input.
    pub fn tasks(&self, sink: &Sink) -> Vec<PartitionTask> {
        self.inputs
            .iter()
            .enumerate()
            .map(|(partition, input)| PartitionTask {
                partition,
                input: input.clone(),
                columns: self.columns.clone(),
                ops: self.ops.clone(),
                output: match sink {
                    Sink::Collect { prefix } => Some(Output {
                        format: Format::Ipc,
                        url: format!("{}/part-{partition:05}.arrow", prefix.trim_end_matches('/')),
                        per_attempt: true,
                    }),
                    Sink::Write { format, dir } => Some(Output {
                        format: *format,
                        url: format!("{}/part-{partition:05}.{}", dir.trim_end_matches('/'), format.extension()),
                        per_attempt: false,
                    }),
                    Sink::Count => None,
                },
            })
            .collect()
    }

    /// A readable account of how the plan runs into `sink`.
    pub fn explain(&self, sink: &Sink) -> String {
        let n = self.inputs.len();
        let bytes: u64 = self.inputs.iter().map(|i| i.size).sum();
        let formats: Vec<&str> = self.inputs.iter().map(|i| i.format.extension()).collect();
        let format = match formats.first() {
            Some(f) if formats.iter().all(|g| g == f) => *f,
            Some(_) => "mixed",
            None => "no",
        };
        let runs_on = if self.udf_count() > 0 { "worker processes (Python functions)" } else { "worker processes" };
        let mut out = vec![
            "squall plan: 1 stage (every operator is narrow: no shuffle)".to_string(),
            format!("stage 0: {n} task{}, one per input, on {runs_on}", if n == 1 { "" } else { "s" }),
            format!(
                "  read    {n} {format} file{} ({}) from {}",
                if n == 1 { "" } else { "s" },
                human(bytes),
                self.source
            ),
        ];
        if let Some(cols) = &self.columns {
            out.push(format!("          only columns {}", cols.join(", ")));
        }
        for op in &self.ops {
            out.push(match op {
                Op::Udf { kind, name, .. } => format!("  then    {kind}({name})  [Python]"),
                Op::Select { columns } => format!("  then    select({})", columns.join(", ")),
                Op::Limit { rows } => format!("  then    limit({rows}) per partition"),
            });
        }
        out.push(match sink {
            Sink::Collect { .. } => {
                format!("  write   {n} Arrow IPC object{} to scratch; the driver reads them back", s(n))
            }
            Sink::Write { format, dir } => {
                format!("  write   {n} {} file{} to {dir}, then _manifest.json", format.extension(), s(n))
            }
            Sink::Count => "  count   rows (nothing written)".to_string(),
        });
        out.push(format!("requests: {n} GET, {} PUT", if matches!(sink, Sink::Count) { 0 } else { n }));
        out.join("\n")
    }
}

fn s(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Bytes as B, KB, MB, GB.
pub fn human(bytes: u64) -> String {
    let units = ["B", "KB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < units.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", units[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        let input = |i: usize| Input { url: format!("file:///d/{i}.parquet"), format: Format::Parquet, size: 1500 };
        Plan::scan((0..3).map(input).collect(), "file:///d/".into())
    }

    #[test]
    fn a_select_after_the_scan_is_pushed_into_it() {
        let p = plan().then(Op::Select { columns: vec!["b".into()] }).unwrap();
        assert_eq!(p.columns, Some(vec!["b".to_string()]));
        assert!(p.ops.is_empty());
        let udf = Op::Udf { index: 0, kind: "map_batches".into(), name: "f".into() };
        let p = p.then(udf).unwrap().then(Op::Select { columns: vec!["c".into()] }).unwrap();
        assert_eq!(p.ops.len(), 2, "a select after a function stays an operator");
        assert!(plan().then(Op::Select { columns: vec!["a".into(), "a".into()] }).is_err());
    }

    #[test]
    fn tasks_name_their_outputs_and_explain_counts_them() {
        let sink = Sink::Write { format: Format::Parquet, dir: "file:///out/".into() };
        let tasks = plan().tasks(&sink);
        assert_eq!(tasks.len(), 3);
        assert_eq!(tasks[2].output.as_ref().unwrap().url, "file:///out/part-00002.parquet");
        let text = plan().explain(&sink);
        assert!(text.contains("3 parquet files (4.5 KB)") && text.contains("3 GET, 3 PUT"), "{text}");
    }
}
