//! Sample sort kernels over Arrow's row format: sampling keys, choosing splitters, cutting a
//! sorted run into range buckets, and the k-way merge of sorted runs.
//!
//! Keys of any types, several columns, ascending or descending, nulls first or last, all become
//! byte strings whose `memcmp` order is the sort order, so nothing below knows about types.

use arrow_array::{RecordBatch, UInt32Array};
use arrow_ord::sort::sort_to_indices;
use arrow_row::{RowConverter, Rows, SortField};
use arrow_schema::{SchemaRef, SortOptions};
use arrow_select::concat::concat_batches;
use arrow_select::interleave::interleave_record_batch;
use arrow_select::take::take_record_batch;
use serde::{Deserialize, Serialize};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::{Error, Result};

/// Rows per output batch of a merge.
const MERGE_BATCH_ROWS: usize = 64 * 1024;

/// One sort key column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SortKey {
    /// Column name.
    pub column: String,
    /// Largest first.
    pub descending: bool,
    /// Nulls before every value.
    pub nulls_first: bool,
}

/// A sorted batch, with the key rows of the unsorted input and the order that sorts them.
pub struct SortedRun {
    /// The rows in sorted order.
    pub batch: RecordBatch,
    rows: Rows,
    order: UInt32Array,
}

/// Turns the key columns of batches of one schema into comparable rows.
pub struct Sorter {
    converter: RowConverter,
    columns: Vec<usize>,
    options: Vec<SortOptions>,
}

fn arrow(what: &str) -> impl Fn(arrow_schema::ArrowError) -> Error + '_ {
    move |e| Error::Plan(format!("{what}: {e}"))
}

impl Sorter {
    /// A sorter of `schema`'s rows by `keys`.
    pub fn new(schema: &SchemaRef, keys: &[SortKey]) -> Result<Self> {
        if keys.is_empty() {
            return Err(Error::Plan("sort() needs at least one key column".into()));
        }
        let mut columns = Vec::with_capacity(keys.len());
        let mut fields = Vec::with_capacity(keys.len());
        let mut sort_options = Vec::with_capacity(keys.len());
        for key in keys {
            let index = schema.index_of(&key.column).map_err(|_| {
                let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
                Error::Plan(format!("cannot sort by {:?}: the columns are {names:?}", key.column))
            })?;
            let options = SortOptions { descending: key.descending, nulls_first: key.nulls_first };
            fields.push(SortField::new_with_options(schema.field(index).data_type().clone(), options));
            sort_options.push(options);
            columns.push(index);
        }
        let converter = RowConverter::new(fields).map_err(arrow("sort keys"))?;
        Ok(Sorter { converter, columns, options: sort_options })
    }

    /// The key rows of `batch`.
    pub fn rows(&self, batch: &RecordBatch) -> Result<Rows> {
        let cols: Vec<_> = self.columns.iter().map(|&i| batch.column(i).clone()).collect();
        self.converter.convert_columns(&cols).map_err(arrow("sort keys"))
    }

    /// Up to `n` keys of `batch`, picked at random (seeded), as row bytes.
    pub fn sample(&self, batch: &RecordBatch, n: usize, seed: u64) -> Result<Vec<Vec<u8>>> {
        let rows = self.rows(batch)?;
        let total = rows.num_rows();
        if total <= n {
            return Ok(rows.iter().map(|r| r.as_ref().to_vec()).collect());
        }
        let mut rng = SplitMix(seed);
        Ok((0..n).map(|_| rows.row((rng.next() % total as u64) as usize).as_ref().to_vec()).collect())
    }

    /// Sorts `batches` (one schema) into one run.
    pub fn sort(&self, schema: &SchemaRef, batches: &[RecordBatch]) -> Result<SortedRun> {
        let all = concat_batches(schema, batches).map_err(arrow("sort"))?;
        let rows = self.rows(&all)?;
        let order = match (self.columns.as_slice(), self.options.as_slice()) {
            // One integer or temporal column: arrow's type-specialised sort beats comparing
            // encoded rows, and orders exactly as the row format does.
            ([column], [options])
                if all.column(*column).data_type().is_integer() || all.column(*column).data_type().is_temporal() =>
            {
                sort_to_indices(all.column(*column), Some(*options), None).map_err(arrow("sort"))?
            }
            _ => {
                let mut order: Vec<u32> = (0..all.num_rows() as u32).collect();
                order.sort_unstable_by(|&a, &b| rows.row(a as usize).cmp(&rows.row(b as usize)));
                UInt32Array::from(order)
            }
        };
        let batch = take_record_batch(&all, &order).map_err(arrow("sort"))?;
        Ok(SortedRun { batch, rows, order })
    }

    /// Cuts a sorted run into `splitters.len() + 1` contiguous buckets: bucket `b` holds the
    /// keys from splitter `b - 1` to splitter `b`. Rows equal to a splitter repeated over several
    /// buckets are shared evenly between those buckets, so one heavy key cannot flood a reducer.
    pub fn cut(&self, run: &SortedRun, splitters: &[Vec<u8>]) -> Vec<RecordBatch> {
        let n = run.batch.num_rows();
        let key = |i: usize| run.rows.row(run.order.value(i) as usize);
        let below = |k: &[u8]| partition_point(n, |i| key(i).as_ref() < k);
        let upto = |k: &[u8]| partition_point(n, |i| key(i).as_ref() <= k);
        let mut ends = Vec::with_capacity(splitters.len() + 1);
        let mut i = 0;
        while i < splitters.len() {
            let mut j = i;
            while j + 1 < splitters.len() && splitters[j + 1] == splitters[i] {
                j += 1;
            }
            // Splitters i..=j are one key k: buckets i..=j+1 may all hold k.
            let (lo, hi) = (below(&splitters[i]), upto(&splitters[i]));
            let share = j - i + 2;
            for b in 0..=(j - i) {
                ends.push(lo + (hi - lo) * (b + 1) / share);
            }
            i = j + 1;
        }
        ends.push(n);
        let mut start = 0;
        ends.into_iter()
            .map(|end| {
                let end = end.max(start);
                let bucket = run.batch.slice(start, end - start);
                start = end;
                bucket
            })
            .collect()
    }

