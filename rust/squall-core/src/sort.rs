//! Sample sort kernels over Arrow's row format: sampling keys, choosing splitters, cutting a
//! sorted run into range buckets, and the k-way merge of sorted runs.
//!
//! Keys of any types, several columns, ascending or descending, nulls first or last, all become
//! byte strings whose `memcmp` order is the sort order, so nothing below knows about types.

use arrow_array::{ArrayRef, RecordBatch, UInt32Array};
use arrow_row::{RowConverter, Rows, SortField};
use arrow_schema::{SchemaRef, SortOptions};
use arrow_select::concat::concat;
use arrow_select::interleave::interleave_record_batch;
use arrow_select::take::take_record_batch;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

use crate::floats::canonical;
use crate::native::integer_values;
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

/// Batches in sorted order, not yet gathered: the order that sorts their rows and the sorted
/// keys, for cutting them into buckets ([`Sorter::cut`]) or taking the first rows.
pub struct SortedRun<'a> {
    schema: SchemaRef,
    input: &'a [RecordBatch],
    /// Positions of the sorted rows, counted across `input`.
    order: Vec<u32>,
    keys: RunKeys,
}

enum RunKeys {
    /// The order keys of the sorted rows (see `order_keys`), and the key columns of the input.
    Native(Vec<u64>, Vec<ArrayRef>),
    /// The encoded key rows of the input.
    Rows(Rows),
}

