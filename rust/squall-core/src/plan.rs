//! Lazy dataset plans: a scan of files, narrow operators, and any number of shuffles, each
//! followed by narrow operators of its own. [`Plan::stages`] cuts a plan into the stages the
//! driver runs; `stages.rs` builds their partition tasks.

use serde::{Deserialize, Serialize};

use crate::codec::{Compression, Format};
use crate::expr::Expr;
use crate::file_types::{Expected, InputColumn};
use crate::groupby::GroupBy;
use crate::shuffle::BucketSlice;
use crate::sort::SortKey;
use crate::stages::key_columns;
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
    /// Only some row groups of a Parquet file, or record batches of an Arrow IPC file (a big
    /// file is read as several partitions); None: the whole object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row_groups: Option<RowGroups>,
    /// The columns its path gives it, `column=value` directories (`hive`), value None: null.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub path_values: crate::hive::PathValues,
}

/// Row groups `start..end` of a Parquet file, `bytes` of it (compressed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowGroups {
    /// The first row group.
    pub start: usize,
    /// One past the last.
    pub end: usize,
    /// Their compressed bytes.
    pub bytes: u64,
}

impl Input {
    /// The whole object `url`.
    pub fn whole(url: String, format: Format, size: u64) -> Input {
        Input { url, format, size, row_groups: None, path_values: Vec::new() }
    }

    /// The bytes this input reads: its row groups', or the whole object's.
    pub fn bytes(&self) -> u64 {
        self.row_groups.map_or(self.size, |g| g.bytes)
    }
}

/// A narrow operator on record batches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// A Python function, the `index`-th of the plan's functions (they travel with the task).
    Udf {
        /// Index into the plan's function list.
        index: usize,
        /// "map_batches", "filter" or "map_groups".
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
    /// Keep the rows where `expr` is true.
    Filter {
        /// The condition.
        expr: Expr,
    },
    /// Add (or replace) columns computed from others.
    Compute {
        /// (name, expression) of each, computed in order.
        columns: Vec<(String, Expr)>,
    },
    /// Keep the partition's first `rows` rows in the order of `keys`.
    TopK {
        /// Sort keys.
        keys: Vec<SortKey>,
        /// Row count.
        rows: usize,
    },
}

/// How `write_parquet`/`write_ipc` treat a target that already holds data.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteMode {
    /// Refuse to write where data is (the default, as in Spark and Ray).
    #[default]
    Error,
    /// Replace the data atomically: readers see the old files or the new, never a mix.
    Overwrite,
    /// Add the new files to those already there, in one new manifest.
    Append,
}

impl WriteMode {
    /// Its name, as given to `write_parquet(mode=...)`.
    pub fn name(self) -> &'static str {
        match self {
            WriteMode::Error => "error",
            WriteMode::Overwrite => "overwrite",
            WriteMode::Append => "append",
        }
    }
}

/// Where a plan's result goes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Sink {
    /// Back to the driver, as record batches.
    Collect,
    /// A dataset directory: one file per partition, then the manifest.
    Write {
        /// File format.
        format: Format,
        /// Destination directory URL.
        dir: String,
        /// How the files are compressed.
        #[serde(default)]
        compression: Compression,
        /// What to do when the directory holds data.
        #[serde(default)]
        mode: WriteMode,
    },
    /// Only count rows.
    Count,
}

/// A shuffle: rows are moved between partitions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Exchange {
    /// Sample sort into `partitions` globally ordered partitions.
    Sort {
        /// The sort keys.
        keys: Vec<SortKey>,
        /// Output partitions (R).
        partitions: usize,
    },
    /// Rows moved to `partitions` partitions by the hash of `keys` (round robin without keys).
    Repartition {
        /// Key columns; empty for round robin.
        keys: Vec<String>,
        /// Output partitions (R).
        partitions: usize,
    },
    /// Hash aggregation: partial states per input, merged per key in `partitions` partitions.
    GroupBy {
        /// Keys and aggregates.
        group: GroupBy,
        /// Output partitions (R).
        partitions: usize,
    },
}

