//! The group-by's two phases against one, and what map tasks send.

use super::*;
use arrow_array::types::Int64Type;
use arrow_array::{Array, StringArray};

/// `name = func(v)`.
fn agg(name: &str, func: AggFunc) -> Agg {
    Agg::new(name, Some("v"), func)
}

/// `rows = count()`.
fn count_rows() -> Agg {
    Agg::new("rows", None, AggFunc::Count)
}

/// `a` and `b` hold the same columns, floats within 1e-9 of each other (merging states in
/// another order rounds differently).
fn assert_close(a: &RecordBatch, b: &RecordBatch) {
    for (x, y) in a.columns().iter().zip(b.columns()) {
        if let Some(x) = x.as_primitive_opt::<Float64Type>() {
            let y = y.as_primitive::<Float64Type>();
            assert_eq!(x.nulls(), y.nulls());
            for (p, q) in x.iter().zip(y.iter()) {
                assert!((p.unwrap_or(0.0) - q.unwrap_or(0.0)).abs() < 1e-9, "{p:?} != {q:?}");
            }
        } else {
            assert_eq!(x, y);
        }
    }
}

#[test]
fn two_phase_aggregation_matches_one_phase() {
    let k: ArrayRef = Arc::new(StringArray::from(vec![Some("a"), Some("b"), Some("a"), None, Some("a")]));
    let v: ArrayRef = Arc::new(Int64Array::from(vec![Some(1), Some(5), None, Some(7), Some(3)]));
    let batch = RecordBatch::try_from_iter([("k", k), ("v", v)]).unwrap();
    let gb = GroupBy {
        keys: vec!["k".into()],
        aggs: vec![
            agg("n", AggFunc::Count),
            count_rows(),
            agg("sum", AggFunc::Sum),
            agg("mean", AggFunc::Mean),
            agg("min", AggFunc::Min),
            agg("max", AggFunc::Max),
            agg("var", AggFunc::Var),
            agg("first", AggFunc::First),
            agg("last", AggFunc::Last),
            agg("distinct", AggFunc::CountDistinct),
        ],
    };
    let one = gb.finish(&gb.merge(&[gb.partial(&batch, 0).unwrap()]).unwrap()).unwrap();
    let parts = [gb.partial(&batch.slice(0, 2), 0).unwrap(), gb.partial(&batch.slice(2, 3), 1).unwrap()];
    let two = gb.finish(&gb.merge(&parts).unwrap()).unwrap();
    assert_eq!(one, two);
    // Group "a": values 1, null, 3.
    let col = |name: &str| one.column_by_name(name).unwrap().clone();
    assert_eq!(col("n").as_primitive::<Int64Type>().value(0), 2);
    assert_eq!(col("rows").as_primitive::<Int64Type>().value(0), 3);
    assert_eq!(col("sum").as_primitive::<Int64Type>().value(0), 4);
    assert_eq!(col("mean").as_primitive::<Float64Type>().value(0), 2.0);
    assert_eq!(col("min").as_primitive::<Int64Type>().value(0), 1);
    assert_eq!(col("max").as_primitive::<Int64Type>().value(0), 3);
    assert_eq!(col("var").as_primitive::<Float64Type>().value(0), 2.0);
    assert_eq!(col("first").as_primitive::<Int64Type>().value(0), 1);
    assert_eq!(col("last").as_primitive::<Int64Type>().value(0), 3);
    assert_eq!(col("distinct").as_primitive::<Int64Type>().value(0), 2);
    assert!(col("var").is_null(1), "one value has no sample variance");
    assert_eq!(one.num_rows(), 3, "null is a group of its own");
}

