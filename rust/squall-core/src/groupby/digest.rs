//! Approximate quantiles (`approx_median`, `approx_quantile`): each group keeps a t-digest of
//! its finite values (at most [`CENTROIDS`] centroids; the `tdigest` crate compresses and
//! estimates) and counts of its infinities and NaNs, which a digest cannot hold. States merge
//! by merging digests, so a group's state stays a few kilobytes however many values it has; a
//! group of few values keeps them as they are.
//!
//! A state is one list of f64 per group: `[-inf count, +inf count, NaN count, count, sum, min,
//! max, mean_1, weight_1, mean_2, weight_2, ...]`.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use arrow_array::{Array, ArrayRef, Float64Array, ListArray};
use arrow_buffer::OffsetBuffer;
use arrow_schema::{DataType, Field};
use tdigest::{Centroid, TDigest};

use super::keys::Groups;
use super::plan_err;
use crate::Result;

/// Centroids a digest keeps: quantiles within about 1% of rank (the crate's and the paper's
/// usual compression).
pub(super) const CENTROIDS: usize = 100;
/// Floats before the centroids in a state: -inf, +inf and NaN counts, then the finite values'
/// count, sum, min and max.
const HEAD: usize = 7;
type Head = [f64; HEAD];
const EMPTY: Head = [0.0, 0.0, 0.0, 0.0, 0.0, f64::INFINITY, f64::NEG_INFINITY];

/// Adds value `v` to `head`; whether it is finite (a centroid of its own).
fn count_value(head: &mut Head, v: f64) -> bool {
    match v {
        v if v.is_nan() => head[2] += 1.0,
        f64::INFINITY => head[1] += 1.0,
        f64::NEG_INFINITY => head[0] += 1.0,
        v => {
            head[3] += 1.0;
            head[4] += v;
            head[5] = head[5].min(v);
            head[6] = head[6].max(v);
            return true;
        }
    }
    false
}

fn add_heads(head: &mut Head, other: &[f64]) {
    for i in 0..5 {
        head[i] += other[i];
    }
    head[5] = head[5].min(other[5]);
    head[6] = head[6].max(other[6]);
}

/// The t-digest of the finite values a state's `head` counts, as `centroids` (mean, weight).
fn digest(head: &[f64], centroids: &[(f64, f64)]) -> TDigest {
    let cs = centroids.iter().map(|&(m, w)| Centroid::new(m, w)).collect();
    let bounds = (!centroids.is_empty()).then_some((head[5], head[6]));
    TDigest::new(cs, head[4], head[3], bounds.map(|b| b.1), bounds.map(|b| b.0), CENTROIDS)
}

/// States being written: one list of f64 per group.
#[derive(Default)]
struct States {
    values: Vec<f64>,
    lengths: Vec<usize>,
}

impl States {
    /// Appends the state of `head` and `centroids` (any order): sorted, and compressed by the
    /// t-digest past [`CENTROIDS`].
    fn push(&mut self, head: &Head, centroids: &mut [(f64, f64)]) {
        let before = self.values.len();
        self.values.extend_from_slice(head);
        if centroids.len() > CENTROIDS {
            // The crate sorts them as it compresses.
            let d = digest(head, centroids);
            self.values.extend(d.centroids().iter().flat_map(|c| [c.mean(), c.weight()]));
        } else {
            centroids.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
            self.values.extend(centroids.iter().flat_map(|&(m, w)| [m, w]));
        }
        self.lengths.push(self.values.len() - before);
    }

    fn finish(self) -> Result<ArrayRef> {
        let field = Arc::new(Field::new_list_field(DataType::Float64, true));
        let values = Arc::new(Float64Array::from(self.values));
        let lists = ListArray::try_new(field, OffsetBuffer::from_lengths(self.lengths), values, None);
        Ok(Arc::new(lists.map_err(plan_err)?))
    }
}

