//! What each aggregate reads, keeps and merges: its arguments checked, its state's columns,
//! a row lifted into a state, states merged.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{ArrayRef, Float64Array, RecordBatch, StructArray, UInt64Array};
use arrow_cast::{cast, cast_with_options, CastOptions};
use arrow_schema::{DataType, Field};
use arrow_select::take::take;

use super::digest::{lift_digests, merge_digests};
use super::kernels::{
    any_all, extreme_values, merge_moments, ones, pick, singletons, sum_numeric, sum_u64, union_sets,
};
use super::keys::Groups;
use super::lists::{merge_lists, Keep};
use super::pairs::{lift_pairs, merge_pairs};
use super::{column, plan_err, Agg, AggFunc};
use crate::floats::canonical;
use crate::{Error, Result};

/// Whether `agg` has the second column and the argument its function takes, and no others.
pub(super) fn check_args(agg: &Agg) -> Result<()> {
    let (name, f) = (agg_name(agg.func), agg.func);
    let wrong = |what: String| Err(Error::Plan(format!("{}=({:?}, {name:?}): {what}", agg.name, agg.column)));
    match (&agg.with, matches!(f, AggFunc::Corr | AggFunc::Cov)) {
        (None, true) => return wrong(format!("{name} needs two columns, as ((\"x\", \"y\"), {name:?})")),
        (Some(_), false) => return wrong(format!("{name} takes one column")),
        _ => {}
    }
    match (f, agg.arg) {
        (AggFunc::Quantile | AggFunc::ApproxQuantile, Some(q)) if (0.0..=1.0).contains(&q) => Ok(()),
        (AggFunc::Quantile | AggFunc::ApproxQuantile, _) => {
            wrong(format!("{name} needs a fraction from 0 to 1, as (column, {name:?}, 0.9)"))
        }
        (AggFunc::TopK | AggFunc::BottomK, Some(k)) if k >= 1.0 && k.fract() == 0.0 && k <= 1e6 => Ok(()),
        (AggFunc::TopK | AggFunc::BottomK, _) => {
            wrong(format!("{name} needs a whole count from 1 to 1,000,000, as (column, {name:?}, 2)"))
        }
        (_, Some(arg)) => wrong(format!("{name} takes no argument, but {arg} was given")),
        _ => Ok(()),
    }
}

/// What `agg` reads of `batch`: its column (for corr and cov, a struct of its two columns, x
/// and y); None for a count of rows. Where values are ordered, every NaN is one NaN (above every
/// number); sums and moments take a NaN as it is, whatever its bits.
pub(super) fn input(agg: &Agg, batch: &RecordBatch) -> Result<Option<ArrayRef>> {
    let ordered =
        agg.func.gathers() || matches!(agg.func, AggFunc::Min | AggFunc::Max | AggFunc::TopK | AggFunc::BottomK);
    let read = |c: &str| column(batch, c).map(|a| if ordered { canonical(&a, false) } else { a });
    let Some(x) = agg.column.as_deref().map(read).transpose()? else {
        return Ok(None);
    };
    let Some(y) = agg.with.as_deref().map(read).transpose()? else {
        return Ok(Some(x));
    };
    let fields = vec![Field::new("x", x.data_type().clone(), true), Field::new("y", y.data_type().clone(), true)];
    Ok(Some(Arc::new(StructArray::try_new(fields.into(), vec![x, y], None).map_err(plan_err)?)))
}

pub(super) fn state_fields(agg: &Agg, value: Option<&DataType>) -> Result<Vec<Field>> {
    check_args(agg)?;
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
        AggFunc::Sum => {
            numeric(value)?;
            vec![f("sum", sum_type(value.expect("checked by numeric")))]
        }
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
        AggFunc::Median | AggFunc::Quantile => {
            numeric(value)?;
            vec![f("sorted", list_of(DataType::Float64))]
        }
        AggFunc::ApproxMedian | AggFunc::ApproxQuantile => {
            numeric(value)?;
            vec![f("digest", list_of(DataType::Float64))]
        }
        AggFunc::TopK | AggFunc::BottomK => {
            let t = value.ok_or_else(|| Error::Plan(format!("{} needs a column", agg_name(agg.func))))?;
            vec![f("kept", list_of(t.clone()))]
        }
        AggFunc::Corr | AggFunc::Cov => {
            if let Some(DataType::Struct(pair)) = value {
                for field in pair.iter() {
                    numeric(Some(field.data_type()))?;
                }
            }
            let names = ["n", "mean_x", "mean_y", "m2_x", "m2_y", "c_xy"];
            names.iter().map(|n| f(n, if *n == "n" { DataType::UInt64 } else { DataType::Float64 })).collect()
        }
        AggFunc::Any | AggFunc::All => match value {
            Some(DataType::Boolean) => vec![f("v", DataType::Boolean)],
            t => {
                return Err(Error::Plan(format!(
                    "{} of {:?} needs booleans, not {t:?}",
                    agg_name(agg.func),
                    agg.column
                )))
            }
        },
    })
}

pub(super) fn list_of(t: DataType) -> DataType {
    DataType::List(Arc::new(Field::new_list_field(t, true)))
}

pub(super) fn agg_name(f: AggFunc) -> &'static str {
    AggFunc::NAMES.iter().find(|(_, g)| *g == f).map_or("?", |(n, _)| *n)
}

/// Columns in an aggregate's state.
pub(super) fn state_width(f: AggFunc) -> usize {
    match f {
        AggFunc::Count | AggFunc::CountDistinct | AggFunc::Sum | AggFunc::Min | AggFunc::Max => 1,
        AggFunc::Median | AggFunc::Quantile | AggFunc::TopK | AggFunc::BottomK | AggFunc::Any | AggFunc::All => 1,
        AggFunc::ApproxMedian | AggFunc::ApproxQuantile => 1,
        AggFunc::Mean | AggFunc::First | AggFunc::Last => 2,
        AggFunc::Std | AggFunc::Var => 3,
        AggFunc::Corr | AggFunc::Cov => 6,
    }
}