#[test]
fn map_tasks_skip_merging_when_keys_barely_repeat() {
    let gb = GroupBy { keys: vec!["k".into()], aggs: vec![agg("s", AggFunc::Sum)] };
    let batch = |keys: Vec<i64>| {
        let v: ArrayRef = Arc::new(Int64Array::from(vec![1; keys.len()]));
        RecordBatch::try_from_iter([("k", Arc::new(Int64Array::from(keys)) as ArrayRef), ("v", v)]).unwrap()
    };
    // Every key twice: merging would halve the states, so it happens.
    let repeated = batch((0..10_000).map(|i| i / 2).collect());
    assert_eq!(gb.partial(&repeated, 0).unwrap().num_rows(), 5_000);
    // Nearly every key once: the states go out unmerged, and the reducer's merge is right.
    let distinct = batch((0..10_000).map(|i| if i % 100 == 0 { 0 } else { i }).collect());
    let states = gb.partial(&distinct, 0).unwrap();
    assert_eq!(states.num_rows(), 10_000);
    let done = gb.finish(&gb.merge(&[states]).unwrap()).unwrap();
    assert_eq!(done.num_rows(), 9_901);
    let sums = done.column(1).as_primitive::<Int64Type>();
    assert_eq!(sums.iter().flatten().sum::<i64>(), 10_000);
    assert_eq!(sums.value(0), 100, "key 0 collected its 100 rows");
}

#[test]
fn rows_sent_unaggregated_or_lifted_merge_to_the_directly_accumulated_states() {
    // The same rows twice: first 9,000 distinct keys then each again (a map task sends the
    // rows, or with first/last lifts every row into a state), and interleaved so keys repeat
    // at once (it accumulates per group).
    let n = 9_000;
    let value = |i: usize, second: bool| (i % 7 != 3).then_some(i as f64 / 7.0 + if second { 0.5 } else { 0.0 });
    let rows: Vec<(i64, Option<f64>)> = (0..2 * n).map(|j| ((j % n) as i64, value(j % n, j >= n))).collect();
    let interleaved: Vec<(i64, Option<f64>)> = (0..n).flat_map(|i| [rows[i], rows[n + i]]).collect();
    let batch = |rows: &[(i64, Option<f64>)]| {
        let k: ArrayRef = Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0)));
        let v: ArrayRef = Arc::new(Float64Array::from_iter(rows.iter().map(|r| r.1)));
        RecordBatch::try_from_iter([("k", k), ("v", v)]).unwrap()
    };
    let mut aggs = vec![
        agg("n", AggFunc::Count),
        count_rows(),
        agg("sum", AggFunc::Sum),
        agg("mean", AggFunc::Mean),
        agg("min", AggFunc::Min),
        agg("var", AggFunc::Var),
        agg("distinct", AggFunc::CountDistinct),
    ];
    for ordered in [false, true] {
        if ordered {
            aggs.extend([agg("first", AggFunc::First), agg("last", AggFunc::Last)]);
        }
        let gb = GroupBy { keys: vec!["k".into()], aggs: aggs.clone() };
        let sent = gb.partial(&batch(&rows), 0).unwrap();
        assert_eq!(sent.num_rows(), 2 * n, "distinct leading keys: one row or state per row");
        assert_eq!(sent.schema().metadata().contains_key(ROWS_MARK), !ordered);
        let direct = gb.partial(&batch(&interleaved), 0).unwrap();
        assert_eq!(direct.num_rows(), n);
        let a = gb.finish(&gb.merge(&[sent]).unwrap()).unwrap();
        let b = gb.finish(&gb.merge(&[direct]).unwrap()).unwrap();
        assert_close(&a, &b);
        // Key 3: both values null; key 1: 1/7 and 1/7 + 0.5.
        let col = |name: &str| a.column_by_name(name).unwrap().clone();
        assert_eq!(col("n").as_primitive::<Int64Type>().value(3), 0);
        assert_eq!(col("rows").as_primitive::<Int64Type>().value(3), 2);
        assert!(col("mean").is_null(3) && col("var").is_null(3));
        assert!((col("var").as_primitive::<Float64Type>().value(1) - 0.125).abs() < 1e-12);
    }
}

