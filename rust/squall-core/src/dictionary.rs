//! Whether a column is worth a Parquet dictionary, judged from a sample before writing.
//!
//! Parquet writers start every column with a dictionary and give it up once the dictionary
//! page outgrows its limit (1 MB): for a column of mostly distinct values (ids, keys, payloads)
//! that is a hash table filled and thrown away, about 3% of a sort's time. A sample of the
//! column estimates its distinct values (Chao1: from how many sampled values occur once and
//! twice), and a column whose dictionary would outgrow the page anyway is written plainly from
//! the start: the same file the writer would have produced after giving up.

use std::collections::HashMap;

use arrow_array::{ArrayRef, RecordBatch, UInt32Array};
use arrow_row::{RowConverter, SortField};
use arrow_select::take::take;

/// Values sampled per column.
const SAMPLE: usize = 1024;

/// The top-level columns of `batches` (one schema) whose dictionary would exceed `limit` bytes:
/// their indices. Columns of a nested or dictionary type, and inputs too small to sample, are
/// left to the writer.
pub fn too_distinct(batches: &[RecordBatch], limit: usize) -> Vec<usize> {
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let Some(first) = batches.first() else {
        return Vec::new();
    };
    if rows < 4 * SAMPLE {
        return Vec::new();
    }
    (0..first.num_columns())
        .filter(|&c| {
            let dt = first.schema_ref().field(c).data_type().clone();
            if dt.is_nested() || matches!(dt, arrow_schema::DataType::Dictionary(..)) {
                return false;
            }
            let columns: Vec<&ArrayRef> = batches.iter().map(|b| b.column(c)).collect();
            estimate_bytes(&columns, rows).is_some_and(|bytes| bytes > limit)
        })
        .collect()
}

/// About how many bytes the distinct values of a column split in `parts` (`rows` in all) take:
/// estimated distinct values times their mean size, from an evenly spaced sample.
fn estimate_bytes(parts: &[&ArrayRef], rows: usize) -> Option<usize> {
    let converter = RowConverter::new(vec![SortField::new(parts[0].data_type().clone())]).ok()?;
    let mut counts: HashMap<Vec<u8>, u32> = HashMap::with_capacity(SAMPLE);
    let mut bytes = 0;
    for part in parts {
        let want = (SAMPLE * part.len()).div_ceil(rows).min(part.len());
        if want == 0 {
            continue;
        }
        let picks = UInt32Array::from_iter_values((0..want).map(|i| (i * part.len() / want) as u32));
        let sample = take(part.as_ref(), &picks, None).ok()?;
        let encoded = converter.convert_columns(&[sample]).ok()?;
        for row in encoded.iter() {
            bytes += row.as_ref().len();
            *counts.entry(row.as_ref().to_vec()).or_default() += 1;
        }
    }
    let sampled: usize = counts.values().map(|&n| n as usize).sum();
    if sampled == 0 {
        return None;
    }
    let once = counts.values().filter(|&&n| n == 1).count();
    let twice = counts.values().filter(|&&n| n == 2).count();
    let distinct = (counts.len() + once * once.saturating_sub(1) / (2 * (twice + 1))).min(rows);
    Some(distinct * bytes / sampled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Int64Array, StringArray};
    use std::sync::Arc;

    #[test]
    fn only_columns_of_mostly_distinct_values_lose_their_dictionary() {
        let n = 200_000i64;
        let batch = |range: std::ops::Range<i64>| {
            RecordBatch::try_from_iter([
                ("id", Arc::new(Int64Array::from_iter_values(range.clone().map(|i| i * 7919))) as ArrayRef),
                ("few", Arc::new(Int64Array::from_iter_values(range.clone().map(|i| i % 100))) as ArrayRef),
                ("some", Arc::new(Int64Array::from_iter_values(range.clone().map(|i| i * 31 % 5000))) as ArrayRef),
                ("name", Arc::new(StringArray::from_iter_values(range.map(|i| format!("station-{i}")))) as ArrayRef),
            ])
            .unwrap()
        };
        let batches = [batch(0..n / 2), batch(n / 2..n)];
        // 5000 distinct values of 8 bytes fit in 1 MB; 200,000 do not.
        assert_eq!(too_distinct(&batches, 1 << 20), [0, 3]);
        assert_eq!(too_distinct(&batches[..1], 64 << 20), Vec::<usize>::new());
        assert_eq!(too_distinct(&[batch(0..100)], 1), Vec::<usize>::new(), "too small to judge");
    }
}
