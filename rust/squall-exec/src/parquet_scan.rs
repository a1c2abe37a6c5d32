//! Reading Parquet from a store with ranged reads: the footer first, then only the column
//! chunks of the selected columns (projection pushdown on the bytes, not just the decoding).
//! The footer's row-group statistics come with the metadata.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use parquet::arrow::async_reader::{AsyncFileReader, ParquetRecordBatchStreamBuilder};
use parquet::arrow::ProjectionMask;
use parquet::errors::ParquetError;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use squall_core::codec::{column_indices, project, Decoded};
use squall_store::{get_ranges, BoxFuture, Store};

/// Bytes of the file's end fetched at once: the footer of most files fits.
const FOOTER_HINT: usize = 64 * 1024;

struct StoreReader {
    store: Arc<dyn Store>,
    key: String,
    size: u64,
    fetched: Arc<AtomicU64>,
}

fn external(e: squall_store::Error) -> ParquetError {
    ParquetError::External(Box::new(e))
}

impl AsyncFileReader for StoreReader {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        Box::pin(async move {
            let data = self.store.get_range(&self.key, range).await.map_err(external)?;
            self.fetched.fetch_add(data.len() as u64, Ordering::Relaxed);
            Ok(data)
        })
    }

    fn get_byte_ranges(&mut self, ranges: Vec<Range<u64>>) -> BoxFuture<'_, parquet::errors::Result<Vec<Bytes>>> {
        Box::pin(async move {
            let reads = ranges.into_iter().map(|r| (self.store.clone(), self.key.clone(), r)).collect();
            let parts = get_ranges(reads).await.map_err(external)?;
            let n: u64 = parts.iter().map(|p| p.len() as u64).sum();
            self.fetched.fetch_add(n, Ordering::Relaxed);
            Ok(parts)
        })
    }

    fn get_metadata<'a>(
        &'a mut self,
        _options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        Box::pin(async move {
            let size = self.size;
            let reader = ParquetMetaDataReader::new().with_prefetch_hint(Some(FOOTER_HINT));
            Ok(Arc::new(reader.load_and_finish(self, size).await?))
        })
    }
}

/// Reads the Parquet object `key` (`size` bytes) of `store`, only `columns` when given, in
/// batches of up to `batch_rows` rows (a row group gives at most one batch). Returns the batches
/// and the bytes fetched.
pub async fn read_parquet(
    store: Arc<dyn Store>,
    key: &str,
    size: u64,
    columns: Option<&[String]>,
    url: &str,
    batch_rows: usize,
) -> crate::Result<(Decoded, u64)> {
    let fetched = Arc::new(AtomicU64::new(0));
    let reader = StoreReader { store, key: key.to_string(), size, fetched: fetched.clone() };
    let bad = |e: ParquetError| -> crate::Error {
        match e {
            ParquetError::External(inner) => match inner.downcast::<squall_store::Error>() {
                Ok(store_error) => crate::Error::Store(*store_error),
                Err(other) => data_error(url, other.to_string()),
            },
            other => data_error(url, other.to_string()),
        }
    };
    let mut builder = ParquetRecordBatchStreamBuilder::new(reader).await.map_err(bad)?.with_batch_size(batch_rows);
    let schema = builder.schema().clone();
    if let Some(cols) = columns {
        let indices = column_indices(&schema, cols, url)?;
        let mask = ProjectionMask::roots(builder.parquet_schema(), indices);
        builder = builder.with_projection(mask);
    }
    let mut stream = builder.build().map_err(bad)?;
    let out_schema = stream.schema().clone();
    let mut batches = Vec::new();
    while let Some(group) = stream.next_row_group().await.map_err(bad)? {
        for batch in group {
            batches.push(batch.map_err(|e| data_error(url, e.to_string()))?);
        }
    }
    let decoded = Decoded { schema: out_schema, batches };
    // Parquet keeps the file's column order; the caller asked for its own.
    let decoded = match columns {
        Some(cols) => project(decoded, cols, url)?,
        None => decoded,
    };
    Ok((decoded, fetched.load(Ordering::Relaxed)))
}

fn data_error(url: &str, message: String) -> crate::Error {
    squall_core::Error::Data { url: url.to_string(), what: "read Parquet".into(), message }.into()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
    use squall_core::codec::{encode, Compression, Format};
    use squall_store::{MemoryStore, Store};

    use super::*;
    use squall_core::codec::BATCH_ROWS;

    fn read(data: Bytes, columns: Option<&[String]>, url: &str) -> crate::Result<Decoded> {
        let store = MemoryStore::named("parquet-scan-tests");
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            store.put(url, data.clone()).await.unwrap();
            let store: Arc<dyn Store> = store;
            read_parquet(store, url, data.len() as u64, columns, url, BATCH_ROWS).await.map(|(d, _)| d)
        })
    }

    #[test]
    fn parquet_round_trips_and_projects() {
        let a: ArrayRef = Arc::new(Int64Array::from(vec![Some(1), None, Some(3)]));
        let b: ArrayRef = Arc::new(StringArray::from(vec!["x", "ü", "z"]));
        let batch = RecordBatch::try_from_iter([("a", a), ("b", b)]).unwrap();
        let bytes =
            encode(Format::Parquet, Compression::Zstd, &batch.schema(), std::slice::from_ref(&batch), "mem").unwrap();
        let all = read(bytes.clone(), None, "mem").unwrap();
        assert_eq!(all.batches, vec![batch.clone()]);
        let only_b = read(bytes.clone(), Some(&["b".to_string(), "a".to_string()]), "mem").unwrap();
        assert_eq!(only_b.schema.field(0).name(), "b");
        let err = read(bytes, Some(&["nope".to_string()]), "file:///x").unwrap_err();
        assert!(err.to_string().contains("nope") && err.to_string().contains("file:///x"), "{err}");
    }

    #[test]
    fn corrupt_bytes_name_the_file() {
        let err = read(Bytes::from_static(b"not parquet"), None, "file:///bad.parquet");
        assert!(err.unwrap_err().to_string().contains("file:///bad.parquet"));
    }
}