impl Exchange {
    /// Output partitions (R).
    pub fn partitions(&self) -> usize {
        match self {
            Exchange::Sort { partitions, .. }
            | Exchange::GroupBy { partitions, .. }
            | Exchange::Repartition { partitions, .. } => *partitions,
        }
    }

    /// Its name in stage labels: "sort", "groupby" or "repartition".
    pub fn name(&self) -> &'static str {
        match self {
            Exchange::Sort { .. } => "sort",
            Exchange::GroupBy { .. } => "groupby",
            Exchange::Repartition { .. } => "repartition",
        }
    }

    /// Whether its map side needs splitters picked from a sample of the keys first (a sort into
    /// more than one partition).
    pub fn sampled(&self) -> bool {
        matches!(self, Exchange::Sort { partitions, .. } if *partitions > 1)
    }
}

/// A shuffle of the plan and the narrow operators on its output partitions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shuffle {
    /// How rows move.
    pub exchange: Exchange,
    /// Operators on each output partition.
    pub ops: Vec<Op>,
    /// Whether a reducer may take several adjacent small buckets (when nobody asked for the
    /// partition count): fewer, fuller reduce tasks.
    pub coalesce: bool,
}

/// How a reducer combines the slices it reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Combine {
    /// k-way merge of runs sorted by these keys.
    Merge {
        /// Sort keys.
        keys: Vec<SortKey>,
    },
    /// Concatenate the slices in map order.
    Concat,
    /// Merge partial aggregation states and finish them.
    Aggregate {
        /// Keys and aggregates.
        group: GroupBy,
    },
}

/// Where one task writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Output {
    /// File format.
    pub format: Format,
    /// The object's URL; each attempt writes its own, with its number before the extension.
    pub url: String,
    /// How its bytes are compressed.
    #[serde(default)]
    pub compression: Compression,
    /// A finished result that nothing here reads back soon (a written dataset's file).
    #[serde(default)]
    pub result: bool,
}

/// Where a task's rows come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TaskInput {
    /// One whole object.
    File(Input),
    /// One bucket of every map task's shuffle object, combined.
    Shuffle {
        /// (object URL, first byte, length) of each slice.
        slices: Vec<(String, u64, u64)>,
        /// How the slices become one partition.
        combine: Combine,
        /// A group-by reducer too big for the memory budget splits its slices again, by
        /// another hash of the keys, into this many parts spilled next to the shuffle, and
        /// aggregates them one at a time (1: all at once).
        #[serde(default = "one_part", skip_serializing_if = "is_one_part")]
        parts: usize,
    },
    /// A range of buckets of a group of map objects: a merge task of a two-level shuffle.
    Merge(Box<crate::merge::MergeInput>),
    /// Sizes without bytes: a task of a metadata-only simulation, which only a simulated
    /// fleet runs (it takes the time these sizes take, and reports them).
    Sized(crate::shape::TaskSize),
}

fn one_part() -> usize {
    1
}

fn is_one_part(parts: &usize) -> bool {
    *parts == 1
}

