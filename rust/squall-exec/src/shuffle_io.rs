//! Writing and reading shuffle objects (see `squall_core::shuffle`). In this process's memory
//! (`memory://`) a shuffle object is held as its buckets' record batches: the tasks that read it
//! run on this process's threads, so nothing is encoded or decoded in between. Elsewhere it is
//! Arrow IPC bytes.

use std::sync::{Arc, Mutex};

use arrow_array::{make_array, RecordBatch};
use arrow_data::transform::MutableArrayData;
use arrow_schema::SchemaRef;
use squall_core::codec::{decode_ipc, Decoded};
use squall_core::shuffle::{encode_buckets, BucketSlice};
use squall_core::tier::{FastTier, Rule};
use squall_store::{count_held, get_ranges, open, MemoryStore, StoreUrl};

use crate::partition::{read_object, write_placed};
use crate::runtime::runtime;

/// A shuffle object held in memory: each bucket's slice (about as an encoded copy would lie)
/// and batches, until they are released.
struct HeldBuckets {
    schema: SchemaRef,
    buckets: Vec<(BucketSlice, Mutex<Option<Vec<RecordBatch>>>)>,
}

impl HeldBuckets {
    fn new(schema: &SchemaRef, buckets: Vec<(BucketSlice, Vec<RecordBatch>)>) -> Arc<Self> {
        let buckets = buckets.into_iter().map(|(s, b)| (s, Mutex::new(Some(b)))).collect();
        Arc::new(HeldBuckets { schema: schema.clone(), buckets })
    }

    /// The batches of the bucket at `slice` of the object at `url`.
    fn bucket(&self, slice: &BucketSlice, url: &str) -> crate::Result<Vec<RecordBatch>> {
        let at = self.buckets.binary_search_by_key(&slice.offset, |(b, _)| b.offset);
        match at.ok().map(|i| &self.buckets[i]) {
            Some((b, batches)) if b.len == slice.len => {
                let batches = batches.lock().unwrap_or_else(|e| e.into_inner());
                batches.clone().ok_or_else(|| {
                    let why = "was released when the reducer that read it finished";
                    bad(url, format!("the bucket at bytes {}..{} {why}", b.offset, b.offset + b.len))
                })
            }
            _ => Err(bad(url, format!("no bucket lies at bytes {}..{}", slice.offset, slice.offset + slice.len))),
        }
    }

    /// Drops the batches of the bucket at `offset` (nothing if there is none).
    fn release(&self, offset: u64) {
        if let Ok(i) = self.buckets.binary_search_by_key(&offset, |(b, _)| b.offset) {
            *self.buckets[i].1.lock().unwrap_or_else(|e| e.into_inner()) = None;
        }
    }
}

/// The memory store and key of `url`, if it is a `memory://` URL.
fn in_memory(url: &str) -> crate::Result<Option<(Arc<MemoryStore>, String)>> {
    Ok(match StoreUrl::parse(url)? {
        StoreUrl::Memory { name, key } => Some((MemoryStore::named(&name), key)),
        _ => None,
    })
}

/// Writes the shuffle object of `buckets` planned at `url` (to the fast store when it is cheaper
/// there: see `write_placed`); returns where it went, each bucket's slice and the bytes written
/// (or, held, the bytes an encoded copy would take).
pub(crate) fn write_buckets<B: AsRef<[RecordBatch]>>(
    url: String,
    schema: &SchemaRef,
    buckets: &[B],
    fast: Option<&FastTier>,
) -> crate::Result<(String, Vec<BucketSlice>, u64)> {
    let bytes = || buckets.iter().flat_map(|b| b.as_ref()).map(slice_bytes).sum::<usize>() as u64;
    if let Some((store, key, at)) = held_at(&url, fast, bytes)? {
        let (slices, held) = hold(&store, &key, &at, schema, buckets)?;
        return Ok((at, slices, held));
    }
    let (bytes, slices) = encode_buckets(schema, buckets, &url)?;
    let written = bytes.len() as u64;
    // Each bucket with rows is read by one reducer.
    let reads = slices.iter().filter(|b| b.rows > 0).count().max(1) as u64;
    let at = write_placed(url, bytes.into(), reads, fast)?;
    Ok((at, slices, written))
}

