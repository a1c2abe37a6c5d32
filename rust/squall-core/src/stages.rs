//! The partition tasks of a plan's stages: scans of files, the map and sample sides of a
//! shuffle, and its reducers; the objects each attempt writes, and may report.

use std::sync::Arc;

use crate::file_types::Expected;
use crate::plan::{
    Combine, Exchange, Input, Op, PartitionTask, Shuffle, TaskInput, TaskOutput, SAMPLE_ROWS_PER_PARTITION,
};
use crate::shuffle::BucketSlice;
use crate::sort::SortKey;
use crate::{Error, Result};

/// One task per object of `inputs`: read it (only `columns`, when given; their types as
/// `expected` says, when given) and apply `ops`; the caller says where each writes (`output`).
pub fn file_tasks(
    inputs: &[Input],
    columns: Option<&[String]>,
    expected: Option<&Arc<Expected>>,
    ops: &[Op],
) -> Vec<PartitionTask> {
    inputs
        .iter()
        .enumerate()
        .map(|(partition, input)| PartitionTask {
            partition,
            input: TaskInput::File(input.clone()),
            columns: columns.map(<[String]>::to_vec),
            expected: expected.cloned(),
            ops: ops.to_vec(),
            output: None,
            fast: None,
        })
        .collect()
}

/// `url` of attempt `attempt`: attempts write apart, and the one that commits is reported.
pub fn attempt_url(url: &str, attempt: u32) -> String {
    let (stem, ext) = url.rsplit_once('.').unwrap_or((url, "arrow"));
    format!("{stem}.attempt-{attempt}.{ext}")
}

impl PartitionTask {
    /// The object its output goes to (before the attempt is added), if it writes one.
    pub fn output_url(&self) -> Option<&str> {
        match self.output.as_ref()? {
            TaskOutput::File(o) => Some(&o.url),
            TaskOutput::Sample { url, .. }
            | TaskOutput::Partial { url, .. }
            | TaskOutput::Partition { url, .. }
            | TaskOutput::Shuffle { url, .. }
            | TaskOutput::Merged { url } => Some(url),
        }
    }

    /// Whether attempt `attempt` may report having written `url`: its output's object for that
    /// attempt, or the same object in the job's fast store. Anything else came from a broken
    /// or hostile worker, and is never read.
    pub fn may_report(&self, url: &str, attempt: u32) -> bool {
        let Some(planned) = self.output_url() else { return false };
        let ours = attempt_url(planned, attempt);
        url == ours || self.fast.as_ref().and_then(|f| f.in_fast(&ours)).is_some_and(|f| f == url)
    }

    /// Whether the task calls a Python function.
    pub fn calls_python(&self) -> bool {
        self.ops.iter().any(|op| matches!(op, Op::Udf { .. }))
    }

    /// Every URL the task reads or writes.
    pub fn urls(&self) -> Vec<&str> {
        let mut urls: Vec<&str> = match &self.input {
            TaskInput::File(input) => vec![&input.url],
            TaskInput::Shuffle { slices, .. } => slices.iter().map(|(u, _, _)| u.as_str()).collect(),
            TaskInput::Merge(merge) => merge.maps.iter().map(|(u, _)| u.as_str()).collect(),
            TaskInput::Sized(_) => Vec::new(),
        };
        match &self.output {
            Some(TaskOutput::File(o)) => urls.push(&o.url),
            Some(
                TaskOutput::Sample { url, .. }
                | TaskOutput::Partial { url, .. }
                | TaskOutput::Partition { url, .. }
                | TaskOutput::Merged { url },
            ) => urls.push(url),
            Some(TaskOutput::Shuffle { url, splitters, .. }) => {
                urls.extend([Some(url.as_str()), splitters.as_deref()].into_iter().flatten())
            }
            None => {}
        }
        urls
    }
}

/// The columns a sort's sample reads when no operator comes before it: its keys, once each.
pub fn key_columns(keys: &[SortKey]) -> Vec<String> {
    let mut columns: Vec<String> = Vec::new();
    for k in keys {
        if !columns.contains(&k.column) {
            columns.push(k.column.clone());
        }
    }
    columns
}