/// What a task does with its rows after the operators.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TaskOutput {
    /// Write them to one object.
    File(Output),
    /// Write a sample of their sort keys (per attempt) under `url`.
    Sample {
        /// Object URL (the attempt is added).
        url: String,
        /// Sort keys.
        keys: Vec<SortKey>,
        /// Keys to sample.
        rows: usize,
    },
    /// Aggregate them partially, hash-partition the states into `partitions` buckets, write
    /// one shuffle object (per attempt) under `url`.
    Partial {
        /// Object URL (the attempt is added).
        url: String,
        /// Keys and aggregates.
        group: GroupBy,
        /// Buckets (R).
        partitions: usize,
    },
    /// Hash them by `keys` (round robin without keys) into `partitions` buckets, write one
    /// shuffle object (per attempt) under `url`.
    Partition {
        /// Object URL (the attempt is added).
        url: String,
        /// Key columns.
        keys: Vec<String>,
        /// Buckets (R).
        partitions: usize,
    },
    /// Sort them, cut them at the splitters stored at `splitters` (none: one bucket), write
    /// one shuffle object (per attempt) under `url`.
    Shuffle {
        /// Object URL (the attempt is added).
        url: String,
        /// Sort keys.
        keys: Vec<SortKey>,
        /// URL of the splitters object.
        splitters: Option<String>,
    },
    /// A merge task's shuffle object (per attempt) under `url`: its buckets, empty outside its
    /// range.
    Merged {
        /// Object URL (the attempt is added).
        url: String,
    },
}

/// One task of a stage: read one input, apply the operators, write one output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartitionTask {
    /// Partition index.
    pub partition: usize,
    /// Where its rows come from.
    pub input: TaskInput,
    /// Columns to read (None: all).
    pub columns: Option<Vec<String>>,
    /// The types its input file's columns must have (the first file's), when it reads a file
    /// of the plan's input: one copy for all the tasks of a stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<std::sync::Arc<Expected>>,
    /// Operators, in order.
    pub ops: Vec<Op>,
    /// Where the result goes (None: nowhere, rows are only counted).
    pub output: Option<TaskOutput>,
    /// The fast store that takes the output when it is small (None: the output goes where
    /// `output` says).
    #[serde(default)]
    pub fast: Option<crate::tier::FastTier>,
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
    /// The buckets of a shuffle object.
    #[serde(default)]
    pub buckets: Option<Vec<BucketSlice>>,
    /// The written rows' columns and types (`codec::schema_text`), for a file output.
    #[serde(default)]
    pub schema: Option<String>,
}

fn one() -> f64 {
    1.0
}

/// A lazy plan: a scan of `inputs`, narrow operators, then shuffles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Input objects, one partition each.
    pub inputs: Vec<Input>,
    /// What the scan is, for explain() (e.g. "parquet files under s3://lab/events/").
    pub source: String,
    /// Columns to read (None: all), from selects pushed into the scan.
    pub columns: Option<Vec<String>>,
    /// The input's columns, from the first file's footer (None: unknown), to check operators
    /// against when they are added (see `columns`), and every file's columns against.
    #[serde(default)]
    pub schema: Option<Vec<InputColumn>>,
    /// The input's columns its files' paths give them (`hive`), after `schema`'s.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub path_columns: Vec<InputColumn>,
    /// Decoded (in-memory) bytes per byte of input, from the first file's footer.
    #[serde(default = "one")]
    pub decoded_per_byte: f64,
    /// Bytes per row of each column of `schema`, when known (a synthetic input's); empty:
    /// unknown, the columns taken as equally wide.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub widths: Vec<u64>,
    /// Operators after the scan.
    pub ops: Vec<Op>,
    /// Shuffles after `ops`, in order, each with the operators on its output partitions.
    pub shuffles: Vec<Shuffle>,
}

impl Plan {
    /// A scan of `inputs`.
    pub fn scan(inputs: Vec<Input>, source: String) -> Self {
        let (schema, decoded_per_byte) = (None, 1.0);
        let (ops, shuffles, widths) = (Vec::new(), Vec::new(), Vec::new());
        let path_columns = Vec::new();
        Plan { inputs, source, columns: None, schema, path_columns, decoded_per_byte, widths, ops, shuffles }
    }

    /// This plan, knowing that its input has `columns` (operators are then checked against
    /// them as they are added) and grows `decoded_per_byte` times when decoded.
    pub fn with_schema(mut self, columns: Option<Vec<InputColumn>>, decoded_per_byte: f64) -> Self {
        self.schema = columns;
        self.decoded_per_byte = decoded_per_byte;
        self
    }

