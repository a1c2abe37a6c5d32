//! Columns a file's path gives it: a dataset written by Spark, Hive, pyarrow or polars
//! partitioned by columns puts each file under directories named `column=value`
//! (`events/year=2024/site=K%C3%B8ge/part-0.parquet`), and its files do not hold those
//! columns. Read from the directories below the location the user gave (as Spark and pyarrow
//! do), every file must have the same names in the same order; a column is a 64-bit integer
//! when every file's value is one written plainly (not `007`: zip codes stay strings), else a
//! string. `__HIVE_DEFAULT_PARTITION__` (and an empty value) is a null, and values are
//! percent-decoded, as their writers encode them.

use std::sync::Arc;

use arrow_array::{
    new_null_array, Array, ArrayRef, BooleanArray, Int64Array, RecordBatch, RecordBatchOptions, StringArray,
};
use arrow_schema::{DataType, Field, Schema};

use crate::codec::Decoded;
use crate::expr::{BinaryOp, Expr};
use crate::file_types::InputColumn;
use crate::plan::Input;
use crate::{Error, Result};

/// The (column, value) pairs a file's directories give it, in their order; None: null.
pub type PathValues = Vec<(String, Option<String>)>;

/// The value writers give a null.
const NULL_VALUE: &str = "__HIVE_DEFAULT_PARTITION__";

/// The `(column, value)` pairs of the directories of `relative`, a file's key below the
/// location it was found under (its own name is not one).
pub fn path_values(relative: &str) -> PathValues {
    let Some((dirs, _file)) = relative.rsplit_once('/') else { return Vec::new() };
    dirs.split('/')
        .filter_map(|segment| {
            let (name, value) = segment.split_once('=')?;
            if name.is_empty() {
                return None;
            }
            let value = decoded(value);
            let value = (!value.is_empty() && value != NULL_VALUE).then_some(value);
            Some((decoded(name), value))
        })
        .collect()
}

/// `text` percent-decoded; as it is where its bytes would not be UTF-8 once decoded (so that
/// two such values never become one).
fn decoded(text: &str) -> String {
    percent_encoding::percent_decode_str(text).decode_utf8().map_or_else(|_| text.to_string(), |d| d.into_owned())
}

/// Whether `value` is an integer written as Rust writes it back (`7`, `-3`; not `007` or
/// `+7`, which would read as another directory's value).
fn integer(value: &str) -> bool {
    value.parse::<i64>().is_ok_and(|v| v.to_string() == value)
}

/// The columns `inputs`' paths give them, after `file_columns` (the first file's, which a
/// path's column of the same name does not replace); an error when two files' directories
/// name different columns.
pub fn path_columns(inputs: &[Input], file_columns: Option<&[InputColumn]>, source: &str) -> Result<Vec<InputColumn>> {
    let Some(first) = inputs.first() else { return Ok(Vec::new()) };
    let names = |input: &Input| input.path_values.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    let want = names(first);
    if let Some(other) = inputs.iter().find(|i| names(i) != want) {
        return Err(Error::Plan(format!(
            "the files of {source} are not all in directories of the same columns (column=value): {} is under \
             {:?}, and {} under {:?}; read each kind as a dataset of its own",
            crate::redact::redact(&first.url),
            want,
            crate::redact::redact(&other.url),
            names(other),
        )));
    }
    let in_file = |name: &String| file_columns.is_some_and(|cols| cols.iter().any(|c| &c.name == name));
    let mut columns = Vec::new();
    for (i, name) in want.iter().enumerate() {
        if in_file(name) || columns.iter().any(|c: &InputColumn| &c.name == name) {
            continue;
        }
        let values = inputs.iter().filter_map(|input| input.path_values[i].1.as_deref());
        let integers = values.clone().all(integer);
        let data_type = if integers && values.count() > 0 { DataType::Int64 } else { DataType::Utf8 };
        columns.push(InputColumn { name: name.clone(), data_type: Some(data_type) });
    }
    Ok(columns)
}

/// The columns of `wanted` (None: every column) that `decoded` (read of a file) must be read
/// with: all but those of `path_columns` (the columns the plan's input has from its paths).
pub fn file_part(wanted: Option<&[String]>, path_columns: &[InputColumn]) -> Option<Vec<String>> {
    let wanted = wanted?;
    Some(wanted.iter().filter(|w| !path_columns.iter().any(|c| &c.name == *w)).cloned().collect())
}