impl Exchange {
    /// What map task `p` of this shuffle writes under `prefix`: one object, keys spread over
    /// 256 hashed prefixes so that no one prefix takes every request. A sort's map tasks cut
    /// their runs at the splitters stored at `splitters`.
    pub fn map_output(&self, prefix: &str, p: usize, splitters: Option<&str>) -> TaskOutput {
        let url = format!("{}/{:02x}/map-{p:05}.arrow", prefix.trim_end_matches('/'), spread(p));
        match self {
            Exchange::Sort { keys, .. } => {
                TaskOutput::Shuffle { url, keys: keys.clone(), splitters: splitters.map(str::to_string) }
            }
            Exchange::GroupBy { group, partitions } => {
                TaskOutput::Partial { url, group: group.clone(), partitions: *partitions }
            }
            Exchange::Repartition { keys, partitions } => {
                TaskOutput::Partition { url, keys: keys.clone(), partitions: *partitions }
            }
        }
    }

    /// What sample task `p` of a sort writes under `prefix`: a sample of its keys, at least four
    /// per output partition.
    pub fn sample_output(&self, prefix: &str, p: usize) -> Result<TaskOutput> {
        let Exchange::Sort { keys, partitions } = self else {
            return Err(Error::Plan("only a sort samples its keys".into()));
        };
        let url = format!("{}/sample-{p:05}.arrow", prefix.trim_end_matches('/'));
        Ok(TaskOutput::Sample { url, keys: keys.clone(), rows: SAMPLE_ROWS_PER_PARTITION.max(partitions * 4) })
    }

    pub(crate) fn combine(&self) -> Combine {
        match self {
            Exchange::Sort { keys, .. } => Combine::Merge { keys: keys.clone() },
            Exchange::GroupBy { group, .. } => Combine::Aggregate { group: group.clone() },
            Exchange::Repartition { .. } => Combine::Concat,
        }
    }
}

impl Shuffle {
    /// The reducers: reducer `r` reads bucket `r` of every map object (`maps` holds each map
    /// task's object URL and buckets) and applies `ops`; the caller says where each writes
    /// (`output`). When the shuffle
    /// may coalesce, adjacent buckets go to one reducer until it reads `min_bytes`, never past
    /// `max_bytes` (the memory budget's) with more than one: small shuffles get a few full
    /// reduce tasks instead of many nearly empty ones. Buckets stay in order, so a sort's
    /// output stays globally sorted.
    pub fn reduce_tasks(
        &self,
        maps: &[(String, Vec<BucketSlice>)],
        ops: &[Op],
        min_bytes: u64,
        max_bytes: u64,
    ) -> Result<Vec<PartitionTask>> {
        let r = self.exchange.partitions();
        if let Some((url, b)) = maps.iter().find(|(_, b)| b.len() != r) {
            return Err(Error::Plan(format!("the shuffle object {url} has {} buckets, not {r}", b.len())));
        }
        let held: Vec<u64> = (0..r).map(|p| maps.iter().map(|(_, b)| b[p].len).sum()).collect();
        let groups =
            if self.coalesce { coalesce(&held, min_bytes, max_bytes) } else { (0..r).map(|p| p..p + 1).collect() };
        let combine = self.exchange.combine();
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
                    // An empty bucket still carries the schema: read one, so the output has it
                    // (a merged object holds no bytes for the buckets outside its range).
                    let p = buckets.start;
                    let with_schema = maps.iter().find(|(_, b)| b[p].len > 0).or(maps.first());
                    slices.extend(with_schema.map(|(u, b)| slice(u, &b[p])));
                }
                PartitionTask {
                    partition,
                    input: TaskInput::Shuffle { slices, combine: combine.clone(), parts: 1 },
                    columns: None,
                    expected: None,
                    ops: ops.to_vec(),
                    output: None,
                    fast: None,
                }
            })
            .collect())
    }
}