    /// This plan, whose input also has `columns` from its files' paths, after the files' own.
    pub fn with_path_columns(mut self, columns: Vec<InputColumn>) -> Self {
        self.path_columns = columns;
        self
    }

    /// The names of the input's columns, when known: its files', then its paths'.
    pub fn input_names(&self) -> Option<Vec<String>> {
        let all = self.schema.as_ref()?.iter().chain(&self.path_columns);
        Some(all.map(|c| c.name.clone()).collect())
    }

    /// What each file of the input must agree with: the first file's columns and types, and
    /// the columns the paths give.
    pub fn expected(&self) -> Option<Expected> {
        if self.schema.is_none() && self.path_columns.is_empty() {
            return None;
        }
        let columns = self.schema.clone().unwrap_or_default();
        let path_columns = self.path_columns.clone();
        Some(Expected { url: self.inputs.first()?.url.clone(), columns, path_columns })
    }

    /// This plan followed by a shuffle; with `coalesce`, reducers may take several adjacent
    /// small buckets.
    pub fn then_exchange(&self, exchange: Exchange, coalesce: bool) -> Result<Plan> {
        let empty = match &exchange {
            Exchange::Sort { keys, .. } => keys.is_empty(),
            Exchange::GroupBy { group, .. } => group.keys.is_empty(),
            Exchange::Repartition { .. } => false,
        };
        if empty {
            return Err(Error::Plan("sort() and groupby() need at least one key column".into()));
        }
        if let Exchange::GroupBy { group, .. } = &exchange {
            group.check_args()?;
        }
        crate::columns::check_exchange(self, &exchange)?;
        if exchange.partitions() == 0 {
            return Err(Error::Plan("a shuffle needs at least one output partition".into()));
        }
        let mut next = self.clone();
        next.shuffles.push(Shuffle { exchange, ops: Vec::new(), coalesce });
        Ok(next)
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
        crate::columns::check_op(self, &op)?;
        let mut next = self.clone();
        let leading = next.shuffles.is_empty() && next.ops.iter().all(|o| matches!(o, Op::Filter { .. }));
        if let (true, Op::Filter { expr }) = (leading && !next.path_columns.is_empty(), &op) {
            // Files whose paths rule every row out are not read (the first stays, so that the
            // plan has an input, whose rows the filter removes).
            let (first, cols) = (next.inputs.first().cloned(), &next.path_columns);
            next.inputs.retain(|input| crate::hive::may_keep(expr, input, cols));
            if next.inputs.is_empty() {
                next.inputs.extend(first);
            }
        }
        match (next.shuffles.last_mut(), op) {
            (Some(last), op) => last.ops.push(op),
            (None, Op::Select { columns }) if next.ops.is_empty() => next.columns = Some(columns),
            (None, op) => next.ops.push(op),
        }
        Ok(next)
    }

    /// The columns the scan reads (None: all): the plan's projection, narrowed further when
    /// every later operator names the columns it uses (a group-by reads only its keys and the
    /// columns it aggregates; a Python function takes every column).
    pub fn scan_columns(&self) -> Option<Vec<String>> {
        let mut need = None;
        for shuffle in self.shuffles.iter().rev() {
            need = needed_by(&shuffle.ops, need);
            need = match &shuffle.exchange {
                Exchange::GroupBy { group, .. } => Some(group.columns()),
                Exchange::Sort { keys, .. } => need.map(|n| union(n, key_columns(keys))),
                Exchange::Repartition { keys, .. } => need.map(|n| union(n, keys.clone())),
            };
        }
        match (&self.columns, needed_by(&self.ops, need)) {
            (Some(cols), Some(need)) => {
                let kept: Vec<String> = cols.iter().filter(|c| need.contains(c)).cloned().collect();
                Some(if kept.is_empty() { cols.clone() } else { kept })
            }
            (cols, None) => cols.clone(),
            (None, need) => need,
        }
    }