impl SortedRun<'_> {
    /// Rows in the run.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether the run has no rows.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// The sorted rows `range`, gathered into one batch of their own.
    pub fn rows(&self, range: std::ops::Range<usize>) -> Result<RecordBatch> {
        if range.is_empty() {
            return Ok(RecordBatch::new_empty(self.schema.clone()));
        }
        gather(self.input, &self.order[range])
    }
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
        self.converter.convert_columns(&self.key_columns(batch)).map_err(arrow("sort keys"))
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

    /// Order keys of `columns` (this sorter's key columns), when there is one integer or
    /// temporal key column without nulls.
    fn native(&self, columns: &[ArrayRef]) -> Option<Vec<u64>> {
        match (columns, self.options.as_slice()) {
            ([column], [options]) => order_keys(column, *options),
            _ => None,
        }
    }

    /// The key columns of `batch`, every NaN one NaN (above every number).
    fn key_columns(&self, batch: &RecordBatch) -> Vec<ArrayRef> {
        self.columns.iter().map(|&i| canonical(batch.column(i), false)).collect()
    }

    /// Sorts `batches` (one schema) into one run. Only the key columns are concatenated; the
    /// other columns are gathered from the input batches in sorted order (one copy) when the
    /// run's rows are taken.
    pub fn sort<'a>(&self, schema: &SchemaRef, batches: &'a [RecordBatch]) -> Result<SortedRun<'a>> {
        let run = |order, keys| SortedRun { schema: schema.clone(), input: batches, order, keys };
        if batches.is_empty() {
            return Ok(run(vec![], RunKeys::Native(vec![], vec![])));
        }
        let keys = self
            .columns
            .iter()
            .map(|&c| concat(&batches.iter().map(|b| b.column(c).as_ref()).collect::<Vec<_>>()))
            .map(|keys| keys.map(|k| canonical(&k, false)))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(arrow("sort"))?;
        crate::cancel::check()?;
        if let Some(native) = self.native(&keys) {
            // Ties keep input order (the index is the second half of each pair).
            let (sorted, order): (Vec<u64>, Vec<u32>) =
                sort_pairs(native.into_iter().zip(0..).collect()).into_iter().unzip();
            crate::cancel::check()?;
            return Ok(run(order, RunKeys::Native(sorted, keys)));
        }
        let rows = self.converter.convert_columns(&keys).map_err(arrow("sort keys"))?;
        let mut order: Vec<u32> = (0..rows.num_rows() as u32).collect();
        // Once cancelled, comparisons cost nothing: the sort ends at once, its order discarded.
        let mut every = crate::cancel::Every::default();
        order.sort_unstable_by(|&a, &b| match every.tick() {
            true => std::cmp::Ordering::Equal,
            false => rows.row(a as usize).cmp(&rows.row(b as usize)),
        });
        crate::cancel::check()?;
        Ok(run(order, RunKeys::Rows(rows)))
    }

    /// Cuts a sorted run into `splitters.len() + 1` contiguous buckets: bucket `b` holds the
    /// keys from splitter `b - 1` to splitter `b`. Rows equal to a splitter repeated over several
    /// buckets are shared evenly between those buckets, so one heavy key cannot flood a reducer.
    /// Each bucket is gathered into buffers of its own: its memory is freed when its reducer is
    /// done with it, not with the last bucket.
    pub fn cut(&self, run: &SortedRun, splitters: &[Vec<u8>]) -> Result<Vec<RecordBatch>> {
        let n = run.len();
        if n == 0 {
            return Ok(vec![RecordBatch::new_empty(run.schema.clone()); splitters.len() + 1]);
        }
        let order = &run.order;
        let ends = match &run.keys {
            RunKeys::Native(keys, columns) => match self.native_splitters(splitters)? {
                Some(split) => bucket_ends(n, &split, |i, s| keys[i].cmp(&split[s])),
                // A null splitter: compare encoded rows.
                None => {
                    let rows = self.converter.convert_columns(columns).map_err(arrow("sort keys"))?;
                    bucket_ends(n, splitters, |i, s| rows.row(order[i] as usize).as_ref().cmp(&splitters[s]))
                }
            },
            RunKeys::Rows(rows) => {
                bucket_ends(n, splitters, |i, s| rows.row(order[i] as usize).as_ref().cmp(&splitters[s]))
            }
        };
        let mut start = 0;
        ends.into_iter()
            .map(|end| {
                crate::cancel::check()?;
                let end = end.max(start);
                let bucket = run.rows(start..end);
                start = end;
                bucket
            })
            .collect()
    }

    /// The order keys of encoded splitters; None when one is null or the empty key (or the
    /// keys are not one integer or temporal column).
    fn native_splitters(&self, splitters: &[Vec<u8>]) -> Result<Option<Vec<u64>>> {
        if self.columns.len() != 1 {
            return Ok(None);
        }
        if splitters.is_empty() {
            return Ok(Some(Vec::new()));
        }
        if splitters.iter().any(Vec::is_empty) {
            // The empty key (no samples anywhere) is no row: compare encoded rows.
            return Ok(None);
        }
        let parser = self.converter.parser();
        let columns =
            self.converter.convert_rows(splitters.iter().map(|s| parser.parse(s))).map_err(arrow("splitters"))?;
        Ok(self.native(&columns))
    }

    /// Merges sorted runs into one sorted sequence of batches.
    pub fn merge(&self, runs: Vec<RecordBatch>) -> Result<Vec<RecordBatch>> {
        self.merged(runs)?.collect()
    }

    /// Merges sorted runs; the merged batches are gathered one at a time, as they are taken,
    /// so a caller that writes each away never holds the merged rows whole.
    pub fn merged(&self, runs: Vec<RecordBatch>) -> Result<Merged> {
        let runs: Vec<RecordBatch> = runs.into_iter().filter(|r| r.num_rows() > 0).collect();
        if runs.len() <= 1 {
            return Ok(Merged { runs, picks: None, at: 0 });
        }
        crate::cancel::check()?;
        let lens: Vec<usize> = runs.iter().map(|r| r.num_rows()).collect();
        let native: Option<Vec<Vec<u64>>> = runs.iter().map(|r| self.native(&self.key_columns(r))).collect();
        let picks = match native {
            // Order key and run packed in one integer: one comparison, no branch.
            Some(keys) => {
                kway(&lens, |run, i| (keys[run][i] as u128) << 64 | run as u128, |h| *h as u64 as usize, u128::MAX)
            }
            None => {
                let rows = runs.iter().map(|r| self.rows(r)).collect::<Result<Vec<_>>>()?;
                kway(&lens, |run, i| (false, Some(rows[run].row(i)), run), |h| h.2, (true, None, 0))
            }
        };
        // A cancelled merge stops short: its picks are not all the rows.
        crate::cancel::check()?;
        Ok(Merged { runs, picks: Some(picks), at: 0 })
    }
}