/// `decoded`, the columns read of `input`'s file, with the columns of `path_columns` its path
/// gives: in the order of `wanted`, or (None) after the file's.
pub fn with_path_columns(
    decoded: Decoded,
    input: &Input,
    wanted: Option<&[String]>,
    path_columns: &[InputColumn],
) -> Result<Decoded> {
    if path_columns.is_empty() {
        return Ok(decoded);
    }
    let path_column = |name: &String| path_columns.iter().find(|c| &c.name == name);
    let value = |name: &str| input.path_values.iter().find(|(n, _)| n == name).and_then(|(_, v)| v.as_deref());
    // Each column out: the file's by position (columns that share a name are told apart only
    // so), or the path's.
    let file = &decoded.schema;
    let sources: Vec<Source> = match wanted {
        Some(w) => w
            .iter()
            .map(|name| match path_column(name) {
                Some(c) => Ok(Source::Path(c)),
                None => file.index_of(name).map(Source::File).map_err(|e| bad(input, e.to_string())),
            })
            .collect::<Result<_>>()?,
        None => {
            let own = (0..file.fields().len()).filter(|&i| path_column(file.field(i).name()).is_none());
            own.map(Source::File).chain(path_columns.iter().map(Source::Path)).collect()
        }
    };
    let fields: Vec<arrow_schema::FieldRef> = sources
        .iter()
        .map(|s| match s {
            Source::File(i) => file.fields()[*i].clone(),
            Source::Path(c) => Arc::new(Field::new(&c.name, c.data_type.clone().unwrap_or(DataType::Utf8), true)),
        })
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let mut batches = Vec::with_capacity(decoded.batches.len());
    for batch in &decoded.batches {
        let rows = batch.num_rows();
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(sources.len());
        for (source, field) in sources.iter().zip(schema.fields()) {
            columns.push(match source {
                Source::File(i) => batch.column(*i).clone(),
                Source::Path(c) => constant(value(&c.name), field.data_type(), rows)
                    .map_err(|m| bad(input, format!("{}: {m}", c.name)))?,
            });
        }
        let options = RecordBatchOptions::new().with_row_count(Some(rows));
        batches.push(
            RecordBatch::try_new_with_options(schema.clone(), columns, &options)
                .map_err(|e| bad(input, e.to_string()))?,
        );
    }
    Ok(Decoded { schema, batches })
}

/// Where a column read of a file with its path's columns comes from.
enum Source<'a> {
    /// The file's column at this position.
    File(usize),
    /// The path's column.
    Path(&'a InputColumn),
}

/// Whether `filter` may keep a row of `input`: false when one of its conjuncts (`a & b`) reads
/// only columns that `input`'s path gives, and is false or null for its values; so a file of
/// a partitioned dataset that no row of can pass is not read at all.
pub fn may_keep(filter: &Expr, input: &Input, path_columns: &[InputColumn]) -> bool {
    let mut conjuncts = vec![filter];
    let mut i = 0;
    while i < conjuncts.len() {
        if let Expr::Binary { op: BinaryOp::And, left, right, .. } = conjuncts[i] {
            conjuncts.swap_remove(i);
            conjuncts.extend([left.as_ref(), right.as_ref()]);
        } else {
            i += 1;
        }
    }
    let only_path = |e: &Expr| {
        let read = e.columns();
        !read.is_empty() && read.iter().all(|c| path_columns.iter().any(|p| &p.name == c))
    };
    let one_row = || {
        let none = RecordBatch::try_new_with_options(
            Arc::new(Schema::empty()),
            vec![],
            &RecordBatchOptions::new().with_row_count(Some(1)),
        )
        .ok()?;
        let decoded = Decoded { schema: none.schema(), batches: vec![none] };
        with_path_columns(decoded, input, None, path_columns).ok()?.batches.pop()
    };
    let Some(row) = conjuncts.iter().any(|c| only_path(c)).then(one_row).flatten() else { return true };
    conjuncts.into_iter().filter(|c| only_path(c)).all(|c| match c.evaluate(&row) {
        Ok(kept) => kept.as_any().downcast_ref::<BooleanArray>().is_none_or(|k| k.is_valid(0) && k.value(0)),
        // Left to the task, which reports it.
        Err(_) => true,
    })
}

