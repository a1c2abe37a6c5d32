//! Hash aggregation on row-encoded keys, in two phases that share one kernel.
//!
//! Every aggregate has a *state* (e.g. mean: sum and count). A map task lifts each row into a
//! state and merges states per group (partial aggregation); a reducer merges the partial states
//! of its groups and finishes them into the answer. Nulls are skipped, as in polars and pandas:
//! `count` counts non-null values, `sum` of nothing is 0, `mean`/`min`/`std` of nothing is null.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, UInt64Type};
use arrow_array::{ArrayRef, Float64Array, Int64Array, ListArray, RecordBatch, UInt32Array, UInt64Array};
use arrow_buffer::OffsetBuffer;
use arrow_cast::{cast, cast_with_options, CastOptions};
use arrow_row::{RowConverter, Rows, SortField};
use arrow_schema::{DataType, Field, Schema, SchemaRef, SortOptions};
use arrow_select::take::{take, take_record_batch};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// An aggregate function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AggFunc {
    /// Non-null values (or rows, without a column).
    Count,
    /// Distinct non-null values (exact).
    CountDistinct,
    /// Sum of values (0 when none).
    Sum,
    /// Arithmetic mean.
    Mean,
    /// Smallest value.
    Min,
    /// Largest value.
    Max,
    /// Sample standard deviation (ddof = 1).
    Std,
    /// Sample variance (ddof = 1).
    Var,
    /// First non-null value in input order.
    First,
    /// Last non-null value in input order.
    Last,
}

/// One named aggregate: `name = func(column)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agg {
    /// Output column name.
    pub name: String,
    /// Input column; None counts rows.
    pub column: Option<String>,
    /// The function.
    pub func: AggFunc,
}

/// A group-by: key columns and aggregates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupBy {
    /// Key columns.
    pub keys: Vec<String>,
    /// Aggregates.
    pub aggs: Vec<Agg>,
}

fn plan_err(e: arrow_schema::ArrowError) -> Error {
    Error::Plan(format!("group by: {e}"))
}

fn column(batch: &RecordBatch, name: &str) -> Result<ArrayRef> {
    batch.column_by_name(name).cloned().ok_or_else(|| {
        let names: Vec<&str> = batch.schema_ref().fields().iter().map(|f| f.name().as_str()).collect();
        Error::Plan(format!("no column named {name:?} to group or aggregate; the columns are {names:?}"))
    })
}

/// Groups of a batch: each row's group, and each group's first row.
struct Groups {
    of_row: Vec<u32>,
    first: Vec<u32>,
}

/// Row-encoded `columns` (ascending, nulls last): equal keys give equal bytes.
fn key_rows(columns: &[ArrayRef]) -> Result<Rows> {
    let fields = columns.iter().map(|k| SortField::new(k.data_type().clone())).collect();
    RowConverter::new(fields).and_then(|c| c.convert_columns(columns)).map_err(plan_err)
}

fn group(keys: &[ArrayRef]) -> Result<Groups> {
    if let [key] = keys {
        if let Some(groups) = integer_key(key, |values| group_values(values)) {
            return Ok(groups);
        }
    }
    let rows = key_rows(keys)?;
    let mut ids: HashMap<&[u8], u32, foldhash::fast::FixedState> = HashMap::default();
    let mut of_row = Vec::with_capacity(rows.num_rows());
    let mut first = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let next = first.len() as u32;
        let id = *ids.entry(row.data()).or_insert(next);
        if id == next {
            first.push(i as u32);
        }
        of_row.push(id);
    }
    Ok(Groups { of_row, first })
}

/// Leading rows grouped to judge whether a partial aggregation pays.
const DISTINCT_PROBE: usize = 8192;

/// Whether nearly every row has a key of its own, judged on the leading rows: then a map task's
/// partial aggregation would cost a hash pass and save almost nothing. (Keys that repeat only
/// far apart are judged distinct; the reducers merge them all the same.)
fn mostly_distinct(keys: &[ArrayRef]) -> Result<bool> {
    let n = keys.first().map_or(0, |k| k.len());
    if keys.is_empty() || n < DISTINCT_PROBE {
        return Ok(false);
    }
    let head: Vec<ArrayRef> = keys.iter().map(|k| k.slice(0, DISTINCT_PROBE)).collect();
    Ok(group(&head)?.first.len() * 10 > DISTINCT_PROBE * 9)
}

