//! Plans: what the scan reads, how a plan is cut into stages, and what a shuffle needs.

use super::*;
use crate::groupby::AggFunc;

fn plan() -> Plan {
    let input = |i: usize| Input::whole(format!("file:///d/{i}.parquet"), Format::Parquet, 1500);
    Plan::scan((0..3).map(input).collect(), "file:///d/".into())
}

fn key(c: &str) -> SortKey {
    SortKey { column: c.into(), descending: false, nulls_first: false }
}

#[test]
fn a_select_after_the_scan_is_pushed_into_it() {
    let p = plan().then(Op::Select { columns: vec!["b".into()] }).unwrap();
    assert_eq!(p.columns, Some(vec!["b".to_string()]));
    assert!(p.ops.is_empty());
    let udf = Op::Udf { index: 0, kind: "map_batches".into(), name: "f".into() };
    let p = p.then(udf).unwrap().then(Op::Select { columns: vec!["c".into()] }).unwrap();
    assert_eq!(p.ops.len(), 2, "a select after a function stays an operator");
    assert!(plan().then(Op::Select { columns: vec!["a".into(), "a".into()] }).is_err());
}

#[test]
fn the_scan_reads_only_the_columns_later_operators_use() {
    let strs = |v: &[&str]| v.iter().map(|c| c.to_string()).collect::<Vec<_>>();
    let agg = |c: &str| crate::groupby::Agg::new("x", Some(c), AggFunc::Sum);
    let group = GroupBy { keys: strs(&["k", "j"]), aggs: vec![agg("v"), agg("k"), agg("v")] };
    let by_key = Exchange::GroupBy { group, partitions: 2 };
    let sort = |c: &str| Exchange::Sort { keys: vec![key(c)], partitions: 2 };
    assert_eq!(plan().scan_columns(), None);
    assert_eq!(plan().then_exchange(sort("t"), false).unwrap().scan_columns(), None, "a sort keeps every column");
    let p = plan().then_exchange(sort("t"), false).unwrap();
    let p = p.then_exchange(by_key.clone(), false).unwrap();
    assert_eq!(p.scan_columns(), Some(strs(&["k", "j", "v", "t"])), "the sort's key, then what the group-by reads");
    let selected = plan().then(Op::Select { columns: strs(&["z", "v", "k", "j"]) }).unwrap();
    let p = selected.then_exchange(by_key.clone(), false).unwrap();
    assert_eq!(p.scan_columns(), Some(strs(&["v", "k", "j"])), "the projection narrowed, in its order");
    let udf = Op::Udf { index: 0, kind: "map_batches".into(), name: "f".into() };
    let p = plan().then(udf).unwrap().then_exchange(by_key.clone(), false).unwrap();
    assert_eq!(p.scan_columns(), None, "a function before the group-by may read any column");
    let top = Op::TopK { keys: vec![key("t")], rows: 3 };
    let p = plan().then(top).unwrap().then_exchange(by_key, false).unwrap();
    assert_eq!(p.scan_columns(), Some(strs(&["k", "j", "v", "t"])));
}

#[test]
fn a_plan_without_shuffles_is_one_stage() {
    assert_eq!(plan().stages(), vec![Stage { source: Source::Inputs, ops: vec![], target: Target::Sink }]);
}

#[test]
fn a_sort_samples_first_and_a_sort_after_a_shuffle_reads_written_parts() {
    let sort = |r| Exchange::Sort { keys: vec![key("t")], partitions: r };
    let group = Exchange::GroupBy { group: GroupBy { keys: vec!["k".into()], aggs: vec![] }, partitions: 4 };
    let p = plan().then_exchange(sort(2), false).unwrap();
    let targets: Vec<Target> = p.stages().iter().map(|s| s.target).collect();
    assert_eq!(targets, vec![Target::Sample(0), Target::Shuffle(0), Target::Sink]);

    let limit = Op::Limit { rows: 3 };
    let p = plan().then_exchange(group, false).unwrap().then(limit.clone()).unwrap();
    let p = p.then_exchange(sort(3), false).unwrap().then_exchange(sort(1), false).unwrap();
    let stages = p.stages();
    let outline: Vec<(Source, Target)> = stages.iter().map(|s| (s.source, s.target)).collect();
    assert_eq!(
        outline,
        vec![
            (Source::Inputs, Target::Shuffle(0)),
            (Source::Shuffle(0), Target::Parts),
            (Source::Parts(1), Target::Sample(1)),
            (Source::Parts(1), Target::Shuffle(1)),
            // A sort into one partition needs no splitters: its reducers feed it directly.
            (Source::Shuffle(1), Target::Shuffle(2)),
            (Source::Shuffle(2), Target::Sink),
        ]
    );
    assert_eq!(stages[1].ops, vec![limit], "the group-by's operators run before its rows are written");
    assert!(stages[2].ops.is_empty());
    assert_eq!(p.partitions(), 1);
}

#[test]
fn shuffles_need_keys_and_partitions() {
    assert!(plan().then_exchange(Exchange::Sort { keys: vec![], partitions: 2 }, false).is_err());
    assert!(plan().then_exchange(Exchange::Sort { keys: vec![key("t")], partitions: 0 }, false).is_err());
}
