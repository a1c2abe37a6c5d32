//! Correlation and covariance of two columns per group, from co-moments: per group the count
//! of rows where both values are present, both means, both sums of squared deviations and the
//! sum of products of deviations; states merge by the pairwise update of Chan et al. (as
//! `merge_moments` does for one column).

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, UInt64Type};
use arrow_array::{Array, ArrayRef, Float64Array, UInt64Array};

use super::keys::Groups;

/// (n, mean x, mean y, M2 x, M2 y, C xy) of one group.
type Moments = [f64; 6];

/// Each row's state: a group of one pair, or of none where x or y is null.
pub(super) fn lift_pairs(x: &ArrayRef, y: &ArrayRef) -> [ArrayRef; 6] {
    let (x, y) = (x.as_primitive::<Float64Type>(), y.as_primitive::<Float64Type>());
    let both = |i: usize| x.is_valid(i) && y.is_valid(i);
    let n = UInt64Array::from_iter_values((0..x.len()).map(|i| both(i) as u64));
    let mean = |a: &arrow_array::Float64Array| {
        Float64Array::from_iter_values((0..a.len()).map(|i| if both(i) { a.value(i) } else { 0.0 }))
    };
    let zeros = || Arc::new(Float64Array::from(vec![0.0; x.len()])) as ArrayRef;
    [Arc::new(n), Arc::new(mean(x)), Arc::new(mean(y)), zeros(), zeros(), zeros()]
}

/// Each group's state straight from its rows' x and y (Float64), in two passes: the means
/// first, then the sums of squares and products of deviations from them.
pub(super) fn pairs_of(x: &ArrayRef, y: &ArrayRef, g: &Groups) -> [ArrayRef; 6] {
    let (x, y) = (x.as_primitive::<Float64Type>(), y.as_primitive::<Float64Type>());
    let both = arrow_buffer::NullBuffer::union(x.logical_nulls().as_ref(), y.logical_nulls().as_ref());
    let rows: Box<dyn Iterator<Item = usize>> = match &both {
        Some(valid) => Box::new(valid.valid_indices()),
        None => Box::new(0..x.len()),
    };
    let rows: Vec<usize> = rows.collect();
    let (xs, ys) = (x.values(), y.values());
    let mut acc: Vec<Moments> = vec![[0.0; 6]; g.len()];
    for &i in &rows {
        let a = &mut acc[g.of_row[i] as usize];
        a[0] += 1.0;
        a[1] += xs[i];
        a[2] += ys[i];
    }
    for a in acc.iter_mut().filter(|a| a[0] > 0.0) {
        a[1] /= a[0];
        a[2] /= a[0];
    }
    for &i in &rows {
        let a = &mut acc[g.of_row[i] as usize];
        let (dx, dy) = (xs[i] - a[1], ys[i] - a[2]);
        a[3] += dx * dx;
        a[4] += dy * dy;
        a[5] += dx * dy;
    }
    columns(&acc)
}

/// The states as columns.
fn columns(acc: &[Moments]) -> [ArrayRef; 6] {
    let column = |j: usize| Arc::new(Float64Array::from_iter_values(acc.iter().map(|a| a[j]))) as ArrayRef;
    [
        Arc::new(UInt64Array::from_iter_values(acc.iter().map(|a| a[0] as u64))),
        column(1),
        column(2),
        column(3),
        column(4),
        column(5),
    ]
}

/// The states of each group's rows (`cols`, as `lift_pairs` gives them) merged.
pub(super) fn merge_pairs(cols: &[ArrayRef], g: &Groups) -> [ArrayRef; 6] {
    let n = cols[0].as_primitive::<UInt64Type>();
    let f = |j: usize| cols[j].as_primitive::<Float64Type>();
    let (mx, my, qx, qy, cxy) = (f(1), f(2), f(3), f(4), f(5));
    let mut acc: Vec<Moments> = vec![[0.0; 6]; g.len()];
    for (i, &id) in g.of_row.iter().enumerate() {
        let nb = n.value(i) as f64;
        if nb == 0.0 {
            continue;
        }
        let a = &mut acc[id as usize];
        let total = a[0] + nb;
        let (dx, dy) = (mx.value(i) - a[1], my.value(i) - a[2]);
        let w = a[0] * nb / total;
        a[1] += dx * nb / total;
        a[2] += dy * nb / total;
        a[3] += qx.value(i) + dx * dx * w;
        a[4] += qy.value(i) + dy * dy * w;
        a[5] += cxy.value(i) + dx * dy * w;
        a[0] = total;
    }
    columns(&acc)
}

/// Pearson's correlation (`corr`) or the sample covariance of each merged state; null with
/// fewer than two pairs, NaN where a column does not vary (as polars and numpy give).
pub(super) fn finish_pairs(cols: &[ArrayRef], corr: bool) -> ArrayRef {
    let n = cols[0].as_primitive::<UInt64Type>();
    let f = |j: usize| cols[j].as_primitive::<Float64Type>();
    let (qx, qy, cxy) = (f(3), f(4), f(5));
    let out: Float64Array = (0..n.len())
        .map(|i| {
            let n = n.value(i);
            (n >= 2).then(|| match corr {
                true => cxy.value(i) / (qx.value(i) * qy.value(i)).sqrt(),
                false => cxy.value(i) / (n - 1) as f64,
            })
        })
        .collect();
    Arc::new(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_merged_in_any_split_give_the_direct_answer() {
        let xs = [1.0, 2.0, 4.0, 7.0, 11.0, 3.0];
        let ys = [2.0, 1.0, 5.0, 6.0, 15.0, 2.5];
        let x: ArrayRef = Arc::new(Float64Array::from(xs.to_vec()));
        let y: ArrayRef = Arc::new(Float64Array::from_iter((0..6).map(|i| (i != 5).then_some(ys[i]))));
        let one = Groups { of_row: vec![0; 6], first: vec![0] };
        let lifted = lift_pairs(&x, &y);
        // Merged in two steps: rows 0-2 and 3-5 first, then the two states.
        let halves = Groups { of_row: vec![0, 0, 0, 1, 1, 1], first: vec![0, 3] };
        let two = merge_pairs(&lifted, &halves);
        let both = merge_pairs(&two, &Groups { of_row: vec![0, 0], first: vec![0] });
        let direct = merge_pairs(&lifted, &one);
        let (mx, my) = (xs[..5].iter().sum::<f64>() / 5.0, ys[..5].iter().sum::<f64>() / 5.0);
        let c: f64 = (0..5).map(|i| (xs[i] - mx) * (ys[i] - my)).sum();
        let straight = pairs_of(&x, &y, &one);
        for states in [both, direct, straight] {
            let cov = finish_pairs(&states, false);
            assert!((cov.as_primitive::<Float64Type>().value(0) - c / 4.0).abs() < 1e-12);
            let qx: f64 = (0..5).map(|i| (xs[i] - mx).powi(2)).sum();
            let qy: f64 = (0..5).map(|i| (ys[i] - my).powi(2)).sum();
            let corr = finish_pairs(&states, true);
            assert!((corr.as_primitive::<Float64Type>().value(0) - c / (qx * qy).sqrt()).abs() < 1e-12);
        }
    }
}
