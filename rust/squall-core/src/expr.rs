//! Expressions over a batch's columns: arithmetic, comparisons and boolean logic on columns and
//! literals, evaluated with Arrow's kernels. `ds.filter(col("t") > 0)` and the expressions over
//! aggregates (`agg(range=col("v").max() - col("v").min())`) are built of these.

use std::fmt;
use std::sync::Arc;

use arrow_arith::boolean::{and_kleene, is_null, not, or_kleene};
use arrow_arith::numeric::{add, div, mul, neg, sub};
use arrow_array::StringArray;
use arrow_array::{Array, ArrayRef, BooleanArray, Datum, Float64Array, Int64Array, NullArray, RecordBatch};
use arrow_cast::cast;
use arrow_ord::cmp::{eq, gt, gt_eq, lt, lt_eq, neq};
use arrow_schema::{DataType, Field, FieldRef, Schema};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// An expression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Expr {
    /// A column of the batch.
    Column {
        /// Its name.
        name: String,
    },
    /// One value for every row.
    Literal {
        /// The value.
        value: Literal,
    },
    /// `left op right`.
    Binary {
        /// The operator.
        op: BinaryOp,
        /// Left operand.
        left: Box<Expr>,
        /// Right operand.
        right: Box<Expr>,
        /// Floats compare as IEEE 754 says (as pyarrow does: NaN equals nothing and orders
        /// with nothing, -0.0 equals 0.0) rather than by their total order (NaN above every
        /// number and equal to itself, as in a sort); set for pyarrow's expressions.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        ieee: bool,
    },
    /// Logical negation (null stays null).
    Not {
        /// The operand.
        expr: Box<Expr>,
    },
    /// Whether each value is null.
    IsNull {
        /// The operand.
        expr: Box<Expr>,
    },
    /// The negated number (`-x`).
    Neg {
        /// The operand.
        expr: Box<Expr>,
    },
    /// Whether each value is one of `values` (a null stays null; no value is null).
    IsIn {
        /// The operand.
        expr: Box<Expr>,
        /// The values it is checked against.
        values: Vec<Literal>,
    },
}

/// A literal value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum Literal {
    /// A 64-bit integer.
    Int(i64),
    /// A 64-bit float (infinities and NaN cross JSON as "inf", "-inf" and "nan").
    Float(#[serde(with = "json_f64")] f64),
    /// A string.
    Str(String),
    /// A boolean.
    Bool(bool),
    /// Null.
    Null,
}

/// A float in JSON, which has no infinities or NaN: those go as strings.
mod json_f64 {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        match v {
            v if v.is_finite() => s.serialize_f64(*v),
            v if v.is_nan() => s.serialize_str("nan"),
            v if *v > 0.0 => s.serialize_str("inf"),
            _ => s.serialize_str("-inf"),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Number {
            Plain(f64),
            Named(String),
        }
        match Number::deserialize(d)? {
            Number::Plain(v) => Ok(v),
            Number::Named(name) => match name.as_str() {
                "nan" => Ok(f64::NAN),
                "inf" => Ok(f64::INFINITY),
                "-inf" => Ok(f64::NEG_INFINITY),
                other => Err(D::Error::custom(format!("{other:?} is not a number"))),
            },
        }
    }
}

/// A binary operator. Division is true division (integers give floats); comparisons of
/// strings are by bytes; and/or follow SQL's three-valued logic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BinaryOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`, with the divisor's sign (as Python and numpy take it)
    Mod,
    /// `==`
    Eq,
    /// `!=`
    NotEq,
    /// `<`
    Lt,
    /// `<=`
    LtEq,
    /// `>`
    Gt,
    /// `>=`
    GtEq,
    /// `&`
    And,
    /// `|`
    Or,
}

impl BinaryOp {
    /// Every operator by the name the binding gives it.
    pub const NAMES: [(&'static str, BinaryOp); 13] = [
        ("+", BinaryOp::Add),
        ("-", BinaryOp::Sub),
        ("*", BinaryOp::Mul),
        ("/", BinaryOp::Div),
        ("%", BinaryOp::Mod),
        ("==", BinaryOp::Eq),
        ("!=", BinaryOp::NotEq),
        ("<", BinaryOp::Lt),
        ("<=", BinaryOp::LtEq),
        (">", BinaryOp::Gt),
        (">=", BinaryOp::GtEq),
        ("&", BinaryOp::And),
        ("|", BinaryOp::Or),
    ];

    /// The operator written `symbol`.
    pub fn named(symbol: &str) -> Result<BinaryOp> {
        Self::NAMES
            .iter()
            .find(|(n, _)| *n == symbol)
            .map(|(_, op)| *op)
            .ok_or_else(|| Error::Plan(format!("no operator {symbol:?} in expressions")))
    }

    /// Whether it computes a number (not a comparison, nor logic).
    fn arithmetic(self) -> bool {
        matches!(self, BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod)
    }

    fn symbol(self) -> &'static str {
        Self::NAMES.iter().find(|(_, op)| *op == self).map_or("?", |(n, _)| *n)
    }
}

