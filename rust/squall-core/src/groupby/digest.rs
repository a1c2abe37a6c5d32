//! Approximate quantiles (`approx_median`, `approx_quantile`): each group keeps a t-digest of
//! its finite values (the `tdigest` crate, at most [`CENTROIDS`] centroids) and counts of its
//! infinities and NaNs, which a digest cannot hold. States merge by merging digests, so a
//! group's state stays a few kilobytes however many values it has.
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
/// Floats before the centroids in a state.
const HEAD: usize = 7;

/// A group's values, summarised.
struct Summary {
    neg_inf: f64,
    pos_inf: f64,
    nan: f64,
    finite: TDigest,
}

impl Summary {
    /// The summary of `values` (any order; this sorts them).
    fn of(values: &mut Vec<f64>) -> Summary {
        let (mut neg_inf, mut pos_inf, mut nan) = (0.0, 0.0, 0.0);
        values.retain(|v| match v {
            v if v.is_nan() => {
                nan += 1.0;
                false
            }
            v if *v == f64::INFINITY => {
                pos_inf += 1.0;
                false
            }
            v if *v == f64::NEG_INFINITY => {
                neg_inf += 1.0;
                false
            }
            _ => true,
        });
        values.sort_unstable_by(f64::total_cmp);
        let finite = TDigest::new_with_size(CENTROIDS).merge_sorted(std::mem::take(values));
        Summary { neg_inf, pos_inf, nan, finite }
    }

    fn decode(state: &[f64]) -> Summary {
        let centroids = state[HEAD..].chunks_exact(2).map(|c| Centroid::new(c[0], c[1])).collect::<Vec<_>>();
        let bound = |v: f64| (!centroids.is_empty()).then_some(v);
        let finite = TDigest::new(centroids.clone(), state[4], state[3], bound(state[6]), bound(state[5]), CENTROIDS);
        Summary { neg_inf: state[0], pos_inf: state[1], nan: state[2], finite }
    }

    fn encode(&self, out: &mut Vec<f64>) {
        let d = &self.finite;
        out.extend([self.neg_inf, self.pos_inf, self.nan, d.count(), d.sum()]);
        out.extend([d.min().unwrap_or(0.0), d.max().unwrap_or(0.0)]);
        out.extend(d.centroids().iter().flat_map(|c| [c.mean(), c.weight()]));
    }

    fn merge(summaries: Vec<Summary>) -> Summary {
        let mut all = Summary { neg_inf: 0.0, pos_inf: 0.0, nan: 0.0, finite: TDigest::new_with_size(CENTROIDS) };
        let mut digests = Vec::with_capacity(summaries.len());
        for s in summaries {
            all.neg_inf += s.neg_inf;
            all.pos_inf += s.pos_inf;
            all.nan += s.nan;
            if !s.finite.is_empty() {
                digests.push(s.finite);
            }
        }
        if !digests.is_empty() {
            all.finite = TDigest::merge_digests(digests);
        }
        all
    }

    /// The value at fraction `q` of the group's values in order (-inf first, NaN last); None
    /// when it has none.
    fn quantile(&self, q: f64) -> Option<f64> {
        let finite = self.finite.count();
        let total = self.neg_inf + finite + self.pos_inf + self.nan;
        if total == 0.0 {
            return None;
        }
        let mut rank = q * total;
        for (count, value) in [(self.neg_inf, f64::NEG_INFINITY), (finite, f64::NAN), (self.pos_inf, f64::INFINITY)] {
            if count > 0.0 && rank <= count {
                return match value.is_nan() {
                    true => self.finite.estimate_quantile(rank / count),
                    false => Some(value),
                };
            }
            rank -= count;
        }
        Some(f64::NAN)
    }
}

fn states(summaries: impl Iterator<Item = Summary>) -> Result<ArrayRef> {
    let mut values = Vec::new();
    let mut lengths = Vec::new();
    for s in summaries {
        let before = values.len();
        s.encode(&mut values);
        lengths.push(values.len() - before);
    }
    let field = Arc::new(Field::new_list_field(DataType::Float64, true));
    let values = Arc::new(Float64Array::from(values));
    Ok(Arc::new(ListArray::try_new(field, OffsetBuffer::from_lengths(lengths), values, None).map_err(plan_err)?))
}

