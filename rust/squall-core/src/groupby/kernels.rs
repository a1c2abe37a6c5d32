//! Per-group accumulators: each takes a column and the row-to-group map and returns one value
//! per group. Nulls are skipped.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Decimal128Type, Float64Type, Int64Type, UInt64Type};
use arrow_array::ArrowNativeTypeOp;
use arrow_array::{
    Array, ArrayRef, ArrowPrimitiveType, Decimal128Array, Float64Array, Int64Array, ListArray, PrimitiveArray,
    UInt32Array, UInt64Array,
};
use arrow_buffer::OffsetBuffer;
use arrow_row::{RowConverter, SortField};
use arrow_schema::{DataType, Field, SortOptions};
use arrow_select::take::take;

use super::keys::{key_rows, Groups};
use super::plan_err;
use crate::Result;

/// `f` folded over each group's non-null values, from `init`.
fn fold<T: ArrowPrimitiveType>(
    a: &PrimitiveArray<T>,
    g: &Groups,
    init: T::Native,
    f: impl Fn(T::Native, T::Native) -> T::Native,
) -> Vec<T::Native> {
    fold_into(a, g, init, f)
}

/// `f` folded over each group's non-null values into an accumulator of its own type.
fn fold_into<T: ArrowPrimitiveType, A: Copy>(
    a: &PrimitiveArray<T>,
    g: &Groups,
    init: A,
    f: impl Fn(A, T::Native) -> A,
) -> Vec<A> {
    let mut acc = vec![init; g.len()];
    let values = a.values();
    match a.nulls().filter(|n| n.null_count() > 0) {
        None => {
            for (&v, &id) in values.iter().zip(&g.of_row) {
                acc[id as usize] = f(acc[id as usize], v);
            }
        }
        Some(nulls) => {
            for i in nulls.valid_indices() {
                let id = g.of_row[i] as usize;
                acc[id] = f(acc[id], values[i]);
            }
        }
    }
    acc
}

/// Non-null values per group (rows, without a column).
pub(super) fn count_valid(a: Option<&ArrayRef>, g: &Groups) -> Vec<u64> {
    let mut acc = vec![0u64; g.len()];
    match a.and_then(|a| a.logical_nulls()).filter(|n| n.null_count() > 0) {
        None => g.of_row.iter().for_each(|&id| acc[id as usize] += 1),
        Some(nulls) => nulls.valid_indices().for_each(|i| acc[g.of_row[i] as usize] += 1),
    }
    acc
}

/// Each row's count state: 1 where the value is not null (every row, without a column).
pub(super) fn ones(a: Option<&ArrayRef>, rows: usize) -> ArrayRef {
    Arc::new(match a.and_then(|a| a.logical_nulls()) {
        None => UInt64Array::from(vec![1u64; rows]),
        Some(nulls) => UInt64Array::from_iter_values(nulls.iter().map(u64::from)),
    })
}

pub(super) fn sum_u64(a: &ArrayRef, g: &Groups) -> ArrayRef {
    Arc::new(UInt64Array::from(fold(a.as_primitive::<UInt64Type>(), g, 0, |s, v| s + v)))
}

/// Sums of an Int64, Decimal128 or Float64 column (`what` names it in errors). A sum that does
/// not fit its type (int64; a decimal's 38 digits) is an error, never a wrapped value.
pub(super) fn sum_numeric(a: &ArrayRef, g: &Groups, what: &str) -> Result<ArrayRef> {
    let too_big = |kind: &str, fix: &str| {
        crate::Error::Plan(format!(
            "sum of {what:?}: a group's sum does not fit {kind}; cast the column to {fix} first"
        ))
    };
    Ok(match a.data_type() {
        DataType::Int64 => {
            // Wrapping sums are exact whenever the true sum fits, so only a batch where some
            // addition wrapped is summed again, wide, to see whether any group's sum does not.
            let wrapped = std::cell::Cell::new(false);
            let sums = fold(a.as_primitive::<Int64Type>(), g, 0, |s, v| {
                let (s, o) = s.overflowing_add(v);
                wrapped.set(wrapped.get() | o);
                s
            });
            if wrapped.get() {
                let wide = fold_into(a.as_primitive::<Int64Type>(), g, 0i128, |s, v| s + v as i128);
                if wide.iter().any(|s| i64::try_from(*s).is_err()) {
                    return Err(too_big("int64", "float64 or to a decimal"));
                }
            }
            Arc::new(Int64Array::from(sums))
        }
        DataType::Decimal128(p, s) => {
            let sums = fold_into(a.as_primitive::<Decimal128Type>(), g, Some(0i128), |acc, v| acc?.checked_add(v));
            let limit = 10u128.pow(*p as u32);
            let sums = sums.into_iter().map(|s| s.filter(|s| s.unsigned_abs() < limit));
            let sums: Option<Vec<i128>> = sums.collect();
            let sums = sums.ok_or_else(|| too_big(&format!("{p} digits"), "float64"))?;
            Arc::new(Decimal128Array::from(sums).with_precision_and_scale(*p, *s).map_err(plan_err)?)
        }
        _ => Arc::new(Float64Array::from(fold(a.as_primitive::<Float64Type>(), g, 0.0, |s, v| s + v))),
    })
}

