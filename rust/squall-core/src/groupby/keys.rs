//! Which group each row belongs to, and which shuffle bucket it goes to: by the values
//! themselves for one integer (or date/time) key, by Arrow's row format for anything else.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::BuildHasher;

use arrow_array::{ArrayRef, RecordBatch, UInt32Array};
use arrow_buffer::NullBuffer;
use arrow_row::{RowConverter, Rows, SortField};
use arrow_select::take::take_record_batch;
use foldhash::fast::FixedState;

use super::{column, plan_err};
use crate::native::integer_values;
use crate::Result;

/// Groups of a batch: each row's group, and each group's first row.
pub(super) struct Groups {
    pub of_row: Vec<u32>,
    pub first: Vec<u32>,
}

impl Groups {
    pub fn len(&self) -> usize {
        self.first.len()
    }

    fn push(&mut self, row: usize, id: u32) {
        if id as usize == self.first.len() {
            self.first.push(row as u32);
        }
        self.of_row.push(id);
    }
}

/// Row-encoded `columns` (ascending, nulls last): equal keys give equal bytes.
pub(super) fn key_rows(columns: &[ArrayRef]) -> Result<Rows> {
    let fields = columns.iter().map(|k| SortField::new(k.data_type().clone())).collect();
    RowConverter::new(fields).and_then(|c| c.convert_columns(columns)).map_err(plan_err)
}

/// The values and nulls of a single integer (or date/time) key column, which grouping and
/// bucketing use as they are; None for other keys.
fn integer_key(keys: &[ArrayRef]) -> Option<(Cow<'_, [i64]>, Option<NullBuffer>)> {
    match keys {
        [key] => integer_values(key).map(|values| (values, key.logical_nulls().filter(|n| n.null_count() > 0))),
        _ => None,
    }
}

/// Each row's group.
pub(super) fn group(keys: &[ArrayRef]) -> Result<Groups> {
    if let Some((values, nulls)) = integer_key(keys) {
        return Ok(group_integers(&values, nulls));
    }
    let rows = key_rows(keys)?;
    let mut ids: HashMap<&[u8], u32, FixedState> = HashMap::default();
    let mut groups = Groups { of_row: Vec::with_capacity(rows.num_rows()), first: Vec::new() };
    for (i, row) in rows.iter().enumerate() {
        let next = groups.first.len() as u32;
        groups.push(i, *ids.entry(row.data()).or_insert(next));
    }
    Ok(groups)
}

/// Key ranges up to this wide (or twice the rows) are grouped through a table indexed by
/// value instead of a hash map.
const DIRECT_SPAN: usize = 1 << 16;

fn group_integers(values: &[i64], nulls: Option<NullBuffer>) -> Groups {
    match value_range(values, &nulls) {
        Some((lo, span)) if span <= DIRECT_SPAN.max(2 * values.len()) => {
            let mut ids = vec![u32::MAX; span];
            if nulls.is_none() {
                // The common case in one pass that writes each row's group without growth checks.
                let mut first = Vec::new();
                let of_row = values
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| {
                        let slot = &mut ids[v.wrapping_sub(lo) as u64 as usize];
                        if *slot == u32::MAX {
                            *slot = first.len() as u32;
                            first.push(i as u32);
                        }
                        *slot
                    })
                    .collect();
                return Groups { of_row, first };
            }
            assign(values, &nulls, |v, next| {
                let slot = &mut ids[v.wrapping_sub(lo) as u64 as usize];
                if *slot == u32::MAX {
                    *slot = next;
                }
                *slot
            })
        }
        _ => {
            let mut ids: HashMap<i64, u32, FixedState> = HashMap::default();
            assign(values, &nulls, |v, next| *ids.entry(v).or_insert(next))
        }
    }
}

/// Each row's group: nulls share one, and `id_of(value, next)` gives a value's group, `next`
/// for a value not seen before.
fn assign(values: &[i64], nulls: &Option<NullBuffer>, mut id_of: impl FnMut(i64, u32) -> u32) -> Groups {
    let mut groups = Groups { of_row: Vec::with_capacity(values.len()), first: Vec::new() };
    let mut null_id = None;
    for (i, &v) in values.iter().enumerate() {
        let next = groups.first.len() as u32;
        let id = match nulls.as_ref().is_some_and(|n| n.is_null(i)) {
            true => *null_id.get_or_insert(next),
            false => id_of(v, next),
        };
        groups.push(i, id);
    }
    groups
}

