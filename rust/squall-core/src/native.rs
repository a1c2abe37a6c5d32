//! One integer, date or timestamp column as plain 64-bit values: the group-by and the sort
//! hash and compare those directly instead of encoding every row in Arrow's row format.

use std::borrow::Cow;

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::ArrayRef;
use arrow_schema::{DataType, TimeUnit};

/// The column's values as i64, distinct values staying distinct (a u64 by its bits); the
/// values under nulls are arbitrary. `None` for other types.
pub(crate) fn integer_values(column: &ArrayRef) -> Option<Cow<'_, [i64]>> {
    macro_rules! widen {
        ($t:ty) => {
            Cow::Owned(column.as_primitive::<$t>().values().iter().map(|&v| v as i64).collect())
        };
    }
    Some(match column.data_type() {
        DataType::Int64 => Cow::Borrowed(&column.as_primitive::<Int64Type>().values()[..]),
        DataType::Int8 => widen!(Int8Type),
        DataType::Int16 => widen!(Int16Type),
        DataType::Int32 => widen!(Int32Type),
        DataType::UInt8 => widen!(UInt8Type),
        DataType::UInt16 => widen!(UInt16Type),
        DataType::UInt32 => widen!(UInt32Type),
        DataType::UInt64 => widen!(UInt64Type),
        DataType::Date32 => widen!(Date32Type),
        DataType::Date64 => widen!(Date64Type),
        DataType::Timestamp(TimeUnit::Second, _) => widen!(TimestampSecondType),
        DataType::Timestamp(TimeUnit::Millisecond, _) => widen!(TimestampMillisecondType),
        DataType::Timestamp(TimeUnit::Microsecond, _) => widen!(TimestampMicrosecondType),
        DataType::Timestamp(TimeUnit::Nanosecond, _) => widen!(TimestampNanosecondType),
        _ => return None,
    })
}
