//! What every file of an input must agree on: the column types of its first file, whose
//! footer the plan reads. A file whose column is the same one stored another way (a dictionary
//! of the same values, or its values plainly) or in a narrower type that the first file's holds
//! exactly (int32 where the first has int64, float32 where it has float64) is read as the first
//! file has it; any other difference stops the task with an error naming both files, the column
//! and the two types.

use std::sync::Arc;

use arrow_schema::{ArrowError, DataType, Field, Fields, Schema};
use serde::{Deserialize, Serialize};

use crate::codec::Decoded;

/// A column of a plan's input, as its first file's footer gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputColumn {
    /// Its name.
    pub name: String,
    /// Its Arrow type; None: unknown (a synthetic input's).
    pub data_type: Option<DataType>,
}

impl InputColumn {
    /// The column `field` of a file.
    pub fn of(field: &Field) -> Self {
        InputColumn { name: field.name().clone(), data_type: Some(field.data_type().clone()) }
    }
}

/// The columns every file of a plan's input must have the types of: those of its first file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expected {
    /// The first file.
    pub url: String,
    /// Its columns.
    pub columns: Vec<InputColumn>,
    /// The columns the files' paths give them (`hive`), which no file is read for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub path_columns: Vec<InputColumn>,
}

/// Whether every value of type `from` is one of type `to`, exactly: integers into wider ones
/// (an unsigned one into a wider signed one), floats and integers of up to 32 bits into
/// float64, strings and binaries into their large and view forms.
fn widens(from: &DataType, to: &DataType) -> bool {
    use DataType::*;
    let int = |t: &DataType| match t {
        Int8 => Some((true, 8)),
        Int16 => Some((true, 16)),
        Int32 => Some((true, 32)),
        Int64 => Some((true, 64)),
        UInt8 => Some((false, 8)),
        UInt16 => Some((false, 16)),
        UInt32 => Some((false, 32)),
        UInt64 => Some((false, 64)),
        _ => None,
    };
    match (from, to) {
        (Float16, Float32 | Float64) | (Float32, Float64) => true,
        (Utf8, LargeUtf8 | Utf8View) | (Binary, LargeBinary | BinaryView) => true,
        (f, Float64) => int(f).is_some_and(|(_, bits)| bits <= 32),
        (f, t) => match (int(f), int(t)) {
            (Some((fs, fb)), Some((ts, tb))) => (fs == ts && fb <= tb) || (!fs && ts && fb < tb),
            _ => false,
        },
    }
}

/// A dictionary's values' type; other types as they are.
fn values_of(t: &DataType) -> &DataType {
    match t {
        DataType::Dictionary(_, values) => values,
        t => t,
    }
}

impl Expected {
    /// For each of `fields` (the columns read of `url`): the first file's type where it is the
    /// same column stored another way (a dictionary of the same values, or its values plainly),
    /// which the file's column is to be cast to; None where they agree. An error naming the
    /// first column whose type differs otherwise, and what to do.
    pub fn check(&self, url: &str, fields: &Fields) -> crate::Result<Vec<Option<DataType>>> {
        let mut casts = Vec::with_capacity(fields.len());
        for field in fields.iter() {
            let want = self.columns.iter().find(|c| &c.name == field.name()).and_then(|c| c.data_type.as_ref());
            let got = field.data_type();
            casts.push(match want {
                Some(want) if want != got && values_of(want) == values_of(got) => Some(want.clone()),
                Some(want) if widens(values_of(got), values_of(want)) => Some(want.clone()),
                Some(want) if want != got => {
                    return Err(crate::Error::Data {
                        url: url.to_string(),
                        what: "read".into(),
                        message: format!(
                            "its column {:?} is {got}, but {want} in {}, the first file of the input, whose types \
                             every file must have: rewrite the files with one type, or read the two kinds as \
                             separate datasets",
                            field.name(),
                            self.url
                        ),
                    })
                }
                _ => None,
            });
        }
        Ok(casts)
    }

    /// The columns of `fields` (read of `url`) whose values must be cast to the first file's
    /// type (by name), leaving out those only stored another way; an error as [`Expected::check`].
    pub fn widened(&self, url: &str, fields: &Fields) -> crate::Result<Vec<(String, DataType)>> {
        let casts = self.check(url, fields)?;
        let widened = fields.iter().zip(casts).filter_map(|(f, cast)| {
            cast.filter(|t| values_of(t) != values_of(f.data_type())).map(|t| (f.name().clone(), t))
        });
        Ok(widened.collect())
    }

    /// `decoded` (read of `url`) with the first file's types: a column stored another way cast
    /// to its type; an error where a type differs otherwise (see [`Expected::check`]). Every
    /// column may hold nulls: one file may declare a column without nulls that another has
    /// nulls in (Spark's writers and pandas' differ), and their rows end up in one batch.
    pub fn conform(&self, url: &str, decoded: Decoded) -> crate::Result<Decoded> {
        let casts = self.check(url, decoded.schema.fields())?;
        if casts.iter().all(Option::is_none) && decoded.schema.fields().iter().all(|f| f.is_nullable()) {
            return Ok(decoded);
        }
        let schema = cast_schema(&decoded.schema, &casts, true);
        let batches = decoded.batches.iter().map(|b| cast_columns(b, &schema, &casts, url));
        Ok(Decoded { batches: batches.collect::<crate::Result<_>>()?, schema })
    }
}