#[test]
fn an_input_fed_in_batches_sends_what_it_sends_whole() {
    // Values are small integers, so sums come out the same in any order.
    let batch = |keys: &dyn Fn(i64) -> i64| {
        let k: ArrayRef = Arc::new(Int64Array::from_iter_values((0..30_000).map(keys)));
        let v: ArrayRef =
            Arc::new(Float64Array::from_iter((0..30_000).map(|i| (i % 11 != 4).then_some((i % 13) as f64))));
        RecordBatch::try_from_iter([("k", k), ("v", v)]).unwrap()
    };
    let plain = vec![
        agg("n", AggFunc::Count),
        count_rows(),
        agg("sum", AggFunc::Sum),
        agg("max", AggFunc::Max),
        agg("var", AggFunc::Var),
        agg("distinct", AggFunc::CountDistinct),
    ];
    let mut ordered = plain.clone();
    ordered.extend([agg("first", AggFunc::First), agg("last", AggFunc::Last)]);
    let repeated = batch(&|i| i % 97);
    let distinct = batch(&|i| i);
    for (input, aggs, in_batches) in [
        (&repeated, &plain, true),
        (&repeated, &ordered, true),
        (&distinct, &plain, false),
        (&distinct, &ordered, false),
    ] {
        let gb = GroupBy { keys: vec!["k".into()], aggs: aggs.clone() };
        let whole = gb.partial(input, 2).unwrap();
        let mut partials =
            gb.partials(2, &input.slice(0, DISTINCT_PROBE).project(&[0]).unwrap(), input.num_rows()).unwrap();
        assert_eq!(partials.in_batches(), in_batches);
        for (at, len) in [(0, 7_000), (7_000, 0), (7_000, 20_000), (27_000, 3_000)] {
            partials.push(&input.slice(at, len)).unwrap();
        }
        let streamed = partials.finish(&input.schema()).unwrap();
        let streamed = arrow_select::concat::concat_batches(&streamed[0].schema(), &streamed).unwrap();
        if !in_batches {
            assert_eq!(streamed, whole, "rows (or states of single rows) go as they are");
        }
        let done = |sent: RecordBatch| {
            let states = gb.merge(&[sent, gb.partial(&input.slice(0, 5), 3).unwrap()]).unwrap();
            let out = gb.finish(&states).unwrap();
            let order = arrow_ord::sort::sort_to_indices(out.column(0), None, None).unwrap();
            arrow_select::take::take_record_batch(&out, &order).unwrap()
        };
        let (a, b) = (done(streamed), done(whole));
        assert_eq!(a.schema(), b.schema());
        // Variances merged from other partial states round differently.
        assert_close(&a, &b);
    }
    // No rows at all: a schema still goes.
    let gb = GroupBy { keys: vec!["k".into()], aggs: plain };
    let empty = distinct.slice(0, 0);
    let partials = gb.partials(0, &empty, 0).unwrap();
    assert_eq!(partials.finish(&distinct.schema()).unwrap(), vec![gb.partial(&empty, 0).unwrap()]);
}

#[test]
fn a_sum_that_cannot_be_widened_is_an_error_not_a_null() {
    let k: ArrayRef = Arc::new(Int64Array::from(vec![1, 1]));
    let v: ArrayRef = Arc::new(UInt64Array::from(vec![u64::MAX, 1]));
    let batch = RecordBatch::try_from_iter([("k", k), ("v", v)]).unwrap();
    let gb = GroupBy { keys: vec!["k".into()], aggs: vec![agg("s", AggFunc::Sum)] };
    let err = gb.partial(&batch, 0).unwrap_err().to_string();
    assert!(err.contains("float64"), "{err}");
}

#[test]
fn an_integer_sum_that_overflows_is_an_error_and_one_that_wraps_back_is_exact() {
    let gb = GroupBy { keys: vec!["k".into()], aggs: vec![agg("s", AggFunc::Sum)] };
    let run = |k: Vec<i64>, v: Vec<i64>| {
        let (k, v): (ArrayRef, ArrayRef) = (Arc::new(Int64Array::from(k)), Arc::new(Int64Array::from(v)));
        let batch = RecordBatch::try_from_iter([("k", k), ("v", v)]).unwrap();
        // One phase, and two (the overflow may come only where partial states meet).
        let one = gb.partial(&batch, 0).and_then(|p| gb.finish(&gb.merge(&[p])?));
        let parts = [gb.partial(&batch.slice(0, 1), 0), gb.partial(&batch.slice(1, batch.num_rows() - 1), 1)];
        let two = parts.into_iter().collect::<Result<Vec<_>>>().and_then(|p| gb.finish(&gb.merge(&p)?));
        (one, two)
    };
    // Group 1 passes i64::MAX on the way and comes back; group 2 stays past it (in two phases,
    // only once its states meet).
    let (one, two) = run(vec![2, 1, 1, 1, 2], vec![i64::MAX, i64::MAX, 5, -10, 1]);
    for r in [one, two] {
        let err = r.unwrap_err().to_string();
        assert!(err.contains("sum of \"v\"") && err.contains("does not fit int64"), "{err}");
    }
    let (one, two) = run(vec![1, 1, 1, 2], vec![i64::MAX, 5, -10, i64::MIN]);
    for r in [one, two] {
        let sums = r.unwrap();
        assert_eq!(sums.column(1).as_primitive::<Int64Type>().values().to_vec(), vec![i64::MAX - 5, i64::MIN]);
    }
}

