//! Approximate quantiles (`approx_median`, `approx_quantile`): each group keeps a t-digest of
//! its finite values (at most [`CENTROIDS`] centroids, merged in one pass over them in order on
//! the `tdigest` crate's scale; the crate estimates the quantiles) and counts of its infinities
//! and NaNs, which a digest cannot hold. States merge by merging digests, so a group's state
//! stays a few kilobytes however many values it has. A group of at most [`RAW_MAX`] values
//! keeps them as they are, in no order, and its quantiles are exact: that costs no sort, and
//! its state is at most ten times a digest's.
//!
//! A state is one list of f64 per group: `[-inf count, +inf count, NaN count, count, sum, min,
//! max, kind, ...]`, then for a digest (kind [`DIGEST`]) `mean_1, weight_1, mean_2, weight_2,
//! ...` in order of the means, for raw values (kind [`RAW`]) the finite values.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use arrow_array::{Array, ArrayRef, Float64Array, ListArray};
use arrow_buffer::OffsetBuffer;
use arrow_schema::{DataType, Field};
use tdigest::{Centroid, TDigest};

use super::keys::Groups;
use super::lists::exact_quantile;
use super::plan_err;
use crate::floats::number_cmp;
use crate::{Error, Result};

/// Centroids a digest keeps: quantiles within about 1% of rank (the crate's and the paper's
/// usual compression).
pub(super) const CENTROIDS: usize = 100;
/// The values a group needs for [`States::push_selected`]: the scale's first step,
/// 2 / CENTROIDS² of them, must hold one.
const SELECT_FROM: usize = CENTROIDS * CENTROIDS / 2;
/// The most values (infinities and NaNs counted) a group keeps as they are, not as a digest.
pub(super) const RAW_MAX: usize = 2048;
/// Floats before the centroids or values in a state: -inf, +inf and NaN counts, the finite
/// values' count, sum, min and max, and the state's kind.
const HEAD: usize = 8;
type Head = [f64; HEAD];
/// A state's kind: a digest's centroids follow its head.
const DIGEST: f64 = 0.0;
/// A state's kind: its finite values follow its head, as they are.
const RAW: f64 = 1.0;
const KIND: usize = 7;
const EMPTY: Head = [0.0, 0.0, 0.0, 0.0, 0.0, f64::INFINITY, f64::NEG_INFINITY, RAW];

/// A state's values counted by its head: infinities, NaNs and finite values.
fn values_in(head: &[f64]) -> f64 {
    head[..4].iter().sum()
}

/// Whether a state holds its finite values as they are.
fn is_raw(state: &[f64]) -> bool {
    state[KIND] == RAW
}

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

/// The fraction of the weight the first `k` centroids hold at most, on a scale of [`CENTROIDS`]
/// steps that grows quadratically from both tails: narrow centroids at the ends, wide in the
/// middle (the `tdigest` crate's).
fn q_of_k(k: f64) -> f64 {
    let k = k / CENTROIDS as f64;
    match k >= 0.5 {
        true => 1.0 - 2.0 * (1.0 - k) * (1.0 - k),
        false => 2.0 * k * k,
    }
}

/// States being written: one list of f64 per group.
struct States {
    values: Vec<f64>,
    offsets: Vec<i32>,
    /// Room that [`place_ranks`] spreads values into, kept from one group to the next.
    scratch: Vec<f64>,
}

impl States {
    /// Room for `groups` states of `floats` floats in all after their heads.
    fn with_capacity(groups: usize, floats: usize) -> Self {
        let mut offsets = Vec::with_capacity(groups + 1);
        offsets.push(0);
        Self { values: Vec::with_capacity(groups * HEAD + floats), offsets, scratch: Vec::new() }
    }

    /// Appends `head`, marked as of `kind`.
    fn head(&mut self, head: &Head, kind: f64) {
        self.values.extend_from_slice(&head[..KIND]);
        self.values.push(kind);
    }

    /// Appends the state of `head` and its finite values as they are.
    fn push_raw(&mut self, head: &Head, values: impl Iterator<Item = f64>) -> Result<()> {
        self.head(head, RAW);
        self.values.extend(values);
        self.end_state()
    }