/// `rows` copies of `value` as `data_type`: an integer column, a string column, or a
/// dictionary of strings (one value, every row's code 0: what a group-by groups fastest).
fn constant(value: Option<&str>, data_type: &DataType, rows: usize) -> std::result::Result<ArrayRef, String> {
    let Some(value) = value else {
        if let DataType::Dictionary(..) = data_type {
            // Null codes into one value, as a group-by's dictionaries have (never no values).
            let (codes, values) = (arrow_array::Int32Array::new_null(rows), Arc::new(StringArray::from(vec![""])));
            return Ok(Arc::new(arrow_array::Int32DictionaryArray::try_new(codes, values).map_err(|e| e.to_string())?));
        }
        return Ok(new_null_array(data_type, rows));
    };
    Ok(match data_type {
        DataType::Int64 => {
            let v: i64 = value.parse().map_err(|_| format!("the path's value {value:?} is not an integer"))?;
            Arc::new(Int64Array::from_value(v, rows))
        }
        DataType::Dictionary(..) => {
            let codes = arrow_array::Int32Array::from_value(0, rows);
            let values: ArrayRef = Arc::new(StringArray::from(vec![value]));
            Arc::new(arrow_array::Int32DictionaryArray::try_new(codes, values).map_err(|e| e.to_string())?)
        }
        _ => Arc::new(StringArray::from_iter_values(std::iter::repeat_n(value, rows))),
    })
}

/// `columns` with their strings as dictionaries (see `constant`), for a reader that takes them.
pub fn coded(columns: &[InputColumn]) -> Vec<InputColumn> {
    let code = |t: &DataType| match t {
        DataType::Utf8 => DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
        t => t.clone(),
    };
    columns.iter().map(|c| InputColumn { name: c.name.clone(), data_type: c.data_type.as_ref().map(code) }).collect()
}