/// Holds the part `batches` planned at `url` in memory when it goes there (see [`held_at`]);
/// returns where, and the bytes an encoded copy would take, or `None` where the part must be
/// encoded and written.
pub(crate) fn hold_part(
    url: &str,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    fast: Option<&FastTier>,
) -> crate::Result<Option<(String, u64)>> {
    let bytes = || batches.iter().map(slice_bytes).sum::<usize>() as u64;
    let Some((store, key, at)) = held_at(url, fast, bytes)? else { return Ok(None) };
    let held = hold(&store, &key, &at, schema, &[batches])?.1;
    Ok(Some((at, held)))
}

/// Where an object planned at `url`, of about `bytes()` bytes, is held as record batches: at
/// `url` when it is in this process's memory, or in the job's fast tier when that is this
/// process's memory and takes objects of its size; None where it is encoded and written.
fn held_at(
    url: &str,
    fast: Option<&FastTier>,
    bytes: impl FnOnce() -> u64,
) -> crate::Result<Option<(Arc<MemoryStore>, String, String)>> {
    if let Some((store, key)) = in_memory(url)? {
        return Ok(Some((store, key, url.to_string())));
    }
    let Some(tier) = fast.filter(|f| matches!(f.rule, Rule::Within(_))) else { return Ok(None) };
    let Some(at) = tier.place(url, bytes(), 1) else { return Ok(None) };
    Ok(in_memory(&at)?.map(|(store, key)| (store, key, at)))
}

/// Holds `buckets` at `key` of `store` (`url`), their slices laid out as an encoded copy's
/// would be (about); returns the slices and the bytes they stand for.
fn hold<B: AsRef<[RecordBatch]>>(
    store: &MemoryStore,
    key: &str,
    url: &str,
    schema: &SchemaRef,
    buckets: &[B],
) -> crate::Result<(Vec<BucketSlice>, u64)> {
    let all: Vec<&RecordBatch> = buckets.iter().flat_map(|b| b.as_ref()).collect();
    let copy = mostly_unused(&all);
    let mut held = Vec::with_capacity(buckets.len());
    let mut offset = 0;
    for bucket in buckets {
        let batches = bucket.as_ref().iter().filter(|b| b.num_rows() > 0);
        let batches = batches.map(|b| if copy { compact(b, url) } else { Ok(b.clone()) });
        let batches = batches.collect::<crate::Result<Vec<RecordBatch>>>()?;
        let rows = batches.iter().map(|b| b.num_rows() as u64).sum();
        let len = held_bytes(&batches);
        held.push((BucketSlice { offset, len, rows }, batches));
        offset += len;
    }
    let slices = held.iter().map(|(s, _)| *s).collect();
    store.hold(key, HeldBuckets::new(schema, held), offset)?;
    count_held(true, offset);
    Ok((slices, offset))
}

/// Reads the part (a task's Arrow IPC output) at `url`, held or encoded; returns it and the
/// bytes read.
pub(crate) fn read_part(url: &str) -> crate::Result<(Decoded, u64)> {
    if let Some((store, key)) = in_memory(url)? {
        if let Some(value) = store.held(&key)? {
            let held = downcast(&value, url)?;
            let mut batches = Vec::new();
            for (slice, _) in &held.buckets {
                batches.extend(held.bucket(slice, url)?);
            }
            let len = held.buckets.iter().map(|(s, _)| s.len).sum();
            count_held(false, len);
            return Ok((Decoded { schema: held.schema.clone(), batches }, len));
        }
    }
    let data = read_object(url)?;
    let n = data.len() as u64;
    Ok((decode_ipc(data, url)?, n))
}

