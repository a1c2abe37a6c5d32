//! Hash aggregation in two phases.
//!
//! Every aggregate has a *state* (e.g. mean: sum and count). A map task computes each group's
//! state from its rows (partial aggregation); a reducer merges the partial states of its groups
//! and finishes them into the answer. Nulls are skipped, as in polars and pandas: `count` counts
//! non-null values, `sum` of nothing is 0, `mean`/`min`/`std` of nothing is null. Grouping rows
//! is in `keys`, the per-group accumulators in `kernels`.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, UInt64Type};
use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, UInt32Array, UInt64Array};
use arrow_cast::cast;
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use arrow_select::concat::concat_batches;
use arrow_select::take::take;
use serde::{Deserialize, Serialize};

use crate::codec::BATCH_ROWS;
use crate::floats::canonical;
use crate::{Error, Result};

/// The most [`BATCH_ROWS`] a map task's batch of input takes when it sends groups (see
/// [`Partials::batch_rows`]).
const MAX_BATCHES: usize = 16;

/// Schema metadata marking a map task's unaggregated rows (see `GroupBy::partial`).
const ROWS_MARK: &str = "squall.groupby.rows";

mod byte_groups;
mod digest;
mod kernels;
mod keys;
mod lists;
mod pairs;
mod states;

use digest::{digest_quantiles, group_digests};
use kernels::{count_valid, moments, sum_numeric};
use keys::{distinct_values, expected_groups, group, Groups};
pub use keys::{few_values, hash_buckets, hash_buckets_seeded, DISTINCT_PROBE};
use lists::{group_values, merge_lists_of, quantiles, Keep};
use pairs::{finish_pairs, pairs_of};
use states::{as_f64, check_args, described, input, keep, lift, merge_state, state_fields, state_width, widen_for_sum};

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
    /// The middle value (the mean of the two middle ones for an even count), exact.
    Median,
    /// The value at fraction `arg` of the sorted values, interpolated linearly (as numpy's
    /// default), exact.
    Quantile,
    /// The median, approximate: from a t-digest of each group's values (bounded state).
    ApproxMedian,
    /// The value at fraction `arg`, approximate: from a t-digest of each group's values.
    ApproxQuantile,
    /// The `arg` largest values, largest first, as a list.
    TopK,
    /// The `arg` smallest values, smallest first, as a list.
    BottomK,
    /// Pearson's correlation of the column and `with`, over rows where both are not null.
    Corr,
    /// Sample covariance (ddof = 1) of the column and `with`, over rows where both are not null.
    Cov,
    /// Whether any value is true (false when none is).
    Any,
    /// Whether every value is true (true when there are none).
    All,
}

impl AggFunc {
    /// Every function, by the name `agg()` takes (n_unique is count_distinct's other name).
    pub const NAMES: [(&'static str, AggFunc); 21] = [
        ("count", AggFunc::Count),
        ("count_distinct", AggFunc::CountDistinct),
        ("n_unique", AggFunc::CountDistinct),
        ("sum", AggFunc::Sum),
        ("mean", AggFunc::Mean),
        ("min", AggFunc::Min),
        ("max", AggFunc::Max),
        ("std", AggFunc::Std),
        ("var", AggFunc::Var),
        ("first", AggFunc::First),
        ("last", AggFunc::Last),
        ("median", AggFunc::Median),
        ("quantile", AggFunc::Quantile),
        ("approx_median", AggFunc::ApproxMedian),
        ("approx_quantile", AggFunc::ApproxQuantile),
        ("top_k", AggFunc::TopK),
        ("bottom_k", AggFunc::BottomK),
        ("corr", AggFunc::Corr),
        ("cov", AggFunc::Cov),
        ("any", AggFunc::Any),
        ("all", AggFunc::All),
    ];

    /// Whether a group's state holds its values (or up to a hundred centroids of them) rather
    /// than a few numbers: a state of a small batch is then no smaller than the batch's rows.
    pub fn gathers(self) -> bool {
        use AggFunc::*;
        matches!(self, CountDistinct | Median | Quantile | ApproxMedian | ApproxQuantile)
    }

    /// Whether a group's state holds every one of its values: merging two states then copies
    /// them and shrinks nothing.
    pub fn keeps_values(self) -> bool {
        matches!(self, AggFunc::Median | AggFunc::Quantile)
    }

    /// The function named `name`, or a PlanError listing them all.
    pub fn named(name: &str) -> Result<AggFunc> {
        match Self::NAMES.iter().find(|(n, _)| *n == name) {
            Some((_, f)) => Ok(*f),
            None => {
                let names: Vec<&str> = Self::NAMES.iter().map(|(n, _)| *n).collect();
                Err(Error::Plan(format!("no aggregation named {name:?}; they are {}", names.join(", "))))
            }
        }
    }
}

/// One named aggregate: `name = func(column)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Agg {
    /// Output column name.
    pub name: String,
    /// Input column; None counts rows.
    pub column: Option<String>,
    /// The function.
    pub func: AggFunc,
    /// corr's and cov's second column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub with: Option<String>,
    /// quantile's fraction (0 to 1); top_k's and bottom_k's count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arg: Option<f64>,
}