fn bad(input: &Input, message: String) -> Error {
    Error::Data { url: input.url.clone(), what: "read the columns of its path".into(), message }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Format;

    fn input(key: &str) -> Input {
        let mut input = Input::whole(format!("file:///d/{key}"), Format::Parquet, 1);
        input.path_values = path_values(key);
        input
    }

    fn some(pairs: &[(&str, &str)]) -> Vec<(String, Option<String>)> {
        pairs.iter().map(|(n, v)| (n.to_string(), Some(v.to_string()))).collect()
    }

    #[test]
    fn directories_name_columns_and_their_values() {
        assert_eq!(path_values("year=2024/site=K%C3%B8ge/part-0.parquet"), some(&[("year", "2024"), ("site", "Køge")]));
        assert_eq!(path_values("part=1.parquet"), vec![], "a file's own name is no column");
        assert_eq!(path_values("raw/x=1/=2/a/f.parquet"), some(&[("x", "1")]));
        assert_eq!(path_values("k=a=b/f"), some(&[("k", "a=b")]));
        // Bytes that are not UTF-8 once decoded stay as written: two such values stay two.
        assert_eq!(path_values("k=%FF/f"), some(&[("k", "%FF")]));
        let nulls = path_values("k=__HIVE_DEFAULT_PARTITION__/j=/f");
        assert_eq!(nulls, vec![("k".to_string(), None), ("j".to_string(), None)]);
    }

    #[test]
    fn a_column_is_an_integer_when_every_value_is_one() {
        let inputs = [input("y=2024/s=a/f"), input("y=-3/s=7/f"), input("y=__HIVE_DEFAULT_PARTITION__/s=b/f")];
        let cols = path_columns(&inputs, None, "d").unwrap();
        let types: Vec<_> = cols.iter().map(|c| (c.name.as_str(), c.data_type.clone().unwrap())).collect();
        assert_eq!(types, [("y", DataType::Int64), ("s", DataType::Utf8)]);
        let file = [InputColumn { name: "s".into(), data_type: Some(DataType::Utf8) }];
        assert_eq!(path_columns(&inputs, Some(&file), "d").unwrap().len(), 1, "the file's own column is kept");
        // Zip codes are strings: 02134 and 2134 are two values, not one number.
        let zips = path_columns(&[input("z=02134/f"), input("z=2134/f")], None, "d").unwrap();
        assert_eq!(zips[0].data_type, Some(DataType::Utf8));
        let only_nulls = path_columns(&[input("y=/f")], None, "d").unwrap();
        assert_eq!(only_nulls[0].data_type, Some(DataType::Utf8));
        // They reach workers (processes, Lambda functions) in the task's JSON.
        let back: Input = serde_json::from_str(&serde_json::to_string(&inputs[2]).unwrap()).unwrap();
        assert_eq!(back, inputs[2]);
        let err = path_columns(&[input("y=1/f"), input("f")], None, "d").unwrap_err().to_string();
        assert!(err.contains("not all in directories of the same columns") && err.contains("[\"y\"]"), "{err}");
    }

    #[test]
    fn a_filter_of_path_columns_rules_files_out() {
        let inputs = [input("y=2024/s=a/f"), input("y=2025/s=__HIVE_DEFAULT_PARTITION__/f")];
        let cols = path_columns(&inputs, None, "d").unwrap();
        let col = |n: &str| Box::new(Expr::Column { name: n.into() });
        let lit = |v: crate::expr::Literal| Box::new(Expr::Literal { value: v });
        let bin = |op, left, right| Expr::Binary { op, left, right, ieee: false };
        let y2025 = bin(BinaryOp::Eq, col("y"), lit(crate::expr::Literal::Int(2025)));
        let kept = |e: &Expr| inputs.iter().map(|i| may_keep(e, i, &cols)).collect::<Vec<_>>();
        assert_eq!(kept(&y2025), [false, true]);
        let s_is_a = bin(BinaryOp::Eq, col("s"), lit(crate::expr::Literal::Str("a".into())));
        assert_eq!(kept(&s_is_a), [true, false], "null is not equal to anything");
        let x = bin(BinaryOp::Gt, col("x"), lit(crate::expr::Literal::Int(0)));
        assert_eq!(kept(&x), [true, true], "a file's own column rules nothing out");
        assert_eq!(kept(&bin(BinaryOp::And, Box::new(x.clone()), Box::new(y2025.clone()))), [false, true]);
        assert_eq!(kept(&bin(BinaryOp::Or, Box::new(x), Box::new(y2025))), [true, true]);
    }

    #[test]
    fn path_columns_are_added_where_asked() {
        let x: ArrayRef = Arc::new(Int64Array::from(vec![1, 2, 3]));
        let batch = RecordBatch::try_from_iter([("x", x)]).unwrap();
        let decoded = Decoded { schema: batch.schema(), batches: vec![batch] };
        let inputs = [input("y=2024/s=__HIVE_DEFAULT_PARTITION__/f")];
        let cols = path_columns(&inputs, None, "d").unwrap();
        let all = with_path_columns(decoded.clone(), &inputs[0], None, &cols).unwrap();
        let names: Vec<_> = all.schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["x", "y", "s"]);
        let b = &all.batches[0];
        assert_eq!(b.column(1).as_any().downcast_ref::<Int64Array>().unwrap().values().to_vec(), vec![2024; 3]);
        assert_eq!(b.column(2).null_count(), 3);
        let inputs = [input("y=2024/s=x/f")];
        let coded = with_path_columns(decoded.clone(), &inputs[0], None, &coded(&cols)).unwrap();
        let s = coded.batches[0].column(2);
        assert!(matches!(s.data_type(), DataType::Dictionary(..)));
        let plain = arrow_cast::cast(s, &DataType::Utf8).unwrap();
        assert_eq!(plain.as_any().downcast_ref::<StringArray>().unwrap().iter().collect::<Vec<_>>(), [Some("x"); 3]);
        // Columns that share a name stay apart (told apart by position).
        let (one, two): (ArrayRef, ArrayRef) =
            (Arc::new(Int64Array::from(vec![1])), Arc::new(Int64Array::from(vec![2])));
        let twins = RecordBatch::try_from_iter([("a", one), ("a", two)]).unwrap();
        let twins =
            with_path_columns(Decoded { schema: twins.schema(), batches: vec![twins] }, &inputs[0], None, &cols);
        let twins = &twins.unwrap().batches[0];
        assert_eq!(twins.num_columns(), 4);
        assert_eq!(twins.column(1).as_any().downcast_ref::<Int64Array>().unwrap().value(0), 2);
        let wanted = ["y".to_string(), "x".to_string()];
        assert_eq!(file_part(Some(&wanted), &cols), Some(vec!["x".to_string()]));
        let some = with_path_columns(decoded, &inputs[0], Some(&wanted), &cols).unwrap();
        assert_eq!(some.schema.field(0).name(), "y");
        assert_eq!(some.batches[0].num_rows(), 3);
    }
}
