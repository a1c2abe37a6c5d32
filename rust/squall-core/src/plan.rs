//! Lazy dataset plans: a scan of files followed by narrow operators, cut into partition tasks.
//!
//! Every operator here is narrow (one input partition gives one output partition), so a plan
//! runs as one stage of fused tasks, one per input file. Shuffles will end stages.

use serde::{Deserialize, Serialize};

use crate::codec::{Compression, Format};
use crate::groupby::GroupBy;
use crate::shuffle::BucketSlice;
use crate::sort::SortKey;
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
    /// Keep the partition's first `rows` rows in the order of `keys`.
    TopK {
        /// Sort keys.
        keys: Vec<SortKey>,
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
        /// How the files are compressed.
        #[serde(default)]
        compression: Compression,
    },
    /// Only count rows.
    Count,
}

/// A shuffle that ends a stage: rows are moved between partitions.
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
    /// Where the driver moves the committed attempt's object (written datasets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_to: Option<String>,
    /// How its bytes are compressed.
    #[serde(default)]
    pub compression: Compression,
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
    },
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
    /// Sort them, cut them at the splitters stored at `splitters`, write one shuffle object
    /// (per attempt) under `url`.
    Shuffle {
        /// Object URL (the attempt is added).
        url: String,
        /// Sort keys.
        keys: Vec<SortKey>,
        /// URL of the splitters object.
        splitters: String,
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
    /// Operators, in order.
    pub ops: Vec<Op>,
    /// Where the result goes (None: nowhere, rows are only counted).
    pub output: Option<TaskOutput>,
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
    /// Where the driver moves `url` when it commits this attempt (written datasets).
    #[serde(default)]
    pub commit_to: Option<String>,
    /// The buckets of a shuffle object.
    #[serde(default)]
    pub buckets: Option<Vec<BucketSlice>>,
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
    /// A shuffle after `ops`, and the operators on its output partitions.
    pub exchange: Option<(Exchange, Vec<Op>)>,
    /// Whether a reducer may take several adjacent small buckets (when nobody asked for the
    /// partition count): fewer, fuller reduce tasks.
    #[serde(default)]
    pub coalesce: bool,
}

impl Plan {
    /// A scan of `inputs`.
    pub fn scan(inputs: Vec<Input>, source: String) -> Self {
        Plan { inputs, source, columns: None, ops: Vec::new(), exchange: None, coalesce: false }
    }

    /// This plan followed by a shuffle; with `coalesce`, reducers may take several adjacent
    /// small buckets.
    pub fn then_exchange(&self, exchange: Exchange, coalesce: bool) -> Result<Plan> {
        if self.exchange.is_some() {
            return Err(Error::Plan(
                "one shuffle (sort) per plan for now: collect() or write the first result and read it back".into(),
            ));
        }
        let (empty, partitions) = match &exchange {
            Exchange::Sort { keys, partitions } => (keys.is_empty(), *partitions),
            Exchange::GroupBy { group, partitions } => (group.keys.is_empty(), *partitions),
            Exchange::Repartition { partitions, .. } => (false, *partitions),
        };
        if empty {
            return Err(Error::Plan("sort() and groupby() need at least one key column".into()));
        }
        if partitions == 0 {
            return Err(Error::Plan("a shuffle needs at least one output partition".into()));
        }
        let mut next = self.clone();
        next.exchange = Some((exchange, Vec::new()));
        next.coalesce = coalesce;
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
        let mut next = self.clone();
        match (&mut next.exchange, op) {
            (Some((_, after)), op) => after.push(op),
            (None, Op::Select { columns }) if next.ops.is_empty() => next.columns = Some(columns),
            (None, op) => next.ops.push(op),
        }
        Ok(next)
    }

    /// Number of Python functions the plan calls.
    pub fn udf_count(&self) -> usize {
        let after = self.exchange.iter().flat_map(|(_, ops)| ops);
        self.ops.iter().chain(after).filter(|o| matches!(o, Op::Udf { .. })).count()
    }

