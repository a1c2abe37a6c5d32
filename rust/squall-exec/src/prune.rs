//! Row groups a filter cannot match, told from the footer's statistics: a scan followed by
//! `filter(col("t") > 30)` skips the row groups whose largest `t` is 30 or less, without
//! fetching them. The filter still runs on the rows read; this only leaves out row groups
//! that provably hold no match.
//!
//! Only what is safe is used: signed integer (and small unsigned) and string columns' min and max (strings compare by
//! bytes, as Parquet orders them; a truncated bound is still a bound), null counts for
//! `is_null`, and for floats only equality (Parquet's min and max leave NaN out, and NaN
//! compares above every number here).

use arrow_schema::{DataType, Schema};
use parquet::file::metadata::RowGroupMetaData;
use parquet::file::statistics::Statistics;
use parquet::schema::types::SchemaDescriptor;
use squall_core::expr::{BinaryOp, Expr, Literal};

/// A bound of a column's values in one row group.
#[derive(Clone, Debug, PartialEq, PartialOrd)]
enum Bound {
    Int(i64),
    Float(f64),
    Bytes(Vec<u8>),
}

/// What the statistics say of one column in one row group.
struct Stats {
    min: Option<Bound>,
    max: Option<Bound>,
    nulls: Option<u64>,
    rows: u64,
    float: bool,
}

/// Whether row group `group` may hold a row where every one of `filters` is true.
pub fn may_match(filters: &[&Expr], group: &RowGroupMetaData, parquet: &SchemaDescriptor, arrow: &Schema) -> bool {
    let stats = |name: &str| column_stats(name, group, parquet, arrow);
    filters.iter().all(|f| possible(f, &stats))
}

fn column_stats(name: &str, group: &RowGroupMetaData, parquet: &SchemaDescriptor, arrow: &Schema) -> Option<Stats> {
    let field = arrow.field_with_name(name).ok()?;
    let plain = matches!(
        field.data_type(),
        DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::Float32
            | DataType::Float64
            | DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
    );
    if !plain {
        return None;
    }
    let leaf = parquet.columns().iter().position(|c| c.path().parts() == [name.to_string()])?;
    let chunk = group.column(leaf);
    let rows = group.num_rows().max(0) as u64;
    let s = chunk.statistics()?;
    let (min, max) = match s {
        Statistics::Int32(v) => {
            (v.min_opt().map(|x| Bound::Int(*x as i64)), v.max_opt().map(|x| Bound::Int(*x as i64)))
        }
        Statistics::Int64(v) => (v.min_opt().map(|x| Bound::Int(*x)), v.max_opt().map(|x| Bound::Int(*x))),
        Statistics::Float(v) => {
            (v.min_opt().map(|x| Bound::Float(*x as f64)), v.max_opt().map(|x| Bound::Float(*x as f64)))
        }
        Statistics::Double(v) => (v.min_opt().map(|x| Bound::Float(*x)), v.max_opt().map(|x| Bound::Float(*x))),
        Statistics::ByteArray(v) => {
            (v.min_opt().map(|x| Bound::Bytes(x.data().to_vec())), v.max_opt().map(|x| Bound::Bytes(x.data().to_vec())))
        }
        _ => (None, None),
    };
    let float = field.data_type().is_floating();
    Some(Stats { min, max, nulls: s.null_count_opt(), rows, float })
}

/// Whether `e` may be true for some row: false only when the statistics prove it never is.
fn possible(e: &Expr, stats: &dyn Fn(&str) -> Option<Stats>) -> bool {
    match e {
        Expr::Binary { op: BinaryOp::And, left, right, .. } => possible(left, stats) && possible(right, stats),
        Expr::Binary { op: BinaryOp::Or, left, right, .. } => possible(left, stats) || possible(right, stats),
        Expr::Binary { op, left, right, .. } => match (left.as_ref(), right.as_ref()) {
            (Expr::Column { name }, Expr::Literal { value }) => compare(stats(name), *op, value),
            (Expr::Literal { value }, Expr::Column { name }) => match flipped(*op) {
                Some(op) => compare(stats(name), op, value),
                None => true,
            },
            _ => true,
        },
        Expr::IsNull { expr } => match expr.as_ref() {
            Expr::Column { name } => stats(name).and_then(|s| s.nulls).is_none_or(|n| n > 0),
            _ => true,
        },
        Expr::Not { expr } => match expr.as_ref() {
            Expr::IsNull { expr } => match expr.as_ref() {
                Expr::Column { name } => stats(name).is_none_or(|s| s.nulls.is_none_or(|n| n < s.rows)),
                _ => true,
            },
            _ => true,
        },
        Expr::IsIn { expr, values } => match expr.as_ref() {
            Expr::Column { name } => values.iter().any(|v| compare(stats(name), BinaryOp::Eq, v)),
            _ => true,
        },
        Expr::Literal { value: Literal::Bool(false) | Literal::Null } => false,
        _ => true,
    }
}