/// A value being computed: an array, or one value standing for every row.
struct Value {
    array: ArrayRef,
    scalar: bool,
}

impl Datum for Value {
    fn get(&self) -> (&dyn Array, bool) {
        (self.array.as_ref(), self.scalar)
    }
}

impl Expr {
    /// The expression's value for each row of `batch`.
    pub fn evaluate(&self, batch: &RecordBatch) -> Result<ArrayRef> {
        let value = self.value(batch)?;
        if !value.scalar {
            return Ok(value.array);
        }
        let rows = batch.num_rows();
        let picks = arrow_array::UInt32Array::from(vec![0u32; rows]);
        arrow_select::take::take(&value.array, &picks, None).map_err(|e| self.error(e))
    }

    /// The rows of `batch` where the expression is true (null counts as false).
    pub fn filter(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let mask = self.evaluate(batch)?;
        let Some(mask) = mask.as_any().downcast_ref::<BooleanArray>() else {
            return Err(Error::Plan(format!("filter({self}) needs a true/false condition, not {}", mask.data_type())));
        };
        arrow_select::filter::filter_record_batch(batch, mask).map_err(|e| self.error(e))
    }

    /// The columns it reads, once each.
    pub fn columns(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.visit(&mut |name| {
            if !out.iter().any(|c| c == name) {
                out.push(name.to_string());
            }
        });
        out
    }

    fn visit(&self, f: &mut impl FnMut(&str)) {
        match self {
            Expr::Column { name } => f(name),
            Expr::Literal { .. } => {}
            Expr::Binary { left, right, .. } => {
                left.visit(f);
                right.visit(f);
            }
            Expr::Not { expr } | Expr::IsNull { expr } | Expr::Neg { expr } | Expr::IsIn { expr, .. } => expr.visit(f),
        }
    }

    fn error(&self, e: arrow_schema::ArrowError) -> Error {
        Error::Plan(format!("{self}: {e}"))
    }

    fn value(&self, batch: &RecordBatch) -> Result<Value> {
        Ok(match self {
            Expr::Column { name } => {
                let array = batch.column_by_name(name).cloned().ok_or_else(|| {
                    let columns = batch.schema_ref().fields().iter().map(|f| f.name().clone()).collect();
                    Error::MissingColumn { column: name.clone(), to: format!("to compute {self}"), columns }
                })?;
                Value { array: decoded(array).map_err(|e| self.error(e))?, scalar: false }
            }
            Expr::Literal { value } => Value { array: value.array(), scalar: true },
            Expr::Not { expr } => {
                let v = expr.value(batch)?;
                let array = not(boolean(&v.array, self)?).map_err(|e| self.error(e))?;
                Value { array: Arc::new(array), scalar: v.scalar }
            }
            Expr::IsNull { expr } => {
                let v = expr.value(batch)?;
                Value { array: Arc::new(is_null(&v.array).map_err(|e| self.error(e))?), scalar: v.scalar }
            }
            Expr::Neg { expr } => {
                let v = expr.value(batch)?;
                // Unsigned integers as signed ones (an error for one past i64::MAX).
                let exact = arrow_cast::CastOptions { safe: false, ..Default::default() };
                let signed = match v.array.data_type().is_unsigned_integer() {
                    true => {
                        arrow_cast::cast_with_options(&v.array, &DataType::Int64, &exact).map_err(|e| self.error(e))?
                    }
                    false => v.array,
                };
                Value { array: neg(&signed).map_err(|e| self.error(e))?, scalar: v.scalar }
            }
            Expr::IsIn { expr, values } => {
                let v = expr.value(batch)?;
                Value { array: Arc::new(self.is_in(&v.array, values)?), scalar: v.scalar }
            }
            Expr::Binary { op, left, right, ieee } => {
                let (l, r) = (left.value(batch)?, right.value(batch)?);
                let scalar = l.scalar && r.scalar;
                let array = self.apply(*op, l, r, *ieee)?;
                Value { array, scalar }
            }
        })
    }