    /// Output partitions: the inputs, or the shuffle's partitions.
    pub fn partitions(&self) -> usize {
        match &self.exchange {
            Some((
                Exchange::Sort { partitions, .. }
                | Exchange::GroupBy { partitions, .. }
                | Exchange::Repartition { partitions, .. },
                _,
            )) => *partitions,
            None => self.inputs.len(),
        }
    }

    fn scan_tasks(&self, output: impl Fn(usize) -> Option<TaskOutput>) -> Vec<PartitionTask> {
        let input = |i: &Input| TaskInput::File(i.clone());
        self.inputs
            .iter()
            .enumerate()
            .map(|(partition, i)| PartitionTask {
                partition,
                input: input(i),
                columns: self.columns.clone(),
                ops: self.ops.clone(),
                output: output(partition),
            })
            .collect()
    }

    fn sort_keys(&self) -> Result<&[SortKey]> {
        match &self.exchange {
            Some((Exchange::Sort { keys, .. }, _)) => Ok(keys),
            _ => Err(Error::Plan("this plan has no sort".into())),
        }
    }

    /// Stage 0 of a sort: each input writes a sample of its keys under `prefix`. Without
    /// operators before the sort, only the key columns are read.
    pub fn sample_tasks(&self, prefix: &str) -> Result<Vec<PartitionTask>> {
        let keys = self.sort_keys()?.to_vec();
        let rows = SAMPLE_ROWS_PER_PARTITION.max(self.partitions() * 4);
        let prefix = prefix.trim_end_matches('/');
        let mut tasks = self.scan_tasks(|p| {
            Some(TaskOutput::Sample { url: format!("{prefix}/sample-{p:05}.arrow"), keys: keys.clone(), rows })
        });
        if self.ops.is_empty() {
            let mut columns: Vec<String> = Vec::new();
            for k in &keys {
                if !columns.contains(&k.column) {
                    columns.push(k.column.clone());
                }
            }
            for t in &mut tasks {
                t.columns = Some(columns.clone());
            }
        }
        Ok(tasks)
    }

    /// Stage 1 of a sort: each input sorts its rows and cuts them at the splitters stored at
    /// `splitters`, writing one shuffle object under `prefix` (keys spread over hashed prefixes).
    pub fn map_tasks(&self, prefix: &str, splitters: &str) -> Result<Vec<PartitionTask>> {
        let prefix = prefix.trim_end_matches('/');
        let url = |p: usize| format!("{prefix}/{:02x}/map-{p:05}.arrow", spread(p));
        match &self.exchange {
            Some((Exchange::Sort { keys, .. }, _)) => Ok(self.scan_tasks(|p| {
                Some(TaskOutput::Shuffle { url: url(p), keys: keys.clone(), splitters: splitters.to_string() })
            })),
            Some((Exchange::GroupBy { group, partitions }, _)) => Ok(self.scan_tasks(|p| {
                Some(TaskOutput::Partial { url: url(p), group: group.clone(), partitions: *partitions })
            })),
            Some((Exchange::Repartition { keys, partitions }, _)) => Ok(self.scan_tasks(|p| {
                Some(TaskOutput::Partition { url: url(p), keys: keys.clone(), partitions: *partitions })
            })),
            None => Err(Error::Plan("this plan has no shuffle".into())),
        }
    }