    /// Appends the digest of `head` and its finite `values` (unordered; reordered here): by
    /// selecting ranks when there are enough, else by sorting.
    fn push_digest(&mut self, head: &Head, values: &mut [f64]) -> Result<()> {
        if values.len() >= SELECT_FROM {
            return self.push_selected(head, values);
        }
        values.sort_unstable_by(number_cmp);
        self.push(head, values.iter().map(|&v| (v, 1.0)))
    }

    /// Appends the state of `head` and `centroids` (in order of their means), merging
    /// neighbours as the t-digest does when there are more than [`CENTROIDS`].
    fn push(&mut self, head: &Head, centroids: impl ExactSizeIterator<Item = (f64, f64)>) -> Result<()> {
        self.head(head, DIGEST);
        if centroids.len() <= CENTROIDS {
            self.values.extend(centroids.flat_map(|(m, w)| [m, w]));
        } else {
            let total = head[3];
            let (mut k, mut limit) = (1.0, q_of_k(1.0) * total);
            let (mut sum, mut weight, mut before) = (0.0, 0.0, 0.0);
            for (m, w) in centroids {
                // The last step takes whatever weight rounding left over.
                if weight > 0.0 && before + weight + w > limit && k < CENTROIDS as f64 {
                    self.values.extend([sum / weight, weight]);
                    before += weight;
                    (sum, weight) = (0.0, 0.0);
                    k += 1.0;
                    limit = q_of_k(k) * total;
                }
                sum += m * w;
                weight += w;
            }
            self.values.extend([sum / weight, weight]);
        }
        self.end_state()
    }

    /// Appends the state of `head` and `values` (unordered, at least [`SELECT_FROM`] of them),
    /// the centroids [`States::push`] would give them sorted: where each centroid ends is known
    /// in advance when each step of the scale holds at least one value, so selecting those
    /// ranks, not sorting, is enough.
    fn push_selected(&mut self, head: &Head, values: &mut [f64]) -> Result<()> {
        let n = values.len();
        let ends = (1..CENTROIDS).map(|k| (q_of_k(k as f64) * n as f64) as usize);
        let ends: Vec<usize> = ends.chain([n]).collect();
        let mut scratch = std::mem::take(&mut self.scratch);
        // The head's minimum and maximum are those of the values: the ranges' span.
        let values = place_ranks(values, &ends[..ends.len() - 1], (head[5], head[6]), &mut scratch);
        self.head(head, DIGEST);
        let mut from = 0;
        for end in ends {
            if end == from {
                continue;
            }
            let part = &values[from..end];
            self.values.extend([part.iter().sum::<f64>() / part.len() as f64, part.len() as f64]);
            from = end;
        }
        self.scratch = scratch;
        self.end_state()
    }

    fn end_state(&mut self) -> Result<()> {
        let end = i32::try_from(self.values.len())
            .map_err(|_| Error::Plan("approximate quantiles: a batch of states over 2^31 floats".into()))?;
        self.offsets.push(end);
        Ok(())
    }

    fn finish(self) -> Result<ArrayRef> {
        let field = Arc::new(Field::new_list_field(DataType::Float64, true));
        let values = Arc::new(Float64Array::from(self.values));
        let offsets = OffsetBuffer::new(self.offsets.into());
        let lists = ListArray::try_new(field, offsets, values, None);
        Ok(Arc::new(lists.map_err(plan_err)?))
    }
}

/// Buckets of value ranges [`place_ranks`] spreads values over before selecting ranks.
const RANGES: usize = 4096;