    /// Whether each of `array`'s values is one of `values` (null where it is null), compared
    /// as `==` compares them: in their common type, NaN equal to NaN, -0.0 to 0.0.
    fn is_in(&self, array: &ArrayRef, values: &[Literal]) -> Result<BooleanArray> {
        let err = |e| self.error(e);
        let listed: Vec<ArrayRef> = values.iter().filter(|v| **v != Literal::Null).map(Literal::array).collect();
        let mut target = array.data_type().clone();
        for v in &listed {
            target = common_type(BinaryOp::Eq, &target, v.data_type()).ok_or_else(|| {
                Error::Plan(format!("{self}: {} and {} do not mix", array.data_type(), v.data_type()))
            })?;
        }
        let exact = arrow_cast::CastOptions { safe: false, ..Default::default() };
        let as_target = |a: &ArrayRef| {
            let a = arrow_cast::cast_with_options(a, &target, &exact).map_err(err)?;
            Ok::<_, Error>(if target == DataType::Float64 { crate::floats::canonical(&a, true) } else { a })
        };
        let column = as_target(array)?;
        let listed = listed.iter().map(as_target).collect::<Result<Vec<_>>>()?;
        let rows = arrow_row::RowConverter::new(vec![arrow_row::SortField::new(target.clone())]).map_err(err)?;
        let listed = match listed.is_empty() {
            true => rows.empty_rows(0, 0),
            false => {
                let all = arrow_select::concat::concat(&listed.iter().map(|a| a.as_ref()).collect::<Vec<_>>())
                    .map_err(err)?;
                rows.convert_columns(&[all]).map_err(err)?
            }
        };
        let set: hashbrown::HashSet<&[u8]> = listed.iter().map(|r| r.data()).collect();
        let converted = rows.convert_columns(std::slice::from_ref(&column)).map_err(err)?;
        Ok((0..column.len()).map(|i| column.is_valid(i).then(|| set.contains(converted.row(i).data()))).collect())
    }

    fn apply(&self, op: BinaryOp, l: Value, r: Value, ieee: bool) -> Result<ArrayRef> {
        use BinaryOp::*;
        let err = |e| self.error(e);
        if matches!(op, And | Or) {
            let (a, b) = (boolean(&l.array, self)?, boolean(&r.array, self)?);
            // Kleene kernels take equal lengths: a literal side is spread first.
            let len = if l.scalar { b.len() } else { a.len() };
            let spread = |x: &BooleanArray, s: bool| -> BooleanArray {
                if s && len != x.len() {
                    BooleanArray::from(vec![if x.is_null(0) { None } else { Some(x.value(0)) }; len])
                } else {
                    x.clone()
                }
            };
            let (a, b) = (spread(a, l.scalar), spread(b, r.scalar));
            let out = if op == And { and_kleene(&a, &b) } else { or_kleene(&a, &b) };
            return Ok(Arc::new(out.map_err(err)?));
        }
        let target = common_type(op, l.array.data_type(), r.array.data_type()).ok_or_else(|| {
            Error::Plan(format!("{self}: {} and {} do not mix", l.array.data_type(), r.array.data_type()))
        })?;
        // A value the common type cannot hold is an error, never a null (a dropped row).
        let exact = arrow_cast::CastOptions { safe: false, ..Default::default() };
        let to_common = |v: &Value| arrow_cast::cast_with_options(&v.array, &target, &exact).map_err(err);
        let (mut l, mut r) =
            (Value { array: to_common(&l)?, scalar: l.scalar }, Value { array: to_common(&r)?, scalar: r.scalar });
        if target == DataType::Float64 && !op.arithmetic() {
            if ieee {
                return ieee_compare(op, l, r).map_err(err);
            }
            // By the total order, but with every NaN one NaN (above every number) and -0.0 equal
            // to 0.0.
            (l.array, r.array) = (crate::floats::canonical(&l.array, true), crate::floats::canonical(&r.array, true));
        }
        Ok(match op {
            Add => add(&l, &r).map_err(err)?,
            Sub => sub(&l, &r).map_err(err)?,
            Mul => mul(&l, &r).map_err(err)?,
            Div => div(&l, &r).map_err(err)?,
            Mod => floor_mod(&l, &r).map_err(err)?,
            Eq => Arc::new(eq(&l, &r).map_err(err)?),
            NotEq => Arc::new(neq(&l, &r).map_err(err)?),
            Lt => Arc::new(lt(&l, &r).map_err(err)?),
            LtEq => Arc::new(lt_eq(&l, &r).map_err(err)?),
            Gt => Arc::new(gt(&l, &r).map_err(err)?),
            GtEq => Arc::new(gt_eq(&l, &r).map_err(err)?),
            And | Or => unreachable!("handled above"),
        })
    }
}

