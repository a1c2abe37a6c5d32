//! A group-by reducer too big for the memory budget: it splits its input again and aggregates
//! it part by part, holding one part at a time.
//!
//! Each slice it reads (one map task's partial states for its bucket) is cut by another hash
//! of the keys into `parts` buckets and written, as one spill object per slice, next to the
//! shuffle objects (the job's scratch: removed with it). Then each part's buckets of every
//! spill object are read, merged and finished alone. A key lands in one part, so its groups are
//! whole; the finished parts are the reducer's rows.

use squall_core::codec::Decoded;
use squall_core::groupby::{hash_buckets_seeded, GroupBy};
use squall_core::shuffle::BucketSlice;
use squall_core::tier::FastTier;

use crate::partition::{concat, one_bucket_each};
use crate::shuffle_io::{read_buckets, write_buckets};
use squall_core::cancel::check;

/// The seed of the second hash, apart from the shuffle's.
const PART_SEED: u64 = 0x5eed_0002;

/// Aggregates the `slices` of reducer `partition` (attempt `attempt`) in `parts` parts; returns
/// the finished groups and the bytes read (the slices and the spill objects). The spill goes
/// where the shuffle's large objects go, also when small ones are in the job's `fast` tier.
pub fn aggregate_in_parts(
    slices: &[(String, u64, u64)],
    group: &GroupBy,
    parts: usize,
    partition: usize,
    attempt: u32,
    fast: Option<&FastTier>,
) -> crate::Result<(Decoded, u64)> {
    let first = slices.first().map_or("", |(url, _, _)| url.as_str());
    let first = fast.and_then(|f| f.in_store(first)).unwrap_or_else(|| first.to_string());
    let dir = first.rsplit_once('/').map_or("", |(dir, _)| dir);
    // Attempts of one reducer (a retry, a backup) spill apart.
    let spill = format!("{dir}/spill-{partition:05}.attempt-{attempt}");
    let mut read = 0u64;
    let mut spilled: Vec<(String, Vec<BucketSlice>)> = Vec::with_capacity(slices.len());
    let mut schema = None;
    for (i, slice) in slices.iter().enumerate() {
        check()?;
        let (bytes, mut decoded) = read_buckets(&one_bucket_each(std::slice::from_ref(slice)))?.remove(0);
        read += bytes;
        let Some(decoded) = decoded.pop() else { continue };
        let run = concat(&decoded.schema, &decoded.batches, &slice.0)?;
        schema.get_or_insert(decoded.schema);
        if run.num_rows() == 0 {
            continue;
        }
        let url = format!("{spill}/{i:05}.arrow");
        let buckets = hash_buckets_seeded(&run, &group.keys, parts, PART_SEED)?;
        let buckets: Vec<[arrow_array::RecordBatch; 1]> = buckets.into_iter().map(|b| [b]).collect();
        let (url, placed, _) = write_buckets(url, &run.schema(), &buckets, None)?;
        spilled.push((url, placed));
    }
    let schema = schema.unwrap_or_else(|| arrow_schema::SchemaRef::new(arrow_schema::Schema::empty()));
    let mut finished = Vec::new();
    for p in 0..parts {
        check()?;
        let wanted: Vec<(String, Vec<BucketSlice>)> =
            spilled.iter().filter(|(_, b)| b[p].rows > 0).map(|(url, b)| (url.clone(), vec![b[p]])).collect();
        if wanted.is_empty() {
            continue;
        }
        let mut runs = Vec::with_capacity(wanted.len());
        for (bytes, decoded) in read_buckets(&wanted)? {
            read += bytes;
            runs.extend(decoded.into_iter().flat_map(|d| d.batches));
        }
        finished.push(group.finish(&group.merge(&runs)?)?);
    }
    if finished.is_empty() {
        // No rows at all: the finished schema of no states.
        finished.push(group.finish(&group.merge(&[arrow_array::RecordBatch::new_empty(schema)])?)?);
    }
    if !spilled.is_empty() {
        let _ = crate::partition::delete_prefix(&format!("{spill}/"));
    }
    Ok((Decoded { schema: finished[0].schema(), batches: finished }, read))
}
