//! Which group each row belongs to, and which shuffle bucket it goes to: by the values
//! themselves for one integer (or date/time) key, by Arrow's row format for anything else.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::BuildHasher;

use arrow_array::cast::AsArray;
use arrow_array::{make_array, Array, ArrayRef, RecordBatch, RecordBatchOptions, UInt32Array};
use arrow_buffer::NullBuffer;
use arrow_data::transform::{Capacities, MutableArrayData};
use arrow_row::{RowConverter, Rows, SortField};
use arrow_schema::DataType;
use arrow_select::take::take_record_batch;
use foldhash::fast::FixedState;

use super::byte_groups::ByteGroups;
use super::{column, plan_err};
use crate::floats::canonical;
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

/// Row-encoded `columns` (ascending, nulls last): equal keys give equal bytes (floats too: one
/// NaN, one zero).
pub(super) fn key_rows(columns: &[ArrayRef]) -> Result<Rows> {
    let columns: Vec<ArrayRef> = columns.iter().map(|c| canonical(c, true)).collect();
    let fields = columns.iter().map(|k| SortField::new(k.data_type().clone())).collect();
    RowConverter::new(fields).and_then(|c| c.convert_columns(&columns)).map_err(plan_err)
}

/// The values and nulls of a single integer (or date/time) key column, which grouping and
/// bucketing use as they are; None for other keys.
fn integer_key(keys: &[ArrayRef]) -> Option<(Cow<'_, [i64]>, Option<NullBuffer>)> {
    match keys {
        [key] => integer_values(key).map(|values| (values, key.logical_nulls().filter(|n| n.null_count() > 0))),
        _ => None,
    }
}

/// Each row's group: each key column grouped on its own (see `column_groups`) and the
/// columns' group numbers combined, or, for other key types, by Arrow's row format.
pub(super) fn group(keys: &[ArrayRef]) -> Result<Groups> {
    let by_column: Option<Vec<Groups>> = keys.iter().map(column_groups).collect();
    match by_column {
        Some(parts) if !parts.is_empty() => Ok(combine(parts)),
        _ => group_rows(keys),
    }
}

/// Each row's group by the row-encoded keys.
fn group_rows(keys: &[ArrayRef]) -> Result<Groups> {
    let rows = key_rows(keys)?;
    let mut ids = ByteGroups::default();
    let mut groups = Groups { of_row: Vec::with_capacity(rows.num_rows()), first: Vec::new() };
    for (i, row) in rows.iter().enumerate() {
        groups.push(i, ids.id(row.data()));
    }
    Ok(groups)
}

/// Each row's group in one key column, without encoding rows: integers (dates, times) by
/// value, strings and binaries by their bytes, dictionaries by their values' groups; None for
/// other types. Nulls share one group.
fn column_groups(key: &ArrayRef) -> Option<Groups> {
    let nulls = key.logical_nulls().filter(|n| n.null_count() > 0);
    if let Some(values) = integer_values(key) {
        return Some(group_integers(&values, nulls));
    }
    if let Some(bytes) = value_bytes(key) {
        return Some(group_bytes(key.len(), nulls, bytes));
    }
    Some(match key.data_type() {
        DataType::Dictionary(..) => {
            let dict = key.as_any_dictionary();
            let of_value = column_groups(dict.values())?.of_row;
            if nulls.is_none() {
                if let Some(groups) = by_codes(dict.keys(), &of_value) {
                    return Some(groups);
                }
            }
            let codes = codes(dict);
            let ids: Vec<i64> = codes.iter().map(|&c| of_value.get(c).map_or(0, |&g| g as i64)).collect();
            group_integers(&ids, nulls)
        }
        _ => return None,
    })
}

