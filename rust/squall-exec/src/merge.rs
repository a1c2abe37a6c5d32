//! A merge task of a two-level shuffle (see `squall_core::merge`): one ranged read per map
//! object of its group, the buckets combined one by one, one shuffle object written.

use arrow_array::RecordBatch;
use squall_core::cancel::check;
use squall_core::merge::MergeInput;
use squall_core::plan::{Combine, PartitionReport, PartitionTask, TaskOutput};
use squall_core::shuffle::BucketSlice;
use squall_core::sort::Sorter;
use squall_core::stages::attempt_url;

use crate::partition::{add_slice, concat};
use crate::shuffle_io::{read_buckets, write_buckets};

/// Runs merge task `task` (attempt `attempt`) over `merge`.
pub(crate) fn merge_buckets(task: &PartitionTask, merge: &MergeInput, attempt: u32) -> crate::Result<PartitionReport> {
    let Some(TaskOutput::Merged { url }) = &task.output else {
        return Err(squall_core::Error::Plan("a merge task writes a merged shuffle object".into()).into());
    };
    let url = attempt_url(url, attempt);
    // The merged buckets of one map object lie back to back: one read each.
    let n = merge.maps.first().map_or(0, |(_, b)| b.len());
    let mut runs: Vec<Vec<RecordBatch>> = vec![Vec::new(); n];
    let mut schema = None;
    let mut report = PartitionReport { partition: task.partition, ..Default::default() };
    for ((read, decoded), (u, _)) in read_buckets(&merge.maps)?.into_iter().zip(&merge.maps) {
        report.bytes_read += read;
        for (j, decoded) in decoded.into_iter().enumerate() {
            check()?;
            report.rows_in += decoded.batches.iter().map(|b| b.num_rows() as u64).sum::<u64>();
            schema.get_or_insert(decoded.schema.clone());
            add_slice(&mut runs[j], &merge.combine, decoded, u)?;
        }
    }
    let Some(schema) = schema else {
        return Err(squall_core::Error::Plan("a merge task with no map objects".into()).into());
    };
    let combined = runs
        .into_iter()
        // A bucket no map task sent rows to is still a bucket, of no rows.
        .map(|runs| if runs.is_empty() { vec![RecordBatch::new_empty(schema.clone())] } else { runs })
        .map(|runs| match &merge.combine {
            Combine::Merge { keys } => {
                let merged = Sorter::new(&schema, keys)?.merge(runs)?;
                concat(&schema, &merged, &url)
            }
            Combine::Aggregate { group } => Ok(group.merge(&runs)?),
            Combine::Concat => concat(&schema, &runs, &url),
        })
        .collect::<crate::Result<Vec<RecordBatch>>>()?;
    let out_schema = combined.first().map_or(schema, |b| b.schema());
    report.rows = combined.iter().map(|b| b.num_rows() as u64).sum();
    let combined: Vec<[RecordBatch; 1]> = combined.into_iter().map(|b| [b]).collect();
    let (at, slices, written) = write_buckets(url, &out_schema, &combined, task.fast.as_ref())?;
    // Every bucket of the shuffle, those outside the merged range empty (no bytes, no rows).
    let mut buckets = vec![BucketSlice { offset: 0, len: 0, rows: 0 }; merge.total];
    buckets[merge.first..merge.first + n].clone_from_slice(&slices);
    report.bytes_written = written;
    report.url = Some(at);
    report.buckets = Some(buckets);
    Ok(report)
}