/// `batch` with its columns named in `casts` cast to the type given (see
/// [`Expected::widened`]: each value is kept exactly); `url` names the file in errors.
pub fn widen(
    batch: arrow_array::RecordBatch,
    casts: &[(String, DataType)],
    url: &str,
) -> crate::Result<arrow_array::RecordBatch> {
    let by_position: Vec<Option<DataType>> = (batch.schema().fields().iter())
        .map(|f| casts.iter().find(|(name, _)| name == f.name()).map(|(_, to)| to.clone()))
        .collect();
    if by_position.iter().all(Option::is_none) {
        return Ok(batch);
    }
    let schema = cast_schema(&batch.schema(), &by_position, false);
    cast_columns(&batch, &schema, &by_position, url)
}

/// `schema` with each column `casts` gives a type for (by position) of that type; with
/// `nullable`, every column may hold nulls.
fn cast_schema(schema: &Schema, casts: &[Option<DataType>], nullable: bool) -> Arc<Schema> {
    let fields: Fields = (schema.fields().iter().zip(casts))
        .map(|(f, t)| {
            let f = f.as_ref().clone().with_nullable(nullable || f.is_nullable());
            Arc::new(match t {
                Some(t) => f.with_data_type(t.clone()),
                None => f,
            })
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// `batch` as `schema` (from [`cast_schema`]): each column `casts` gives a type for cast to it.
fn cast_columns(
    batch: &arrow_array::RecordBatch,
    schema: &Arc<Schema>,
    casts: &[Option<DataType>],
    url: &str,
) -> crate::Result<arrow_array::RecordBatch> {
    let bad = |e: ArrowError| crate::Error::Data { url: url.to_string(), what: "read".into(), message: e.to_string() };
    let columns = (batch.columns().iter().zip(casts))
        .map(|(c, t)| t.as_ref().map_or(Ok(c.clone()), |t| arrow_cast::cast(c, t)))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(bad)?;
    arrow_array::RecordBatch::try_new(schema.clone(), columns).map_err(bad)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Format;
    use crate::plan::{Input, Plan};

    fn plan() -> Plan {
        let input = |i: usize| Input::whole(format!("file:///d/{i}.parquet"), Format::Parquet, 1500);
        Plan::scan((0..3).map(input).collect(), "file:///d/".into())
    }

    #[test]
    fn every_file_must_have_the_first_file_s_types_where_it_is_read() {
        let first = [Field::new("k", DataType::Int64, true), Field::new("s", DataType::Utf8, true)];
        let plan = plan().with_schema(Some(first.iter().map(InputColumn::of).collect()), 1.0);
        let expected = plan.expected().unwrap();
        assert_eq!(expected.url, "file:///d/0.parquet");
        let coded = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
        // Strings stored as a dictionary (cast to the first file's plain strings), another
        // column, fewer columns: they agree.
        let agree =
            Fields::from(vec![Field::new("s", coded.clone(), false), Field::new("extra", DataType::Float64, true)]);
        assert_eq!(expected.check("file:///d/1.parquet", &agree).unwrap(), vec![Some(DataType::Utf8), None]);
        let differ = Fields::from(vec![Field::new("k", DataType::Float64, true)]);
        let err = expected.check("file:///d/1.parquet", &differ).unwrap_err().to_string();
        assert!(
            err.contains("1.parquet") && err.contains("\"k\" is Float64, but Int64 in file:///d/0.parquet"),
            "{err}"
        );
        // A narrower type the first file's holds exactly is cast to it (and only that is
        // widened: the dictionary is no cast of values).
        let narrow = Fields::from(vec![Field::new("k", DataType::Int32, true), Field::new("s", coded.clone(), true)]);
        assert_eq!(
            expected.check("file:///d/1.parquet", &narrow).unwrap(),
            vec![Some(DataType::Int64), Some(DataType::Utf8)]
        );
        assert_eq!(expected.widened("file:///d/1.parquet", &narrow).unwrap(), vec![("k".to_string(), DataType::Int64)]);
        use DataType::*;
        for (from, to, exact) in [
            (UInt32, Int64, true),
            (UInt64, Int64, false),
            (Int64, UInt64, false),
            (Int8, Int16, true),
            (Int32, Float64, true),
            (Int64, Float64, false),
            (Float32, Float64, true),
            (Float64, Float32, false),
            (Utf8, LargeUtf8, true),
            (LargeUtf8, Utf8, false),
        ] {
            assert_eq!(widens(&from, &to), exact, "{from} into {to}");
        }
        let batch = arrow_array::RecordBatch::try_from_iter([(
            "k",
            Arc::new(arrow_array::Int32Array::from(vec![Some(-3), None, Some(i32::MAX)])) as arrow_array::ArrayRef,
        )])
        .unwrap();
        let wide = widen(batch, &[("k".into(), Int64)], "mem").unwrap();
        let values: Vec<Option<i64>> =
            arrow_array::cast::AsArray::as_primitive::<arrow_array::types::Int64Type>(wide.column(0)).iter().collect();
        assert_eq!(values, [Some(-3), None, Some(i32::MAX as i64)]);
        // A synthetic input's columns have no types: nothing to check.
        let untyped = plan.with_schema(Some(vec![InputColumn { name: "k".into(), data_type: None }]), 1.0);
        assert_eq!(untyped.expected().unwrap().check("file:///d/1.parquet", &differ).unwrap(), vec![None]);
        // The expectation crosses to workers as JSON.
        let json = serde_json::to_string(&expected).unwrap();
        assert_eq!(serde_json::from_str::<Expected>(&json).unwrap(), expected);
    }
}