/// Whether `batches` keep alive much more memory than their rows take: slices (a few rows of
/// a sorted partition, say) that, all together, cover less than half the largest batch's
/// buffers. Held as they are, they would pin those buffers for as long as they are held (to
/// the user's result); an encoded copy holds only the rows.
fn mostly_unused(batches: &[&RecordBatch]) -> bool {
    let used: usize = batches.iter().map(|b| slice_bytes(b)).sum();
    let kept = batches.iter().map(|b| b.get_array_memory_size()).max().unwrap_or(0);
    used < kept / 2
}

/// `batch`'s rows in buffers of their own.
fn compact(batch: &RecordBatch, url: &str) -> crate::Result<RecordBatch> {
    let copy = |c: &arrow_array::ArrayRef| {
        let data = c.to_data();
        let mut copy = MutableArrayData::new(vec![&data], false, data.len());
        copy.try_extend(0, 0, data.len())?;
        Ok(make_array(copy.freeze()))
    };
    let columns = batch.columns().iter().map(copy).collect::<Result<Vec<_>, arrow_schema::ArrowError>>();
    let copied = columns.and_then(|c| RecordBatch::try_new(batch.schema(), c));
    copied.map_err(|e| {
        squall_core::Error::Data { url: url.into(), what: "copy out".into(), message: e.to_string() }.into()
    })
}

/// The bytes that held `batches` stand for: their rows' (an encoded copy takes about as many),
/// and never 0, so that each held bucket lies at an offset of its own.
fn held_bytes(batches: &[RecordBatch]) -> u64 {
    batches.iter().map(slice_bytes).sum::<usize>().max(1) as u64
}

/// The bytes of `batch`'s rows (of a slice, its own rows, not the buffers it shares).
pub(crate) fn slice_bytes(batch: &RecordBatch) -> usize {
    let column = |c: &arrow_array::ArrayRef| c.to_data().get_slice_memory_size().unwrap_or(c.get_array_memory_size());
    batch.columns().iter().map(column).sum()
}

/// Reads the buckets `slices` of each shuffle object (a URL and its slices, which in bytes lie
/// back to back: one ranged read per object, all at once); returns each object's bytes read
/// and its buckets' batches, in order.
pub(crate) fn read_buckets(objects: &[(String, Vec<BucketSlice>)]) -> crate::Result<Vec<(u64, Vec<Decoded>)>> {
    let mut out: Vec<Option<(u64, Vec<Decoded>)>> = Vec::with_capacity(objects.len());
    let mut reads = Vec::new();
    for (i, (url, slices)) in objects.iter().enumerate() {
        let held = match in_memory(url)? {
            Some((store, key)) => store.held(&key)?,
            None => None,
        };
        match held {
            Some(value) => {
                let len = slices.iter().map(|s| s.len).sum();
                count_held(false, len);
                out.push(Some((len, pick(&value, slices, url)?)));
            }
            None => {
                out.push(None);
                let (Some(first), Some(last)) = (slices.first(), slices.last()) else { continue };
                let (store, key) = open(url)?;
                reads.push((i, (store, key, first.offset..last.offset + last.len)));
            }
        }
    }
    let (which, ranges): (Vec<usize>, Vec<_>) = reads.into_iter().unzip();
    let data = runtime()?.block_on(get_ranges(ranges))?;
    for (i, data) in which.into_iter().zip(data) {
        let (url, slices) = &objects[i];
        let base = slices[0].offset;
        let mut decoded = Vec::with_capacity(slices.len());
        for s in slices {
            let at = (s.offset - base) as usize;
            decoded.push(decode_ipc(data.slice(at..at + s.len as usize), url)?);
        }
        out[i] = Some((data.len() as u64, decoded));
    }
    Ok(out.into_iter().map(|o| o.unwrap_or_default()).collect())
}

/// The buckets `slices` of the held shuffle object `value` at `url`.
fn pick(value: &squall_store::Held, slices: &[BucketSlice], url: &str) -> crate::Result<Vec<Decoded>> {
    let held = downcast(value, url)?;
    let bucket = |s| Ok(Decoded { schema: held.schema.clone(), batches: held.bucket(s, url)? });
    slices.iter().map(bucket).collect()
}

