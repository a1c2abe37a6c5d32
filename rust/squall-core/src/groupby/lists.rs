//! Aggregates that keep values, not a summary: all of each group's values (median and
//! quantiles, exact: sorted when they finish) or only its k largest or smallest (top_k,
//! bottom_k). A state is a list per group; merging concatenates a group's lists (and keeps the
//! k extremes again).

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use arrow_array::{make_array, Array, ArrayRef, Float64Array, ListArray, UInt32Array};
use arrow_buffer::OffsetBuffer;
use arrow_data::transform::MutableArrayData;
use arrow_data::ArrayData;
use arrow_ord::sort::{lexsort_to_indices, SortColumn, SortOptions};
use arrow_schema::{DataType, Field};
use arrow_select::concat::concat;
use arrow_select::take::take;

use super::kernels::ordered_i64;
use super::keys::Groups;
use super::plan_err;
use crate::floats::number_cmp;
use crate::Result;

/// Which of a group's values a list keeps.
#[derive(Clone, Copy)]
pub(super) enum Keep {
    /// All, in no particular order (median and quantiles sort them when they finish).
    All,
    /// The `k` largest (`largest`) or smallest, in that order; ties in input order.
    Extremes { k: usize, largest: bool },
}

/// Each group's non-null values of `values` (rows in groups `g`) as one list per group.
pub(super) fn group_values(values: &ArrayRef, g: &Groups, keep: Keep) -> Result<ArrayRef> {
    if let (Keep::All, Some(numbers)) = (keep, values.as_primitive_opt::<Float64Type>()) {
        return Ok(scatter_numbers(numbers, g));
    }
    let (at, owner): (Vec<u32>, Vec<u32>) = match values.logical_nulls() {
        None => ((0..values.len() as u32).collect(), g.of_row.clone()),
        Some(nulls) => nulls.valid_indices().map(|i| (i as u32, g.of_row[i])).unzip(),
    };
    lists_of(values, at, owner, g.len(), keep)
}

/// Each group's non-null numbers of `numbers` (rows in groups `g`) as one list per group: the
/// groups' lengths counted, then each number written straight to its group's place (no
/// positions gathered, sorted and taken).
fn scatter_numbers(numbers: &Float64Array, g: &Groups) -> ArrayRef {
    let nulls = numbers.nulls().filter(|n| n.null_count() > 0);
    let valid = |row: usize| nulls.is_none_or(|n| n.is_valid(row));
    let mut lengths = vec![0usize; g.len()];
    for (row, &o) in g.of_row.iter().enumerate() {
        lengths[o as usize] += usize::from(valid(row));
    }
    let mut next: Vec<usize> = lengths.iter().scan(0, |sum, &n| Some(std::mem::replace(sum, *sum + n))).collect();
    let mut out = vec![0f64; lengths.iter().sum()];
    for (row, (&v, &o)) in numbers.values().iter().zip(&g.of_row).enumerate() {
        if valid(row) {
            let at = &mut next[o as usize];
            out[*at] = v;
            *at += 1;
        }
    }
    let field = Arc::new(Field::new_list_field(DataType::Float64, true));
    let offsets = OffsetBuffer::<i32>::from_lengths(lengths);
    Arc::new(ListArray::new(field, offsets, Arc::new(Float64Array::from(out)), None))
}

/// The values of the lists of each group's rows (`lists`, rows in groups `g`) as one list per
/// group.
pub(super) fn merge_lists(lists: &ArrayRef, g: &Groups, keep: Keep) -> Result<ArrayRef> {
    let lists = lists.as_list::<i32>();
    let values = lists.values();
    if matches!(keep, Keep::All) && values.logical_nulls().is_none() {
        return join_lists(&[lists], g);
    }
    let mut at = Vec::new();
    let mut owner = Vec::new();
    for (row, bounds) in lists.value_offsets().windows(2).enumerate() {
        for v in bounds[0] as usize..bounds[1] as usize {
            if values.is_valid(v) {
                at.push(v as u32);
                owner.push(g.of_row[row]);
            }
        }
    }
    lists_of(values, at, owner, g.len(), keep)
}