    /// The reducers: reducer `r` reads bucket `r` of every map object (`maps` holds each map
    /// task's object URL and buckets). When the plan may coalesce, adjacent buckets go to one
    /// reducer until it reads `min_bytes`: small shuffles get a few full reduce tasks instead of
    /// many nearly empty ones. Buckets stay in order, so a sort's output stays globally sorted.
    pub fn reduce_tasks(
        &self,
        maps: &[(String, Vec<BucketSlice>)],
        sink: &Sink,
        min_bytes: u64,
    ) -> Result<Vec<PartitionTask>> {
        let combine = match &self.exchange {
            Some((Exchange::Sort { keys, .. }, _)) => Combine::Merge { keys: keys.clone() },
            Some((Exchange::GroupBy { group, .. }, _)) => Combine::Aggregate { group: group.clone() },
            Some((Exchange::Repartition { .. }, _)) => Combine::Concat,
            None => return Err(Error::Plan("this plan has no shuffle".into())),
        };
        let after = self.exchange.as_ref().map(|(_, ops)| ops.clone()).unwrap_or_default();
        let r = self.partitions();
        if let Some((url, b)) = maps.iter().find(|(_, b)| b.len() != r) {
            return Err(Error::Plan(format!("the shuffle object {url} has {} buckets, not {r}", b.len())));
        }
        let bytes: Vec<u64> = (0..r).map(|p| maps.iter().map(|(_, b)| b[p].len).sum()).collect();
        let groups = if self.coalesce { coalesce(&bytes, min_bytes) } else { (0..r).map(|p| p..p + 1).collect() };
        Ok(groups
            .into_iter()
            .enumerate()
            .map(|(partition, buckets)| {
                let slice = |url: &String, b: &BucketSlice| (url.clone(), b.offset, b.len);
                let mut slices: Vec<_> = buckets
                    .clone()
                    .flat_map(|p| maps.iter().filter(move |(_, b)| b[p].rows > 0).map(move |(u, b)| slice(u, &b[p])))
                    .collect();
                if slices.is_empty() {
                    // An empty bucket still carries the schema: read one, so the output has it.
                    slices.extend(maps.first().map(|(u, b)| slice(u, &b[buckets.start])));
                }
                PartitionTask {
                    partition,
                    input: TaskInput::Shuffle { slices, combine: combine.clone() },
                    columns: None,
                    ops: after.clone(),
                    output: sink_output(sink, partition),
                }
            })
            .collect())
    }

    /// The tasks that run a plan without a shuffle into `sink`, one per input.
    pub fn tasks(&self, sink: &Sink) -> Result<Vec<PartitionTask>> {
        if self.exchange.is_some() {
            return Err(Error::Plan(
                "a plan with a sort runs in stages: use sample_tasks, map_tasks, reduce_tasks".into(),
            ));
        }
        Ok(self.scan_tasks(|p| sink_output(sink, p)))
    }
}

/// Keys sampled per input partition for a sort (at least 4 per output partition).
pub const SAMPLE_ROWS_PER_PARTITION: usize = 1024;

/// The folder of a written dataset where task attempts put their files before the driver
/// commits one per partition.
pub const ATTEMPTS_DIR: &str = "_attempts";

/// Adjacent buckets grouped until each group holds `min_bytes` (the last may hold less).
fn coalesce(bytes: &[u64], min_bytes: u64) -> Vec<std::ops::Range<usize>> {
    let mut groups = Vec::new();
    let (mut start, mut held) = (0, 0);
    for (p, &b) in bytes.iter().enumerate() {
        held += b;
        if held >= min_bytes.max(1) {
            groups.push(start..p + 1);
            (start, held) = (p + 1, 0);
        }
    }
    if start < bytes.len() {
        groups.push(start..bytes.len());
    }
    groups
}

/// Spreads shuffle objects over 256 key prefixes, so no one prefix takes every request.
fn spread(p: usize) -> u8 {
    (p as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17) as u8
}