/// `values` (finite) reordered so that each rank in `ranks` (ascending) holds the value of that
/// rank in order, the smaller values before it and the others after: first spread over
/// [`RANGES`] equal ranges of value in order (a counting sort by range, two passes), then each
/// rank selected within its range, a small part of the values when they spread out (all of
/// them, as [`select_ranks`] alone, when they do not). The values span `lo..=hi` (were they
/// not to, the result would be the same, only slower to come); they are spread into `scratch`.
fn place_ranks<'a>(
    values: &'a mut [f64],
    ranks: &[usize],
    (lo, hi): (f64, f64),
    scratch: &'a mut Vec<f64>,
) -> &'a [f64] {
    let scale = RANGES as f64 / (hi - lo);
    // (No spread to use: every value equal, or a span wider than a float holds.)
    if !(scale.is_finite() && scale > 0.0) || values.len() < RANGES {
        select_ranks(values, ranks, 0);
        return values;
    }
    // Never decreasing with the value: a range's values are all at most the next range's.
    let range = |v: f64| (((v - lo) * scale) as usize).min(RANGES - 1);
    let mut starts = vec![0usize; RANGES + 1];
    for &v in values.iter() {
        starts[range(v) + 1] += 1;
    }
    for r in 1..=RANGES {
        starts[r] += starts[r - 1];
    }
    let mut next = starts.clone();
    scratch.clear();
    scratch.resize(values.len(), 0.0);
    let spread = &mut scratch[..];
    for &v in values.iter() {
        let r = range(v);
        spread[next[r]] = v;
        next[r] += 1;
    }
    let mut ranks = ranks.iter().copied().peekable();
    for r in 0..RANGES {
        let (from, to) = (starts[r], starts[r + 1]);
        // The ranks inside this range; one at its start is in place already.
        let mut inside = Vec::new();
        while let Some(rank) = ranks.next_if(|&rank| rank < to) {
            if rank > from {
                inside.push(rank);
            }
        }
        if !inside.is_empty() {
            select_ranks(&mut spread[from..to], &inside, from);
        }
    }
    spread
}