/// The lists of all values (median, quantile) in the states `parts` (one column per batch of
/// states; their rows, one after another, in groups `g`) merged into one list per group.
pub(super) fn merge_lists_of(parts: &[ArrayRef], g: &Groups) -> Result<ArrayRef> {
    let lists: Vec<&ListArray> = parts.iter().map(|p| p.as_list::<i32>()).collect();
    if lists.iter().all(|l| l.values().logical_nulls().is_none()) {
        return join_lists(&lists, g);
    }
    let refs: Vec<&dyn Array> = parts.iter().map(|p| p.as_ref()).collect();
    merge_lists(&concat(&refs).map_err(plan_err)?, g, Keep::All)
}

/// Each group's lists joined into one, group after group: the lists' rows (those of `parts`,
/// one after another) ordered by group (a counting sort of the rows, not of the values), then
/// each list's values copied whole.
fn join_lists(parts: &[&ListArray], g: &Groups) -> Result<ArrayRef> {
    let spans: Vec<(usize, usize, usize)> = parts
        .iter()
        .enumerate()
        .flat_map(|(p, l)| l.value_offsets().windows(2).map(move |w| (p, w[0] as usize, w[1] as usize)))
        .collect();
    debug_assert_eq!(spans.len(), g.of_row.len(), "a group for every list");
    let mut lengths = vec![0usize; g.len()];
    for (&(_, start, end), &o) in spans.iter().zip(&g.of_row) {
        lengths[o as usize] += end - start;
    }
    let rows: Vec<u32> = (0..spans.len() as u32).collect();
    let (_, order) = by_group(&rows, &g.of_row, g.len());
    let data: Vec<ArrayData> = parts.iter().map(|l| l.values().to_data()).collect();
    let mut joined = MutableArrayData::new(data.iter().collect(), false, lengths.iter().sum());
    for row in order {
        let (p, start, end) = spans[row as usize];
        joined.try_extend(p, start, end).map_err(plan_err)?;
    }
    let field = Arc::new(Field::new_list_field(parts[0].values().data_type().clone(), true));
    let offsets = OffsetBuffer::<i32>::from_lengths(lengths);
    Ok(Arc::new(ListArray::try_new(field, offsets, make_array(joined.freeze()), None).map_err(plan_err)?))
}

/// The values at positions `at` of `values`, each of group `owner[j]`, as `groups` lists.
fn lists_of(values: &ArrayRef, at: Vec<u32>, owner: Vec<u32>, groups: usize, keep: Keep) -> Result<ArrayRef> {
    let (lengths, picks) = match keep {
        Keep::All => by_group(&at, &owner, groups),
        Keep::Extremes { k, largest } => match ordered_i64(values) {
            Some(keys) if k <= 64 => extremes(&keys, &at, &owner, groups, k, largest),
            _ => sorted_cut(values, &at, &owner, groups, k, largest)?,
        },
    };
    let kept = take(values, &UInt32Array::from(picks), None).map_err(plan_err)?;
    let field = Arc::new(Field::new_list_field(values.data_type().clone(), true));
    let offsets = OffsetBuffer::<i32>::from_lengths(lengths);
    Ok(Arc::new(ListArray::try_new(field, offsets, kept, None).map_err(plan_err)?))
}

/// Each group's length and the positions of its values, group after group (a counting sort).
fn by_group(at: &[u32], owner: &[u32], groups: usize) -> (Vec<usize>, Vec<u32>) {
    let mut lengths = vec![0usize; groups];
    owner.iter().for_each(|&o| lengths[o as usize] += 1);
    let mut next: Vec<usize> = lengths.iter().scan(0, |sum, &n| Some(std::mem::replace(sum, *sum + n))).collect();
    let mut picks = vec![0u32; at.len()];
    for (&a, &o) in at.iter().zip(owner) {
        picks[next[o as usize]] = a;
        next[o as usize] += 1;
    }
    (lengths, picks)
}