/// Each row's group by its dictionary code (`codes`, without nulls), in one pass: `of_value`
/// gives each value's group among the values, renumbered here in order of first appearance
/// among the rows. None for codes of a type other than the usual (or out of range).
fn by_codes(codes: &dyn Array, of_value: &[u32]) -> Option<Groups> {
    fn of<T: arrow_buffer::ArrowNativeType>(codes: &[T], of_value: &[u32]) -> Option<Groups> {
        let mut id = vec![u32::MAX; of_value.iter().max().map_or(0, |&m| m as usize + 1)];
        let mut first = Vec::new();
        let mut of_row = Vec::with_capacity(codes.len());
        for (i, code) in codes.iter().enumerate() {
            let slot = &mut id[*of_value.get(code.as_usize())? as usize];
            if *slot == u32::MAX {
                *slot = first.len() as u32;
                first.push(i as u32);
            }
            of_row.push(*slot);
        }
        Some(Groups { of_row, first })
    }
    use arrow_array::types::{Int16Type, Int32Type, Int64Type, Int8Type, UInt16Type, UInt32Type, UInt8Type};
    match codes.data_type() {
        DataType::Int8 => of(codes.as_primitive::<Int8Type>().values(), of_value),
        DataType::Int16 => of(codes.as_primitive::<Int16Type>().values(), of_value),
        DataType::Int32 => of(codes.as_primitive::<Int32Type>().values(), of_value),
        DataType::Int64 => of(codes.as_primitive::<Int64Type>().values(), of_value),
        DataType::UInt8 => of(codes.as_primitive::<UInt8Type>().values(), of_value),
        DataType::UInt16 => of(codes.as_primitive::<UInt16Type>().values(), of_value),
        DataType::UInt32 => of(codes.as_primitive::<UInt32Type>().values(), of_value),
        _ => None,
    }
}

/// A dictionary's codes as indices into its values; 0 for every row of a dictionary without
/// values (pyarrow's encoding of a column all null), whose rows are all null.
fn codes(dict: &dyn arrow_array::AnyDictionaryArray) -> Vec<usize> {
    match dict.values().is_empty() {
        true => vec![0; dict.keys().len()],
        false => dict.normalized_keys(),
    }
}

/// Each value's bytes, by row, of a string or binary column; None for other types.
fn value_bytes<'a>(col: &'a ArrayRef) -> Option<Box<dyn Fn(usize) -> &'a [u8] + 'a>> {
    Some(match col.data_type() {
        DataType::Utf8 => {
            let a = col.as_string::<i32>();
            Box::new(|i| a.value(i).as_bytes())
        }
        DataType::LargeUtf8 => {
            let a = col.as_string::<i64>();
            Box::new(|i| a.value(i).as_bytes())
        }
        DataType::Utf8View => {
            let a = col.as_string_view();
            Box::new(|i| a.value(i).as_bytes())
        }
        DataType::Binary => {
            let a = col.as_binary::<i32>();
            Box::new(|i| a.value(i))
        }
        DataType::LargeBinary => {
            let a = col.as_binary::<i64>();
            Box::new(|i| a.value(i))
        }
        DataType::BinaryView => {
            let a = col.as_binary_view();
            Box::new(|i| a.value(i))
        }
        _ => return None,
    })
}

/// Each row's group by the bytes `value(i)` gives for it.
fn group_bytes<'a>(n: usize, nulls: Option<NullBuffer>, value: impl Fn(usize) -> &'a [u8]) -> Groups {
    let mut ids = ByteGroups::default();
    let mut groups = Groups { of_row: Vec::with_capacity(n), first: Vec::new() };
    // Nulls take a group of their own: the bytes no value has (ByteGroups numbers values only).
    let mut null_id = None;
    let mut of_id: Vec<u32> = Vec::new();
    for i in 0..n {
        let next = groups.first.len() as u32;
        let id = match nulls.as_ref().is_some_and(|m| m.is_null(i)) {
            true => *null_id.get_or_insert(next),
            false => {
                let value = ids.id(value(i)) as usize;
                if value == of_id.len() {
                    of_id.push(next);
                }
                of_id[value]
            }
        };
        groups.push(i, id);
    }
    groups
}

