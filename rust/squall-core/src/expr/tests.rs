//! Expressions on small batches: arithmetic, comparisons, logic, `%`, `is_in`, and their errors.

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
fn floor_division_rounds_down_and_abs_drops_the_sign() {
    let b = batch();
    let ints = |e: &Expr| e.evaluate(&b).unwrap().as_primitive::<Int64Type>().iter().collect::<Vec<_>>();
    let (int, float) = (|v| lit(Literal::Int(v)), |v| lit(Literal::Float(v)));
    assert_eq!(ints(&bin(BinaryOp::FloorDiv, col("i"), int(2))), [Some(0), Some(2), None, Some(-1)]);
    assert_eq!(ints(&bin(BinaryOp::FloorDiv, col("i"), int(-2))), [Some(-1), Some(-3), None, Some(1)]);
    assert_eq!(ints(&bin(BinaryOp::FloorDiv, int(7), col("i"))), [Some(7), Some(1), None, Some(-4)]);
    assert_eq!(ints(&bin(BinaryOp::FloorDiv, col("i"), lit(Literal::Null))), [None; 4]);
    let by_zero = bin(BinaryOp::FloorDiv, col("i"), int(0)).evaluate(&b).unwrap_err().to_string();
    assert!(by_zero.contains("(i // 0)") && by_zero.contains("zero"), "{by_zero}");
    let min: ArrayRef = Arc::new(Int64Array::from(vec![i64::MIN]));
    let min = RecordBatch::try_from_iter([("m", min)]).unwrap();
    assert!(bin(BinaryOp::FloorDiv, col("m"), int(-1)).evaluate(&min).is_err(), "overflows: an error");
    assert!(Expr::Abs { expr: col("m") }.evaluate(&min).is_err(), "abs(i64::MIN) overflows: an error");
    // Floats as numpy's floor_divide: from the remainder (1 // 0.1 is 9), by zero as `/`.
    let one = |l: f64, r: f64| {
        bin(BinaryOp::FloorDiv, float(l), float(r)).evaluate(&b).unwrap().as_primitive::<Float64Type>().value(0)
    };
    assert_eq!(
        [one(1.0, 0.1), one(-7.5, 2.0), one(-0.5, 1.0), one(0.5, -1.0), one(7.0, 2.0)],
        [9.0, -4.0, -1.0, -1.0, 3.0]
    );
    assert!(one(1.0, 0.0).is_infinite() && one(0.0, 0.0).is_nan());
    assert!(one(0.0, -1.0) == 0.0 && one(0.0, -1.0).is_sign_negative(), "a zero quotient keeps its sign");
    assert_eq!(ints(&Expr::Abs { expr: col("i") }), [Some(1), Some(5), None, Some(2)]);
    let abs = |v: f64| Expr::Abs { expr: float(v) }.evaluate(&b).unwrap().as_primitive::<Float64Type>().value(0);
    assert!(abs(-0.0).is_sign_positive() && abs(f64::NAN).is_nan() && abs(-2.5) == 2.5);
    let small: ArrayRef = Arc::new(arrow_array::Int32Array::from(vec![-3, 4]));
    let small = RecordBatch::try_from_iter([("s", small)]).unwrap();
    let got = Expr::Abs { expr: col("s") }.evaluate(&small).unwrap();
    assert_eq!(got.as_primitive::<arrow_array::types::Int32Type>().values().to_vec(), [3, 4], "the type is kept");
    assert_eq!(Expr::Abs { expr: col("i") }.to_string(), "abs(i)");
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