/// The `k` extremes of each group by their order keys, kept in a small sorted slot per group
/// as the values go by (a value displaces the last kept only when strictly better).
fn extremes(keys: &[i64], at: &[u32], owner: &[u32], groups: usize, k: usize, largest: bool) -> (Vec<usize>, Vec<u32>) {
    let mut slots: Vec<(i64, u32)> = vec![(0, 0); groups * k];
    let mut lengths = vec![0usize; groups];
    for (&a, &o) in at.iter().zip(owner) {
        let key = if largest { keys[a as usize] } else { !keys[a as usize] };
        let (n, slot) = (&mut lengths[o as usize], &mut slots[o as usize * k..(o as usize + 1) * k]);
        if *n == k && key <= slot[k - 1].0 {
            continue;
        }
        let mut j = (*n).min(k - 1);
        *n = (*n + 1).min(k);
        while j > 0 && slot[j - 1].0 < key {
            slot[j] = slot[j - 1];
            j -= 1;
        }
        slot[j] = (key, a);
    }
    let picks = lengths.iter().enumerate().flat_map(|(o, &n)| slots[o * k..o * k + n].iter().map(|s| s.1)).collect();
    (lengths, picks)
}

/// The `k` extremes of each group of values of any type: one sort by (group, value).
fn sorted_cut(
    values: &ArrayRef,
    at: &[u32],
    owner: &[u32],
    groups: usize,
    k: usize,
    largest: bool,
) -> Result<(Vec<usize>, Vec<u32>)> {
    let taken = take(values, &UInt32Array::from(at.to_vec()), None).map_err(plan_err)?;
    let options = SortOptions { descending: largest, nulls_first: false };
    let columns = [
        SortColumn { values: Arc::new(UInt32Array::from(owner.to_vec())), options: None },
        SortColumn { values: taken, options: Some(options) },
    ];
    let order = lexsort_to_indices(&columns, None).map_err(plan_err)?;
    let mut lengths = vec![0usize; groups];
    let mut picks = Vec::new();
    for &j in order.values() {
        let n = &mut lengths[owner[j as usize] as usize];
        if *n < k {
            *n += 1;
            picks.push(at[j as usize]);
        }
    }
    Ok((lengths, picks))
}

/// The value at fraction `q` of each list (`lists` of Float64) in sorted order (NaN above every
/// number), linearly interpolated between its neighbours as numpy's default does; null for an
/// empty list.
pub(super) fn quantiles(lists: &ArrayRef, q: f64) -> ArrayRef {
    let lists = lists.as_list::<i32>();
    let mut values: Vec<f64> = Vec::new();
    let out: Float64Array = (0..lists.len())
        .map(|i| {
            let list = lists.value(i);
            values.clear();
            values.extend_from_slice(list.as_primitive::<Float64Type>().values());
            exact_quantile(&mut values, q)
        })
        .collect();
    Arc::new(out)
}