/// Applies `f` to a single integer (or date/time) key column's values, with nulls as `None`;
/// `None` for other types. One integer key is the common case, and hashing its values directly
/// skips encoding every row.
fn integer_key<R>(key: &ArrayRef, f: impl FnOnce(&mut dyn Iterator<Item = Option<i64>>) -> R) -> Option<R> {
    use arrow_array::types::*;
    macro_rules! run {
        ($t:ty) => {
            f(&mut key.as_primitive::<$t>().iter().map(|v| v.map(|v| v as i64)))
        };
    }
    Some(match key.data_type() {
        DataType::Int8 => run!(Int8Type),
        DataType::Int16 => run!(Int16Type),
        DataType::Int32 => run!(Int32Type),
        DataType::Int64 => run!(Int64Type),
        DataType::UInt8 => run!(UInt8Type),
        DataType::UInt16 => run!(UInt16Type),
        DataType::UInt32 => run!(UInt32Type),
        // u64 keys map to i64 by bits: still one value per key.
        DataType::UInt64 => run!(UInt64Type),
        DataType::Date32 => run!(Date32Type),
        DataType::Date64 => run!(Date64Type),
        _ => return None,
    })
}

fn group_values(values: &mut dyn Iterator<Item = Option<i64>>) -> Groups {
    let mut ids: HashMap<Option<i64>, u32, foldhash::fast::FixedState> = HashMap::default();
    let (mut of_row, mut first) = (Vec::new(), Vec::new());
    for (i, v) in values.enumerate() {
        let next = first.len() as u32;
        let id = *ids.entry(v).or_insert(next);
        if id == next {
            first.push(i as u32);
        }
        of_row.push(id);
    }
    Groups { of_row, first }
}

/// Output buckets for rows by the hash of their key rows; without keys, round robin from
/// `start` (so inputs spread their first rows over different buckets).
pub fn hash_buckets(batch: &RecordBatch, keys: &[String], buckets: usize) -> Result<Vec<RecordBatch>> {
    if keys.is_empty() {
        let n = batch.num_rows();
        let start = n % buckets.max(1);
        return (0..buckets)
            .map(|b| {
                let picks = ((b + buckets - start) % buckets..n).step_by(buckets).map(|i| i as u32);
                take_record_batch(batch, &UInt32Array::from_iter_values(picks)).map_err(plan_err)
            })
            .collect();
    }
    let cols = keys.iter().map(|k| column(batch, k)).collect::<Result<Vec<_>>>()?;
    let hasher = foldhash::fast::FixedState::with_seed(0x5eed);
    let mut picks = vec![Vec::new(); buckets];
    let by_value = match cols.as_slice() {
        [key] => integer_key(key, |values| {
            for (i, v) in values.enumerate() {
                picks[(hasher.hash_one(v) % buckets as u64) as usize].push(i as u32);
            }
        }),
        _ => None,
    };
    if by_value.is_none() {
        let rows = key_rows(&cols)?;
        for (i, row) in rows.iter().enumerate() {
            picks[(hasher.hash_one(row.data()) % buckets as u64) as usize].push(i as u32);
        }
    }
    picks.into_iter().map(|p| take_record_batch(batch, &UInt32Array::from(p)).map_err(plan_err)).collect()
}

