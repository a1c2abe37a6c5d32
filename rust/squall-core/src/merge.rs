//! The merge level of a two-level shuffle. With M map tasks and R reducers, a one-level shuffle
//! makes M x R ranged reads (each reducer reads its bucket of every map object): 1e8 at
//! 10,000 x 10,000, far past what a store serves well. A merge level between them (as in
//! Exoshuffle's merge rounds) takes groups of `group` map objects and, for each of `ranges`
//! contiguous ranges of buckets, reads that range of each object in one request and writes one
//! object of those buckets, combined bucket by bucket (runs merged for a sort, partial states
//! merged for a group-by). Reducers then read one slice per group: M x Q + (M / G) x R reads.

use serde::{Deserialize, Serialize};

use crate::plan::{Combine, PartitionTask, Shuffle, TaskInput, TaskOutput};
use crate::shuffle::BucketSlice;

/// Above this many ranged reads, a shuffle gets a merge level unless the session says not.
pub const TWO_LEVEL_READS: u64 = 1_000_000;
/// Map objects a merge task takes: at least this many (when there are as many)...
pub const MIN_MERGE_GROUP: usize = 32;
/// ...and at most this many, so that a merge task's reads (one per object) stay a few rounds
/// of requests in flight.
pub const MAX_MERGE_GROUP: usize = 256;

/// The shape of a merge level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MergeLevel {
    /// Map objects per group (G).
    pub group: usize,
    /// Ranges of buckets each group is cut into (Q): one merge task and object per (group,
    /// range).
    pub ranges: usize,
}

impl MergeLevel {
    /// The merge level for `maps` map objects of about `object_bytes` each and `reducers`
    /// buckets, a merge task holding at most about `task_bytes`: when `forced` says so, or
    /// (None) when the one-level shuffle makes over [`TWO_LEVEL_READS`] reads and the merge
    /// level makes fewer.
    ///
    /// Groups of G objects cut into Q = G x object / task ranges make M x Q + M / G x R reads,
    /// fewest at G = sqrt(R x task / object) (100,000 x 100,000 objects of 1 GB with tasks of
    /// 0.6 GB: G = 243, 82 million reads where G = 32 makes 318 million), kept within
    /// [`MIN_MERGE_GROUP`] and [`MAX_MERGE_GROUP`].
    pub fn choose(
        maps: usize,
        reducers: usize,
        object_bytes: u64,
        task_bytes: u64,
        forced: Option<bool>,
    ) -> Option<MergeLevel> {
        if maps < 2 || reducers < 2 || forced == Some(false) {
            return None;
        }
        let best = (reducers as f64 * task_bytes.max(1) as f64 / object_bytes.max(1) as f64).sqrt();
        let group = (best as usize).clamp(MIN_MERGE_GROUP, MAX_MERGE_GROUP).min(maps);
        let held = (group as u64).saturating_mul(object_bytes);
        let ranges = held.div_ceil(task_bytes.max(1)).clamp(1, reducers as u64) as usize;
        let level = MergeLevel { group, ranges };
        let (one, two) = ((maps * reducers) as u64, level.reads(maps, reducers));
        match forced {
            Some(true) => Some(level),
            _ => (one > TWO_LEVEL_READS && two < one).then_some(level),
        }
    }

    /// Merge tasks (and objects) for `maps` map objects.
    pub fn tasks(&self, maps: usize) -> usize {
        maps.div_ceil(self.group) * self.ranges
    }

    /// Ranged reads of the whole shuffle: the merge tasks' and the reducers'.
    pub fn reads(&self, maps: usize, reducers: usize) -> u64 {
        (maps * self.ranges) as u64 + (maps.div_ceil(self.group) * reducers) as u64
    }

    /// The buckets of range `q` of `reducers`.
    pub fn buckets(&self, q: usize, reducers: usize) -> std::ops::Range<usize> {
        q * reducers / self.ranges..(q + 1) * reducers / self.ranges
    }
}

/// What one merge task reads: buckets `first..first + n` of each map object of its group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MergeInput {
    /// Each map object's URL and its slices of the merged buckets.
    pub maps: Vec<(String, Vec<BucketSlice>)>,
    /// The first merged bucket.
    pub first: usize,
    /// All buckets of the shuffle (R).
    pub total: usize,
    /// How a bucket's slices become one: merged sorted runs, merged partial states (not
    /// finished), or concatenated.
    pub combine: Combine,
}

impl Shuffle {
    /// The merge tasks of `level` over `maps` (each map task's object URL and buckets); task
    /// `p` writes to `url(p)`.
    pub fn merge_tasks(
        &self,
        level: MergeLevel,
        maps: &[(String, Vec<BucketSlice>)],
        url: impl Fn(usize) -> String,
    ) -> Vec<PartitionTask> {
        let r = self.exchange.partitions();
        let mut tasks = Vec::new();
        for group in maps.chunks(level.group) {
            for q in 0..level.ranges {
                let buckets = level.buckets(q, r);
                let slices = group.iter().map(|(u, b)| (u.clone(), b[buckets.clone()].to_vec())).collect();
                let partition = tasks.len();
                tasks.push(PartitionTask {
                    partition,
                    input: TaskInput::Merge(Box::new(MergeInput {
                        maps: slices,
                        first: buckets.start,
                        total: r,
                        combine: self.exchange.combine(),
                    })),
                    columns: None,
                    expected: None,
                    ops: Vec::new(),
                    output: Some(TaskOutput::Merged { url: url(partition) }),
                    fast: None,
                });
            }
        }
        tasks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_thousand_by_ten_thousand_reads_at_most_a_sixteenth() {
        let (m, r) = (10_000, 10_000);
        let level = MergeLevel::choose(m, r, 100 << 20, 1 << 30, None).unwrap();
        assert!(level.reads(m, r) <= (m * r / 16) as u64, "{level:?}: {}", level.reads(m, r));
        assert!(level.group as u64 * (100 << 20) / level.ranges as u64 <= 1 << 30, "a merge task fits");
    }

    #[test]
    fn groups_grow_with_the_reducers_to_keep_reads_fewest() {
        let (m, r, object, task) = (100_000, 100_000, 1 << 30, 600 << 20);
        let level = MergeLevel::choose(m, r, object, task, None).unwrap();
        assert!((200..=256).contains(&level.group), "{level:?}");
        let fixed = MergeLevel { group: 32, ranges: (32 * object).div_ceil(task) as usize };
        assert!(level.reads(m, r) * 3 < fixed.reads(m, r), "{} vs {}", level.reads(m, r), fixed.reads(m, r));
        assert!(level.group as u64 * object / level.ranges as u64 <= task, "a merge task fits");
    }

    #[test]
    fn small_shuffles_stay_one_level_unless_forced() {
        assert_eq!(MergeLevel::choose(16, 16, 1 << 20, 1 << 30, None), None);
        let forced = MergeLevel::choose(5, 4, 1000, 1 << 30, Some(true)).unwrap();
        assert_eq!(forced, MergeLevel { group: 5, ranges: 1 });
        assert_eq!(MergeLevel::choose(20_000, 20_000, 1 << 20, 1 << 30, Some(false)), None);
        let ranges = MergeLevel { group: 2, ranges: 3 };
        let cut: Vec<_> = (0..3).map(|q| ranges.buckets(q, 7)).collect();
        assert_eq!(cut, vec![0..2, 2..4, 4..7], "every bucket in exactly one range");
    }
}