/// Each row's state for `agg` (of `value`, one of `rows` rows, the first of which is number
/// `order` in first/last's order): what a group of one row holds.
pub(super) fn lift(agg: &Agg, value: Option<&ArrayRef>, rows: usize, order: u64) -> Result<Vec<ArrayRef>> {
    let value_or_rows = || value.cloned().expect("checked by state_fields");
    Ok(match agg.func {
        AggFunc::Count => vec![ones(value, rows)],
        AggFunc::CountDistinct => vec![singletons(&value_or_rows())?],
        AggFunc::Sum => vec![widen_for_sum(agg, value)?],
        AggFunc::Mean => vec![as_f64(value)?, ones(value, rows)],
        AggFunc::Std | AggFunc::Var => {
            vec![ones(value, rows), as_f64(value)?, Arc::new(Float64Array::from(vec![0.0; rows]))]
        }
        AggFunc::Min | AggFunc::Max => vec![value_or_rows()],
        AggFunc::First | AggFunc::Last => {
            let ord = (0..rows as u64).map(|i| order + i);
            vec![value_or_rows(), Arc::new(UInt64Array::from_iter_values(ord))]
        }
        AggFunc::Median | AggFunc::Quantile => vec![singletons(&as_f64(value)?)?],
        AggFunc::ApproxMedian | AggFunc::ApproxQuantile => vec![lift_digests(&as_f64(value)?)?],
        AggFunc::TopK | AggFunc::BottomK => vec![singletons(&value_or_rows())?],
        AggFunc::Corr | AggFunc::Cov => {
            let pair = value_or_rows();
            let pair = pair.as_struct();
            lift_pairs(&as_f64(Some(pair.column(0)))?, &as_f64(Some(pair.column(1)))?).to_vec()
        }
        AggFunc::Any | AggFunc::All => vec![value_or_rows()],
    })
}

/// `agg`'s states (its columns, rows in groups `g`) merged: one state per group.
pub(super) fn merge_state(agg: &Agg, cols: &[ArrayRef], g: &Groups) -> Result<Vec<ArrayRef>> {
    let largest = matches!(agg.func, AggFunc::Max | AggFunc::Last);
    Ok(match agg.func {
        AggFunc::Count => vec![sum_u64(&cols[0], g)],
        AggFunc::CountDistinct => vec![union_sets(&cols[0], g)?],
        AggFunc::Sum => vec![sum_numeric(&cols[0], g, described(agg))?],
        AggFunc::Mean => vec![sum_numeric(&cols[0], g, described(agg))?, sum_u64(&cols[1], g)],
        AggFunc::Std | AggFunc::Var => merge_moments(&cols[0], &cols[1], &cols[2], g).to_vec(),
        AggFunc::Min | AggFunc::Max => match extreme_values(&cols[0], g, largest) {
            Some(values) => vec![values],
            None => vec![take(&cols[0], &pick(&cols[0], None, g, largest)?, None).map_err(plan_err)?],
        },
        AggFunc::First | AggFunc::Last => {
            let best = pick(&cols[1], Some(&cols[0]), g, largest)?;
            vec![take(&cols[0], &best, None).map_err(plan_err)?, take(&cols[1], &best, None).map_err(plan_err)?]
        }
        AggFunc::Median | AggFunc::Quantile | AggFunc::TopK | AggFunc::BottomK => {
            vec![merge_lists(&cols[0], g, keep(agg))?]
        }
        AggFunc::ApproxMedian | AggFunc::ApproxQuantile => vec![merge_digests(&cols[0], g)?],
        AggFunc::Corr | AggFunc::Cov => merge_pairs(cols, g).to_vec(),
        AggFunc::Any => vec![any_all(&cols[0], g, true)],
        AggFunc::All => vec![any_all(&cols[0], g, false)],
    })
}

/// Which values a list-valued aggregate keeps.
pub(super) fn keep(agg: &Agg) -> Keep {
    match agg.func {
        AggFunc::TopK | AggFunc::BottomK => {
            Keep::Extremes { k: agg.arg.unwrap_or(1.0) as usize, largest: agg.func == AggFunc::TopK }
        }
        _ => Keep::All,
    }
}

/// What a sum of `t` adds up in: Int64 for integers, a 38-digit decimal of the same scale for
/// decimals (exact, as pyarrow's), else Float64.
fn sum_type(t: &DataType) -> DataType {
    match t {
        t if t.is_integer() => DataType::Int64,
        DataType::Decimal128(_, scale) => DataType::Decimal128(38, *scale),
        _ => DataType::Float64,
    }
}

/// A sum's input in its [`sum_type`]; a value that does not fit (a u64 above i64::MAX) is an
/// error, never a null.
pub(super) fn widen_for_sum(agg: &Agg, value: Option<&ArrayRef>) -> Result<ArrayRef> {
    let v = value.expect("checked by state_fields");
    let strict = CastOptions { safe: false, ..Default::default() };
    cast_with_options(v, &sum_type(v.data_type()), &strict)
        .map_err(|e| Error::Plan(format!("sum of {:?}: {e}; cast the column to float64 first", described(agg))))
}

/// The aggregate's column, as errors name it.
pub(super) fn described(agg: &Agg) -> &str {
    agg.column.as_deref().unwrap_or(&agg.name)
}

pub(super) fn as_f64(value: Option<&ArrayRef>) -> Result<ArrayRef> {
    cast(value.expect("checked by state_fields"), &DataType::Float64).map_err(plan_err)
}