fn state_fields(agg: &Agg, value: Option<&DataType>) -> Result<Vec<Field>> {
    let f = |suffix: &str, t: DataType| Field::new(format!("{}__{suffix}", agg.name), t, true);
    let numeric = |t: Option<&DataType>| -> Result<DataType> {
        match t {
            Some(t) if t.is_integer() => Ok(DataType::Int64),
            Some(t) if t.is_floating() || matches!(t, DataType::Decimal128(..)) => Ok(DataType::Float64),
            Some(t) => Err(Error::Plan(format!("{} of {:?} needs numbers, not {t}", agg_name(agg.func), agg.column))),
            None => Err(Error::Plan(format!("{} needs a column", agg_name(agg.func)))),
        }
    };
    Ok(match agg.func {
        AggFunc::Count => vec![f("n", DataType::UInt64)],
        AggFunc::CountDistinct => {
            let t = value.ok_or_else(|| Error::Plan("count_distinct needs a column".into()))?;
            vec![f("set", DataType::List(Arc::new(Field::new_list_field(t.clone(), true))))]
        }
        AggFunc::Sum => vec![f("sum", numeric(value)?)],
        AggFunc::Mean => {
            numeric(value)?;
            vec![f("sum", DataType::Float64), f("n", DataType::UInt64)]
        }
        AggFunc::Std | AggFunc::Var => {
            numeric(value)?;
            vec![f("n", DataType::UInt64), f("mean", DataType::Float64), f("m2", DataType::Float64)]
        }
        AggFunc::Min | AggFunc::Max => {
            let t = value.ok_or_else(|| Error::Plan(format!("{} needs a column", agg_name(agg.func))))?;
            vec![f("v", t.clone())]
        }
        AggFunc::First | AggFunc::Last => {
            let t = value.ok_or_else(|| Error::Plan(format!("{} needs a column", agg_name(agg.func))))?;
            vec![f("v", t.clone()), f("ord", DataType::UInt64)]
        }
    })
}

fn agg_name(f: AggFunc) -> &'static str {
    match f {
        AggFunc::Count => "count",
        AggFunc::CountDistinct => "count_distinct",
        AggFunc::Sum => "sum",
        AggFunc::Mean => "mean",
        AggFunc::Min => "min",
        AggFunc::Max => "max",
        AggFunc::Std => "std",
        AggFunc::Var => "var",
        AggFunc::First => "first",
        AggFunc::Last => "last",
    }
}

impl GroupBy {
    /// Partial aggregation of one input partition: key columns, then each aggregate's state.
    /// `partition` orders `first`/`last` across partitions.
    pub fn partial(&self, batch: &RecordBatch, partition: u64) -> Result<RecordBatch> {
        let n = batch.num_rows();
        let mut lifted: Vec<ArrayRef> = self.keys.iter().map(|k| column(batch, k)).collect::<Result<_>>()?;
        let mut fields: Vec<Field> =
            lifted.iter().zip(&self.keys).map(|(a, k)| Field::new(k, a.data_type().clone(), true)).collect();
        for agg in &self.aggs {
            let value = agg.column.as_deref().map(|c| column(batch, c)).transpose()?;
            let valid = |i: usize| value.as_ref().is_none_or(|v| v.is_valid(i));
            let as_f64 = || -> Result<Float64Array> {
                let v = value.as_ref().expect("checked by state_fields");
                Ok(cast(v, &DataType::Float64).map_err(plan_err)?.as_primitive::<Float64Type>().clone())
            };
            fields.extend(state_fields(agg, value.as_ref().map(|v| v.data_type()))?);
            let ones: ArrayRef = Arc::new(UInt64Array::from_iter_values((0..n).map(|i| valid(i) as u64)));
            match agg.func {
                AggFunc::Count => lifted.push(ones),
                AggFunc::CountDistinct => lifted.push(singletons(value.as_ref().expect("checked"))?),
                AggFunc::Sum => {
                    let v = value.as_ref().expect("checked");
                    let t = if v.data_type().is_integer() { DataType::Int64 } else { DataType::Float64 };
                    // Nulls add nothing.
                    // A value that does not fit (a u64 above i64::MAX) is an error, never a null.
                    let strict = CastOptions { safe: false, ..Default::default() };
                    let widened = cast_with_options(v, &t, &strict).map_err(|e| {
                        Error::Plan(format!("sum of {:?}: {e}; cast the column to float64 first", agg.column))
                    })?;
                    lifted.push(fill_null_zero(&widened)?);
                }
                AggFunc::Mean => {
                    lifted.push(fill_null_zero(&(Arc::new(as_f64()?) as ArrayRef))?);
                    lifted.push(ones);
                }
                AggFunc::Std | AggFunc::Var => {
                    lifted.push(ones);
                    lifted.push(fill_null_zero(&(Arc::new(as_f64()?) as ArrayRef))?);
                    lifted.push(Arc::new(Float64Array::from(vec![0.0; n])));
                }
                AggFunc::Min | AggFunc::Max => lifted.push(value.clone().expect("checked")),
                AggFunc::First | AggFunc::Last => {
                    lifted.push(value.clone().expect("checked"));
                    let ord = (0..n as u64).map(|i| (partition << 40) | i);
                    lifted.push(Arc::new(UInt64Array::from_iter_values(ord)));
                }
            }
        }
        let lifted = RecordBatch::try_new(Arc::new(Schema::new(fields)), lifted).map_err(plan_err)?;
        if mostly_distinct(&lifted.columns()[..self.keys.len()])? {
            // Merging would barely shrink the states: leave it all to the reducers.
            return Ok(lifted);
        }
        self.merge(&lifted)
    }