/// Frees the held buckets among `slices` (`(url, offset, len)`: a reducer's input, once the
/// reducer's outcome is final), so that a shuffle's memory shrinks as its reducers finish.
/// Reading one again is an error, never an empty bucket. Buckets in bytes are left as they are.
pub(crate) fn release_buckets(slices: &[(String, u64, u64)]) {
    for (url, offset, _) in slices {
        let Ok(Some((store, key))) = in_memory(url) else { continue };
        if let Ok(Some(value)) = store.held(&key) {
            if let Some(held) = value.downcast_ref::<HeldBuckets>() {
                held.release(*offset);
            }
        }
    }
}

fn downcast<'a>(value: &'a squall_store::Held, url: &str) -> crate::Result<&'a HeldBuckets> {
    value.downcast_ref::<HeldBuckets>().ok_or_else(|| bad(url, "it holds something else than Arrow batches".into()))
}

fn bad(url: &str, message: String) -> crate::Error {
    squall_core::Error::Data { url: url.to_string(), what: "read shuffle object".into(), message }.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{ArrayRef, Int64Array, StringArray};

    #[test]
    fn held_and_encoded_shuffle_objects_give_the_same_buckets() {
        let batch = |from: i64, n: i64| {
            let k: ArrayRef = Arc::new(Int64Array::from_iter_values(from..from + n));
            let s: ArrayRef = Arc::new(StringArray::from_iter_values((from..from + n).map(|i| format!("s{i}"))));
            RecordBatch::try_from_iter([("k", k), ("s", s)]).unwrap()
        };
        let schema = batch(0, 1).schema();
        // Three buckets: two batches, none, one.
        let buckets = vec![vec![batch(0, 10), batch(10, 5)], vec![batch(0, 0)], vec![batch(100, 3)]];
        let dir = tempfile::tempdir().unwrap();
        let on_disk = format!("file://{}/map-0.arrow", dir.path().display());
        let mut read = Vec::new();
        for url in ["memory://shuffle-io-test/map-0.arrow".to_string(), on_disk] {
            let (at, slices, written) = write_buckets(url.clone(), &schema, &buckets, None).unwrap();
            assert_eq!(at, url);
            assert_eq!(slices.iter().map(|s| s.rows).collect::<Vec<_>>(), [15, 0, 3]);
            assert!(written >= slices.iter().map(|s| s.len).sum::<u64>(), "{url}");
            // A reducer's bucket alone, and a merge task's range of buckets.
            let alone = read_buckets(&[(url.clone(), vec![slices[2]])]).unwrap();
            let all = read_buckets(&[(url.clone(), slices.clone())]).unwrap();
            let rows = |d: &Decoded| d.batches.iter().map(|b| b.num_rows()).sum::<usize>();
            assert_eq!(alone[0].1.iter().map(rows).collect::<Vec<_>>(), [3]);
            assert_eq!(all[0].1.iter().map(rows).collect::<Vec<_>>(), [15, 0, 3]);
            assert_eq!(all[0].1[2].schema, schema);
            let joined: Vec<RecordBatch> =
                all[0].1.iter().map(|d| arrow_select::concat::concat_batches(&schema, &d.batches).unwrap()).collect();
            read.push(joined);
            let wrong = BucketSlice { offset: slices[1].offset + 1, ..slices[1] };
            if url.starts_with("memory://") {
                let err = read_buckets(&[(url.clone(), vec![wrong])]).unwrap_err().to_string();
                assert!(err.contains("no bucket lies at bytes"), "{err}");
                let err = crate::partition::read_object(&url).unwrap_err().to_string();
                assert!(err.contains("held in memory"), "{err}");
                // A finished reducer's bucket is freed; reading it again fails, never empty.
                release_buckets(&[(url.clone(), slices[2].offset, slices[2].len)]);
                let err = read_buckets(&[(url.clone(), vec![slices[2]])]).unwrap_err().to_string();
                assert!(err.contains("was released"), "{err}");
                assert_eq!(read_buckets(&[(url.clone(), vec![slices[0]])]).unwrap()[0].1[0].batches.len(), 2);
            }
        }
        assert_eq!(read[0], read[1], "the same rows held as encoded");
    }

    #[test]
    fn beside_a_disk_objects_are_held_in_memory_until_their_room_is_taken() {
        let dir = tempfile::tempdir().unwrap();
        let scratch = format!("file://{}/job-1", dir.path().display());
        let tier =
            FastTier { scratch: scratch.clone(), fast: "memory://tier-test/job-1".into(), rule: Rule::Within(1000) };
        let rows = |n: i64| {
            let k: ArrayRef = Arc::new(Int64Array::from_iter_values(0..n));
            RecordBatch::try_from_iter([("k", k)]).unwrap()
        };
        let schema = rows(1).schema();
        let (large, slices, _) =
            write_buckets(format!("{scratch}/s0/m-0.arrow"), &schema, &[[rows(1000)], [rows(5)]], Some(&tier)).unwrap();
        assert_eq!(large, format!("{scratch}/s0/m-0.arrow"), "8,040 bytes: past the tier's 1,000");
        assert_eq!(read_buckets(&[(large, slices)]).unwrap()[0].1[0].batches, vec![rows(1000)]);
        let (small, slices, _) =
            write_buckets(format!("{scratch}/s0/m-1.arrow"), &schema, &[[rows(10)], [rows(5)]], Some(&tier)).unwrap();
        assert_eq!(small, "memory://tier-test/job-1/s0/m-1.arrow");
        let read = read_buckets(&[(small, slices)]).unwrap();
        assert_eq!(read[0].1[1].batches, vec![rows(5)]);
        let (part, _) =
            hold_part(&format!("{scratch}/s1/r-0.arrow"), &schema, &[rows(3)], Some(&tier)).unwrap().unwrap();
        assert_eq!(read_part(&part).unwrap().0.batches, vec![rows(3)]);
        // 120 + 24 bytes held so far: 100 rows (800 bytes) still fit, then nothing does.
        assert!(hold_part(&format!("{scratch}/s1/r-1.arrow"), &schema, &[rows(100)], Some(&tier)).unwrap().is_some());
        assert!(hold_part(&format!("{scratch}/s1/r-2.arrow"), &schema, &[rows(10)], Some(&tier)).unwrap().is_none());
        tier.forget();
    }

    #[test]
    fn held_slices_are_copied_out_unless_together_they_fill_their_buffers() {
        let big: ArrayRef = Arc::new(Int64Array::from_iter_values(0..1_000_000));
        let big = RecordBatch::try_from_iter([("k", big)]).unwrap();
        let schema = big.schema();
        let url = "memory://shuffle-io-test/part.arrow";
        // Ten rows of a million, as a limit or a top-k leaves them: copied out.
        hold_part(url, &schema, &[big.slice(5, 10)], None).unwrap().unwrap();
        let (part, _) = read_part(url).unwrap();
        assert_eq!(part.batches, vec![big.slice(5, 10)]);
        assert!(part.batches[0].get_array_memory_size() < 1_000, "{}", part.batches[0].get_array_memory_size());
        // A sorted partition cut into buckets: held as it is, sharing its buffers.
        let cut: Vec<[RecordBatch; 1]> = (0..4).map(|i| [big.slice(i * 250_000, 250_000)]).collect();
        let (_, slices, _) = write_buckets(url.to_string(), &schema, &cut, None).unwrap();
        let read = read_buckets(&[(url.to_string(), slices)]).unwrap();
        let first = read[0].1[0].batches[0].column(0).to_data();
        assert_eq!(first.buffers()[0].as_ptr(), big.column(0).to_data().buffers()[0].as_ptr());
    }
}