#[test]
fn a_decimal_sum_is_an_exact_decimal_of_38_digits() {
    let cents = |v: Vec<Option<i128>>, p: u8| -> ArrayRef {
        Arc::new(arrow_array::Decimal128Array::from(v).with_precision_and_scale(p, 2).unwrap())
    };
    // Ten times 0.10 is 1.00 (in float64, 0.9999999999999999), a null skipped.
    let mut tenths = vec![Some(10); 10];
    tenths[3] = None;
    tenths.push(Some(10));
    let k: ArrayRef = Arc::new(Int64Array::from(vec![1; 11]));
    let batch = RecordBatch::try_from_iter([("k", k), ("v", cents(tenths, 5))]).unwrap();
    let gb = GroupBy { keys: vec!["k".into()], aggs: vec![agg("s", AggFunc::Sum)] };
    let parts = [gb.partial(&batch.slice(0, 4), 0).unwrap(), gb.partial(&batch.slice(4, 7), 1).unwrap()];
    let sums = gb.finish(&gb.merge(&parts).unwrap()).unwrap();
    assert_eq!(sums.column(1).data_type(), &DataType::Decimal128(38, 2));
    assert_eq!(sums.column(1).as_primitive::<arrow_array::types::Decimal128Type>().value(0), 100);
    // 38 nines and one cent more: past any decimal128.
    let big: ArrayRef = cents(vec![Some(10i128.pow(38) - 1), Some(1)], 38);
    let k: ArrayRef = Arc::new(Int64Array::from(vec![1, 1]));
    let batch = RecordBatch::try_from_iter([("k", k), ("v", big)]).unwrap();
    let err = gb.partial(&batch, 0).unwrap_err().to_string();
    assert!(err.contains("does not fit 38 digits"), "{err}");
}

#[test]
fn batches_grow_until_their_states_are_few() {
    // Leading keys drawn (pseudo-randomly) from `values` distinct ones: the batch size the
    // estimate leads to.
    let rows_for = |values: u64, aggs: Vec<Agg>| {
        let draw = |i: u64| {
            let x = (i + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            let x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb) % values
        };
        let keys: ArrayRef = Arc::new(Int64Array::from_iter_values((0..DISTINCT_PROBE as u64).map(|i| draw(i) as i64)));
        let leading = RecordBatch::try_from_iter([("k", keys)]).unwrap();
        let gb = GroupBy { keys: vec!["k".into()], aggs };
        gb.partials(0, &leading, 50_000_000).unwrap().batch_rows()
    };
    let sum = || vec![agg("s", AggFunc::Sum)];
    assert_eq!(rows_for(10, sum()), BATCH_ROWS, "ten groups: a batch of the usual size");
    assert_eq!(rows_for(5_000, sum()), 2 * BATCH_ROWS);
    assert_eq!(rows_for(10_000, sum()), 4 * BATCH_ROWS, "a sixteenth as many groups as rows");
    assert_eq!(rows_for(100_000, sum()), 16 * BATCH_ROWS, "no larger than sixteen times");
    assert_eq!(rows_for(4_000, vec![agg("m", AggFunc::Median)]), usize::MAX, "states that gather values");
    // Groups too many even for the largest batch, and keys that barely repeat (rows are sent):
    // batches as they come.
    assert_eq!(rows_for(400_000, sum()), usize::MAX);
    assert_eq!(rows_for(1 << 40, sum()), usize::MAX);
}
