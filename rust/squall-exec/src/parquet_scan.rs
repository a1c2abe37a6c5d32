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
use squall_core::codec::{project, Decoded, BATCH_ROWS};
use squall_store::{BoxFuture, Store};

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
            let mut reads = tokio::task::JoinSet::new();
            for (i, range) in ranges.into_iter().enumerate() {
                let (store, key) = (self.store.clone(), self.key.clone());
                reads.spawn(async move { (i, store.get_range(&key, range).await) });
            }
            let mut out = vec![Bytes::new(); reads.len()];
            while let Some(done) = reads.join_next().await {
                let (i, data) = done.map_err(|e| ParquetError::External(Box::new(e)))?;
                let data = data.map_err(external)?;
                self.fetched.fetch_add(data.len() as u64, Ordering::Relaxed);
                out[i] = data;
            }
            Ok(out)
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

/// Reads the Parquet object `key` (`size` bytes) of `store`, only `columns` when given.
/// Returns the batches and the bytes fetched.
pub async fn read_parquet(
    store: Arc<dyn Store>,
    key: &str,
    size: u64,
    columns: Option<&[String]>,
    url: &str,
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
    let mut builder = ParquetRecordBatchStreamBuilder::new(reader).await.map_err(bad)?.with_batch_size(BATCH_ROWS);
    let schema = builder.schema().clone();
    if let Some(cols) = columns {
        let mut indices = Vec::with_capacity(cols.len());
        for c in cols {
            let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
            let i = schema
                .index_of(c)
                .map_err(|_| data_error(url, format!("no column named {c:?}; the columns are {names:?}")))?;
            indices.push(i);
        }
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