fn sink_output(sink: &Sink, partition: usize) -> Option<TaskOutput> {
    match sink {
        Sink::Collect { prefix } => Some(TaskOutput::File(Output {
            format: Format::Ipc,
            url: format!("{}/part-{partition:05}.arrow", prefix.trim_end_matches('/')),
            commit_to: None,
            compression: Compression::for_scratch(prefix),
        })),
        // Each attempt writes under `_attempts/` (hidden from readers); the driver moves the
        // committed attempt's file to its final name, so a late duplicate never touches it.
        Sink::Write { format, dir, compression } => {
            let (dir, name) = (dir.trim_end_matches('/'), format!("part-{partition:05}.{}", format.extension()));
            Some(TaskOutput::File(Output {
                format: *format,
                url: format!("{dir}/{ATTEMPTS_DIR}/{name}"),
                commit_to: Some(format!("{dir}/{name}")),
                compression: *compression,
            }))
        }
        Sink::Count => None,
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
        let sink = Sink::Write { format: Format::Parquet, dir: "file:///out/".into(), compression: Compression::Zstd };
        let tasks = plan().tasks(&sink).unwrap();
        assert_eq!(tasks.len(), 3);
        match &tasks[2].output {
            Some(TaskOutput::File(o)) => {
                assert_eq!(o.url, "file:///out/_attempts/part-00002.parquet");
                assert_eq!(o.commit_to.as_deref(), Some("file:///out/part-00002.parquet"));
            }
            other => panic!("{other:?}"),
        }
        let text = plan().explain(&sink, "worker processes");
        assert!(text.contains("3 parquet files (4.5 KB)") && text.contains("3 GET, 3 PUT"), "{text}");
    }

    #[test]
    fn sampling_reads_only_the_key_columns_unless_operators_come_first() {
        let key = |c: &str| SortKey { column: c.into(), descending: false, nulls_first: false };
        let sort = Exchange::Sort { keys: vec![key("t"), key("s"), key("t")], partitions: 2 };
        let p = plan().then_exchange(sort.clone(), false).unwrap();
        let tasks = p.sample_tasks("file:///s").unwrap();
        assert!(tasks.iter().all(|t| t.columns == Some(vec!["t".to_string(), "s".to_string()])));
        let udf = Op::Udf { index: 0, kind: "filter".into(), name: "f".into() };
        let p = plan().then(udf).unwrap().then_exchange(sort, false).unwrap();
        assert!(p.sample_tasks("file:///s").unwrap().iter().all(|t| t.columns.is_none()));
    }

    #[test]
    fn a_sort_runs_in_three_stages_with_m_by_r_slices() {
        let key = SortKey { column: "t".into(), descending: false, nulls_first: false };
        let p = plan().then_exchange(Exchange::Sort { keys: vec![key.clone()], partitions: 2 }, false).unwrap();
        assert!(p.then_exchange(Exchange::Sort { keys: vec![], partitions: 2 }, false).is_err());
        assert!(p.tasks(&Sink::Count).is_err(), "a sort is not one stage");
        let maps = p.map_tasks("file:///s", "file:///s/splitters.arrow").unwrap();
        assert_eq!(maps.len(), 3);
        let slices = vec![BucketSlice { offset: 0, len: 10, rows: 1 }, BucketSlice { offset: 10, len: 5, rows: 0 }];
        let reports: Vec<_> = (0..3).map(|i| (format!("file:///s/m{i}"), slices.clone())).collect();
        let reduces = p.reduce_tasks(&reports, &Sink::Count, 1 << 20).unwrap();
        assert_eq!(reduces.len(), 2);
        match &reduces[1].input {
            TaskInput::Shuffle { slices, .. } => {
                assert_eq!(slices.len(), 1, "one empty bucket is read, for the schema")
            }
            other => panic!("{other:?}"),
        }
        let text = p.explain(&Sink::Count, "worker processes");
        assert!(text.contains("M=3 R=2") && text.contains("up to 6 ranged GETs"), "{text}");

        // Coalescing (no partition count asked for): adjacent buckets up to 40 bytes a reducer.
        let p = plan().then_exchange(Exchange::Sort { keys: vec![key], partitions: 5 }, true).unwrap();
        let slices: Vec<_> = (0..5).map(|b| BucketSlice { offset: 10 * b, len: 10, rows: 1 }).collect();
        let reports: Vec<_> = (0..2).map(|i| (format!("file:///s/m{i}"), slices.clone())).collect();
        let reduces = p.reduce_tasks(&reports, &Sink::Count, 40).unwrap();
        let read: Vec<Vec<u64>> = reduces
            .iter()
            .map(|t| match &t.input {
                TaskInput::Shuffle { slices, .. } => slices.iter().map(|s| s.1).collect(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(read, vec![vec![0, 0, 10, 10], vec![20, 20, 30, 30], vec![40, 40]], "buckets in order");
        assert_eq!(reduces.iter().map(|t| t.partition).collect::<Vec<_>>(), vec![0, 1, 2]);
    }
}