/// `l % r` with the sign of `r` (Python's and numpy's `%`; Arrow's, as C's, has the sign of `l`):
/// a remainder of the other sign has `r` added, and a zero one is a zero of `r`'s sign. An
/// integer divided by zero is an error.
fn floor_mod(l: &Value, r: &Value) -> std::result::Result<ArrayRef, arrow_schema::ArrowError> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float64Type, Int64Type};
    let rem = arrow_arith::numeric::rem(l, r)?;
    let divisor = |i: usize| if r.scalar { 0 } else { i };
    Ok(match rem.data_type() {
        DataType::Int64 => {
            let (m, d) = (rem.as_primitive::<Int64Type>(), r.array.as_primitive::<Int64Type>());
            let values = m.values().iter().enumerate().map(|(i, &m)| {
                let d = d.values().get(divisor(i)).copied().unwrap_or(1);
                if m != 0 && (m < 0) != (d < 0) {
                    m + d
                } else {
                    m
                }
            });
            Arc::new(Int64Array::new(values.collect(), m.nulls().cloned()))
        }
        DataType::Float64 => {
            let (m, d) = (rem.as_primitive::<Float64Type>(), r.array.as_primitive::<Float64Type>());
            let values = m.values().iter().enumerate().map(|(i, &m)| {
                let d = d.values().get(divisor(i)).copied().unwrap_or(1.0);
                match m {
                    0.0 => 0f64.copysign(d),
                    m if (m < 0.0) != (d < 0.0) => m + d,
                    m => m,
                }
            });
            Arc::new(Float64Array::new(values.collect(), m.nulls().cloned()))
        }
        // Unsigned integers have no sign to fix.
        _ => rem,
    })
}

/// `l op r` on Float64 values as IEEE 754 compares them: -0.0 made 0.0 first, then a NaN on
/// either side makes the comparison false (`!=`: true). Nulls stay null.
fn ieee_compare(op: BinaryOp, l: Value, r: Value) -> std::result::Result<ArrayRef, arrow_schema::ArrowError> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::Float64Type;
    let zero = arrow_array::Scalar::new(Float64Array::from(vec![0.0]));
    let positive = |v: Value| -> std::result::Result<Value, arrow_schema::ArrowError> {
        Ok(Value { array: add(&v, &zero)?, scalar: v.scalar })
    };
    let (l, r) = (positive(l)?, positive(r)?);
    let mut out = match op {
        BinaryOp::Eq => eq(&l, &r)?,
        BinaryOp::NotEq => neq(&l, &r)?,
        BinaryOp::Lt => lt(&l, &r)?,
        BinaryOp::LtEq => lt_eq(&l, &r)?,
        BinaryOp::Gt => gt(&l, &r)?,
        BinaryOp::GtEq => gt_eq(&l, &r)?,
        _ => unreachable!("only comparisons are compared"),
    };
    let unordered_is = op == BinaryOp::NotEq;
    for side in [&l, &r] {
        let values = side.array.as_primitive::<Float64Type>();
        if side.scalar {
            if values.is_valid(0) && values.value(0).is_nan() {
                let all = match unordered_is {
                    true => arrow_buffer::BooleanBuffer::new_set(out.len()),
                    false => arrow_buffer::BooleanBuffer::new_unset(out.len()),
                };
                out = BooleanArray::new(all, out.nulls().cloned());
            }
            continue;
        }
        let nan = BooleanArray::from_unary(values, f64::is_nan);
        out = match unordered_is {
            true => arrow_arith::boolean::or(&out, &nan)?,
            false => arrow_arith::boolean::and_not(&out, &nan)?,
        };
    }
    Ok(Arc::new(out))
}

/// `batch` with each of `columns` computed in turn and added (or replacing the column of its
/// name).
pub fn add_columns(batch: &RecordBatch, columns: &[(String, Expr)]) -> Result<RecordBatch> {
    let mut batch = batch.clone();
    for (name, expr) in columns {
        let values = expr.evaluate(&batch)?;
        let field = Arc::new(Field::new(name, values.data_type().clone(), true));
        let mut fields: Vec<FieldRef> = batch.schema().fields().iter().cloned().collect();
        let mut arrays = batch.columns().to_vec();
        match fields.iter().position(|f| f.name() == name) {
            Some(i) => (fields[i], arrays[i]) = (field, values),
            None => {
                fields.push(field);
                arrays.push(values);
            }
        }
        batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).map_err(|e| expr.error(e))?;
    }
    Ok(batch)
}

/// A dictionary column as its values' type; strings of any width as Utf8.
fn decoded(array: ArrayRef) -> std::result::Result<ArrayRef, arrow_schema::ArrowError> {
    match array.data_type() {
        DataType::Dictionary(_, values) => decoded(cast(&array, values)?),
        DataType::LargeUtf8 | DataType::Utf8View => cast(&array, &DataType::Utf8),
        _ => Ok(array),
    }
}