impl Agg {
    /// `name = func(column)`, with no second column and no argument.
    pub fn new(name: &str, column: Option<&str>, func: AggFunc) -> Agg {
        Agg { name: name.into(), column: column.map(Into::into), func, with: None, arg: None }
    }
}

/// A group-by: key columns and aggregates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
        let names: Vec<String> = batch.schema_ref().fields().iter().map(|f| f.name().clone()).collect();
        Error::MissingColumn { column: name.to_string(), to: "to group or aggregate".into(), columns: names }
    })
}

impl GroupBy {
    /// Whether each aggregate has the columns and argument its function takes (known before
    /// any data is read).
    pub fn check_args(&self) -> Result<()> {
        self.aggs.iter().try_for_each(check_args)
    }

    /// The columns it reads: its keys, then the aggregated columns, once each.
    pub fn columns(&self) -> Vec<String> {
        let mut columns = self.keys.clone();
        for c in self.aggs.iter().flat_map(|a| a.column.iter().chain(&a.with)) {
            if !columns.contains(c) {
                columns.push(c.clone());
            }
        }
        columns
    }

    /// What a map task sends the reducers for one input partition: key columns, then each
    /// aggregate's state, one row per group. When keys barely repeat, a partial aggregation
    /// would shrink nothing: then, unless an aggregate depends on input order (first, last),
    /// the rows themselves go, cut to the columns the aggregates read (fewer bytes than a state
    /// per row), marked for `merge` to aggregate. `partition` orders first/last across
    /// partitions.
    pub fn partial(&self, batch: &RecordBatch, partition: u64) -> Result<RecordBatch> {
        let keys = self.key_columns(batch)?;
        let (how, _) = self.how(&keys, batch.num_rows())?;
        self.part(batch, keys, how, partition << 40)
    }

