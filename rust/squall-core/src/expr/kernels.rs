//! The kernels of expressions that Arrow has none of, or none with Python's semantics: `%` and
//! `//` rounded as Python rounds, `abs`, and float comparisons as IEEE 754 makes them.

use std::sync::Arc;

use arrow_arith::numeric::add;
use arrow_array::{Array, ArrayRef, BooleanArray, Float64Array, Int64Array};
use arrow_ord::cmp::{eq, gt, gt_eq, lt, lt_eq, neq};
use arrow_schema::DataType;

use super::{BinaryOp, Value};

/// `l % r` with the sign of `r` (Python's and numpy's `%`; Arrow's, as C's, has the sign of `l`):
/// a remainder of the other sign has `r` added, and a zero one is a zero of `r`'s sign. An
/// integer divided by zero is an error.
pub(super) fn floor_mod(l: &Value, r: &Value) -> std::result::Result<ArrayRef, arrow_schema::ArrowError> {
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

/// `l // r` rounded down, as Python and numpy divide: integers give integers (dividing by zero,
/// or `i64::MIN // -1`, is an error), floats the float below the true quotient as numpy's
/// `floor_divide` computes it (from the remainder, so `1 // 0.1` is 9.0), and `x // 0.0` what
/// `x / 0.0` is.
pub(super) fn floor_div(l: &Value, r: &Value) -> std::result::Result<ArrayRef, arrow_schema::ArrowError> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float64Type, Int64Type};
    let at = |v: &Value, i: usize| if v.scalar { 0 } else { i };
    let len = if l.scalar { r.array.len() } else { l.array.len() };
    let nulls = arrow_buffer::NullBuffer::union(spread_nulls(l, len).as_ref(), spread_nulls(r, len).as_ref());
    let valid = |i: usize| nulls.as_ref().is_none_or(|n| n.is_valid(i));
    Ok(match l.array.data_type() {
        DataType::Int64 => {
            let (a, b) = (l.array.as_primitive::<Int64Type>().values(), r.array.as_primitive::<Int64Type>().values());
            let mut out = Vec::with_capacity(len);
            for i in 0..len {
                let (x, y) = (a[at(l, i)], b[at(r, i)]);
                out.push(match valid(i) {
                    false => 0,
                    true => {
                        let q = x.checked_div(y).ok_or_else(|| {
                            arrow_schema::ArrowError::ComputeError(match y {
                                0 => "division by zero".into(),
                                _ => format!("{x} // {y} overflows int64"),
                            })
                        })?;
                        if x % y != 0 && (x < 0) != (y < 0) {
                            q - 1
                        } else {
                            q
                        }
                    }
                });
            }
            Arc::new(Int64Array::new(out.into(), nulls))
        }
        DataType::Float64 => {
            let (a, b) =
                (l.array.as_primitive::<Float64Type>().values(), r.array.as_primitive::<Float64Type>().values());
            let values = (0..len).map(|i| float_floor_div(a[at(l, i)], b[at(r, i)]));
            Arc::new(Float64Array::new(values.collect(), nulls))
        }
        // Unsigned integers: the quotient is already rounded down.
        _ => arrow_arith::numeric::div(l, r)?,
    })
}

/// numpy's floor division of floats (its `npy_divmod`).
fn float_floor_div(a: f64, b: f64) -> f64 {
    if b == 0.0 {
        return a / b;
    }
    let m = a % b;
    let mut div = (a - m) / b;
    if m != 0.0 && (b < 0.0) != (m < 0.0) {
        div -= 1.0;
    }
    if div == 0.0 {
        return 0f64.copysign(a / b);
    }
    let floor = div.floor();
    if div - floor > 0.5 {
        floor + 1.0
    } else {
        floor
    }
}

/// The nulls of `v` over `len` rows (a literal's spread to every row).
fn spread_nulls(v: &Value, len: usize) -> Option<arrow_buffer::NullBuffer> {
    match v.scalar {
        true => v.array.is_null(0).then(|| arrow_buffer::NullBuffer::new_null(len)),
        false => v.array.logical_nulls(),
    }
}

/// Each number without its sign: integers checked (`abs` of a type's least value is an
/// error), unsigned integers as they are, floats with their sign bit cleared (NaN stays NaN).
pub(super) fn abs(array: &ArrayRef) -> std::result::Result<ArrayRef, arrow_schema::ArrowError> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::*;
    macro_rules! checked {
        ($t:ty) => {{
            let a = array.as_primitive::<$t>();
            let out: arrow_array::PrimitiveArray<$t> = arrow_arith::arity::try_unary(a, |v| {
                v.checked_abs().ok_or_else(|| {
                    arrow_schema::ArrowError::ComputeError(format!("abs({v}) overflows {}", array.data_type()))
                })
            })?;
            Arc::new(out) as ArrayRef
        }};
    }
    Ok(match array.data_type() {
        DataType::Int8 => checked!(Int8Type),
        DataType::Int16 => checked!(Int16Type),
        DataType::Int32 => checked!(Int32Type),
        DataType::Int64 => checked!(Int64Type),
        // Through float32, which holds every float16 exactly.
        DataType::Float16 => {
            let wide = abs(&arrow_cast::cast(array, &DataType::Float32)?)?;
            arrow_cast::cast(&wide, &DataType::Float16)?
        }
        DataType::Float32 => Arc::new(array.as_primitive::<Float32Type>().unary::<_, Float32Type>(f32::abs)),
        DataType::Float64 => Arc::new(array.as_primitive::<Float64Type>().unary::<_, Float64Type>(f64::abs)),
        DataType::Decimal128(..) => checked!(Decimal128Type),
        DataType::Null => array.clone(),
        t if t.is_unsigned_integer() => array.clone(),
        t => {
            return Err(arrow_schema::ArrowError::ComputeError(format!("abs of {t}: not a number")));
        }
    })
}

/// `l op r` on Float64 values as IEEE 754 compares them: -0.0 made 0.0 first, then a NaN on
/// either side makes the comparison false (`!=`: true). Nulls stay null.
pub(super) fn ieee_compare(
    op: BinaryOp,
    l: Value,
    r: Value,
) -> std::result::Result<ArrayRef, arrow_schema::ArrowError> {
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