fn boolean<'a>(array: &'a ArrayRef, e: &Expr) -> Result<&'a BooleanArray> {
    array
        .as_any()
        .downcast_ref::<BooleanArray>()
        .ok_or_else(|| Error::Plan(format!("{e}: needs true/false values, not {}", array.data_type())))
}

/// The type both sides of `op` are cast to: Float64 for division or when either is a float,
/// Int64 for integers, else their own type when they agree (a null takes the other's). A
/// comparison of decimals and integers is exact: in a decimal wide enough for both.
fn common_type(op: BinaryOp, l: &DataType, r: &DataType) -> Option<DataType> {
    let number = |t: &DataType| t.is_numeric() || t == &DataType::Null;
    if number(l) && number(r) && (l.is_numeric() || r.is_numeric()) {
        let float = op == BinaryOp::Div || l.is_floating() || r.is_floating();
        let unsigned = |t: &DataType| t.is_unsigned_integer() || t == &DataType::Null;
        let compares = !op.arithmetic();
        let decimal = |t: &DataType| matches!(t, DataType::Decimal128(..) | DataType::Decimal256(..));
        let decimals = (digits(l), digits(r));
        return Some(match (float, unsigned(l) && unsigned(r), l == &DataType::UInt64 || r == &DataType::UInt64) {
            (true, _, _) => DataType::Float64,
            _ if decimal(l) || decimal(r) => match (compares, decimals) {
                (true, (Some((li, ls)), Some((ri, rs)))) => {
                    let scale = ls.max(rs);
                    let precision = (li.max(ri) + scale as i16).clamp(1, 76);
                    match precision <= 38 {
                        true => DataType::Decimal128(precision as u8, scale),
                        false => DataType::Decimal256(precision as u8, scale),
                    }
                }
                // Arithmetic on decimals is on floats.
                _ => DataType::Float64,
            },
            (false, true, _) => DataType::UInt64,
            // Every 64-bit integer, signed or not, compares exactly as a 20-digit decimal.
            (false, false, true) if compares => DataType::Decimal128(20, 0),
            (false, false, _) => DataType::Int64,
        });
    }
    match (l, r) {
        (DataType::Null, t) | (t, DataType::Null) => Some(t.clone()),
        (a, b) if a == b && !op.arithmetic() => Some(a.clone()),
        (a, b) if a == b && a.is_temporal() => Some(a.clone()),
        _ => None,
    }
}

/// A decimal's or an integer's (digits before the point, digits after it); None for others.
fn digits(t: &DataType) -> Option<(i16, i8)> {
    match t {
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => Some((*p as i16 - *s as i16, *s)),
        t if t.is_integer() || t == &DataType::Null => Some((20, 0)),
        _ => None,
    }
}