/// Sorted runs merged, given as batches of [`MERGE_BATCH_ROWS`] rows, each gathered when it is
/// taken (see [`Sorter::merged`]).
pub struct Merged {
    runs: Vec<RecordBatch>,
    /// The (run, row) of each merged row; None for a single run (or none), given as it is.
    picks: Option<Vec<(usize, usize)>>,
    /// The next pick (or run) to give.
    at: usize,
}

impl Merged {
    /// The runs being merged: the same rows in another order.
    pub fn runs(&self) -> &[RecordBatch] {
        &self.runs
    }
}

impl Iterator for Merged {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Result<RecordBatch>> {
        let Some(picks) = &self.picks else {
            self.at += 1;
            return self.runs.get(self.at - 1).cloned().map(Ok);
        };
        let chunk = picks.get(self.at..(self.at + MERGE_BATCH_ROWS).min(picks.len())).filter(|c| !c.is_empty())?;
        self.at += chunk.len();
        if let Err(e) = crate::cancel::check() {
            return Some(Err(e));
        }
        let refs: Vec<&RecordBatch> = self.runs.iter().collect();
        Some(interleave_record_batch(&refs, chunk).map_err(arrow("merge")))
    }
}

/// Sort keys as u64 whose order is the sort order, for an integer or temporal column without
/// nulls: comparing them is far cheaper than comparing encoded rows. Signed values get their
/// sign bit flipped; descending keys are inverted.
fn order_keys(column: &ArrayRef, options: SortOptions) -> Option<Vec<u64>> {
    if column.null_count() > 0 {
        return None;
    }
    let values = integer_values(column)?;
    let sign = if column.data_type().is_unsigned_integer() { 0 } else { 1 << 63 };
    let invert = if options.descending { u64::MAX } else { 0 };
    Some(values.iter().map(|&v| (v as u64) ^ sign ^ invert).collect())
}

/// Sorts (key, row) pairs: one counting pass scatters them into 2^16 buckets by the leading
/// bits of their keys' range, then each bucket, small and in cache, is sorted on its own.
fn sort_pairs(mut pairs: Vec<(u64, u32)>) -> Vec<(u64, u32)> {
    const BITS: u32 = 16;
    if pairs.len() < 1 << BITS {
        pairs.sort_unstable();
        return pairs;
    }
    let (lo, hi) = pairs.iter().fold((u64::MAX, 0), |(lo, hi), p| (lo.min(p.0), hi.max(p.0)));
    let shift = (64 - (hi - lo).leading_zeros()).saturating_sub(BITS);
    let bucket = |k: u64| ((k - lo) >> shift) as usize;
    let mut starts = vec![0usize; (1 << BITS) + 1];
    for p in &pairs {
        starts[bucket(p.0) + 1] += 1;
    }
    for b in 1..starts.len() {
        starts[b] += starts[b - 1];
    }
    let mut next = starts.clone();
    let mut out = vec![(0, 0); pairs.len()];
    for &p in &pairs {
        let b = bucket(p.0);
        out[next[b]] = p;
        next[b] += 1;
    }
    let mut every = crate::cancel::Every::default();
    for b in starts.windows(2) {
        if every.tick() {
            break; // cancelled: the caller checks, and drops this
        }
        out[b[0]..b[1]].sort_unstable();
    }
    out
}