    /// [`GroupBy::partial`] for an input of `rows` rows that arrives in batches; `leading`
    /// holds the key columns of its first [`DISTINCT_PROBE`] rows (or all, if fewer), which
    /// decide what is sent.
    pub fn partials(&self, partition: u64, leading: &RecordBatch, rows: usize) -> Result<Partials<'_>> {
        let (how, values) = self.how(&self.key_columns(leading)?, rows)?;
        Ok(Partials { group: self, order: partition << 40, how, values, parts: Vec::new() })
    }

    /// The key columns of `batch`, floats equal by value (one NaN, one zero).
    fn key_columns(&self, batch: &RecordBatch) -> Result<Vec<ArrayRef>> {
        self.keys.iter().map(|k| column(batch, k).map(|c| canonical(&c, true))).collect()
    }

    /// What to send for an input of `rows` rows whose leading rows have `keys` (see
    /// `partial`): groups unless more than half the rows would be groups of their own; and
    /// how many distinct keys the input seems to draw from.
    fn how(&self, keys: &[ArrayRef], rows: usize) -> Result<(Send, f64)> {
        let ordered = self.aggs.iter().any(|a| matches!(a.func, AggFunc::First | AggFunc::Last));
        let values = distinct_values(keys)?.unwrap_or(0.0);
        let rows = rows.max(keys.first().map_or(0, |k| k.len())) as f64;
        let distinct = expected_groups(values, rows) * 2.0 > rows;
        let how = match (distinct, ordered) {
            (true, false) => Send::Rows,
            (true, true) => Send::Lifted,
            (false, _) => Send::States,
        };
        Ok((how, values))
    }

    /// `batch` sent as `how` says; its first row is number `order` in first/last's order.
    fn part(&self, batch: &RecordBatch, keys: Vec<ArrayRef>, how: Send, order: u64) -> Result<RecordBatch> {
        match how {
            Send::Rows => self.rows(batch),
            Send::Lifted => self.states(batch, keys, order, true),
            Send::States => self.states(batch, keys, order, false),
        }
    }

    /// Each group's state; with `lift_rows`, a state per row instead (no grouping).
    fn states(&self, batch: &RecordBatch, keys: Vec<ArrayRef>, order: u64, lift_rows: bool) -> Result<RecordBatch> {
        let plain_type = |t: &DataType| match t {
            DataType::Dictionary(_, values) => values.as_ref().clone(),
            t => t.clone(),
        };
        let mut fields: Vec<Field> =
            keys.iter().zip(&self.keys).map(|(a, k)| Field::new(k, plain_type(a.data_type()), true)).collect();
        let values = self.aggs.iter().map(|agg| input(agg, batch));
        let values = values.collect::<Result<Vec<_>>>()?;
        for (agg, value) in self.aggs.iter().zip(&values) {
            fields.extend(state_fields(agg, value.as_ref().map(|v| v.data_type()))?);
        }
        let schema = Arc::new(Schema::new(fields));
        if lift_rows {
            let mut out = keys.iter().map(plain).collect::<Result<Vec<_>>>()?;
            for (agg, value) in self.aggs.iter().zip(&values) {
                out.extend(lift(agg, value.as_ref(), batch.num_rows(), order)?);
            }
            return RecordBatch::try_new(schema, out).map_err(plan_err);
        }
        let g = group(&keys)?;
        let mut out = take_firsts(&keys, &g)?;
        // Sums and counts of one column are shared by the aggregates that need them (a sum, a
        // mean and a count of the same column are two passes, not four).
        let mut memo: HashMap<(Option<&str>, &str), ArrayRef> = HashMap::new();
        for (agg, value) in self.aggs.iter().zip(&values) {
            let value = value.as_ref();
            let mut once = |what: &'static str, f: &dyn Fn() -> Result<ArrayRef>| match memo
                .entry((agg.column.as_deref(), what))
            {
                Entry::Occupied(done) => Ok::<_, Error>(done.get().clone()),
                Entry::Vacant(slot) => Ok(slot.insert(f()?).clone()),
            };
            let count = || Ok(Arc::new(UInt64Array::from(count_valid(value, &g))) as ArrayRef);
            let f64_sum = || sum_numeric(&as_f64(value)?, &g, described(agg));
            // The common aggregates accumulate straight from the values; the others lift each
            // row into a state and merge those.
            match agg.func {
                AggFunc::Count => out.push(once("count", &count)?),
                AggFunc::Sum if value.is_some_and(|v| v.data_type().is_floating()) => {
                    out.push(once("f64 sum", &f64_sum)?)
                }
                AggFunc::Sum => out.push(sum_numeric(&widen_for_sum(agg, value)?, &g, described(agg))?),
                AggFunc::Mean => {
                    out.push(once("f64 sum", &f64_sum)?);
                    out.push(once("count", &count)?);
                }
                AggFunc::Std | AggFunc::Var => out.extend(moments(&as_f64(value)?, &g)),
                AggFunc::Median | AggFunc::Quantile => out.push(group_values(&as_f64(value)?, &g, Keep::All)?),
                AggFunc::ApproxMedian | AggFunc::ApproxQuantile => out.push(group_digests(&as_f64(value)?, &g)?),
                AggFunc::Corr | AggFunc::Cov => {
                    let pair = value.expect("checked by state_fields").as_struct();
                    out.extend(pairs_of(&as_f64(Some(pair.column(0)))?, &as_f64(Some(pair.column(1)))?, &g))
                }
                AggFunc::TopK | AggFunc::BottomK => {
                    out.push(group_values(value.expect("checked by state_fields"), &g, keep(agg))?)
                }
                _ => out.extend(merge_state(agg, &lift(agg, value, batch.num_rows(), order)?, &g)?),
            }
        }
        RecordBatch::try_new(schema, out).map_err(plan_err)
    }

    /// The key columns and the aggregates' columns of `batch`, marked as unaggregated rows.
    fn rows(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let names = self.columns();
        let columns = names.iter().map(|n| column(batch, n)).collect::<Result<Vec<_>>>()?;
        let fields: Vec<Field> =
            names.iter().zip(&columns).map(|(n, c)| Field::new(n, c.data_type().clone(), true)).collect();
        let mark = HashMap::from([(ROWS_MARK.to_string(), "true".to_string())]);
        RecordBatch::try_new(Arc::new(Schema::new_with_metadata(fields, mark)), columns).map_err(plan_err)
    }

    /// Merges what map tasks sent (`partial`'s states, or rows) by key: one state per group.
    pub fn merge(&self, parts: &[RecordBatch]) -> Result<RecordBatch> {
        let (rows, states): (Vec<&RecordBatch>, Vec<&RecordBatch>) =
            parts.iter().partition(|p| p.schema_ref().metadata().contains_key(ROWS_MARK));
        let mut states: Vec<RecordBatch> = states.into_iter().cloned().collect();
        if !rows.is_empty() {
            let rows = same_types(rows)?;
            let rows = concat_batches(rows[0].schema_ref(), &rows).map_err(plan_err)?;
            let keys = self.key_columns(&rows)?;
            if states.is_empty() {
                // Only rows (keys that barely repeated in each map task): one grouping pass.
                return self.states(&rows, keys, 0, false);
            }
            // Rows that still barely repeat become states of their own, merged in one pass below.
            let (how, _) = self.how(&keys, rows.num_rows())?;
            states.push(self.states(&rows, keys, 0, how != Send::States)?);
        }
        let Some(first) = states.first() else {
            return Err(Error::Plan("group by: nothing to merge".into()));
        };
        let schema = first.schema();
        // The states joined, but for the lists of every value (median, quantile): those are
        // joined group by group straight from each batch below, in one copy, not two.
        let mut lists = Vec::new();
        let mut at = self.keys.len();
        for agg in &self.aggs {
            if agg.func.keeps_values() {
                lists.push(at);
            }
            at += state_width(agg.func);
        }
        let rest: Vec<usize> = (0..schema.fields().len()).filter(|i| !lists.contains(i)).collect();
        let projected: Vec<RecordBatch> =
            states.iter().map(|s| s.project(&rest)).collect::<std::result::Result<_, _>>().map_err(plan_err)?;
        let joined =
            concat_batches(&Arc::new(schema.project(&rest).map_err(plan_err)?), &projected).map_err(plan_err)?;
        let keys = self.key_columns(&joined)?;
        let g = group(&keys)?;
        let mut out = take_firsts(&keys, &g)?;
        // `at`: an aggregate's first state column in the states; `j`: in the joined ones.
        let (mut at, mut j) = (self.keys.len(), self.keys.len());
        for agg in &self.aggs {
            let width = state_width(agg.func);
            if agg.func.keeps_values() {
                let parts: Vec<ArrayRef> = states.iter().map(|s| s.column(at).clone()).collect();
                out.push(merge_lists_of(&parts, &g)?);
            } else {
                out.extend(merge_state(agg, &joined.columns()[j..j + width], &g)?);
                j += width;
            }
            at += width;
        }
        RecordBatch::try_new(schema, out).map_err(plan_err)
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
                AggFunc::TopK | AggFunc::BottomK | AggFunc::Any | AggFunc::All => col(0),
                AggFunc::Median => quantiles(&col(0), 0.5),
                AggFunc::Quantile => quantiles(&col(0), agg.arg.unwrap_or(0.5)),
                AggFunc::ApproxMedian => digest_quantiles(&col(0), 0.5),
                AggFunc::ApproxQuantile => digest_quantiles(&col(0), agg.arg.unwrap_or(0.5)),
                AggFunc::Corr | AggFunc::Cov => {
                    let cols: Vec<ArrayRef> = (0..6).map(col).collect();
                    finish_pairs(&cols, agg.func == AggFunc::Corr)
                }
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

/// What a map task sends for an input (see [`GroupBy::partial`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Send {
    /// The rows themselves (keys barely repeat).
    Rows,
    /// A state per row (keys barely repeat, but first/last need each row's place in order).
    Lifted,
    /// A state per group.
    States,
}

