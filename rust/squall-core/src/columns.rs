//! The columns a plan has after each operator, when its input's schema is known (from the first
//! file's footer), so that an operator naming a column that is not there fails when the plan is
//! built, before any task runs. After a Python function the columns are unknown: the check
//! stops there, and a task reports the error.

use crate::error::{Error, Result};
use crate::plan::{Exchange, Op, Plan};

/// The columns of the plan's output, in order (None: unknown).
pub fn output_columns(plan: &Plan) -> Option<Vec<String>> {
    let mut columns = plan.columns.clone().or_else(|| plan.input_names())?;
    columns = after_ops(columns, &plan.ops)?;
    for shuffle in &plan.shuffles {
        columns = match &shuffle.exchange {
            Exchange::GroupBy { group, .. } => {
                group.keys.iter().cloned().chain(group.aggs.iter().map(|a| a.name.clone())).collect()
            }
            Exchange::Sort { .. } | Exchange::Repartition { .. } => columns,
        };
        columns = after_ops(columns, &shuffle.ops)?;
    }
    Some(columns)
}

fn after_ops(mut columns: Vec<String>, ops: &[Op]) -> Option<Vec<String>> {
    for op in ops {
        match op {
            Op::Udf { .. } => return None,
            Op::Select { columns: kept } => columns = kept.clone(),
            Op::Compute { columns: added } => {
                for (name, _) in added {
                    if !columns.contains(name) {
                        columns.push(name.clone());
                    }
                }
            }
            Op::Limit { .. } | Op::Filter { .. } | Op::TopK { .. } => {}
        }
    }
    Some(columns)
}

/// Checks that `op` names only columns the plan has (when they are known).
pub fn check_op(plan: &Plan, op: &Op) -> Result<()> {
    let Some(have) = output_columns(plan) else { return Ok(()) };
    let (what, named) = match op {
        Op::Udf { .. } | Op::Limit { .. } => return Ok(()),
        Op::Select { columns } => ("select()", columns.clone()),
        Op::Filter { expr } => ("filter()", expr.columns()),
        Op::Compute { columns } => {
            // Each may use the ones computed before it.
            let mut have = have;
            for (name, expr) in columns {
                missing("with_columns()", &expr.columns(), &have)?;
                have.push(name.clone());
            }
            return Ok(());
        }
        Op::TopK { keys, .. } => ("top_k()", keys.iter().map(|k| k.column.clone()).collect()),
    };
    missing(what, &named, &have)
}

/// Checks that `exchange` names only columns the plan has (when they are known).
pub fn check_exchange(plan: &Plan, exchange: &Exchange) -> Result<()> {
    let Some(have) = output_columns(plan) else { return Ok(()) };
    match exchange {
        Exchange::Sort { keys, .. } => {
            missing("sort()", &keys.iter().map(|k| k.column.clone()).collect::<Vec<_>>(), &have)
        }
        Exchange::Repartition { keys, .. } => missing("repartition()", keys, &have),
        Exchange::GroupBy { group, .. } => {
            missing("groupby()", &group.keys, &have)?;
            let named: Vec<String> = group.aggs.iter().flat_map(|a| a.column.iter().chain(&a.with)).cloned().collect();
            missing("agg()", &named, &have)
        }
    }
}

fn missing(what: &str, named: &[String], have: &[String]) -> Result<()> {
    let Some(absent) = named.iter().find(|c| !have.contains(c)) else { return Ok(()) };
    let hint = closest(absent, have).map(|c| format!(" (did you mean {c:?}?)")).unwrap_or_default();
    Err(Error::Plan(format!("{what}: no column named {absent:?}{hint}; the columns are {have:?}")))
}

/// The column whose name is nearest `name`, if one is near enough to be a typo of it.
fn closest<'a>(name: &str, have: &'a [String]) -> Option<&'a String> {
    let folded = name.to_lowercase();
    let (best, distance) = have.iter().map(|c| (c, edits(&folded, &c.to_lowercase()))).min_by_key(|(_, d)| *d)?;
    (distance <= 2.max(name.chars().count() / 4)).then_some(best)
}

/// Levenshtein distance between `a` and `b`, by characters.
fn edits(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitute = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_and_the_nearest_name() {
        assert_eq!(edits("kitten", "sitting"), 3);
        assert_eq!(edits("", "abc"), 3);
        let have = vec!["value".to_string(), "key".to_string()];
        assert_eq!(closest("vlaue", &have), Some(&have[0]));
        assert_eq!(closest("KEY", &have), Some(&have[1]));
        assert_eq!(closest("temperature", &have), None);
    }
}