/// The groups of several key columns together: each combination of their groups that occurs,
/// numbered in order of first appearance as `group` numbers them. The columns' group numbers
/// are packed into one integer per row (as many columns at a time as fit in 63 bits), which is
/// grouped once: one table for the combinations, not one per column.
fn combine(parts: Vec<Groups>) -> Groups {
    let mut parts = parts.into_iter();
    let Some(mut acc) = parts.next() else {
        return Groups { of_row: Vec::new(), first: Vec::new() };
    };
    let mut parts = parts.peekable();
    while let Some(next) = parts.next() {
        // Two columns always pack: group numbers are below 2^32, so x * width + y < 2^64.
        let mut width = acc.len() as u128 * next.len() as u128;
        let w = next.len() as u64;
        let mut packed: Vec<i64> =
            acc.of_row.iter().zip(&next.of_row).map(|(&x, &y)| (x as u64 * w + y as u64) as i64).collect();
        while let Some(more) = parts.next_if(|more| width * (more.len() as u128) < 1 << 63) {
            let w = more.len() as i64;
            packed.iter_mut().zip(&more.of_row).for_each(|(p, &y)| *p = *p * w + y as i64);
            width *= more.len() as u128;
        }
        acc = group_integers(&packed, None);
    }
    acc
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

/// How many distinct keys the input draws from, judged on its leading rows as if it drew
/// them uniformly (`d` distinct in `n` rows: the K with K(1 - e^(-n/K)) = d); infinite when
/// every leading key differs, None when there are too few rows to judge (they repeat, then).
pub(super) fn distinct_values(keys: &[ArrayRef]) -> Result<Option<f64>> {
    let n = keys.first().map_or(0, |k| k.len());
    if keys.is_empty() || n < DISTINCT_PROBE {
        return Ok(None);
    }
    let head: Vec<ArrayRef> = keys.iter().map(|k| k.slice(0, DISTINCT_PROBE)).collect();
    let (n, d) = (DISTINCT_PROBE as f64, group(&head)?.len() as f64);
    if d >= n {
        return Ok(Some(f64::INFINITY));
    }
    // The distinct count grows with K: bisect (geometrically) between d and 2^50.
    let (mut lo, mut hi) = (d, 2f64.powi(50));
    for _ in 0..64 {
        let mid = (lo * hi).sqrt();
        if expected_groups(mid, n) < d {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(Some(hi))
}

/// Whether a key column's leading rows hold few distinct values (an eighth of
/// [`DISTINCT_PROBE`] or less, or fewer rows than that).
pub fn few_values(column: &ArrayRef) -> Result<bool> {
    let head = column.slice(0, column.len().min(DISTINCT_PROBE));
    Ok(group(&[head])?.len() <= DISTINCT_PROBE / 8)
}

/// The distinct keys expected in `rows` rows drawn uniformly from `values` distinct keys.
pub(super) fn expected_groups(values: f64, rows: f64) -> f64 {
    if values.is_infinite() {
        return rows;
    }
    values * -(-rows / values).exp_m1()
}

/// Each row's hash of its key columns, combined column by column without encoding rows;
/// None when a column is of a type `value_hashes` does not take.
fn column_hashes(cols: &[ArrayRef], hasher: &FixedState) -> Option<Vec<u64>> {
    let mut out = vec![0u64; cols.first()?.len()];
    for col in cols {
        for (h, v) in out.iter_mut().zip(value_hashes(col, hasher)?) {
            *h = (h.rotate_left(26) ^ v).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    Some(out)
}

/// Each value's hash: integers (dates, times) by value, strings and binaries by their bytes
/// (a dictionary by its values', so that coded and plain columns agree); one fixed hash for
/// null; None for other types.
fn value_hashes(col: &ArrayRef, hasher: &FixedState) -> Option<Vec<u64>> {
    const NULL: u64 = 0x6e75_6c6c_6b65_7973;
    let n = col.len();
    let mut out: Vec<u64> = match (integer_values(col), value_bytes(col)) {
        (Some(values), _) => values.iter().map(|v| hasher.hash_one(v)).collect(),
        (None, Some(bytes)) => (0..n).map(|i| hasher.hash_one(bytes(i))).collect(),
        (None, None) => match col.data_type() {
            DataType::Dictionary(..) => {
                let dict = col.as_any_dictionary();
                let of_value = value_hashes(dict.values(), hasher)?;
                codes(dict).iter().map(|&c| of_value.get(c).copied().unwrap_or(NULL)).collect()
            }
            _ => return None,
        },
    };
    if let Some(nulls) = col.logical_nulls().filter(|m| m.null_count() > 0) {
        nulls.iter().zip(out.iter_mut()).filter(|(valid, _)| !valid).for_each(|(_, h)| *h = NULL);
    }
    Some(out)
}

/// Output buckets for rows by the hash of their keys (nulls of one integer key to bucket 0);
/// without keys, round robin from `start` (so inputs spread their first rows over different
/// buckets).
pub fn hash_buckets(batch: &RecordBatch, keys: &[String], buckets: usize) -> Result<Vec<RecordBatch>> {
    hash_buckets_seeded(batch, keys, buckets, SHUFFLE_SEED)
}

/// The seed of the shuffle's hash of keys.
const SHUFFLE_SEED: u64 = 0x5eed;

/// As [`hash_buckets`], by a hash of the keys seeded with `seed`: rows that one seed put in one
/// bucket spread over the buckets of another (a reducer splitting its bucket again).
pub fn hash_buckets_seeded(
    batch: &RecordBatch,
    keys: &[String],
    buckets: usize,
    seed: u64,
) -> Result<Vec<RecordBatch>> {
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
    let hasher = FixedState::with_seed(seed);
    let bucket = |h: u64| (h % buckets as u64) as usize;
    let mut picks = vec![Vec::with_capacity(n / buckets.max(1) + 16); buckets];
    match integer_key(&cols) {
        Some((values, nulls)) => {
            for (i, v) in values.iter().enumerate() {
                let b = if nulls.as_ref().is_some_and(|n| n.is_null(i)) { 0 } else { bucket(hasher.hash_one(v)) };
                picks[b].push(i as u32);
            }
        }
        None => match column_hashes(&cols, &hasher) {
            Some(hashes) => hashes.iter().enumerate().for_each(|(i, &h)| picks[bucket(h)].push(i as u32)),
            None => {
                for (i, row) in key_rows(&cols)?.iter().enumerate() {
                    picks[bucket(hasher.hash_one(row.data()))].push(i as u32);
                }
            }
        },
    }
    picks.into_iter().map(|p| take_rows(batch, p)).collect()
}

/// Rows `picks` of `batch`. A batch with lists (partial states that keep values: few rows, many
/// values each) is copied a run of rows at a time, each list's values in one piece, where
/// `take` would gather them value by value.
fn take_rows(batch: &RecordBatch, picks: Vec<u32>) -> Result<RecordBatch> {
    let lists = batch.columns().iter().any(|c| matches!(c.data_type(), DataType::List(_) | DataType::LargeList(_)));
    if !lists {
        return take_record_batch(batch, &UInt32Array::from(picks)).map_err(plan_err);
    }
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for &p in &picks {
        match runs.last_mut() {
            Some((_, end)) if *end == p as usize => *end += 1,
            _ => runs.push((p as usize, p as usize + 1)),
        }
    }
    let columns = batch
        .columns()
        .iter()
        .map(|c| {
            let data = c.to_data();
            // A list's values' room made once, not grown as they come.
            let capacity = match c.as_list_opt::<i32>() {
                Some(list) => {
                    let offsets = list.value_offsets();
                    let values: usize = runs.iter().map(|&(start, end)| (offsets[end] - offsets[start]) as usize).sum();
                    Capacities::List(picks.len(), Some(Box::new(Capacities::Array(values))))
                }
                None => Capacities::Array(picks.len()),
            };
            let mut out = MutableArrayData::with_capacities(vec![&data], false, capacity);
            for &(start, end) in &runs {
                out.try_extend(0, start, end).map_err(plan_err)?;
            }
            Ok(make_array(out.freeze()))
        })
        .collect::<Result<Vec<_>>>()?;
    let options = RecordBatchOptions::new().with_row_count(Some(picks.len()));
    RecordBatch::try_new_with_options(batch.schema(), columns, &options).map_err(plan_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_grouped_column_by_column_group_as_their_encoded_rows_do() {
        use arrow_array::types::Int8Type;
        use arrow_array::{DictionaryArray, Int32Array, Int64Array, StringArray, StringViewArray};
        use std::sync::Arc;
        let n = 5000;
        let pick = |i: usize, m: usize| (i * 7919 + i / 3) % m;
        let word = |i: usize, m: usize| (i % 11 != 3).then(|| format!("w{}", pick(i, m)));
        let s: ArrayRef = Arc::new(StringArray::from_iter((0..n).map(|i| word(i, 40))));
        let view: ArrayRef = Arc::new(StringViewArray::from_iter((0..n).map(|i| word(i + 1, 3000))));
        let ints: ArrayRef = Arc::new(Int64Array::from_iter((0..n).map(|i| (i % 5 != 0).then_some(pick(i, 9) as i64))));
        let wide: ArrayRef = Arc::new(Int32Array::from_iter_values((0..n).map(|i| (pick(i, 97) as i32) << 20)));
        let dwords: Vec<Option<String>> = (0..n).map(|i| word(i, 6)).collect();
        let dict: ArrayRef = Arc::new(dwords.iter().map(|w| w.as_deref()).collect::<DictionaryArray<Int8Type>>());
        // Without nulls (grouped by code), one value twice in the dictionary, and a slice.
        let codes = arrow_array::Int32Array::from_iter_values((0..n).map(|i| pick(i, 4) as i32));
        let values: ArrayRef = Arc::new(StringArray::from(vec!["b", "a", "b", "c"]));
        let coded: ArrayRef =
            Arc::new(DictionaryArray::<arrow_array::types::Int32Type>::try_new(codes, values).unwrap());
        let sliced = coded.slice(7, n - 20);
        let sets: [&[&ArrayRef]; 9] = [
            &[&s],
            &[&view],
            &[&dict],
            &[&s, &ints],
            &[&ints, &dict, &view, &wide],
            &[&wide, &s],
            &[&coded],
            &[&sliced],
            &[&coded, &dict],
        ];
        for keys in sets {
            let keys: Vec<ArrayRef> = keys.iter().map(|k| (*k).clone()).collect();
            let (fast, rows) = (group(&keys).unwrap(), group_rows(&keys).unwrap());
            assert!(fast.len() > 1);
            assert_eq!((&fast.of_row, &fast.first), (&rows.of_row, &rows.first), "{:?}", keys[0].data_type());
        }
        assert_eq!(group(&[coded]).unwrap().len(), 3, "b, a and c");
    }

    #[test]
    fn batches_of_lists_split_by_runs_of_rows_as_take_would() {
        use arrow_array::types::Int64Type;
        use arrow_array::{Int64Array, ListArray, StringArray};
        use arrow_schema::{Field, Schema};
        use std::sync::Arc;
        let lists =
            ListArray::from_iter_primitive::<Int64Type, _, _>((0..40i64).map(|i| {
                (i % 7 != 3).then(|| (0..i % 5).map(|v| (v % 3 != 1).then_some(i * 10 + v)).collect::<Vec<_>>())
            }));
        let keys = Int64Array::from_iter((0..40i64).map(|i| (i % 6 != 5).then_some(i / 3)));
        let names = StringArray::from_iter_values((0..40).map(|i| format!("n{i}")));
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, true),
            Field::new("v", lists.data_type().clone(), true),
            Field::new("s", DataType::Utf8, false),
        ]));
        let batch = RecordBatch::try_new(schema, vec![Arc::new(keys), Arc::new(lists), Arc::new(names)]).unwrap();
        let buckets = hash_buckets(&batch, &["k".to_string()], 3).unwrap();
        assert_eq!(buckets.iter().map(|b| b.num_rows()).sum::<usize>(), 40);
        for bucket in &buckets {
            // The same rows as a take of them, found by their unique names.
            let names = bucket.column(2).as_string::<i32>();
            let rows: Vec<u32> = names.iter().map(|n| n.unwrap()[1..].parse().unwrap()).collect();
            let taken = take_record_batch(&batch, &UInt32Array::from(rows)).unwrap();
            assert_eq!(bucket, &taken);
        }
        // A run of picks in a row, and none.
        assert_eq!(take_rows(&batch, (5..12).collect()).unwrap(), batch.slice(5, 7));
        assert_eq!(take_rows(&batch, vec![]).unwrap().num_rows(), 0);
    }

    #[test]
    fn coded_and_plain_keys_go_to_the_same_buckets() {
        use arrow_array::types::Int16Type;
        use arrow_array::{DictionaryArray, Int64Array, LargeStringArray, StringArray};
        use std::sync::Arc;
        let words: Vec<Option<&str>> =
            (0..3000).map(|i| (i % 13 != 0).then_some(["x", "yy", "z", ""][i % 4])).collect();
        let ints: ArrayRef = Arc::new(Int64Array::from_iter_values((0..3000).map(|i| i % 7)));
        let batch = |words: ArrayRef| RecordBatch::try_from_iter([("w", words), ("i", ints.clone())]).unwrap();
        let plain = batch(Arc::new(StringArray::from(words.clone())));
        let large = batch(Arc::new(LargeStringArray::from(words.clone())));
        let coded = batch(Arc::new(words.iter().copied().collect::<DictionaryArray<Int16Type>>()));
        let keys = ["w".to_string(), "i".to_string()];
        let rows_of = |b: &RecordBatch| -> Vec<usize> {
            hash_buckets(b, &keys, 5).unwrap().iter().map(|p| p.num_rows()).collect()
        };
        let counts = rows_of(&plain);
        assert!(counts.iter().filter(|&&c| c > 0).count() > 2, "{counts:?}");
        assert_eq!(rows_of(&large), counts);
        assert_eq!(rows_of(&coded), counts);
    }

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

    #[test]
    fn columns_of_many_groups_pack_in_rounds_that_fit_in_63_bits() {
        // Group numbers as columns of 2^22 groups each would give them (only their first
        // entries are looked at): three do not fit in 63 bits together.
        let n = 3000;
        let column = |m: usize, salt: usize| Groups {
            of_row: (0..n).map(|i| ((i * 7919 + salt) % m) as u32).collect(),
            first: vec![0; 1 << 22],
        };
        let parts = vec![column(5, 1), column(7, 2), column(11, 3), column(3, 4)];
        let tuples: Vec<Vec<u32>> = (0..n).map(|i| parts.iter().map(|p| p.of_row[i]).collect()).collect();
        let mut want = Groups { of_row: Vec::new(), first: Vec::new() };
        let mut seen: HashMap<&[u32], u32> = HashMap::new();
        for (i, t) in tuples.iter().enumerate() {
            let next = want.first.len() as u32;
            want.push(i, *seen.entry(t.as_slice()).or_insert(next));
        }
        let got = combine(parts);
        assert_eq!((got.of_row, got.first), (want.of_row, want.first));
    }
}