/// [`GroupBy::partial`] of an input that arrives in batches. Where groups are sent, each batch
/// is aggregated on arrival and the states merged at the end, so that a map task may hold one
/// decoded batch at a time rather than its whole input ([`Partials::in_batches`]).
pub struct Partials<'a> {
    group: &'a GroupBy,
    /// The next row's number in first/last's order.
    order: u64,
    how: Send,
    /// The distinct keys the input seems to draw from.
    values: f64,
    parts: Vec<RecordBatch>,
}

impl Partials<'_> {
    /// Whether aggregating batch by batch holds less: only when groups, not rows, are sent.
    pub fn in_batches(&self) -> bool {
        self.how == Send::States
    }

    /// The rows of the batches to push. When groups are sent: [`BATCH_ROWS`], or up to
    /// [`MAX_BATCHES`] times that until a batch holds at most a sixteenth as many groups as rows
    /// (the states of all its batches are joined and merged once more at the end, so each
    /// batch's should be few), provided a batch that large holds at most a quarter; else as
    /// large as they come (the rows sent, keys so many that small batches would barely shrink
    /// before their merge, or aggregates that gather values, whose small batches' states would
    /// not shrink at all).
    pub fn batch_rows(&self) -> usize {
        let gathers = self.group.aggs.iter().any(|a| a.func.gathers());
        if !self.in_batches() || gathers {
            return usize::MAX;
        }
        let groups = |rows: usize| expected_groups(self.values, rows as f64);
        let mut sizes = (0..=MAX_BATCHES.ilog2()).map(|k| BATCH_ROWS << k);
        let rows = sizes.find(|&rows| groups(rows) * 16.0 <= rows as f64).unwrap_or(BATCH_ROWS * MAX_BATCHES);
        match groups(rows) * 4.0 <= rows as f64 {
            true => rows,
            false => usize::MAX,
        }
    }

    /// Takes the next batch of the input.
    pub fn push(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let keys = self.group.key_columns(batch)?;
        self.parts.push(self.group.part(batch, keys, self.how, self.order)?);
        self.order += batch.num_rows() as u64;
        Ok(())
    }

    /// What the map task sends, in one batch or more of one schema; `schema` is the input's (an
    /// input without rows still sends a schema). Rows go in the batches they came in (one copy
    /// fewer than joining them: they are split into buckets next).
    pub fn finish(self, schema: &SchemaRef) -> Result<Vec<RecordBatch>> {
        match self.parts.as_slice() {
            [] => Ok(vec![self.group.partial(&RecordBatch::new_empty(schema.clone()), self.order >> 40)?]),
            [_] => Ok(self.parts),
            // States that keep every value would only be copied by a merge here: the reducer
            // merges them once.
            _ if self.how == Send::States && !self.group.aggs.iter().any(|a| a.func.keeps_values()) => {
                Ok(vec![self.group.merge(&self.parts)?])
            }
            _ => Ok(self.parts),
        }
    }
}