/// Where each group's items start when laid out group after group, from each group's count.
fn starts(counts: Vec<usize>) -> Vec<usize> {
    let mut start = Vec::with_capacity(counts.len() + 1);
    start.push(0);
    for c in counts {
        start.push(start.last().copied().unwrap_or(0) + c);
    }
    start
}

/// Each group's summary of its non-null values of `values` (Float64, rows in groups `g`).
pub(super) fn group_digests(values: &ArrayRef, g: &Groups) -> Result<ArrayRef> {
    let values = values.as_primitive::<Float64Type>();
    let mut heads = vec![EMPTY; g.len()];
    let mut counts = vec![0usize; g.len()];
    for (row, &group) in g.of_row.iter().enumerate() {
        if values.is_valid(row) && count_value(&mut heads[group as usize], values.value(row)) {
            counts[group as usize] += 1;
        }
    }
    // The finite values laid out group after group (a counting sort by group).
    let start = starts(counts);
    let mut next = start.clone();
    let mut laid = vec![(0.0, 1.0); start[g.len()]];
    for (row, &group) in g.of_row.iter().enumerate() {
        let v = values.value(row);
        if values.is_valid(row) && v.is_finite() {
            laid[next[group as usize]].0 = v;
            next[group as usize] += 1;
        }
    }
    let mut out = States::default();
    for (head, b) in heads.iter().zip(start.windows(2)) {
        out.push(head, &mut laid[b[0]..b[1]]);
    }
    out.finish()
}

/// Each row's value of `values` (Float64) summarised alone: what a group of one row holds.
pub(super) fn lift_digests(values: &ArrayRef) -> Result<ArrayRef> {
    let mut out = States::default();
    for v in values.as_primitive::<Float64Type>().iter() {
        let mut head = EMPTY;
        let finite = v.is_some_and(|v| count_value(&mut head, v));
        let mut centroid = [(v.unwrap_or(0.0), 1.0)];
        out.push(&head, &mut centroid[..usize::from(finite)]);
    }
    out.finish()
}

/// The summaries in `lists` (rows in groups `g`) merged: one per group.
pub(super) fn merge_digests(lists: &ArrayRef, g: &Groups) -> Result<ArrayRef> {
    let lists = lists.as_list::<i32>();
    let flat = lists.values().as_primitive::<Float64Type>().values();
    let state = |row: usize| {
        let b = &lists.value_offsets()[row..row + 2];
        &flat[b[0] as usize..b[1] as usize]
    };
    let valid = |row: usize| lists.is_valid(row) && state(row).len() >= HEAD;
    let mut heads = vec![EMPTY; g.len()];
    let mut counts = vec![0usize; g.len()];
    for (row, &group) in g.of_row.iter().enumerate().filter(|(row, _)| valid(*row)) {
        add_heads(&mut heads[group as usize], state(row));
        counts[group as usize] += (state(row).len() - HEAD) / 2;
    }
    // Every group's centroids laid out group after group.
    let start = starts(counts);
    let mut next = start.clone();
    let mut laid = vec![(0.0, 0.0); start[g.len()]];
    for (row, &group) in g.of_row.iter().enumerate().filter(|(row, _)| valid(*row)) {
        for c in state(row)[HEAD..].chunks_exact(2) {
            laid[next[group as usize]] = (c[0], c[1]);
            next[group as usize] += 1;
        }
    }
    let mut out = States::default();
    for (head, b) in heads.iter().zip(start.windows(2)) {
        out.push(head, &mut laid[b[0]..b[1]]);
    }
    out.finish()
}

/// The value at fraction `q` of a state's values in order (-inf first, NaN last); None when it
/// has none.
fn quantile(state: &[f64], q: f64) -> Option<f64> {
    let (head, centroids) = state.split_at(HEAD);
    let centroids: Vec<(f64, f64)> = centroids.chunks_exact(2).map(|c| (c[0], c[1])).collect();
    let total: f64 = head[..4].iter().sum();
    if total == 0.0 {
        return None;
    }
    let mut rank = q * total;
    for (count, value) in [(head[0], f64::NEG_INFINITY), (head[3], f64::NAN), (head[1], f64::INFINITY)] {
        if count > 0.0 && rank <= count {
            return match value.is_nan() {
                true => digest(head, &centroids).estimate_quantile(rank / count),
                false => Some(value),
            };
        }
        rank -= count;
    }
    Some(f64::NAN)
}