/// Adjacent buckets grouped until each group holds `min_bytes` (the last may hold less); a
/// bucket that would take a group past `max_bytes` starts the next one.
fn coalesce(bytes: &[u64], min_bytes: u64, max_bytes: u64) -> Vec<std::ops::Range<usize>> {
    let mut groups = Vec::new();
    let (mut start, mut held) = (0, 0);
    for (p, &b) in bytes.iter().enumerate() {
        if p > start && held + b > max_bytes {
            groups.push(start..p);
            (start, held) = (p, 0);
        }
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

/// Spreads shuffle objects over 256 key prefixes.
fn spread(p: usize) -> u8 {
    (p as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17) as u8
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Format;

    fn key() -> SortKey {
        SortKey { column: "t".into(), descending: false, nulls_first: false }
    }

    #[test]
    fn map_tasks_write_one_object_each_and_samples_read_only_keys() {
        let sort = Exchange::Sort { keys: vec![key(), key()], partitions: 2 };
        let inputs: Vec<Input> = (0..3).map(|i| Input::whole(format!("file:///d/{i}"), Format::Ipc, 10)).collect();
        let tasks = file_tasks(&inputs, None, None, &[]);
        assert_eq!(tasks.len(), 3);
        match sort.map_output("file:///s/", tasks[2].partition, Some("file:///sp")) {
            TaskOutput::Shuffle { url, splitters, .. } => {
                assert!(url.starts_with("file:///s/") && url.ends_with("/map-00002.arrow"), "{url}");
                assert_eq!(splitters.as_deref(), Some("file:///sp"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(key_columns(&[key(), key()]), vec!["t".to_string()]);
        match sort.sample_output("file:///s", 1).unwrap() {
            TaskOutput::Sample { url, rows, .. } => {
                assert_eq!((url.as_str(), rows), ("file:///s/sample-00001.arrow", 1024))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn reducers_read_m_by_r_slices_and_coalesce_adjacent_small_buckets() {
        let shuffle = |r, coalesce| Shuffle {
            exchange: Exchange::Sort { keys: vec![key()], partitions: r },
            ops: vec![],
            coalesce,
        };
        let slices = vec![BucketSlice { offset: 0, len: 10, rows: 1 }, BucketSlice { offset: 10, len: 5, rows: 0 }];
        let maps: Vec<_> = (0..3).map(|i| (format!("file:///s/m{i}"), slices.clone())).collect();
        let reduces = shuffle(2, false).reduce_tasks(&maps, &[], 1 << 20, u64::MAX).unwrap();
        assert_eq!(reduces.len(), 2);
        match &reduces[1].input {
            TaskInput::Shuffle { slices, .. } => {
                assert_eq!(slices.len(), 1, "one empty bucket is read, for the schema")
            }
            other => panic!("{other:?}"),
        }
        assert!(shuffle(3, false).reduce_tasks(&maps, &[], 1, u64::MAX).is_err(), "bucket counts must match");

        let slices: Vec<_> = (0..5).map(|b| BucketSlice { offset: 10 * b, len: 10, rows: 1 }).collect();
        let maps: Vec<_> = (0..2).map(|i| (format!("file:///s/m{i}"), slices.clone())).collect();
        let offsets = |reduces: Vec<PartitionTask>| -> Vec<Vec<u64>> {
            reduces
                .iter()
                .map(|t| match &t.input {
                    TaskInput::Shuffle { slices, .. } => slices.iter().map(|s| s.1).collect(),
                    other => panic!("{other:?}"),
                })
                .collect()
        };
        let reduces = shuffle(5, true).reduce_tasks(&maps, &[], 40, u64::MAX).unwrap();
        assert_eq!(reduces.iter().map(|t| t.partition).collect::<Vec<_>>(), vec![0, 1, 2]);
        let read = offsets(reduces);
        assert_eq!(read, vec![vec![0, 0, 10, 10], vec![20, 20, 30, 30], vec![40, 40]], "buckets in order");
        // The memory budget caps a reducer at 30 bytes: one bucket (20) each, never two (40).
        let read = offsets(shuffle(5, true).reduce_tasks(&maps, &[], 40, 30).unwrap());
        assert_eq!(read, vec![vec![0, 0], vec![10, 10], vec![20, 20], vec![30, 30], vec![40, 40]]);
    }
}