    /// Merges sorted runs into one sorted sequence of batches.
    pub fn merge(&self, runs: Vec<RecordBatch>) -> Result<Vec<RecordBatch>> {
        let runs: Vec<RecordBatch> = runs.into_iter().filter(|r| r.num_rows() > 0).collect();
        if runs.len() <= 1 {
            return Ok(runs);
        }
        let rows = runs.iter().map(|r| self.rows(r)).collect::<Result<Vec<_>>>()?;
        let mut heap = BinaryHeap::with_capacity(runs.len());
        for (run, r) in rows.iter().enumerate() {
            heap.push(Reverse((r.row(0), run, 0usize)));
        }
        let refs: Vec<&RecordBatch> = runs.iter().collect();
        let mut out = Vec::new();
        let mut picks = Vec::with_capacity(MERGE_BATCH_ROWS);
        while let Some(Reverse((_, run, i))) = heap.pop() {
            picks.push((run, i));
            if i + 1 < rows[run].num_rows() {
                heap.push(Reverse((rows[run].row(i + 1), run, i + 1)));
            }
            if picks.len() == MERGE_BATCH_ROWS {
                out.push(interleave_record_batch(&refs, &picks).map_err(arrow("merge"))?);
                picks.clear();
            }
        }
        if !picks.is_empty() {
            out.push(interleave_record_batch(&refs, &picks).map_err(arrow("merge"))?);
        }
        Ok(out)
    }
}

/// `r - 1` splitters at the quantiles of `samples` (sorted in place). With no samples (no
/// rows anywhere) every splitter is the empty key, below every real key.
pub fn splitters(mut samples: Vec<Vec<u8>>, r: usize) -> Vec<Vec<u8>> {
    samples.sort_unstable();
    if r <= 1 {
        return Vec::new();
    }
    if samples.is_empty() {
        return vec![Vec::new(); r - 1];
    }
    (1..r).map(|i| samples[(i * samples.len() / r).min(samples.len() - 1)].clone()).collect()
}

fn partition_point(n: usize, mut pred: impl FnMut(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if pred(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// A tiny seeded generator (SplitMix64) for reproducible samples.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Array, Int64Array};
    use std::sync::Arc;

    fn batch(values: Vec<Option<i64>>) -> RecordBatch {
        RecordBatch::try_from_iter([("k", Arc::new(Int64Array::from(values)) as _)]).unwrap()
    }

    fn keys(b: &RecordBatch) -> Vec<Option<i64>> {
        let a = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
        (0..a.len()).map(|i| a.is_valid(i).then(|| a.value(i))).collect()
    }

    fn key(descending: bool, nulls_first: bool) -> Vec<SortKey> {
        vec![SortKey { column: "k".into(), descending, nulls_first }]
    }

    #[test]
    fn sort_cut_merge_orders_descending_with_nulls_last() {
        let input = batch(vec![Some(3), None, Some(9), Some(1), Some(5), Some(7)]);
        let s = Sorter::new(&input.schema(), &key(true, false)).unwrap();
        let run = s.sort(&input.schema(), std::slice::from_ref(&input)).unwrap();
        let sorted = run.batch.clone();
        assert_eq!(keys(&sorted), vec![Some(9), Some(7), Some(5), Some(3), Some(1), None]);
        let split = s.sample(&batch(vec![Some(6)]), 1, 0).unwrap();
        let buckets = s.cut(&run, &split);
        assert_eq!(keys(&buckets[0]), vec![Some(9), Some(7)]);
        assert_eq!(keys(&buckets[1]), vec![Some(5), Some(3), Some(1), None]);
        let merged = s.merge(vec![buckets[1].clone(), buckets[0].clone()]).unwrap();
        assert_eq!(keys(&merged[0]), keys(&sorted));
    }

    #[test]
    fn a_heavy_key_is_shared_between_the_buckets_it_spans() {
        let mut values = vec![Some(5); 90];
        values.extend((0..10).map(Some));
        let input = batch(values);
        let s = Sorter::new(&input.schema(), &key(false, true)).unwrap();
        let run = s.sort(&input.schema(), &[input]).unwrap();
        let sorted = run.batch.clone();
        let five = s.sample(&batch(vec![Some(5)]), 1, 0).unwrap().remove(0);
        let buckets = s.cut(&run, &[five.clone(), five.clone(), five]);
        let sizes: Vec<usize> = buckets.iter().map(|b| b.num_rows()).collect();
        assert_eq!(sizes.iter().sum::<usize>(), 100);
        assert!(sizes.iter().all(|&n| n <= 30), "the 90 fives are spread: {sizes:?}");
        let flat: Vec<Option<i64>> = buckets.iter().flat_map(keys).collect();
        assert_eq!(flat, keys(&sorted), "buckets stay in order");
    }

    #[test]
    fn splitters_are_quantiles() {
        let samples: Vec<Vec<u8>> = (0..100u8).rev().map(|i| vec![i]).collect();
        assert_eq!(splitters(samples, 4), vec![vec![25], vec![50], vec![75]]);
        assert_eq!(splitters(vec![], 4).len(), 3);
        assert!(splitters(vec![vec![1]], 1).is_empty());
    }
}