/// The value at fraction `q` of each summary in `lists`; null for a group without values.
pub(super) fn digest_quantiles(lists: &ArrayRef, q: f64) -> ArrayRef {
    let lists = lists.as_list::<i32>();
    let flat = lists.values().as_primitive::<Float64Type>().values();
    let out: Float64Array = lists
        .value_offsets()
        .windows(2)
        .map(|b| &flat[b[0] as usize..b[1] as usize])
        .map(|state| if state.len() < HEAD { None } else { quantile(state, q) })
        .collect();
    Arc::new(out)
}

#[cfg(test)]
mod tests {
    use super::super::keys::group;
    use super::*;
    use arrow_array::Int64Array;

    /// The one-group states of `values`, then their merge (as map tasks and a reducer do).
    fn one_group(values: Vec<Option<f64>>) -> (Groups, ArrayRef) {
        let keys: ArrayRef = Arc::new(Int64Array::from(vec![0; values.len()]));
        (group(&[keys]).unwrap(), Arc::new(Float64Array::from(values)))
    }

    fn at(states: &ArrayRef, q: f64) -> Option<f64> {
        digest_quantiles(states, q).as_primitive::<Float64Type>().iter().next().flatten()
    }

    #[test]
    fn merged_summaries_estimate_quantiles_within_a_percent_of_rank() {
        // 200,000 values in 40 parts, summarised apart and merged.
        let values: Vec<f64> = (0..200_000u64).map(|i| ((i * 7_919) % 200_003) as f64 / 3.0 + (i % 5) as f64).collect();
        let parts: Vec<ArrayRef> = values
            .chunks(5_000)
            .map(|c| {
                let (g, v) = one_group(c.iter().copied().map(Some).collect());
                group_digests(&v, &g).unwrap()
            })
            .collect();
        let width: usize = parts.iter().map(|p| p.as_list::<i32>().values().len()).sum();
        assert!(width <= 40 * (HEAD + 2 * CENTROIDS), "states stay small: {width} floats");
        let all = arrow_select::concat::concat(&parts.iter().map(|p| p.as_ref()).collect::<Vec<_>>()).unwrap();
        let (g, _) = one_group(vec![None; 40]);
        let merged = merge_digests(&all, &g).unwrap();
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        for q in [0.0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0] {
            let got = at(&merged, q).unwrap();
            let rank = sorted.partition_point(|v| *v < got) as f64 / sorted.len() as f64;
            assert!((rank - q).abs() < 0.01, "q={q}: {got} is at rank {rank}");
        }
    }

    #[test]
    fn infinities_and_nan_take_their_places_in_order() {
        let (inf, nan) = (f64::INFINITY, f64::NAN);
        let (g, v) = one_group(vec![Some(-inf), Some(1.0), None, Some(2.0), Some(3.0), Some(inf), Some(nan)]);
        let s = group_digests(&v, &g).unwrap();
        assert_eq!(at(&s, 0.0), Some(-inf));
        assert_eq!(at(&s, 0.5), Some(2.5), "between the 3rd and 4th of six, as numpy has it");
        assert_eq!(at(&s, 0.75), Some(inf));
        assert!(at(&s, 1.0).unwrap().is_nan());
        let (g, v) = one_group(vec![None, Some(nan)]);
        let lifted = lift_digests(&v).unwrap();
        assert_eq!(at(&lifted, 0.5), None, "a null alone: no values");
        assert!(at(&merge_digests(&lifted, &g).unwrap(), 0.5).unwrap().is_nan());
    }
}