/// Rows from map tasks of which some read a key as dictionary codes and others as values
/// (each decides from its own part of the input): all decoded, so that they join; rows of one
/// schema as they are.
fn same_types(rows: Vec<&RecordBatch>) -> Result<Vec<RecordBatch>> {
    let first = rows[0].schema();
    if rows.iter().all(|r| r.schema_ref().fields() == first.fields()) {
        return Ok(rows.into_iter().cloned().collect());
    }
    let decoded = |r: &RecordBatch| {
        let columns = r.columns().iter().map(plain).collect::<Result<Vec<_>>>()?;
        let fields: Vec<Field> = r
            .schema()
            .fields()
            .iter()
            .zip(&columns)
            .map(|(f, c)| f.as_ref().clone().with_data_type(c.data_type().clone()))
            .collect();
        RecordBatch::try_new(Arc::new(Schema::new_with_metadata(fields, r.schema().metadata().clone())), columns)
            .map_err(plan_err)
    };
    rows.into_iter().map(decoded).collect()
}

/// Each group's key values (from its first row), dictionaries decoded.
fn take_firsts(keys: &[ArrayRef], g: &Groups) -> Result<Vec<ArrayRef>> {
    if keys.first().is_some_and(|k| k.len() == g.len()) && g.first.iter().enumerate().all(|(i, &f)| f as usize == i) {
        // Every row a group of its own, in order: the keys as they are.
        return keys.iter().map(plain).collect();
    }
    let firsts = UInt32Array::from(g.first.clone());
    keys.iter().map(|k| take(k, &firsts, None).map_err(plan_err).and_then(|k| plain(&k))).collect()
}

/// A dictionary column decoded into its values' type; other columns as they are.
fn plain(column: &ArrayRef) -> Result<ArrayRef> {
    match column.data_type() {
        DataType::Dictionary(_, values) => cast(column, values).map_err(plan_err),
        _ => Ok(column.clone()),
    }
}

#[cfg(test)]
mod tests;