    /// Merges states (rows of partial results) by key: the same layout, one row per group.
    pub fn merge(&self, states: &RecordBatch) -> Result<RecordBatch> {
        let keys = self.keys.iter().map(|k| column(states, k)).collect::<Result<Vec<_>>>()?;
        let g = group(&keys)?;
        let groups = g.first.len();
        let firsts = UInt32Array::from(g.first.clone());
        let mut out: Vec<ArrayRef> =
            keys.iter().map(|k| take(k, &firsts, None).map_err(plan_err)).collect::<Result<_>>()?;
        let mut at = self.keys.len();
        for agg in &self.aggs {
            let col = |j: usize| states.column(at + j).clone();
            match agg.func {
                AggFunc::Count => out.push(sum_u64(&col(0), &g.of_row, groups)),
                AggFunc::CountDistinct => out.push(union_sets(&col(0), &g.of_row, groups)?),
                AggFunc::Sum => out.push(sum_numeric(&col(0), &g.of_row, groups)),
                AggFunc::Mean => {
                    out.push(sum_numeric(&col(0), &g.of_row, groups));
                    out.push(sum_u64(&col(1), &g.of_row, groups));
                }
                AggFunc::Std | AggFunc::Var => out.extend(merge_moments(&col(0), &col(1), &col(2), &g.of_row, groups)),
                AggFunc::Min | AggFunc::Max => {
                    let best = pick(&col(0), None, &g.of_row, groups, agg.func == AggFunc::Max)?;
                    out.push(take(&col(0), &best, None).map_err(plan_err)?);
                }
                AggFunc::First | AggFunc::Last => {
                    let best = pick(&col(1), Some(&col(0)), &g.of_row, groups, agg.func == AggFunc::Last)?;
                    out.push(take(&col(0), &best, None).map_err(plan_err)?);
                    out.push(take(&col(1), &best, None).map_err(plan_err)?);
                }
            }
            at += state_width(agg.func);
        }
        RecordBatch::try_new(states.schema(), out).map_err(plan_err)
    }

    /// Turns merged states into the answer: key columns, then one column per aggregate.
    pub fn finish(&self, states: &RecordBatch) -> Result<RecordBatch> {
        let mut fields: Vec<Field> = Vec::new();
        let mut out: Vec<ArrayRef> = Vec::new();
        for k in &self.keys {
            let c = column(states, k)?;
            fields.push(Field::new(k, c.data_type().clone(), true));
            out.push(c);
        }
        let mut at = self.keys.len();
        for agg in &self.aggs {
            let col = |j: usize| states.column(at + j).clone();
            let result: ArrayRef = match agg.func {
                AggFunc::Count => cast(&col(0), &DataType::Int64).map_err(plan_err)?,
                AggFunc::CountDistinct => {
                    let sets = col(0);
                    let sets = sets.as_list::<i32>();
                    Arc::new(Int64Array::from_iter_values(sets.offsets().lengths().map(|n| n as i64)))
                }
                AggFunc::Sum | AggFunc::Min | AggFunc::Max | AggFunc::First | AggFunc::Last => col(0),
                AggFunc::Mean => {
                    let (s, n) = (col(0), col(1));
                    let (s, n) = (s.as_primitive::<Float64Type>(), n.as_primitive::<UInt64Type>());
                    Arc::new(
                        s.iter()
                            .zip(n.iter())
                            .map(|(s, n)| match (s, n) {
                                (Some(s), Some(n)) if n > 0 => Some(s / n as f64),
                                _ => None,
                            })
                            .collect::<Float64Array>(),
                    )
                }
                AggFunc::Std | AggFunc::Var => {
                    let (n, m2) = (col(0), col(2));
                    let (n, m2) = (n.as_primitive::<UInt64Type>(), m2.as_primitive::<Float64Type>());
                    let sqrt = agg.func == AggFunc::Std;
                    Arc::new(
                        n.iter()
                            .zip(m2.iter())
                            .map(|(n, m2)| match (n, m2) {
                                (Some(n), Some(m2)) if n > 1 => {
                                    let var = m2 / (n - 1) as f64;
                                    Some(if sqrt { var.sqrt() } else { var })
                                }
                                _ => None,
                            })
                            .collect::<Float64Array>(),
                    )
                }
            };
            fields.push(Field::new(&agg.name, result.data_type().clone(), true));
            out.push(result);
            at += state_width(agg.func);
        }
        RecordBatch::try_new(Arc::new(Schema::new(fields)), out).map_err(plan_err)
    }

