//! Aggregates that keep values, not a summary: each group's values sorted (median and
//! quantiles, exact) or only its k largest or smallest (top_k, bottom_k). A state is a list per
//! group; merging concatenates a group's lists and sorts them again.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use arrow_array::{Array, ArrayRef, Float64Array, ListArray, UInt32Array};
use arrow_buffer::OffsetBuffer;
use arrow_ord::sort::{lexsort_to_indices, SortColumn, SortOptions};
use arrow_schema::Field;
use arrow_select::take::take;

use super::kernels::ordered_i64;
use super::keys::Groups;
use super::plan_err;
use crate::Result;

/// The values of the lists of each group's rows (`lists`, rows in groups `g`) as one list per
/// group, sorted (largest first when `descending`), nulls left out, and cut to the first `k`.
pub(super) fn sorted_lists(lists: &ArrayRef, g: &Groups, k: Option<usize>, descending: bool) -> Result<ArrayRef> {
    let lists = lists.as_list::<i32>();
    let values = lists.values();
    // Each listed value's position and group.
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
    let order = match ordered_i64(values) {
        Some(keys) => {
            // Numbers (most of what is asked): one sort of (group, order key) pairs.
            let mut pairs: Vec<(u32, i64, u32)> = (0..at.len())
                .map(|j| {
                    let key = keys[at[j] as usize];
                    (owner[j], if descending { !key } else { key }, j as u32)
                })
                .collect();
            pairs.sort_unstable();
            pairs.into_iter().map(|(_, _, j)| j).collect::<Vec<u32>>()
        }
        None => {
            let taken = take(values, &UInt32Array::from(at.clone()), None).map_err(plan_err)?;
            let options = SortOptions { descending, nulls_first: false };
            let columns = [
                SortColumn { values: Arc::new(UInt32Array::from(owner.clone())), options: None },
                SortColumn { values: taken, options: Some(options) },
            ];
            lexsort_to_indices(&columns, None).map_err(plan_err)?.values().to_vec()
        }
    };
    let limit = k.unwrap_or(usize::MAX);
    let mut lengths = vec![0usize; g.len()];
    let mut picks = Vec::with_capacity(order.len().min(g.len().saturating_mul(limit)));
    for j in order {
        let slot = &mut lengths[owner[j as usize] as usize];
        if *slot < limit {
            *slot += 1;
            picks.push(at[j as usize]);
        }
    }
    let kept = take(values, &UInt32Array::from(picks), None).map_err(plan_err)?;
    let field = Arc::new(Field::new_list_field(values.data_type().clone(), true));
    let offsets = OffsetBuffer::<i32>::from_lengths(lengths);
    Ok(Arc::new(ListArray::try_new(field, offsets, kept, None).map_err(plan_err)?))
}

/// The value at fraction `q` of each sorted list (`lists` of Float64), linearly interpolated
/// between its neighbours as numpy's default does; null for an empty list.
pub(super) fn quantiles(lists: &ArrayRef, q: f64) -> ArrayRef {
    let lists = lists.as_list::<i32>();
    let out: Float64Array = (0..lists.len())
        .map(|i| {
            let values = lists.value(i);
            let values = values.as_primitive::<Float64Type>().values();
            let n = values.len();
            if n == 0 {
                return None;
            }
            let at = q * (n - 1) as f64;
            let (lo, hi) = (at.floor() as usize, at.ceil() as usize);
            let (a, b) = (values[lo], values[hi]);
            Some(if lo == hi { a } else { a + (b - a) * (at - lo as f64) })
        })
        .collect();
    Arc::new(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Int64Array, StringArray};

    fn lists(values: ArrayRef, lengths: &[usize]) -> ArrayRef {
        let field = Arc::new(Field::new_list_field(values.data_type().clone(), true));
        Arc::new(ListArray::try_new(field, OffsetBuffer::from_lengths(lengths.iter().copied()), values, None).unwrap())
    }

    #[test]
    fn groups_lists_merge_sorted_and_cut() {
        let g = Groups { of_row: vec![0, 1, 0, 2], first: vec![0, 1, 3] };
        let ints: ArrayRef = Arc::new(Int64Array::from(vec![Some(5), Some(-1), None, Some(9), Some(7), Some(5)]));
        let merged = sorted_lists(&lists(ints.clone(), &[2, 1, 3, 0]), &g, None, false).unwrap();
        let merged = merged.as_list::<i32>();
        let got: Vec<Vec<Option<i64>>> =
            (0..3).map(|i| merged.value(i).as_primitive::<arrow_array::types::Int64Type>().iter().collect()).collect();
        assert_eq!(got, vec![vec![Some(-1), Some(5), Some(5), Some(7), Some(9)], vec![], vec![]]);
        let words: ArrayRef = Arc::new(StringArray::from(vec!["b", "a", "z", "c", "a", "y"]));
        let top = sorted_lists(&lists(words, &[2, 1, 3, 0]), &g, Some(2), true).unwrap();
        let top = top.as_list::<i32>();
        assert_eq!(top.value(0).as_string::<i32>().iter().collect::<Vec<_>>(), vec![Some("y"), Some("c")]);
        assert_eq!(top.value(1).as_string::<i32>().iter().collect::<Vec<_>>(), vec![Some("z")]);
        assert_eq!(top.value(2).len(), 0);
    }

    #[test]
    fn quantiles_interpolate_between_neighbours() {
        let sorted = lists(Arc::new(Float64Array::from(vec![1.0, 2.0, 4.0, 10.0, 3.0])), &[4, 0, 1]);
        let median = quantiles(&sorted, 0.5);
        let median = median.as_primitive::<Float64Type>();
        assert_eq!((median.value(0), median.is_null(1), median.value(2)), (3.0, true, 3.0));
        let p90 = quantiles(&sorted, 0.9);
        assert!((p90.as_primitive::<Float64Type>().value(0) - 8.2).abs() < 1e-12);
    }
}