/// Each group's summary of its non-null values of `values` (Float64, rows in groups `g`).
pub(super) fn group_digests(values: &ArrayRef, g: &Groups) -> Result<ArrayRef> {
    let values = values.as_primitive::<Float64Type>();
    let mut of_group: Vec<Vec<f64>> = vec![Vec::new(); g.len()];
    for (row, v) in values.iter().enumerate() {
        if let Some(v) = v {
            of_group[g.of_row[row] as usize].push(v);
        }
    }
    states(of_group.into_iter().map(|mut v| Summary::of(&mut v)))
}

/// Each row's value of `values` (Float64) summarised alone: what a group of one row holds.
pub(super) fn lift_digests(values: &ArrayRef) -> Result<ArrayRef> {
    let values = values.as_primitive::<Float64Type>();
    states(values.iter().map(|v| Summary::of(&mut v.into_iter().collect())))
}

/// The summaries in `lists` (rows in groups `g`) merged: one per group.
pub(super) fn merge_digests(lists: &ArrayRef, g: &Groups) -> Result<ArrayRef> {
    let lists = lists.as_list::<i32>();
    let flat = lists.values().as_primitive::<Float64Type>().values();
    let mut of_group: Vec<Vec<Summary>> = (0..g.len()).map(|_| Vec::new()).collect();
    for (row, bounds) in lists.value_offsets().windows(2).enumerate() {
        if lists.is_valid(row) {
            of_group[g.of_row[row] as usize].push(Summary::decode(&flat[bounds[0] as usize..bounds[1] as usize]));
        }
    }
    states(of_group.into_iter().map(Summary::merge))
}

/// The value at fraction `q` of each summary in `lists`; null for a group without values.
pub(super) fn digest_quantiles(lists: &ArrayRef, q: f64) -> ArrayRef {
    let lists = lists.as_list::<i32>();
    let flat = lists.values().as_primitive::<Float64Type>().values();
    let out: Float64Array = lists
        .value_offsets()
        .windows(2)
        .map(|b| Summary::decode(&flat[b[0] as usize..b[1] as usize]).quantile(q))
        .collect();
    Arc::new(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact(values: &[f64], q: f64) -> f64 {
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        v[((q * (v.len() - 1) as f64).round() as usize).min(v.len() - 1)]
    }

    #[test]
    fn merged_summaries_estimate_quantiles_within_a_percent_of_rank() {
        // 200,000 values in 40 parts, summarised apart and merged, as map tasks and reducers do.
        let values: Vec<f64> = (0..200_000u64).map(|i| ((i * 7_919) % 200_003) as f64 / 3.0 + (i % 5) as f64).collect();
        let parts: Vec<Summary> = values.chunks(5_000).map(|c| Summary::of(&mut c.to_vec())).collect();
        let mut encoded = Vec::new();
        parts.iter().for_each(|p| p.encode(&mut encoded));
        let width = encoded.len();
        assert!(width < 40 * (HEAD + 2 * CENTROIDS + 20), "states stay small: {width} floats");
        let merged = Summary::merge(parts);
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        for q in [0.0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0] {
            let got = merged.quantile(q).unwrap();
            let rank = sorted.partition_point(|v| *v < got) as f64 / sorted.len() as f64;
            assert!((rank - q).abs() < 0.01, "q={q}: {got} is at rank {rank}, exact {}", exact(&values, q));
        }
    }

    #[test]
    fn infinities_and_nan_take_their_places_in_order() {
        let mut values = vec![f64::NEG_INFINITY, 1.0, 2.0, 3.0, f64::INFINITY, f64::NAN];
        let s = Summary::of(&mut values);
        let mut state = Vec::new();
        s.encode(&mut state);
        let s = Summary::decode(&state);
        assert_eq!(s.quantile(0.0), Some(f64::NEG_INFINITY));
        assert_eq!(s.quantile(0.5), Some(2.5), "between the 3rd and 4th of six, as numpy has it");
        assert_eq!(s.quantile(0.75), Some(f64::INFINITY));
        assert!(s.quantile(1.0).unwrap().is_nan());
        let empty = Summary::of(&mut Vec::new());
        assert_eq!(empty.quantile(0.5), None);
        let only_nan = Summary::merge(vec![Summary::of(&mut vec![f64::NAN]), empty]);
        assert!(only_nan.quantile(0.5).unwrap().is_nan());
    }
}