/// The value at fraction `q` of `values` in sorted order (NaN above every number), linearly
/// interpolated between its neighbours as numpy's default does (`values` are reordered); None
/// when there are none.
pub(super) fn exact_quantile(values: &mut [f64], q: f64) -> Option<f64> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let at = q * (n - 1) as f64;
    let lo = at.floor() as usize;
    // NaNs (above every number) go last, so the numbers before them compare plainly.
    let mut numbers = 0;
    for i in 0..n {
        if !values[i].is_nan() {
            values.swap(numbers, i);
            numbers += 1;
        }
    }
    // The lo-th in order, then the smallest after it: no full sort.
    let (a, b) = match lo < numbers {
        true => {
            let (_, &mut a, above) = values[..numbers].select_nth_unstable_by(lo, number_cmp);
            let next = above.iter().copied().reduce(f64::min);
            (a, next.unwrap_or(if numbers < n { f64::NAN } else { a }))
        }
        false => (f64::NAN, f64::NAN),
    };
    Some(if at == lo as f64 { a } else { a + (b - a) * (at - lo as f64) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::types::Int64Type;
    use arrow_array::{Int64Array, StringArray};

    fn lists(values: ArrayRef, lengths: &[usize]) -> ArrayRef {
        let field = Arc::new(Field::new_list_field(values.data_type().clone(), true));
        Arc::new(ListArray::try_new(field, OffsetBuffer::from_lengths(lengths.iter().copied()), values, None).unwrap())
    }

    #[test]
    fn lists_merge_whole_or_cut_to_their_extremes() {
        let g = Groups { of_row: vec![0, 1, 0, 2], first: vec![0, 1, 3] };
        let ints: ArrayRef = Arc::new(Int64Array::from(vec![Some(5), Some(-1), None, Some(9), Some(7), Some(5)]));
        let ints = lists(ints, &[2, 1, 3, 0]);
        let int_lists = |a: ArrayRef| -> Vec<Vec<i64>> {
            let a = a.as_list::<i32>();
            (0..a.len()).map(|i| a.value(i).as_primitive::<Int64Type>().values().to_vec()).collect()
        };
        let mut all = int_lists(merge_lists(&ints, &g, Keep::All).unwrap());
        let parts = [ints.slice(0, 1), ints.slice(1, 3)];
        assert_eq!(int_lists(merge_lists_of(&parts, &g).unwrap()), all, "a null among the values: joined first");
        all[0].sort();
        assert_eq!(all, vec![vec![-1, 5, 5, 7, 9], vec![], vec![]]);
        for k in [1, 2, 9] {
            let top = int_lists(merge_lists(&ints, &g, Keep::Extremes { k, largest: true }).unwrap());
            let low = int_lists(merge_lists(&ints, &g, Keep::Extremes { k, largest: false }).unwrap());
            assert_eq!(top[0], [9, 7, 5, 5, -1][..k.min(5)].to_vec());
            assert_eq!(low[0], [-1, 5, 5, 7, 9][..k.min(5)].to_vec());
            assert!(top[1].is_empty() && low[2].is_empty());
        }
        let words: ArrayRef = Arc::new(StringArray::from(vec!["b", "a", "z", "c", "a", "y"]));
        let top = merge_lists(&lists(words, &[2, 1, 3, 0]), &g, Keep::Extremes { k: 2, largest: true }).unwrap();
        let top = top.as_list::<i32>();
        assert_eq!(top.value(0).as_string::<i32>().iter().collect::<Vec<_>>(), vec![Some("y"), Some("c")]);
        assert_eq!(top.value(1).as_string::<i32>().iter().collect::<Vec<_>>(), vec![Some("z")]);
        assert_eq!(top.value(2).len(), 0);
    }

    #[test]
    fn lists_without_nulls_are_joined_whole_as_value_by_value() {
        // Strings (offsets rebuilt) and floats; groups out of row order; a sliced list array.
        let g = Groups { of_row: vec![2, 0, 2, 1, 0, 2], first: vec![1, 3, 0] };
        let lengths = [3, 0, 2, 4, 1, 2];
        let words: ArrayRef = Arc::new(StringArray::from_iter_values((0..14).map(|i| format!("w{i}"))));
        let floats: ArrayRef = Arc::new(Float64Array::from_iter_values((0..14).map(|i| i as f64 * 0.5)));
        for values in [words, floats] {
            let whole = lists(values.clone(), &[1, 3, 0, 2, 4, 1, 2, 1]).slice(1, 6);
            let lists = lists(values.slice(1, 12), &lengths);
            for input in [lists, whole] {
                let list = input.as_list::<i32>();
                let at: Vec<u32> = (0..list.values().len() as u32).collect();
                let (mut at_v, mut owner) = (Vec::new(), Vec::new());
                for (row, b) in list.value_offsets().windows(2).enumerate() {
                    at_v.extend(&at[b[0] as usize..b[1] as usize]);
                    owner.extend(std::iter::repeat_n(g.of_row[row], (b[1] - b[0]) as usize));
                }
                let one_by_one = lists_of(list.values(), at_v, owner, g.len(), Keep::All).unwrap();
                assert_eq!(merge_lists(&input, &g, Keep::All).unwrap().to_data(), one_by_one.to_data());
                // The same rows as two batches of states, joined straight from both.
                let parts = [input.slice(0, 2), input.slice(2, 4)];
                assert_eq!(merge_lists_of(&parts, &g).unwrap().to_data(), one_by_one.to_data());
            }
        }
    }

    #[test]
    fn numbers_are_scattered_to_their_groups_in_order_of_rows_without_nulls() {
        // Float64 (what median and quantile keep) is written straight to each group's place;
        // the same values as Int64 go the general way (positions gathered, then taken).
        let of_row: Vec<u32> = (0..1000u32).map(|i| (i * 7 + i / 13) % 5).collect();
        let g = Groups {
            of_row: of_row.clone(),
            first: (0..5).map(|o| of_row.iter().position(|&r| r == o).unwrap() as u32).collect(),
        };
        let value = |i: usize| (i % 9 != 4).then_some(i as i64 - 300);
        let floats: ArrayRef = Arc::new(Float64Array::from_iter((0..1000).map(|i| value(i).map(|v| v as f64))));
        let ints: ArrayRef = Arc::new(Int64Array::from_iter((0..1000).map(value)));
        let scattered = group_values(&floats, &g, Keep::All).unwrap();
        let taken = group_values(&ints, &g, Keep::All).unwrap();
        let (scattered, taken) = (scattered.as_list::<i32>(), taken.as_list::<i32>());
        assert_eq!(scattered.len(), 5);
        for o in 0..5 {
            let expected: Vec<f64> =
                (0..1000).filter(|&i| of_row[i] == o as u32).filter_map(value).map(|v| v as f64).collect();
            assert_eq!(scattered.value(o).as_primitive::<Float64Type>().values().to_vec(), expected);
            assert_eq!(taken.value(o).len(), expected.len());
            assert_eq!(scattered.value(o).null_count(), 0);
        }
        // No rows: as many empty lists as groups.
        let none: ArrayRef = Arc::new(Float64Array::from(vec![None::<f64>; 3]));
        let g = Groups { of_row: vec![0, 1, 0], first: vec![0, 1] };
        let empty = group_values(&none, &g, Keep::All).unwrap();
        assert_eq!(empty.as_list::<i32>().value_offsets(), &[0, 0, 0]);
    }

    #[test]
    fn values_of_each_group_are_gathered_without_nulls() {
        let g = Groups { of_row: vec![1, 0, 1, 1], first: vec![1, 0] };
        let v: ArrayRef = Arc::new(Int64Array::from(vec![Some(3), None, Some(1), Some(3)]));
        let top = group_values(&v, &g, Keep::Extremes { k: 2, largest: false }).unwrap();
        let top = top.as_list::<i32>();
        assert_eq!((top.value(0).len(), top.value(1).as_primitive::<Int64Type>().values().to_vec()), (0, vec![1, 3]));
    }

    #[test]
    fn quantiles_interpolate_between_neighbours() {
        let sorted = lists(Arc::new(Float64Array::from(vec![10.0, 2.0, 4.0, 1.0, 3.0])), &[4, 0, 1]);
        let median = quantiles(&sorted, 0.5);
        let median = median.as_primitive::<Float64Type>();
        assert_eq!((median.value(0), median.is_null(1), median.value(2)), (3.0, true, 3.0));
        let p90 = quantiles(&sorted, 0.9);
        assert!((p90.as_primitive::<Float64Type>().value(0) - 8.2).abs() < 1e-12);
    }
}
