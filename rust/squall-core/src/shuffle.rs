//! The shuffle object: one per map task, holding its R buckets back to back.
//!
//! Each bucket is a self-contained Arrow IPC stream (schema, batches, end marker; LZ4 when the
//! object crosses a network), so a reducer reads exactly its byte range of every map object and
//! decodes it alone.

use arrow_array::{BinaryArray, RecordBatch};
use arrow_ipc::writer::{IpcWriteOptions, StreamWriter};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use crate::codec::{decode_ipc, encode_ipc, pieces, size_of, Compression};
use crate::{Error, Result};

/// Where one bucket lies in a map task's shuffle object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketSlice {
    /// First byte.
    pub offset: u64,
    /// Length in bytes.
    pub len: u64,
    /// Rows in the bucket.
    pub rows: u64,
}

/// Encodes `buckets` (each one batch or more) back to back; returns the bytes and each bucket's
/// slice.
pub fn encode_buckets<B: AsRef<[RecordBatch]>>(
    schema: &SchemaRef,
    buckets: &[B],
    url: &str,
) -> Result<(Vec<u8>, Vec<BucketSlice>)> {
    let bad = |e: arrow_schema::ArrowError| Error::Data {
        url: url.to_string(),
        what: "write shuffle object".into(),
        message: e.to_string(),
    };
    let codec = Compression::for_scratch(url).ipc(url)?;
    let options = IpcWriteOptions::default().try_with_compression(codec).map_err(bad)?;
    let mut out = Vec::with_capacity(buckets.iter().map(|b| size_of(b.as_ref())).sum());
    let room = out.capacity();
    let mut slices = Vec::with_capacity(buckets.len());
    for bucket in buckets {
        let offset = out.len() as u64;
        let mut writer = StreamWriter::try_new_with_options(&mut out, schema, options.clone()).map_err(bad)?;
        let mut rows = 0;
        for batch in bucket.as_ref().iter().filter(|b| b.num_rows() > 0) {
            for piece in pieces(batch) {
                writer.write(&piece).map_err(bad)?;
            }
            rows += batch.num_rows() as u64;
        }
        writer.finish().map_err(bad)?;
        drop(writer);
        slices.push(BucketSlice { offset, len: out.len() as u64 - offset, rows });
    }
    debug_assert!(out.capacity() == room, "{} bytes encoded, {room} estimated", out.len());
    Ok((out, slices))
}

fn rows_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new("row", DataType::Binary, false)]))
}

/// Encodes sort-key rows (samples or splitters) as an Arrow IPC file of one binary column.
pub fn encode_rows(rows: &[Vec<u8>], url: &str) -> Result<bytes::Bytes> {
    let schema = rows_schema();
    let array = BinaryArray::from_iter_values(rows.iter());
    let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(array)]).map_err(|e| Error::Data {
        url: url.to_string(),
        what: "write sort keys".into(),
        message: e.to_string(),
    })?;
    encode_ipc(&schema, &[batch], Compression::None, url)
}

/// Decodes what [`encode_rows`] wrote.
pub fn decode_rows(data: bytes::Bytes, url: &str) -> Result<Vec<Vec<u8>>> {
    let decoded = decode_ipc(data, url)?;
    let mut out = Vec::new();
    for batch in decoded.batches {
        let col = batch.column(0).as_any().downcast_ref::<BinaryArray>().ok_or_else(|| Error::Data {
            url: url.to_string(),
            what: "read sort keys".into(),
            message: "the object is not a list of sort keys".into(),
        })?;
        out.extend(col.iter().flatten().map(<[u8]>::to_vec));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::Int32Array;

    #[test]
    fn each_bucket_decodes_alone() {
        let batch = RecordBatch::try_from_iter([("v", Arc::new(Int32Array::from(vec![1, 2, 3, 4])) as _)]).unwrap();
        // A bucket of one batch, an empty one, one of two pieces.
        let buckets =
            vec![vec![batch.slice(0, 1)], vec![batch.slice(1, 0)], vec![batch.slice(1, 1), batch.slice(2, 2)]];
        let (bytes, slices) = encode_buckets(&batch.schema(), &buckets, "mem").unwrap();
        assert_eq!(slices.iter().map(|s| s.rows).collect::<Vec<_>>(), vec![1, 0, 3]);
        let bytes = bytes::Bytes::from(bytes);
        for (s, expected) in slices.iter().zip(&buckets) {
            let part = bytes.slice(s.offset as usize..(s.offset + s.len) as usize);
            let decoded = decode_ipc(part, "mem").unwrap();
            let values = |bs: &[RecordBatch]| -> Vec<i32> {
                bs.iter()
                    .flat_map(|b| b.column(0).as_any().downcast_ref::<Int32Array>().unwrap().values().to_vec())
                    .collect()
            };
            assert_eq!(values(&decoded.batches), values(expected));
            assert_eq!(decoded.schema, batch.schema());
        }
        let keys = vec![vec![1u8, 2], vec![], vec![255]];
        assert_eq!(decode_rows(encode_rows(&keys, "mem").unwrap(), "mem").unwrap(), keys);
    }
}