/// The rows of `batches` at positions `order` (counted across the batches), as one batch.
fn gather(batches: &[RecordBatch], order: &[u32]) -> Result<RecordBatch> {
    if let [one] = batches {
        return take_record_batch(one, &UInt32Array::from(order.to_vec())).map_err(arrow("sort"));
    }
    let mut starts = Vec::with_capacity(batches.len());
    let mut total = 0;
    for b in batches {
        starts.push(total);
        total += b.num_rows();
    }
    let picks: Vec<(usize, usize)> = order
        .iter()
        .map(|&g| {
            let b = starts.partition_point(|&s| s <= g as usize) - 1;
            (b, g as usize - starts[b])
        })
        .collect();
    let refs: Vec<&RecordBatch> = batches.iter().collect();
    interleave_record_batch(&refs, &picks).map_err(arrow("sort"))
}

/// Where the buckets of a sorted run of `n` rows end when cut at `splitters`; `cmp(i, s)`
/// compares sorted row `i` with splitter `s`. Rows equal to a splitter repeated over several
/// buckets are shared evenly between them.
fn bucket_ends(n: usize, splitters: &[impl PartialEq], cmp: impl Fn(usize, usize) -> Ordering) -> Vec<usize> {
    let mut ends = Vec::with_capacity(splitters.len() + 1);
    let mut i = 0;
    while i < splitters.len() {
        let mut j = i;
        while j + 1 < splitters.len() && splitters[j + 1] == splitters[i] {
            j += 1;
        }
        // Splitters i..=j are one key k: buckets i..=j+1 may all hold k.
        let lo = partition_point(n, |r| cmp(r, i) == Ordering::Less);
        let hi = partition_point(n, |r| cmp(r, i) != Ordering::Greater);
        let share = j - i + 2;
        for b in 0..=(j - i) {
            ends.push(lo + (hi - lo) * (b + 1) / share);
        }
        i = j + 1;
    }
    ends.push(n);
    ends
}