impl Literal {
    fn array(&self) -> ArrayRef {
        match self {
            Literal::Int(v) => Arc::new(Int64Array::from(vec![*v])),
            Literal::Float(v) => Arc::new(Float64Array::from(vec![*v])),
            Literal::Str(v) => Arc::new(StringArray::from(vec![v.as_str()])),
            Literal::Bool(v) => Arc::new(BooleanArray::from(vec![*v])),
            Literal::Null => Arc::new(NullArray::new(1)),
        }
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Column { name } => write!(f, "{name}"),
            Expr::Literal { value } => match value {
                Literal::Int(v) => write!(f, "{v}"),
                Literal::Float(v) => write!(f, "{v:?}"),
                Literal::Str(v) => write!(f, "{v:?}"),
                Literal::Bool(v) => write!(f, "{v}"),
                Literal::Null => write!(f, "null"),
            },
            Expr::Binary { op, left, right, ieee: false } => write!(f, "({left} {} {right})", op.symbol()),
            Expr::Binary { op, left, right, ieee: true } => write!(f, "({left} {} {right}, IEEE)", op.symbol()),
            Expr::Not { expr } => write!(f, "~{expr}"),
            Expr::IsNull { expr } => write!(f, "{expr}.is_null()"),
            Expr::Neg { expr } => write!(f, "-{expr}"),
            Expr::IsIn { expr, values } => {
                let values: Vec<String> =
                    values.iter().map(|v| Expr::Literal { value: v.clone() }.to_string()).collect();
                write!(f, "{expr}.is_in([{}])", values.join(", "))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float64Type, Int64Type};

    fn col(name: &str) -> Box<Expr> {
        Box::new(Expr::Column { name: name.into() })
    }

    fn lit(value: Literal) -> Box<Expr> {
        Box::new(Expr::Literal { value })
    }

    fn bin(op: BinaryOp, left: Box<Expr>, right: Box<Expr>) -> Box<Expr> {
        Box::new(Expr::Binary { op, left, right, ieee: false })
    }

    fn batch() -> RecordBatch {
        let i: ArrayRef = Arc::new(Int64Array::from(vec![Some(1), Some(5), None, Some(-2)]));
        let f: ArrayRef = Arc::new(arrow_array::Float32Array::from(vec![0.5, 2.0, 3.0, f32::NAN]));
        let s: ArrayRef = Arc::new(arrow_array::LargeStringArray::from(vec!["a", "b", "b", "c"]));
        RecordBatch::try_from_iter([("i", i), ("f", f), ("s", s)]).unwrap()
    }

    #[test]
    fn arithmetic_widens_and_divides_truly() {
        let b = batch();
        let sum = bin(BinaryOp::Add, col("i"), lit(Literal::Int(10))).evaluate(&b).unwrap();
        assert_eq!(sum.as_primitive::<Int64Type>().iter().collect::<Vec<_>>(), vec![Some(11), Some(15), None, Some(8)]);
        let mixed = bin(BinaryOp::Sub, col("i"), col("f")).evaluate(&b).unwrap();
        assert_eq!(mixed.as_primitive::<Float64Type>().value(1), 3.0);
        let half = bin(BinaryOp::Div, col("i"), lit(Literal::Int(2))).evaluate(&b).unwrap();
        assert_eq!(half.as_primitive::<Float64Type>().value(0), 0.5);
        let by_zero = bin(BinaryOp::Div, col("i"), lit(Literal::Int(0))).evaluate(&b).unwrap();
        assert!(by_zero.as_primitive::<Float64Type>().value(0).is_infinite());
    }

    #[test]
    fn remainders_take_the_divisor_s_sign_and_minus_negates() {
        let b = batch();
        let ints = |e: &Expr| e.evaluate(&b).unwrap().as_primitive::<Int64Type>().iter().collect::<Vec<_>>();
        assert_eq!(ints(&bin(BinaryOp::Mod, col("i"), lit(Literal::Int(3)))), [Some(1), Some(2), None, Some(1)]);
        assert_eq!(ints(&bin(BinaryOp::Mod, col("i"), lit(Literal::Int(-3)))), [Some(-2), Some(-1), None, Some(-2)]);
        assert_eq!(ints(&bin(BinaryOp::Mod, lit(Literal::Int(7)), col("i"))), [Some(0), Some(2), None, Some(-1)]);
        let by_zero = bin(BinaryOp::Mod, col("i"), lit(Literal::Int(0))).evaluate(&b).unwrap_err().to_string();
        assert!(by_zero.contains("(i % 0)") && by_zero.contains("zero"), "{by_zero}");
        let floats = bin(BinaryOp::Mod, lit(Literal::Float(-4.0)), lit(Literal::Float(2.0))).evaluate(&b).unwrap();
        assert!(floats.as_primitive::<Float64Type>().values().iter().all(|v| *v == 0.0 && v.is_sign_positive()));
        assert_eq!(ints(&Expr::Neg { expr: col("i") }), [Some(-1), Some(-5), None, Some(2)]);
        let big: ArrayRef = Arc::new(arrow_array::UInt64Array::from(vec![3, u64::MAX]));
        let big = RecordBatch::try_from_iter([("u", big)]).unwrap();
        let err = Expr::Neg { expr: col("u") }.evaluate(&big).unwrap_err().to_string();
        assert!(err.contains("-u"), "{err}");
        let min: ArrayRef = Arc::new(Int64Array::from(vec![i64::MIN]));
        let min = RecordBatch::try_from_iter([("m", min)]).unwrap();
        assert!(Expr::Neg { expr: col("m") }.evaluate(&min).is_err(), "-i64::MIN overflows: an error, not a wrap");
    }

    #[test]
    fn is_in_compares_as_equality_does() {
        let b = batch();
        let bools = |e: &Expr| e.evaluate(&b).unwrap().as_boolean().iter().collect::<Vec<_>>();
        let is_in = |e: Box<Expr>, values: Vec<Literal>| Expr::IsIn { expr: e, values };
        assert_eq!(
            bools(&is_in(col("i"), vec![Literal::Int(5), Literal::Int(-2)])),
            [Some(false), Some(true), None, Some(true)]
        );
        // Integers among floats, NaN equal to NaN (as `==`), a null never listed.
        let f = is_in(col("f"), vec![Literal::Int(2), Literal::Float(f64::NAN), Literal::Null]);
        assert_eq!(bools(&f), [Some(false), Some(true), Some(false), Some(true)]);
        assert_eq!(
            bools(&is_in(col("s"), vec![Literal::Str("b".into())])),
            [Some(false), Some(true), Some(true), Some(false)]
        );
        assert_eq!(bools(&is_in(col("s"), vec![])), [Some(false); 4]);
        let mixed = is_in(col("s"), vec![Literal::Int(1)]);
        assert!(mixed.evaluate(&b).unwrap_err().to_string().contains("do not mix"));
        assert_eq!(mixed.to_string(), "s.is_in([1])");
        let back: Expr = serde_json::from_str(&serde_json::to_string(&f).unwrap()).unwrap();
        assert_eq!(back.to_string(), f.to_string());
    }

    #[test]
    fn conditions_filter_rows_with_nulls_as_false() {
        let b = batch();
        let cond = bin(
            BinaryOp::Or,
            bin(BinaryOp::Gt, col("i"), lit(Literal::Int(1))),
            bin(BinaryOp::Eq, col("s"), lit(Literal::Str("a".into()))),
        );
        let kept = cond.filter(&b).unwrap();
        assert_eq!(kept.num_rows(), 2, "rows 0 (s = a) and 1 (i = 5); row 2's i is null");
        let not_null = Expr::Not { expr: Box::new(Expr::IsNull { expr: col("i") }) };
        assert_eq!(not_null.filter(&b).unwrap().num_rows(), 3);
        let always = Expr::Literal { value: Literal::Bool(true) };
        assert_eq!(always.filter(&b).unwrap().num_rows(), 4);
        assert_eq!(cond.columns(), vec!["i".to_string(), "s".to_string()]);
        assert_eq!(cond.to_string(), "((i > 1) | (s == \"a\"))");
    }

    #[test]
    fn every_float_literal_crosses_json() {
        for v in [1.5, f64::INFINITY, f64::NEG_INFINITY, f64::NAN, -0.0] {
            let e = Expr::Literal { value: Literal::Float(v) };
            let back: Expr = serde_json::from_str(&serde_json::to_string(&e).unwrap()).unwrap();
            let Expr::Literal { value: Literal::Float(w) } = back else { panic!("{back:?}") };
            assert_eq!(v.to_bits(), w.to_bits());
        }
    }

    #[test]
    fn mistakes_are_plan_errors_naming_the_expression() {
        let b = batch();
        let err = bin(BinaryOp::Add, col("s"), lit(Literal::Int(1))).evaluate(&b).unwrap_err().to_string();
        assert!(err.contains("(s + 1)") && err.contains("do not mix"), "{err}");
        let err = bin(BinaryOp::Gt, col("nope"), lit(Literal::Int(1))).evaluate(&b).unwrap_err().to_string();
        assert!(err.contains("nope"), "{err}");
        let err = Expr::Column { name: "i".into() }.filter(&b).unwrap_err().to_string();
        assert!(err.contains("true/false"), "{err}");
    }

    #[test]
    fn ieee_comparisons_treat_nan_and_signed_zeros_as_pyarrow_does() {
        let x: ArrayRef = Arc::new(Float64Array::from(vec![Some(-0.0), Some(0.0), Some(f64::NAN), Some(1.0), None]));
        let b = RecordBatch::try_from_iter([("x", x)]).unwrap();
        let run = |op, right: Box<Expr>, ieee| {
            let e = Expr::Binary { op, left: col("x"), right, ieee };
            e.evaluate(&b).unwrap().as_boolean().iter().collect::<Vec<_>>()
        };
        let zero = || lit(Literal::Float(0.0));
        let (t, f) = (Some(true), Some(false));
        assert_eq!(run(BinaryOp::Eq, zero(), true), vec![t, t, f, f, None]);
        // By the total order, but -0.0 equals 0.0 there too.
        assert_eq!(run(BinaryOp::Eq, zero(), false), vec![t, t, f, f, None]);
        assert_eq!(run(BinaryOp::Gt, zero(), true), vec![f, f, f, t, None]);
        assert_eq!(run(BinaryOp::Gt, zero(), false), vec![f, f, t, t, None]);
        assert_eq!(run(BinaryOp::NotEq, zero(), true), vec![f, f, t, t, None]);
        assert_eq!(run(BinaryOp::LtEq, lit(Literal::Int(1)), true), vec![t, t, f, t, None]);
        assert_eq!(run(BinaryOp::Eq, col("x"), true), vec![t, t, f, t, None]);
        assert_eq!(run(BinaryOp::NotEq, lit(Literal::Float(f64::NAN)), true), vec![t, t, t, t, None]);
        assert_eq!(run(BinaryOp::GtEq, lit(Literal::Float(f64::NAN)), true), vec![f, f, f, f, None]);
        // A NaN with its sign bit set (x86's 0/0) is the NaN above every number, equal to NaN.
        let computed = || lit(Literal::Float(f64::from_bits(0xfff8_0000_0000_0000)));
        assert_eq!(run(BinaryOp::Lt, computed(), false), vec![t, t, f, t, None]);
        assert_eq!(run(BinaryOp::Eq, computed(), false), vec![f, f, t, f, None]);
        let shown = Expr::Binary { op: BinaryOp::Gt, left: col("x"), right: zero(), ieee: true }.to_string();
        assert_eq!(shown, "(x > 0.0, IEEE)");
    }

    #[test]
    fn unsigned_64_bit_values_compare_exactly_and_never_turn_into_nulls() {
        let u: ArrayRef = Arc::new(arrow_array::UInt64Array::from(vec![Some(u64::MAX), Some(5), None]));
        let small: ArrayRef = Arc::new(arrow_array::UInt8Array::from(vec![Some(1), Some(5), Some(7)]));
        let b = RecordBatch::try_from_iter([("u", u), ("small", small)]).unwrap();
        let flags = |e: Box<Expr>| e.evaluate(&b).unwrap().as_boolean().iter().collect::<Vec<_>>();
        let (t, f) = (Some(true), Some(false));
        assert_eq!(flags(bin(BinaryOp::Gt, col("u"), lit(Literal::Int(1)))), vec![t, t, None]);
        assert_eq!(flags(bin(BinaryOp::Eq, col("u"), lit(Literal::Int(5)))), vec![f, t, None]);
        assert_eq!(flags(bin(BinaryOp::Lt, lit(Literal::Int(-1)), col("u"))), vec![t, t, None]);
        assert_eq!(flags(bin(BinaryOp::GtEq, col("u"), col("small"))), vec![t, t, None]);
        let sum = bin(BinaryOp::Add, col("u"), col("small")).evaluate(&b);
        assert!(sum.unwrap_err().to_string().contains("u + small"), "overflow is an error, not a null");
        let err = bin(BinaryOp::Add, col("u"), lit(Literal::Int(1))).evaluate(&b).unwrap_err().to_string();
        assert!(err.contains("(u + 1)"), "{err}");
    }

    #[test]
    fn decimals_compare_exactly_with_decimals_and_integers() {
        let decimal = |v: Vec<i128>, p: u8, s: i8| -> ArrayRef {
            Arc::new(arrow_array::Decimal128Array::from(v).with_precision_and_scale(p, s).unwrap())
        };
        // 1.000000000000000001 and 1.000000000000000002 are one float apart from nothing.
        let a = decimal(vec![1_000_000_000_000_000_001, 250, 9_223_372_036_854_775_807_000], 38, 18);
        let b = decimal(vec![1_000_000_000_000_000_002, 250, 0], 38, 18);
        // Another scale: 2.5 is 25 tenths.
        let c = decimal(vec![10, 25, 0], 10, 1);
        // 38 digits before the point: compared with `a` in 56 digits (a 256-bit decimal).
        let d = decimal(vec![1, 0, 10i128.pow(37)], 38, 0);
        let i: ArrayRef = Arc::new(Int64Array::from(vec![1, 2, 9_223_372_036_854_775_807]));
        let b = RecordBatch::try_from_iter([("a", a), ("b", b), ("c", c), ("d", d), ("i", i)]).unwrap();
        let flags = |e: Box<Expr>| e.evaluate(&b).unwrap().as_boolean().iter().collect::<Vec<_>>();
        assert_eq!(flags(bin(BinaryOp::Eq, col("a"), col("b"))), vec![Some(false), Some(true), Some(false)]);
        assert_eq!(flags(bin(BinaryOp::Lt, col("a"), col("b"))), vec![Some(true), Some(false), Some(false)]);
        // a is 0.000000000000000250 in its second row; c is 2.5.
        assert_eq!(flags(bin(BinaryOp::Lt, col("c"), col("a"))), vec![Some(true), Some(false), Some(true)]);
        assert_eq!(flags(bin(BinaryOp::Gt, col("c"), col("i"))), vec![Some(false), Some(true), Some(false)]);
        // i64::MAX / 10^15 against i64::MAX: the decimal is smaller, exactly.
        assert_eq!(flags(bin(BinaryOp::Lt, col("a"), col("i"))), vec![Some(false), Some(true), Some(true)]);
        assert_eq!(flags(bin(BinaryOp::Lt, col("i"), col("c"))), vec![Some(false), Some(true), Some(false)]);
        assert_eq!(flags(bin(BinaryOp::GtEq, col("a"), col("d"))), vec![Some(true), Some(true), Some(false)]);
        // A float literal still compares as a float; arithmetic is on floats.
        assert_eq!(
            flags(bin(BinaryOp::Gt, col("c"), lit(Literal::Float(2.0)))),
            vec![Some(false), Some(true), Some(false)]
        );
        let sum = bin(BinaryOp::Add, col("c"), col("i")).evaluate(&b).unwrap();
        assert_eq!(sum.data_type(), &DataType::Float64);
    }
}
