//! A merge task of a two-level shuffle (see `squall_core::merge`): one ranged read per map
//! object of its group, the buckets combined one by one, one shuffle object written.

use arrow_array::RecordBatch;
use squall_core::cancel::check;
use squall_core::codec::decode_ipc;
use squall_core::merge::MergeInput;
use squall_core::plan::{Combine, PartitionReport, PartitionTask, TaskOutput};
use squall_core::shuffle::{encode_buckets, BucketSlice};
use squall_core::sort::Sorter;
use squall_core::stages::attempt_url;
use squall_store::{get_ranges, open};

use crate::partition::{add_slice, concat, publish};
use crate::runtime::runtime;

/// Runs merge task `task` (attempt `attempt`) over `merge`.
pub(crate) fn merge_buckets(task: &PartitionTask, merge: &MergeInput, attempt: u32) -> crate::Result<PartitionReport> {
    let Some(TaskOutput::Merged { url }) = &task.output else {
        return Err(squall_core::Error::Plan("a merge task writes a merged shuffle object".into()).into());
    };
    let url = attempt_url(url, attempt);
    // The merged buckets of one map object lie back to back: one read each.
    let reads = merge
        .maps
        .iter()
        .filter_map(|(u, b)| Some((u, b.first()?.offset, b.last()?.offset + b.last()?.len)))
        .map(|(u, start, end)| open(u).map(|(store, key)| (store, key, start..end)))
        .collect::<squall_store::Result<Vec<_>>>()?;
    let data = runtime()?.block_on(get_ranges(reads))?;
    let n = merge.maps.first().map_or(0, |(_, b)| b.len());
    let mut runs: Vec<Vec<RecordBatch>> = vec![Vec::new(); n];
    let mut schema = None;
    let mut report = PartitionReport { partition: task.partition, ..Default::default() };
    for ((u, buckets), data) in merge.maps.iter().zip(data) {
        report.bytes_read += data.len() as u64;
        let base = buckets.first().map_or(0, |b| b.offset);
        for (j, b) in buckets.iter().enumerate() {
            check()?;
            let at = (b.offset - base) as usize;
            let decoded = decode_ipc(data.slice(at..at + b.len as usize), u)?;
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
    let (bytes, slices) = encode_buckets(&out_schema, &combined, &url)?;
    // Every bucket of the shuffle, those outside the merged range empty (no bytes, no rows).
    let mut buckets = vec![BucketSlice { offset: 0, len: 0, rows: 0 }; merge.total];
    buckets[merge.first..merge.first + n].clone_from_slice(&slices);
    let reads = slices.iter().filter(|b| b.rows > 0).count().max(1) as u64;
    publish(&mut report, url, bytes.into(), (false, reads), task.fast.as_ref())?;
    report.buckets = Some(buckets);
    Ok(report)
}