    /// The schema of the answer for input `schema` (checks columns and types).
    pub fn check(&self, schema: &SchemaRef) -> Result<()> {
        let empty = RecordBatch::new_empty(schema.clone());
        self.partial(&empty, 0).map(|_| ())
    }
}

/// Columns in an aggregate's state.
fn state_width(f: AggFunc) -> usize {
    match f {
        AggFunc::Count | AggFunc::CountDistinct | AggFunc::Sum | AggFunc::Min | AggFunc::Max => 1,
        AggFunc::Mean | AggFunc::First | AggFunc::Last => 2,
        AggFunc::Std | AggFunc::Var => 3,
    }
}

/// Each row's value as a set of one (or none, for null).
fn singletons(values: &ArrayRef) -> Result<ArrayRef> {
    let valid = arrow_arith::boolean::is_not_null(values).map_err(plan_err)?;
    let kept = arrow_select::filter::filter(values, &valid).map_err(plan_err)?;
    let lengths = (0..values.len()).map(|i| values.is_valid(i) as usize);
    let offsets = OffsetBuffer::<i32>::from_lengths(lengths);
    let field = Arc::new(Field::new_list_field(values.data_type().clone(), true));
    Ok(Arc::new(ListArray::try_new(field, offsets, kept, None).map_err(plan_err)?))
}

/// The union of the sets of each group's rows.
fn union_sets(sets: &ArrayRef, of_row: &[u32], groups: usize) -> Result<ArrayRef> {
    let sets = sets.as_list::<i32>();
    let values = sets.values();
    let rows = key_rows(std::slice::from_ref(values))?;
    let mut seen: Vec<std::collections::HashSet<&[u8], foldhash::fast::FixedState>> =
        (0..groups).map(|_| Default::default()).collect();
    let mut members: Vec<Vec<u32>> = vec![Vec::new(); groups];
    for (i, &g) in of_row.iter().enumerate() {
        let (start, end) = (sets.value_offsets()[i] as usize, sets.value_offsets()[i + 1] as usize);
        for v in start..end {
            if seen[g as usize].insert(rows.row(v).data()) {
                members[g as usize].push(v as u32);
            }
        }
    }
    let offsets = OffsetBuffer::<i32>::from_lengths(members.iter().map(Vec::len));
    let picks = UInt32Array::from_iter_values(members.into_iter().flatten());
    let picked = take(values, &picks, None).map_err(plan_err)?;
    let field = Arc::new(Field::new_list_field(values.data_type().clone(), true));
    Ok(Arc::new(ListArray::try_new(field, offsets, picked, None).map_err(plan_err)?))
}

fn fill_null_zero(a: &ArrayRef) -> Result<ArrayRef> {
    Ok(match a.data_type() {
        DataType::Int64 => {
            Arc::new(a.as_primitive::<Int64Type>().iter().map(|v| v.unwrap_or(0)).collect::<Int64Array>())
        }
        _ => Arc::new(a.as_primitive::<Float64Type>().iter().map(|v| v.unwrap_or(0.0)).collect::<Float64Array>()),
    })
}