/// Reorders `values` (finite) so that each rank in `ranks` (ascending, counted from `first`) holds the
/// value of that rank in order, the smaller values before it and the others after.
fn select_ranks(values: &mut [f64], ranks: &[usize], first: usize) {
    let (left, right) = ranks.split_at(ranks.len() / 2);
    let Some((&rank, right)) = right.split_first() else { return };
    let at = rank - first;
    if at >= values.len() {
        return select_ranks(values, left, first);
    }
    values.select_nth_unstable_by(at, number_cmp);
    let (below, above) = values.split_at_mut(at);
    select_ranks(below, left, first);
    select_ranks(above, right, rank);
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

/// How many floats follow the heads of the states of groups of `totals` values (`finite` of
/// them finite) at most.
fn kept(totals: &[f64], finite: &[usize]) -> usize {
    let floats = |(&n, &f): (&f64, &usize)| if n <= RAW_MAX as f64 { f } else { 2 * CENTROIDS.min(f) };
    totals.iter().zip(finite).map(floats).sum()
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
    let totals: Vec<f64> = heads.iter().map(|h| values_in(h)).collect();
    let mut out = States::with_capacity(g.len(), kept(&totals, &counts));
    // The finite values laid out group after group (a counting sort by group).
    let start = starts(counts);
    let mut next = start.clone();
    let mut laid = vec![0.0; start[g.len()]];
    for (row, &group) in g.of_row.iter().enumerate() {
        let v = values.value(row);
        if values.is_valid(row) && v.is_finite() {
            laid[next[group as usize]] = v;
            next[group as usize] += 1;
        }
    }
    for ((head, b), &n) in heads.iter().zip(start.windows(2)).zip(&totals) {
        let group = &mut laid[b[0]..b[1]];
        match n <= RAW_MAX as f64 {
            true => out.push_raw(head, group.iter().copied())?,
            false => out.push_digest(head, group)?,
        }
    }
    out.finish()
}

/// Each row's value of `values` (Float64) summarised alone: what a group of one row holds.
pub(super) fn lift_digests(values: &ArrayRef) -> Result<ArrayRef> {
    let mut out = States::with_capacity(values.len(), values.len());
    for v in values.as_primitive::<Float64Type>().iter() {
        let mut head = EMPTY;
        let finite = v.is_some_and(|v| count_value(&mut head, v));
        let value = [v.unwrap_or(0.0)];
        out.push_raw(&head, value[..usize::from(finite)].iter().copied())?;
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
    let mut rows_in = vec![0usize; g.len()];
    for (row, &group) in g.of_row.iter().enumerate().filter(|(row, _)| valid(*row)) {
        add_heads(&mut heads[group as usize], state(row));
        let floats = state(row).len() - HEAD;
        counts[group as usize] += if is_raw(state(row)) { floats } else { floats / 2 };
        rows_in[group as usize] += 1;
    }
    let totals: Vec<f64> = heads.iter().map(|h| values_in(h)).collect();
    let mut out = States::with_capacity(g.len(), kept(&totals, &counts));
    // Each group's rows, group after group (a counting sort by group).
    let start = starts(rows_in);
    let mut next = start.clone();
    let mut by_group = vec![0usize; start[g.len()]];
    for (row, &group) in g.of_row.iter().enumerate().filter(|(row, _)| valid(*row)) {
        by_group[next[group as usize]] = row;
        next[group as usize] += 1;
    }
    let (mut runs, mut raw, mut pairs) = (Runs::default(), Vec::new(), Vec::new());
    for ((head, b), &n) in heads.iter().zip(start.windows(2)).zip(&totals) {
        let rows = &by_group[b[0]..b[1]];
        let raw_values = || rows.iter().filter(|&&r| is_raw(state(r))).flat_map(|&r| &state(r)[HEAD..]).copied();
        let all_raw = rows.iter().all(|&r| is_raw(state(r)));
        if all_raw && n <= RAW_MAX as f64 {
            out.push_raw(head, raw_values())?;
            continue;
        }
        raw.clear();
        raw.extend(raw_values());
        if all_raw {
            out.push_digest(head, &mut raw)?;
            continue;
        }
        // Each digest's centroids are in order already, and so are the raw values once sorted:
        // merging those runs orders the group's.
        raw.sort_unstable_by(f64::total_cmp);
        pairs.clear();
        pairs.extend(raw.iter().flat_map(|&v| [v, 1.0]));
        let digests = rows.iter().filter(|&&r| !is_raw(state(r))).map(|&r| &state(r)[HEAD..]);
        let merged = runs.merge(digests.chain([pairs.as_slice()]));
        out.push(head, merged.iter().copied())?;
    }
    out.finish()
}

/// Merges runs of centroids, each in order of their means, into one run in order, two runs at a
/// time; the buffers are kept for the next merge.
#[derive(Default)]
struct Runs {
    one: Vec<(f64, f64)>,
    two: Vec<(f64, f64)>,
    /// Where each run ends in `one`.
    ends: Vec<usize>,
}

impl Runs {
    /// `runs`, each (mean, weight, mean, weight, ...), merged.
    fn merge<'a>(&mut self, runs: impl Iterator<Item = &'a [f64]>) -> &[(f64, f64)] {
        let (one, two, ends) = (&mut self.one, &mut self.two, &mut self.ends);
        one.clear();
        ends.clear();
        for run in runs {
            one.extend(run.chunks_exact(2).map(|c| (c[0], c[1])));
            ends.push(one.len());
        }
        two.resize(one.len(), (0.0, 0.0));
        while ends.len() > 1 {
            let mut from = 0;
            for k in 0..ends.len().div_ceil(2) {
                let (mid, end) = (ends[2 * k], ends[(2 * k + 1).min(ends.len() - 1)]);
                merge_two(&one[from..mid], &one[mid..end], &mut two[from..end]);
                from = end;
                ends[k] = end;
            }
            ends.truncate(ends.len().div_ceil(2));
            std::mem::swap(one, two);
        }
        &self.one
    }
}

/// `a` and `b`, each in order of their means, merged into `out` (as long as both).
fn merge_two(a: &[(f64, f64)], b: &[(f64, f64)], out: &mut [(f64, f64)]) {
    let (mut i, mut j) = (0, 0);
    for slot in out.iter_mut() {
        let take_a = j == b.len() || (i < a.len() && a[i].0.total_cmp(&b[j].0).is_le());
        *slot = if take_a { a[i] } else { b[j] };
        if take_a {
            i += 1;
        } else {
            j += 1;
        }
    }
}

/// The value at fraction `q` of a state's values in order (-inf first, NaN last); None when it
/// has none. Exact for raw values (see [`exact_quantile`]), estimated from a digest.
fn quantile(state: &[f64], q: f64, scratch: &mut Vec<f64>) -> Option<f64> {
    let (head, centroids) = state.split_at(HEAD);
    if is_raw(state) {
        let count = |i: usize| head[i] as usize;
        scratch.clear();
        scratch.extend(std::iter::repeat_n(f64::NEG_INFINITY, count(0)));
        scratch.extend_from_slice(centroids);
        scratch.extend(std::iter::repeat_n(f64::INFINITY, count(1)));
        scratch.extend(std::iter::repeat_n(f64::NAN, count(2)));
        return exact_quantile(scratch, q);
    }
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
    let mut scratch = Vec::new();
    let out: Float64Array = lists
        .value_offsets()
        .windows(2)
        .map(|b| &flat[b[0] as usize..b[1] as usize])
        .map(|state| if state.len() < HEAD { None } else { quantile(state, q, &mut scratch) })
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

    /// `values` in `parts` (sizes), each summarised alone, then merged as one group.
    fn merged(values: &[f64], parts: &[usize]) -> ArrayRef {
        let mut at = 0;
        let states: Vec<ArrayRef> = parts
            .iter()
            .map(|&n| {
                let (g, v) = one_group(values[at..at + n].iter().copied().map(Some).collect());
                at += n;
                group_digests(&v, &g).unwrap()
            })
            .collect();
        let all = arrow_select::concat::concat(&states.iter().map(|p| p.as_ref()).collect::<Vec<_>>()).unwrap();
        merge_digests(&all, &one_group(vec![None; parts.len()]).0).unwrap()
    }

    #[test]
    fn groups_of_few_values_keep_them_and_answer_exactly() {
        let values: Vec<f64> = (0..6_000u64).map(|i| ((i * 7_919) % 6_007) as f64 / 3.0).collect();
        let exact = |n: usize, q: f64| exact_quantile(&mut values[..n].to_vec(), q);
        // Raw parts that stay raw merged (up to RAW_MAX values), and that become a digest.
        for (n, parts) in [(1_000, vec![400, 600]), (RAW_MAX, vec![RAW_MAX - 1, 1]), (RAW_MAX + 1, vec![RAW_MAX, 1])] {
            let state = merged(&values, &parts);
            let floats = state.as_list::<i32>().value(0).len();
            assert_eq!(floats, if n <= RAW_MAX { HEAD + n } else { HEAD + 2 * CENTROIDS }, "n={n}");
            for q in [0.0, 0.3, 0.5, 0.99, 1.0] {
                let got = at(&state, q).unwrap();
                match n <= RAW_MAX {
                    true => assert_eq!(Some(got), exact(n, q), "n={n} q={q}"),
                    false => assert!((got - exact(n, q).unwrap()).abs() <= 0.01 * 2_000.0, "n={n} q={q}: {got}"),
                }
            }
        }
        // A digest merged with raw values: within a percent of rank of the exact answer.
        let state = merged(&values, &[5_000, 7, 993]);
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        for q in [0.01, 0.5, 0.9] {
            let got = at(&state, q).unwrap();
            let rank = sorted.partition_point(|v| *v < got) as f64 / sorted.len() as f64;
            assert!((rank - q).abs() < 0.01, "q={q}: {got} is at rank {rank}");
        }
    }

    #[test]
    fn selecting_ranks_gives_the_centroids_sorting_gives() {
        // Values with ties, negative and positive zeros among them, in no order; then with a
        // few far apart from the rest (most fall in one range of value); then with the widest
        // span (wider than a float holds); then bunched in a few values.
        let value = |i: u64| ((i * 7_919) % 10_007) as f64 / 7.0 - 700.0;
        let zero = |i: u64| if i % 2 == 0 { 0.0 } else { -0.0 };
        let plain = |i: u64| if i % 100 == 0 { zero(i / 100) } else { value(i) };
        let far = |i: u64| if i % 1000 == 3 { 1e300 } else { plain(i) };
        let widest = |i: u64| [f64::MAX, f64::MIN, plain(i)][(i % 500).min(2) as usize];
        let bunched = |i: u64| (i % 3) as f64;
        let sets: [&dyn Fn(u64) -> f64; 4] = [&plain, &far, &widest, &bunched];
        for (set, n) in sets.iter().flat_map(|f| [SELECT_FROM, 20_000, 123_457].map(|n| (f, n))) {
            let values: Vec<f64> = (0..n as u64).map(set).collect();
            let mut head = EMPTY;
            values.iter().for_each(|&v| _ = count_value(&mut head, v));
            let (mut sorted, mut selected) = (States::with_capacity(1, n), States::with_capacity(1, n));
            let mut in_order = values.clone();
            in_order.sort_by(f64::total_cmp);
            sorted.push(&head, in_order.iter().map(|&v| (v, 1.0))).unwrap();
            selected.push_selected(&head, &mut values.clone()).unwrap();
            assert_eq!(sorted.values.len(), selected.values.len(), "n={n}");
            for (a, b) in sorted.values.iter().zip(&selected.values) {
                assert!((a - b).abs() <= 1e-9 * a.abs().max(1.0) || a == b, "n={n}: {a} != {b}");
            }
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
