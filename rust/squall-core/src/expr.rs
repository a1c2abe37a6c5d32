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
use kernels::{abs, floor_div, floor_mod, ieee_compare};

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
    /// The number without its sign (`abs(x)`).
    Abs {
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
    /// `//`, rounded down (as Python and numpy take it): integers give integers
    FloorDiv,
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
    pub const NAMES: [(&'static str, BinaryOp); 14] = [
        ("+", BinaryOp::Add),
        ("-", BinaryOp::Sub),
        ("*", BinaryOp::Mul),
        ("/", BinaryOp::Div),
        ("%", BinaryOp::Mod),
        ("//", BinaryOp::FloorDiv),
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
        use BinaryOp::*;
        matches!(self, Add | Sub | Mul | Div | Mod | FloorDiv)
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
            Expr::Not { expr }
            | Expr::IsNull { expr }
            | Expr::Neg { expr }
            | Expr::Abs { expr }
            | Expr::IsIn { expr, .. } => expr.visit(f),
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
            Expr::Abs { expr } => {
                let v = expr.value(batch)?;
                Value { array: abs(&v.array).map_err(|e| self.error(e))?, scalar: v.scalar }
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
            FloorDiv => floor_div(&l, &r).map_err(err)?,
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
            Expr::Abs { expr } => write!(f, "abs({expr})"),
            Expr::IsIn { expr, values } => {
                let values: Vec<String> =
                    values.iter().map(|v| Expr::Literal { value: v.clone() }.to_string()).collect();
                write!(f, "{expr}.is_in([{}])", values.join(", "))
            }
        }
    }
}

mod kernels;
#[cfg(test)]
mod tests;