/// The smallest non-null value and the number of values from it to the largest; None when
/// every value is null or the span does not fit in memory's address range.
fn value_range(values: &[i64], nulls: &Option<NullBuffer>) -> Option<(i64, usize)> {
    let (mut lo, mut hi) = (i64::MAX, i64::MIN);
    match nulls {
        None => values.iter().for_each(|&v| (lo, hi) = (lo.min(v), hi.max(v))),
        Some(n) => n.valid_indices().for_each(|i| (lo, hi) = (lo.min(values[i]), hi.max(values[i]))),
    }
    let span = usize::try_from(hi as i128 - lo as i128 + 1).ok()?;
    (lo <= hi).then_some((lo, span))
}

/// Leading rows grouped to judge whether a partial aggregation pays.
pub const DISTINCT_PROBE: usize = 8192;

/// Whether nearly every row has a key of its own, judged on the leading rows: then a map task's
/// partial aggregation would cost a hash pass and save almost nothing. (Keys that repeat only
/// far apart are judged distinct; the reducers merge them all the same.)
pub(super) fn mostly_distinct(keys: &[ArrayRef]) -> Result<bool> {
    let n = keys.first().map_or(0, |k| k.len());
    if keys.is_empty() || n < DISTINCT_PROBE {
        return Ok(false);
    }
    let head: Vec<ArrayRef> = keys.iter().map(|k| k.slice(0, DISTINCT_PROBE)).collect();
    Ok(group(&head)?.len() * 10 > DISTINCT_PROBE * 9)
}

/// Output buckets for rows by the hash of their keys (nulls of one integer key to bucket 0);
/// without keys, round robin from `start` (so inputs spread their first rows over different
/// buckets).
pub fn hash_buckets(batch: &RecordBatch, keys: &[String], buckets: usize) -> Result<Vec<RecordBatch>> {
    let n = batch.num_rows();
    if keys.is_empty() {
        let start = n % buckets.max(1);
        return (0..buckets)
            .map(|b| {
                let picks = ((b + buckets - start) % buckets..n).step_by(buckets).map(|i| i as u32);
                take_record_batch(batch, &UInt32Array::from_iter_values(picks)).map_err(plan_err)
            })
            .collect();
    }
    let cols = keys.iter().map(|k| column(batch, k)).collect::<Result<Vec<_>>>()?;
    let hasher = FixedState::with_seed(0x5eed);
    let bucket = |h: u64| (h % buckets as u64) as usize;
    let mut picks = vec![Vec::with_capacity(n / buckets.max(1) + 16); buckets];
    match integer_key(&cols) {
        Some((values, nulls)) => {
            for (i, v) in values.iter().enumerate() {
                let b = if nulls.as_ref().is_some_and(|n| n.is_null(i)) { 0 } else { bucket(hasher.hash_one(v)) };
                picks[b].push(i as u32);
            }
        }
        None => {
            for (i, row) in key_rows(&cols)?.iter().enumerate() {
                picks[bucket(hasher.hash_one(row.data()))].push(i as u32);
            }
        }
    }
    picks.into_iter().map(|p| take_record_batch(batch, &UInt32Array::from(p)).map_err(plan_err)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_keys_group_by_table_or_by_hash() {
        let nulls = NullBuffer::from(vec![true, true, true, false, true, true]);
        let narrow = group_integers(&[5, -3, 5, 99, -3, 7], Some(nulls.clone()));
        assert_eq!(narrow.of_row, vec![0, 1, 0, 2, 1, 3], "the null (row 3) is a group of its own");
        assert_eq!(narrow.first, vec![0, 1, 3, 5]);
        let wide = group_integers(&[i64::MIN, i64::MAX, 0, 0, i64::MAX, i64::MIN], Some(nulls));
        assert_eq!(wide.of_row, vec![0, 1, 2, 3, 1, 0]);
        let no_nulls = group_integers(&[5, -3, 5, 99, -3, 7], None);
        assert_eq!((no_nulls.of_row, no_nulls.first), (vec![0, 1, 0, 2, 1, 3], vec![0, 1, 3, 5]));
        let all_null = group_integers(&[1, 2], Some(NullBuffer::new_null(2)));
        assert_eq!(all_null.of_row, vec![0, 0]);
    }
}