    /// Number of Python functions the plan calls.
    pub fn udf_count(&self) -> usize {
        let after = self.shuffles.iter().flat_map(|s| &s.ops);
        self.ops.iter().chain(after).filter(|o| matches!(o, Op::Udf { .. })).count()
    }

    /// Output partitions: the inputs, or the last shuffle's partitions.
    pub fn partitions(&self) -> usize {
        self.shuffles.last().map_or(self.inputs.len(), |s| s.exchange.partitions())
    }

    /// The stages that run the plan, in order.
    pub fn stages(&self) -> Vec<Stage> {
        let mut stages = Vec::new();
        let mut source = Source::Inputs;
        let mut ops = self.ops.clone();
        for (i, shuffle) in self.shuffles.iter().enumerate() {
            if shuffle.exchange.sampled() {
                if let Source::Shuffle(_) = source {
                    // A sample needs rows to read twice: the reducers write theirs down first.
                    stages.push(Stage { source, ops: std::mem::take(&mut ops), target: Target::Parts });
                    source = Source::Parts(stages.len() - 1);
                }
                stages.push(Stage { source, ops: ops.clone(), target: Target::Sample(i) });
            }
            stages.push(Stage { source, ops, target: Target::Shuffle(i) });
            source = Source::Shuffle(i);
            ops = shuffle.ops.clone();
        }
        stages.push(Stage { source, ops, target: Target::Sink });
        stages
    }
}

/// The columns `ops` read given that what follows them reads `need` (None: all).
fn needed_by(ops: &[Op], mut need: Option<Vec<String>>) -> Option<Vec<String>> {
    for op in ops.iter().rev() {
        need = match op {
            Op::Udf { .. } => None,
            Op::Select { columns } => Some(columns.clone()),
            Op::Limit { .. } => need,
            Op::Filter { expr } => need.map(|n| union(n, expr.columns())),
            Op::Compute { columns } => need.map(|n| {
                let kept = n.into_iter().filter(|c| !columns.iter().any(|(name, _)| name == c)).collect();
                columns.iter().fold(kept, |n, (_, e)| union(n, e.columns()))
            }),
            Op::TopK { keys, .. } => need.map(|n| union(n, key_columns(keys))),
        };
    }
    need
}

/// `a` and then the columns of `b` it lacks.
fn union(mut a: Vec<String>, b: Vec<String>) -> Vec<String> {
    for c in b {
        if !a.contains(&c) {
            a.push(c);
        }
    }
    a
}

/// Where a stage's rows come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The plan's input files, one task each.
    Inputs,
    /// The reduce side of shuffle `i`: one task per (group of) bucket(s).
    Shuffle(usize),
    /// The Arrow IPC files that stage `i` wrote, one task each.
    Parts(usize),
}

/// What a stage makes of its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A sample of the sort keys of shuffle `i`.
    Sample(usize),
    /// The map side of shuffle `i`: one shuffle object per task.
    Shuffle(usize),
    /// One Arrow IPC file per task in scratch space, read by a later stage.
    Parts,
    /// The plan's sink.
    Sink,
}

/// One stage of a plan: a task per partition of its source, the same operators and target.
#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    /// Where its rows come from.
    pub source: Source,
    /// Operators applied to them.
    pub ops: Vec<Op>,
    /// What it makes of them.
    pub target: Target,
}

impl Stage {
    /// Whether its tasks call Python functions.
    pub fn calls_python(&self) -> bool {
        self.ops.iter().any(|op| matches!(op, Op::Udf { .. }))
    }
}

/// Keys sampled per input partition for a sort (at least 4 per output partition).
pub const SAMPLE_ROWS_PER_PARTITION: usize = 1024;

/// The folder of a written dataset where jobs' task attempts put their files before the
/// driver commits one per partition.
pub const ATTEMPTS_DIR: &str = "_attempts";

#[cfg(test)]
mod tests;