fn sum_u64(a: &ArrayRef, of_row: &[u32], groups: usize) -> ArrayRef {
    let mut acc = vec![0u64; groups];
    for (v, &g) in a.as_primitive::<UInt64Type>().values().iter().zip(of_row) {
        acc[g as usize] += v;
    }
    Arc::new(UInt64Array::from(acc))
}

fn sum_numeric(a: &ArrayRef, of_row: &[u32], groups: usize) -> ArrayRef {
    match a.data_type() {
        DataType::Int64 => {
            let mut acc = vec![0i64; groups];
            for (v, &g) in a.as_primitive::<Int64Type>().values().iter().zip(of_row) {
                acc[g as usize] = acc[g as usize].wrapping_add(*v);
            }
            Arc::new(Int64Array::from(acc))
        }
        _ => {
            let mut acc = vec![0f64; groups];
            for (v, &g) in a.as_primitive::<Float64Type>().values().iter().zip(of_row) {
                acc[g as usize] += v;
            }
            Arc::new(Float64Array::from(acc))
        }
    }
}

/// Chan et al.'s parallel merge of (count, mean, M2).
fn merge_moments(n: &ArrayRef, mean: &ArrayRef, m2: &ArrayRef, of_row: &[u32], groups: usize) -> [ArrayRef; 3] {
    let (n, mean, m2) =
        (n.as_primitive::<UInt64Type>(), mean.as_primitive::<Float64Type>(), m2.as_primitive::<Float64Type>());
    let mut acc = vec![(0u64, 0f64, 0f64); groups];
    for i in 0..of_row.len() {
        let (nb, mb, qb) = (n.value(i), mean.value(i), m2.value(i));
        if nb == 0 {
            continue;
        }
        let a = &mut acc[of_row[i] as usize];
        let total = a.0 + nb;
        let delta = mb - a.1;
        a.1 += delta * nb as f64 / total as f64;
        a.2 += qb + delta * delta * a.0 as f64 * nb as f64 / total as f64;
        a.0 = total;
    }
    [
        Arc::new(UInt64Array::from_iter_values(acc.iter().map(|a| a.0))),
        Arc::new(Float64Array::from_iter_values(acc.iter().map(|a| a.1))),
        Arc::new(Float64Array::from_iter_values(acc.iter().map(|a| a.2))),
    ]
}