/// (count, mean, M2) per group, in two passes: the mean first, then squared deviations from it.
pub(super) fn moments(a: &ArrayRef, g: &Groups) -> [ArrayRef; 3] {
    let values = a.as_primitive::<Float64Type>();
    let n = count_valid(Some(a), g);
    let sums = fold(values, g, 0.0, |s, v| s + v);
    let mean: Vec<f64> = sums.iter().zip(&n).map(|(s, &n)| if n > 0 { s / n as f64 } else { 0.0 }).collect();
    let mut m2 = vec![0f64; g.len()];
    let mut add = |i: usize, v: f64| {
        let id = g.of_row[i] as usize;
        m2[id] += (v - mean[id]) * (v - mean[id]);
    };
    match values.nulls().filter(|n| n.null_count() > 0) {
        None => values.values().iter().enumerate().for_each(|(i, &v)| add(i, v)),
        Some(nulls) => nulls.valid_indices().for_each(|i| add(i, values.value(i))),
    }
    [Arc::new(UInt64Array::from(n)), Arc::new(Float64Array::from(mean)), Arc::new(Float64Array::from(m2))]
}

/// Chan et al.'s parallel merge of (count, mean, M2) states.
pub(super) fn merge_moments(n: &ArrayRef, mean: &ArrayRef, m2: &ArrayRef, g: &Groups) -> [ArrayRef; 3] {
    let (n, mean, m2) =
        (n.as_primitive::<UInt64Type>(), mean.as_primitive::<Float64Type>(), m2.as_primitive::<Float64Type>());
    let mut acc = vec![(0u64, 0f64, 0f64); g.len()];
    for (i, &id) in g.of_row.iter().enumerate() {
        let (nb, mb, qb) = (n.value(i), mean.value(i), m2.value(i));
        if nb == 0 {
            continue;
        }
        let a = &mut acc[id as usize];
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
pub(super) fn pick(by: &ArrayRef, valid_of: Option<&ArrayRef>, g: &Groups, largest: bool) -> Result<UInt32Array> {
    if let Some(keys) = ordered_i64(by) {
        return Ok(pick_i64(&keys, by, valid_of, g, largest));
    }
    pick_rows(by, valid_of, g, largest)
}

/// `pick` by the row-encoded values of `by`.
fn pick_rows(by: &ArrayRef, valid_of: Option<&ArrayRef>, g: &Groups, largest: bool) -> Result<UInt32Array> {
    let options = SortOptions { descending: largest, nulls_first: false };
    let rows = RowConverter::new(vec![SortField::new_with_options(by.data_type().clone(), options)])
        .and_then(|c| c.convert_columns(std::slice::from_ref(by)))
        .map_err(plan_err)?;
    let mut best: Vec<Option<u32>> = vec![None; g.len()];
    let mut any: Vec<u32> = vec![0; g.len()];
    for (i, &id) in g.of_row.iter().enumerate() {
        any[id as usize] = i as u32;
        if !by.is_valid(i) || valid_of.is_some_and(|v| !v.is_valid(i)) {
            continue;
        }
        let slot = &mut best[id as usize];
        if slot.is_none_or(|b| rows.row(i) < rows.row(b as usize)) {
            *slot = Some(i as u32);
        }
    }
    Ok(best.iter().zip(any).map(|(b, a)| Some(b.unwrap_or(a))).collect())
}

/// Per group, the largest (or smallest) non-null value of a primitive column (floats in total
/// order, as `pick` orders them: NaN above every number), null for a group with none; None for
/// other types.
pub(super) fn extreme_values(a: &ArrayRef, g: &Groups, largest: bool) -> Option<ArrayRef> {
    fn fold_extremes<T: ArrowPrimitiveType>(a: &PrimitiveArray<T>, g: &Groups, largest: bool) -> ArrayRef {
        // Each group starts at the far end of the total order, so any value replaces it: no
        // per-row test of whether the group has a value yet.
        let start = if largest { T::Native::MIN_TOTAL_ORDER } else { T::Native::MAX_TOTAL_ORDER };
        let mut acc = vec![start; g.len()];
        let values = a.values();
        let seen = match a.nulls().filter(|n| n.null_count() > 0) {
            // Every group has a row, so a value, when none is null.
            None => {
                let rows = values.iter().zip(&g.of_row);
                match largest {
                    true => rows.for_each(|(&v, &id)| {
                        let best = &mut acc[id as usize];
                        if v.is_gt(*best) {
                            *best = v;
                        }
                    }),
                    false => rows.for_each(|(&v, &id)| {
                        let best = &mut acc[id as usize];
                        if v.is_lt(*best) {
                            *best = v;
                        }
                    }),
                }
                None
            }
            Some(nulls) => {
                let mut seen = vec![false; g.len()];
                for i in nulls.valid_indices() {
                    let (v, id) = (values[i], g.of_row[i] as usize);
                    if (largest && v.is_gt(acc[id])) || (!largest && v.is_lt(acc[id])) {
                        acc[id] = v;
                    }
                    seen[id] = true;
                }
                Some(seen.into())
            }
        };
        let out = PrimitiveArray::<T>::new(acc.into(), seen);
        Arc::new(out.with_data_type(a.data_type().clone()))
    }
    Some(arrow_array::downcast_primitive_array!(
        a => fold_extremes(a, g, largest),
        _ => return None
    ))
}

/// `pick` by i64 keys in the order of `by`'s values.
fn pick_i64(keys: &[i64], by: &ArrayRef, valid_of: Option<&ArrayRef>, g: &Groups, largest: bool) -> UInt32Array {
    let mut best: Vec<u32> = vec![u32::MAX; g.len()];
    let mut any: Vec<u32> = vec![0; g.len()];
    let valid = |a: &ArrayRef| a.logical_nulls().filter(|n| n.null_count() > 0);
    let (by_valid, of_valid) = (valid(by), valid_of.and_then(valid));
    for (i, (&id, &k)) in g.of_row.iter().zip(keys).enumerate() {
        let id = id as usize;
        any[id] = i as u32;
        if by_valid.as_ref().is_some_and(|n| n.is_null(i)) || of_valid.as_ref().is_some_and(|n| n.is_null(i)) {
            continue;
        }
        let b = best[id];
        if b == u32::MAX || (largest && k > keys[b as usize]) || (!largest && k < keys[b as usize]) {
            best[id] = i as u32;
        }
    }
    best.iter().zip(any).map(|(&b, a)| Some(if b == u32::MAX { a } else { b })).collect()
}

/// The values of a numeric (or date/time) column as i64 in the same order as Arrow's row
/// format gives them (floats in IEEE total order: -NaN, -inf, ..., -0, 0, ..., inf, NaN);
/// None for other types.
pub(super) fn ordered_i64(a: &ArrayRef) -> Option<Vec<i64>> {
    let total = |bits: i64| bits ^ (((bits >> 63) as u64) >> 1) as i64;
    Some(match a.data_type() {
        DataType::UInt64 => a.as_primitive::<UInt64Type>().values().iter().map(|&v| (v ^ (1 << 63)) as i64).collect(),
        DataType::Float64 => {
            a.as_primitive::<Float64Type>().values().iter().map(|v| total(v.to_bits() as i64)).collect()
        }
        DataType::Float32 => {
            let values = a.as_primitive::<arrow_array::types::Float32Type>().values();
            values.iter().map(|v| total((v.to_bits() as i32) as i64)).collect()
        }
        _ => crate::native::integer_values(a)?.into_owned(),
    })
}

/// Per group, whether any non-null value is true (`any`), or whether every one is (else).
pub(super) fn any_all(values: &ArrayRef, g: &Groups, any: bool) -> ArrayRef {
    let values = values.as_boolean();
    let mut acc = vec![!any; g.len()];
    for (i, &id) in g.of_row.iter().enumerate() {
        if values.is_valid(i) && values.value(i) == any {
            acc[id as usize] = any;
        }
    }
    Arc::new(arrow_array::BooleanArray::from(acc))
}

/// Each row's value as a set of one (or none, for null).
pub(super) fn singletons(values: &ArrayRef) -> Result<ArrayRef> {
    let valid = arrow_arith::boolean::is_not_null(values).map_err(plan_err)?;
    let kept = arrow_select::filter::filter(values, &valid).map_err(plan_err)?;
    let lengths = (0..values.len()).map(|i| values.is_valid(i) as usize);
    let offsets = OffsetBuffer::<i32>::from_lengths(lengths);
    let field = Arc::new(Field::new_list_field(values.data_type().clone(), true));
    Ok(Arc::new(ListArray::try_new(field, offsets, kept, None).map_err(plan_err)?))
}

/// The union of the sets of each group's rows.
pub(super) fn union_sets(sets: &ArrayRef, g: &Groups) -> Result<ArrayRef> {
    let sets = sets.as_list::<i32>();
    let values = sets.values();
    let rows = key_rows(std::slice::from_ref(values))?;
    let mut seen: Vec<std::collections::HashSet<&[u8], foldhash::fast::FixedState>> =
        (0..g.len()).map(|_| Default::default()).collect();
    let mut members: Vec<Vec<u32>> = vec![Vec::new(); g.len()];
    for (i, &id) in g.of_row.iter().enumerate() {
        let (start, end) = (sets.value_offsets()[i] as usize, sets.value_offsets()[i + 1] as usize);
        for v in start..end {
            if seen[id as usize].insert(rows.row(v).data()) {
                members[id as usize].push(v as u32);
            }
        }
    }
    let offsets = OffsetBuffer::<i32>::from_lengths(members.iter().map(Vec::len));
    let picks = UInt32Array::from_iter_values(members.into_iter().flatten());
    let picked = take(values, &picks, None).map_err(plan_err)?;
    let field = Arc::new(Field::new_list_field(values.data_type().clone(), true));
    Ok(Arc::new(ListArray::try_new(field, offsets, picked, None).map_err(plan_err)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Float32Array, Int16Array};

    #[test]
    fn numbers_pick_the_same_rows_as_their_encoded_rows_do() {
        let g = Groups { of_row: vec![0, 1, 0, 1, 0, 1, 2, 2, 0, 1, 3], first: vec![0, 1, 6, 10] };
        let f = [f64::NAN, -0.0, 0.0, -f64::NAN, -1.5, f64::INFINITY, 2.0, 2.0, f64::NEG_INFINITY, 0.0, 1.0];
        let floats: ArrayRef =
            Arc::new(Float64Array::from_iter(f.iter().enumerate().map(|(i, &v)| (i != 7).then_some(v))));
        let small: ArrayRef = Arc::new(Float32Array::from_iter_values(f.iter().map(|&v| v as f32)));
        let big: ArrayRef =
            Arc::new(UInt64Array::from_iter_values((0..11u64).map(|i| i.wrapping_mul(0x3fff_ffff_ffff_ffff) ^ 5)));
        let ties: ArrayRef = Arc::new(Int16Array::from_iter((0..11i16).map(|i| (i % 4 != 0).then_some(i % 2))));
        let none: ArrayRef = Arc::new(Float64Array::from(vec![None::<f64>; 11]));
        for by in [&floats, &small, &big, &ties, &none] {
            for largest in [false, true] {
                for valid_of in [None, Some(&ties)] {
                    if valid_of.is_none() {
                        let folded = extreme_values(by, &g, largest).unwrap();
                        let picked = take(by, &pick_rows(by, None, &g, largest).unwrap(), None).unwrap();
                        assert_eq!(&folded, &picked, "{} {largest}", by.data_type());
                    }
                    let fast = pick(by, valid_of, &g, largest).unwrap();
                    assert_eq!(fast, pick_rows(by, valid_of, &g, largest).unwrap(), "{} {largest}", by.data_type());
                }
            }
        }
    }
}