/// `a op b` as `b op' a`.
fn flipped(op: BinaryOp) -> Option<BinaryOp> {
    use BinaryOp::*;
    Some(match op {
        Lt => Gt,
        LtEq => GtEq,
        Gt => Lt,
        GtEq => LtEq,
        Eq => Eq,
        NotEq => NotEq,
        _ => return None,
    })
}

/// Whether `column op value` may hold for a row of a column with `stats`.
fn compare(stats: Option<Stats>, op: BinaryOp, value: &Literal) -> bool {
    use BinaryOp::*;
    let Some(s) = stats else { return true };
    let v = match value {
        Literal::Int(v) => Bound::Int(*v),
        Literal::Float(v) if !v.is_nan() => Bound::Float(*v),
        Literal::Str(v) => Bound::Bytes(v.as_bytes().to_vec()),
        // A comparison with null is null: no row is kept.
        Literal::Null => return false,
        _ => return true,
    };
    if s.float && op != Eq {
        return true;
    }
    let (Some(min), Some(max)) = (s.min.as_ref(), s.max.as_ref()) else {
        return true;
    };
    let (Some(lo), Some(hi)) = (order(min, &v), order(max, &v)) else {
        return true;
    };
    use std::cmp::Ordering::*;
    match op {
        Gt => hi == Greater,
        GtEq => hi != Less,
        Lt => lo == Less,
        LtEq => lo != Greater,
        Eq => lo != Greater && hi != Less,
        NotEq => !(lo == Equal && hi == Equal),
        _ => true,
    }
}

/// How a bound compares with a literal; None when they do not compare (a string with a
/// number).
fn order(bound: &Bound, value: &Bound) -> Option<std::cmp::Ordering> {
    match (bound, value) {
        (Bound::Int(a), Bound::Int(b)) => Some(a.cmp(b)),
        (Bound::Int(a), Bound::Float(b)) => (*a as f64).partial_cmp(b),
        (Bound::Float(a), Bound::Int(b)) => a.partial_cmp(&(*b as f64)),
        (Bound::Float(a), Bound::Float(b)) => a.partial_cmp(b),
        (Bound::Bytes(a), Bound::Bytes(b)) => Some(a.as_slice().cmp(b.as_slice())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ints(min: i64, max: i64, nulls: u64) -> Option<Stats> {
        Some(Stats {
            min: Some(Bound::Int(min)),
            max: Some(Bound::Int(max)),
            nulls: Some(nulls),
            rows: 10,
            float: false,
        })
    }

    fn col(name: &str) -> Box<Expr> {
        Box::new(Expr::Column { name: name.into() })
    }

    fn int(v: i64) -> Box<Expr> {
        Box::new(Expr::Literal { value: Literal::Int(v) })
    }

    fn bin(op: BinaryOp, left: Box<Expr>, right: Box<Expr>) -> Expr {
        Expr::Binary { op, left, right, ieee: false }
    }

    #[test]
    fn comparisons_rule_out_row_groups_only_when_the_bounds_prove_it() {
        use BinaryOp::*;
        let stats = |name: &str| match name {
            "a" => ints(10, 20, 0),
            "b" => ints(0, 0, 10),
            _ => None,
        };
        let cases = [
            (bin(Gt, col("a"), int(20)), false),
            (bin(Gt, col("a"), int(19)), true),
            (bin(GtEq, col("a"), int(20)), true),
            (bin(Lt, col("a"), int(10)), false),
            (bin(LtEq, col("a"), int(10)), true),
            (bin(Eq, col("a"), int(21)), false),
            (bin(Eq, col("a"), int(15)), true),
            (bin(Lt, int(20), col("a")), false),
            (bin(And, Box::new(bin(Gt, col("a"), int(0))), Box::new(bin(Gt, col("a"), int(30)))), false),
            (bin(Or, Box::new(bin(Gt, col("a"), int(30))), Box::new(bin(Gt, col("z"), int(30)))), true),
            (Expr::IsNull { expr: col("a") }, false),
            (Expr::Not { expr: Box::new(Expr::IsNull { expr: col("b") }) }, false),
            (bin(Gt, col("unknown"), int(5)), true),
        ];
        for (e, want) in cases {
            assert_eq!(possible(&e, &stats), want, "{e}");
        }
        let floats = |_: &str| {
            Some(Stats {
                min: Some(Bound::Float(1.0)),
                max: Some(Bound::Float(2.0)),
                nulls: Some(0),
                rows: 4,
                float: true,
            })
        };
        // NaN is left out of float statistics and compares above every number: only equality prunes.
        assert!(possible(&bin(Gt, col("f"), int(5)), &floats));
        assert!(!possible(&bin(Eq, col("f"), int(5)), &floats));
    }
}