/// The k-way merge order of sorted runs of `lens` rows: (run, row) pairs, ties by run. A loser
/// tree: each row out costs one comparison per level of a tree over the runs, and each level
/// picks its winner by conditional moves. `head(run, i)` is row `i` of `run` as a key that
/// breaks ties by run (the run folded in, and given back by `run_of`), and `done` is above
/// every such key: the head of a finished run.
fn kway<H: Ord + Copy>(
    lens: &[usize],
    head: impl Fn(usize, usize) -> H,
    run_of: impl Fn(&H) -> usize,
    done: H,
) -> Vec<(usize, usize)> {
    let k = lens.len().next_power_of_two();
    // Each leaf's run length, padded with empty runs to k leaves (a table, not `lens.get`:
    // about 3% faster).
    let mut len = lens.to_vec();
    len.resize(k, 0);
    let mut next = vec![0usize; k];
    let at = |run: usize, i: usize| if i < len[run] { head(run, i) } else { done };
    // tree[node]: the loser of the match at that node.
    let mut tree = vec![done; k];
    let mut winners = vec![done; 2 * k];
    for leaf in 0..k {
        winners[k + leaf] = at(leaf, 0);
    }
    for node in (1..k).rev() {
        let (a, b) = (winners[2 * node], winners[2 * node + 1]);
        winners[node] = a.min(b);
        tree[node] = a.max(b);
    }
    let mut win = winners[1];
    let mut picks = Vec::with_capacity(lens.iter().sum());
    let mut every = crate::cancel::Every::default();
    while win != done && !every.tick() {
        let run = run_of(&win);
        picks.push((run, next[run]));
        next[run] += 1;
        win = at(run, next[run]);
        let mut node = (run + k) / 2;
        while node > 0 {
            let other = tree[node];
            let swap = other < win;
            tree[node] = if swap { win } else { other };
            win = if swap { other } else { win };
            node /= 2;
        }
    }
    picks
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
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Int32Type, Int64Type, UInt64Type};
    use arrow_array::{Array, Int32Array, Int64Array, UInt64Array};
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
        let sorted = run.rows(0..run.len()).unwrap();
        assert_eq!(keys(&sorted), vec![Some(9), Some(7), Some(5), Some(3), Some(1), None]);
        let split = s.sample(&batch(vec![Some(6)]), 1, 0).unwrap();
        let buckets = s.cut(&run, &split).unwrap();
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
        let input = [input];
        let run = s.sort(&input[0].schema(), &input).unwrap();
        let sorted = run.rows(0..run.len()).unwrap();
        let five = s.sample(&batch(vec![Some(5)]), 1, 0).unwrap().remove(0);
        let buckets = s.cut(&run, &[five.clone(), five.clone(), five]).unwrap();
        let sizes: Vec<usize> = buckets.iter().map(|b| b.num_rows()).collect();
        assert_eq!(sizes.iter().sum::<usize>(), 100);
        assert!(sizes.iter().all(|&n| n <= 30), "the 90 fives are spread: {sizes:?}");
        let flat: Vec<Option<i64>> = buckets.iter().flat_map(keys).collect();
        assert_eq!(flat, keys(&sorted), "buckets stay in order");
    }

    #[test]
    fn integer_keys_sort_cut_and_merge_by_value() {
        let u = |v: Vec<Option<u64>>| RecordBatch::try_from_iter([("k", Arc::new(UInt64Array::from(v)) as _)]).unwrap();
        let values = |b: &RecordBatch| b.column(0).as_primitive::<UInt64Type>().values().to_vec();
        // Values above i64::MAX, several input batches (one empty).
        let parts = [u(vec![Some(u64::MAX), Some(3), Some(1 << 63)]), u(vec![Some(0), Some(7)]), u(vec![])];
        let schema = parts[0].schema();
        let s = Sorter::new(&schema, &[SortKey { column: "k".into(), descending: false, nulls_first: false }]).unwrap();
        let run = s.sort(&schema, &parts).unwrap();
        let sorted = run.rows(0..run.len()).unwrap();
        assert_eq!(values(&sorted), vec![0, 3, 7, 1 << 63, u64::MAX]);
        assert_eq!(values(&run.rows(1..3).unwrap()), vec![3, 7]);
        let seven = s.sample(&u(vec![Some(7)]), 1, 0).unwrap();
        let buckets = s.cut(&run, &seven).unwrap();
        assert_eq!(values(&buckets[0]), vec![0, 3]);
        assert_eq!(values(&buckets[1]), vec![7, 1 << 63, u64::MAX]);
        let merged = s.merge(vec![buckets[1].clone(), buckets[0].clone()]).unwrap();
        assert_eq!(values(&merged[0]), values(&sorted));
        // A null splitter (nulls last: above every value) takes nothing of a run without nulls.
        let null = s.sample(&u(vec![None]), 1, 0).unwrap();
        let buckets = s.cut(&run, &null).unwrap();
        assert_eq!((buckets[0].num_rows(), buckets[1].num_rows()), (5, 0));
        // The empty key (no samples anywhere) is below every value.
        let buckets = s.cut(&run, &splitters(vec![], 2)).unwrap();
        assert_eq!((buckets[0].num_rows(), buckets[1].num_rows()), (0, 5));
        // No rows: empty buckets, whatever the splitters.
        let none = s.sort(&schema, &parts[2..]).unwrap();
        for split in [null, seven] {
            let buckets = s.cut(&none, &split).unwrap();
            assert_eq!(buckets.iter().map(|b| b.num_rows()).collect::<Vec<_>>(), [0, 0]);
        }
        // Descending signed keys.
        let i =
            RecordBatch::try_from_iter([("k", Arc::new(Int32Array::from(vec![-5, 3, -1, 0, i32::MIN])) as _)]).unwrap();
        let s = Sorter::new(&i.schema(), &key(true, false)).unwrap();
        let parts = [i.slice(0, 2), i.slice(2, 3)];
        let run = s.sort(&i.schema(), &parts).unwrap();
        let sorted = run.rows(0..run.len()).unwrap();
        assert_eq!(sorted.column(0).as_primitive::<Int32Type>().values().to_vec(), vec![3, 0, -1, -5, i32::MIN]);
    }

    #[test]
    fn a_merge_gives_its_rows_a_batch_at_a_time() {
        let mut rng = SplitMix(9);
        let run = |n: usize, rng: &mut SplitMix| {
            let mut v: Vec<i64> = (0..n).map(|_| (rng.next() % 1000) as i64).collect();
            v.sort_unstable();
            RecordBatch::try_from_iter([("k", Arc::new(Int64Array::from(v)) as _)]).unwrap()
        };
        let runs = vec![run(70_000, &mut rng), run(0, &mut rng), run(50_001, &mut rng)];
        let s = Sorter::new(&runs[0].schema(), &key(false, false)).unwrap();
        let merged = s.merged(runs.clone()).unwrap();
        assert_eq!(merged.runs().len(), 2, "the empty run is left out");
        let batches: Vec<RecordBatch> = merged.collect::<Result<_>>().unwrap();
        assert_eq!(
            batches.iter().map(|b| b.num_rows()).collect::<Vec<_>>(),
            [MERGE_BATCH_ROWS, 120_001 - MERGE_BATCH_ROWS]
        );
        let values: Vec<i64> =
            batches.iter().flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec()).collect();
        let mut expected: Vec<i64> =
            runs.iter().flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec()).collect();
        expected.sort_unstable();
        assert_eq!(values, expected);
        // One run is given as it is.
        let one: Vec<RecordBatch> = s.merged(runs[..1].to_vec()).unwrap().collect::<Result<_>>().unwrap();
        assert_eq!(one, runs[..1]);
    }

    #[test]
    fn loser_tree_merge_equals_a_stable_sort() {
        let mut rng = SplitMix(5);
        // Run counts around powers of two, empty runs, and many equal keys across runs.
        for runs in [1, 2, 3, 5, 8, 16, 17] {
            let sorted: Vec<Vec<u64>> = (0..runs)
                .map(|r| {
                    let n = if r % 4 == 1 { 0 } else { (rng.next() % 300) as usize };
                    let mut v: Vec<u64> =
                        (0..n).map(|_| [rng.next() % 40, u64::MAX][(rng.next() % 9 == 0) as usize]).collect();
                    v.sort_unstable();
                    v
                })
                .collect();
            let lens: Vec<usize> = sorted.iter().map(Vec::len).collect();
            let mut expected: Vec<(u64, usize, usize)> = sorted
                .iter()
                .enumerate()
                .flat_map(|(r, v)| v.iter().enumerate().map(move |(i, &k)| (k, r, i)))
                .collect();
            expected.sort_unstable();
            let expected: Vec<(usize, usize)> = expected.into_iter().map(|(_, r, i)| (r, i)).collect();
            let tuples = kway(&lens, |r, i| (false, Some(sorted[r][i]), r), |h| h.2, (true, None, 0));
            assert_eq!(tuples, expected, "{runs} runs");
            let packed =
                kway(&lens, |r, i| (sorted[r][i] as u128) << 64 | r as u128, |h| *h as u64 as usize, u128::MAX);
            assert_eq!(packed, expected, "{runs} runs, order keys");
        }
    }

    #[test]
    fn bucketed_pair_sort_equals_a_plain_sort() {
        let mut rng = SplitMix(3);
        let wide: Vec<u64> = (0..200_000).map(|_| rng.next()).collect();
        let narrow: Vec<u64> = (0..200_000).map(|_| 1_000 + rng.next() % 50).collect();
        let skewed: Vec<u64> = (0..200_000u64).map(|i| if i % 3 == 0 { u64::MAX } else { i * i }).collect();
        for keys in [wide, narrow, skewed] {
            let pairs: Vec<(u64, u32)> = keys.into_iter().zip(0..).collect();
            let mut expected = pairs.clone();
            expected.sort_unstable();
            assert_eq!(sort_pairs(pairs), expected);
        }
    }

    #[test]
    fn splitters_are_quantiles() {
        let samples: Vec<Vec<u8>> = (0..100u8).rev().map(|i| vec![i]).collect();
        assert_eq!(splitters(samples, 4), vec![vec![25], vec![50], vec![75]]);
        assert_eq!(splitters(vec![], 4).len(), 3);
        assert!(splitters(vec![vec![1]], 1).is_empty());
    }
}
