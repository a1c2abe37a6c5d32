//! A group-by's map task over a Parquet file, aggregating each batch as it is decoded.

use arrow_array::RecordBatch;
use squall_core::cancel::check;
use squall_core::codec::Decoded;
use squall_core::groupby::{few_values, GroupBy, DISTINCT_PROBE};
use squall_core::hive;
use squall_core::plan::{Input, PartitionReport, PartitionTask};
use squall_store::open;

use super::{concat, path_columns, publish_shuffle, split_by_hash};
use crate::parquet_scan::ParquetFile;
use crate::runtime::runtime;

/// A group-by map task over a Parquet file. Where groups (not rows) are sent, each batch is
/// aggregated as it is decoded: the task holds one decoded batch (and its row group's bytes),
/// not the whole file. The leading rows' keys, decoded first, decide.
pub(super) fn aggregate_parquet(
    task: &PartitionTask,
    input: &Input,
    url: &str,
    group: &GroupBy,
    partitions: usize,
) -> crate::Result<PartitionReport> {
    let (store, key) = open(&input.url)?;
    let rt = runtime()?;
    let file = rt.block_on(ParquetFile::open(store, &key, input.size, &input.url))?.only(input.row_groups)?;
    // A column stored another way is no matter here (a group-by decodes dictionaries where its
    // inputs differ); one in a narrower type is cast to the first file's.
    let mut widened = Vec::new();
    if let Some(expected) = &task.expected {
        let read = file.schema().fields().iter().filter(|f| task.columns.as_ref().is_none_or(|c| c.contains(f.name())));
        widened = expected.widened(&input.url, &read.cloned().collect())?;
    }
    // Columns of the file's path are added to each batch read of the file (strings as
    // dictionaries of one value, which the group-by groups by their codes).
    let from_path = &hive::coded(path_columns(task))[..];
    let with_path = |batch: RecordBatch, wanted: Option<&[String]>| -> crate::Result<RecordBatch> {
        let batch = squall_core::file_types::widen(batch, &widened, &input.url)?;
        if from_path.is_empty() {
            return Ok(batch);
        }
        let decoded = Decoded { schema: batch.schema(), batches: vec![batch] };
        let mut added = hive::with_path_columns(decoded, input, wanted, from_path)?;
        Ok(added.batches.pop().expect("one batch in, one out"))
    };
    let mut leading = Vec::new();
    let file_keys = hive::file_part(Some(&group.keys), from_path).expect("keys were given");
    let probe = file.scan(Some(&file_keys), DISTINCT_PROBE, Some(DISTINCT_PROBE), |b| {
        leading.push(b);
        Ok(())
    });
    let keys_schema = rt.block_on(probe)?;
    let leading = with_path(concat(&keys_schema, &leading, &input.url)?, Some(&group.keys))?;
    let mut partials = group.partials(task.partition as u64, &leading, file.rows())?;
    let batch_rows = partials.batch_rows();
    // Keys are read as dictionary codes, so that hashing and grouping them hash each distinct
    // value once, not each row: keys of few values, and keys the file stores as dictionaries
    // when whole row groups are read at once (in smaller batches, each would hash its row
    // group's whole dictionary again).
    let mut coded = Vec::new();
    for (key, column) in group.keys.iter().zip(leading.columns()).filter(|(k, _)| file_keys.contains(k)) {
        if few_values(column)? || (batch_rows == usize::MAX && file.stored_as_dictionary(key)) {
            coded.push(key.clone());
        }
    }
    let file = file.dictionaries(&coded)?;
    let mut rows = 0u64;
    let wanted = task.columns.as_deref();
    let file_columns = hive::file_part(wanted, from_path);
    let scan = file.scan(file_columns.as_deref(), batch_rows, None, |batch| {
        check()?;
        rows += batch.num_rows() as u64;
        Ok(partials.push(&with_path(batch, wanted)?)?)
    });
    let schema = with_path(RecordBatch::new_empty(rt.block_on(scan)?), wanted)?.schema();
    let sent = partials.finish(&schema)?;
    let buckets = split_by_hash(&sent, &group.keys, partitions, url)?;
    let mut report = PartitionReport {
        partition: task.partition,
        rows_in: rows,
        rows,
        bytes_read: file.fetched(),
        ..Default::default()
    };
    publish_shuffle(&mut report, url.to_string(), &sent[0].schema(), &buckets, task.fast.as_ref())?;
    Ok(report)
}