/// Per group, the row with the smallest (or largest) `by`, skipping rows where `by` (or
/// `valid_of`) is null; groups with no such row pick a null row if any.
fn pick(
    by: &ArrayRef,
    valid_of: Option<&ArrayRef>,
    of_row: &[u32],
    groups: usize,
    largest: bool,
) -> Result<UInt32Array> {
    let options = SortOptions { descending: largest, nulls_first: false };
    let rows = RowConverter::new(vec![SortField::new_with_options(by.data_type().clone(), options)])
        .and_then(|c| c.convert_columns(std::slice::from_ref(by)))
        .map_err(plan_err)?;
    let mut best: Vec<Option<u32>> = vec![None; groups];
    let mut any: Vec<u32> = vec![0; groups];
    for (i, &g) in of_row.iter().enumerate() {
        any[g as usize] = i as u32;
        if !by.is_valid(i) || valid_of.is_some_and(|v| !v.is_valid(i)) {
            continue;
        }
        let slot = &mut best[g as usize];
        if slot.is_none_or(|b| rows.row(i) < rows.row(b as usize)) {
            *slot = Some(i as u32);
        }
    }
    Ok(best.iter().zip(any).map(|(b, a)| Some(b.unwrap_or(a))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::StringArray;

    #[test]
    fn two_phase_aggregation_matches_one_phase() {
        let k: ArrayRef = Arc::new(StringArray::from(vec![Some("a"), Some("b"), Some("a"), None, Some("a")]));
        let v: ArrayRef = Arc::new(Int64Array::from(vec![Some(1), Some(5), None, Some(7), Some(3)]));
        let batch = RecordBatch::try_from_iter([("k", k), ("v", v)]).unwrap();
        let agg = |name: &str, func| Agg { name: name.into(), column: Some("v".into()), func };
        let gb = GroupBy {
            keys: vec!["k".into()],
            aggs: vec![
                agg("n", AggFunc::Count),
                Agg { name: "rows".into(), column: None, func: AggFunc::Count },
                agg("sum", AggFunc::Sum),
                agg("mean", AggFunc::Mean),
                agg("min", AggFunc::Min),
                agg("max", AggFunc::Max),
                agg("var", AggFunc::Var),
                agg("first", AggFunc::First),
                agg("last", AggFunc::Last),
                agg("distinct", AggFunc::CountDistinct),
            ],
        };
        let one = gb.finish(&gb.partial(&batch, 0).unwrap()).unwrap();
        let parts = [gb.partial(&batch.slice(0, 2), 0).unwrap(), gb.partial(&batch.slice(2, 3), 1).unwrap()];
        let states = arrow_select::concat::concat_batches(&parts[0].schema(), &parts).unwrap();
        let two = gb.finish(&gb.merge(&states).unwrap()).unwrap();
        assert_eq!(one, two);
        // Group "a": values 1, null, 3.
        let col = |name: &str| one.column_by_name(name).unwrap().clone();
        assert_eq!(col("n").as_primitive::<Int64Type>().value(0), 2);
        assert_eq!(col("rows").as_primitive::<Int64Type>().value(0), 3);
        assert_eq!(col("sum").as_primitive::<Int64Type>().value(0), 4);
        assert_eq!(col("mean").as_primitive::<Float64Type>().value(0), 2.0);
        assert_eq!(col("min").as_primitive::<Int64Type>().value(0), 1);
        assert_eq!(col("max").as_primitive::<Int64Type>().value(0), 3);
        assert_eq!(col("var").as_primitive::<Float64Type>().value(0), 2.0);
        assert_eq!(col("first").as_primitive::<Int64Type>().value(0), 1);
        assert_eq!(col("last").as_primitive::<Int64Type>().value(0), 3);
        assert_eq!(col("distinct").as_primitive::<Int64Type>().value(0), 2);
        assert!(col("var").is_null(1), "one value has no sample variance");
        assert_eq!(one.num_rows(), 3, "null is a group of its own");
    }

    #[test]
    fn map_tasks_skip_merging_when_keys_barely_repeat() {
        let gb = GroupBy {
            keys: vec!["k".into()],
            aggs: vec![Agg { name: "s".into(), column: Some("v".into()), func: AggFunc::Sum }],
        };
        let batch = |keys: Vec<i64>| {
            let v: ArrayRef = Arc::new(Int64Array::from(vec![1; keys.len()]));
            RecordBatch::try_from_iter([("k", Arc::new(Int64Array::from(keys)) as ArrayRef), ("v", v)]).unwrap()
        };
        // Every key twice: merging would halve the states, so it happens.
        let repeated = batch((0..10_000).map(|i| i / 2).collect());
        assert_eq!(gb.partial(&repeated, 0).unwrap().num_rows(), 5_000);
        // Nearly every key once: the states go out unmerged, and the reducer's merge is right.
        let distinct = batch((0..10_000).map(|i| if i % 100 == 0 { 0 } else { i }).collect());
        let states = gb.partial(&distinct, 0).unwrap();
        assert_eq!(states.num_rows(), 10_000);
        let done = gb.finish(&gb.merge(&states).unwrap()).unwrap();
        assert_eq!(done.num_rows(), 9_901);
        let sums = done.column(1).as_primitive::<Int64Type>();
        assert_eq!(sums.iter().flatten().sum::<i64>(), 10_000);
        assert_eq!(sums.value(0), 100, "key 0 collected its 100 rows");
    }

    #[test]
    fn a_sum_that_cannot_be_widened_is_an_error_not_a_null() {
        let k: ArrayRef = Arc::new(Int64Array::from(vec![1, 1]));
        let v: ArrayRef = Arc::new(UInt64Array::from(vec![u64::MAX, 1]));
        let batch = RecordBatch::try_from_iter([("k", k), ("v", v)]).unwrap();
        let gb = GroupBy {
            keys: vec!["k".into()],
            aggs: vec![Agg { name: "s".into(), column: Some("v".into()), func: AggFunc::Sum }],
        };
        let err = gb.partial(&batch, 0).unwrap_err().to_string();
        assert!(err.contains("float64"), "{err}");
    }
}
