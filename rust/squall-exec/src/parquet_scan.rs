//! Reading Parquet from a store with ranged reads: the footer first, then only the column
//! chunks of the selected columns (projection pushdown on the bytes, not just the decoding).
//! The footer's row-group statistics come with the metadata.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arrow_array::RecordBatch;
use arrow_schema::{DataType, Fields, Schema, SchemaRef};
use bytes::Bytes;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
use parquet::arrow::async_reader::{AsyncFileReader, ParquetRecordBatchStreamBuilder};
use parquet::arrow::ProjectionMask;
use parquet::basic::{Encoding, EncodingMask, PageType};
use parquet::errors::ParquetError;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use squall_core::codec::{column_indices, Decoded};
use squall_core::expr::Expr;
use squall_core::plan::RowGroups;
use squall_store::{get_ranges, BoxFuture, Store};

use crate::prune::may_match;

/// Bytes of the file's end fetched at once: the footer of most files fits.
const FOOTER_HINT: usize = 64 * 1024;

/// Byte ranges fetched, with their bytes.
type Fetched = Vec<(Range<u64>, Bytes)>;

#[derive(Clone)]
struct StoreReader {
    store: Arc<dyn Store>,
    key: String,
    size: u64,
    fetched: Arc<AtomicU64>,
    /// Ranges a probe fetched (see [`ParquetFile::scan`]'s `limit`), each given once more
    /// without fetching it again; `keep` says whether this reader's fetches go there.
    kept: Arc<Mutex<Fetched>>,
    keep: bool,
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
            let mut parts: Vec<Option<Bytes>> = {
                let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
                ranges.iter().map(|r| kept.iter().position(|(k, _)| k == r).map(|i| kept.swap_remove(i).1)).collect()
            };
            let missing: Vec<Range<u64>> =
                ranges.iter().zip(&parts).filter(|(_, p)| p.is_none()).map(|(r, _)| r.clone()).collect();
            let reads = missing.iter().map(|r| (self.store.clone(), self.key.clone(), r.clone())).collect();
            let mut fetched = get_ranges(reads).await.map_err(external)?.into_iter();
            let n: u64 = fetched.as_slice().iter().map(|p| p.len() as u64).sum();
            self.fetched.fetch_add(n, Ordering::Relaxed);
            if self.keep {
                let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
                kept.extend(missing.into_iter().zip(fetched.as_slice().iter().cloned()));
            }
            for part in parts.iter_mut().filter(|p| p.is_none()) {
                *part = fetched.next();
            }
            Ok(parts.into_iter().map(|p| p.expect("every range fetched")).collect())
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

/// What a scan reads of a Parquet file.
#[derive(Default)]
pub struct Selection<'a> {
    /// The columns (all when None).
    pub columns: Option<&'a [String]>,
    /// The row groups, start..end (all when None).
    pub row_groups: Option<RowGroups>,
    /// Filters that follow the scan: row groups whose statistics rule them out are skipped.
    pub filters: Vec<&'a Expr>,
}

/// Reads the Parquet object `key` (`size` bytes) of `store`, what `selection` says of it, in
/// batches of up to `batch_rows` rows (a row group gives at most one batch). Returns the
/// batches and the bytes fetched.
pub async fn read_parquet(
    store: Arc<dyn Store>,
    key: &str,
    size: u64,
    selection: Selection<'_>,
    url: &str,
    batch_rows: usize,
) -> crate::Result<(Decoded, u64)> {
    let mut file = ParquetFile::open(store, key, size, url).await?.only(selection.row_groups)?;
    file.prune(&selection.filters);
    let mut batches = Vec::new();
    let schema = file
        .scan(selection.columns, batch_rows, None, |b| {
            batches.push(b);
            Ok(())
        })
        .await?;
    Ok((Decoded { schema, batches }, file.fetched()))
}

/// An open Parquet object: its footer read, its columns fetched on demand.
pub struct ParquetFile {
    reader: StoreReader,
    metadata: ArrowReaderMetadata,
    url: String,
    /// The row groups a scan reads (None: all).
    row_groups: Option<Vec<usize>>,
}

impl ParquetFile {
    /// Reads the footer of `key` (`size` bytes) in `store`; `url` names it in errors.
    pub async fn open(store: Arc<dyn Store>, key: &str, size: u64, url: &str) -> crate::Result<Self> {
        let fetched = Arc::new(AtomicU64::new(0));
        let kept = Arc::new(Mutex::new(Vec::new()));
        let mut reader = StoreReader { store: store.clone(), key: key.to_string(), size, fetched, kept, keep: false };
        let metadata = match ArrowReaderMetadata::load_async(&mut reader, Default::default()).await {
            Ok(metadata) => metadata,
            // A file rewritten since the plan was made (a notebook cell run again after the
            // data was made anew) has its footer elsewhere: say so, not that it is corrupt.
            Err(e) => match store.head(key).await {
                Ok(now) if now.size != size => {
                    return Err(changed(url, format!("it was {size} bytes when planned, and is {} now", now.size)))
                }
                _ => return Err(bad(url)(e)),
            },
        };
        Ok(ParquetFile { reader, metadata, url: url.to_string(), row_groups: None })
    }

    /// Scans read only `row_groups` (all when None); a range past the file's row groups is an
    /// error naming it (the file changed since it was planned).
    pub fn only(mut self, row_groups: Option<RowGroups>) -> crate::Result<Self> {
        if let Some(RowGroups { start, end, bytes }) = row_groups {
            let count = self.metadata.metadata().num_row_groups();
            if start > end || end > count {
                let message = format!("row groups {start}..{end} were planned, and it has {count} now");
                return Err(changed(&self.url, message));
            }
            // The same size, but row groups cut elsewhere: the planned ranges would skip rows.
            let now: u64 = self.row_group_bytes()[start..end].iter().sum();
            if now != bytes {
                let message = format!("row groups {start}..{end} were {bytes} bytes when planned, and are {now} now");
                return Err(changed(&self.url, message));
            }
            self.row_groups = Some((start..end).collect());
        }
        Ok(self)
    }

    /// Scans give the string and binary columns among `columns` as dictionaries (Int32 codes
    /// into the distinct values), as Parquet stores most of them: no value is copied per row,
    /// and a group-by groups the codes.
    pub fn dictionaries(mut self, columns: &[String]) -> crate::Result<Self> {
        let schema = self.metadata.schema();
        let fields: Fields = schema
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                t @ (DataType::Utf8 | DataType::LargeUtf8 | DataType::Binary | DataType::LargeBinary)
                    if columns.contains(f.name()) =>
                {
                    let coded = DataType::Dictionary(Box::new(DataType::Int32), Box::new(t.clone()));
                    Arc::new(f.as_ref().clone().with_data_type(coded))
                }
                _ => f.clone(),
            })
            .collect();
        if fields != *schema.fields() {
            let hint = Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()));
            let options = ArrowReaderOptions::new().with_schema(hint);
            let metadata = ArrowReaderMetadata::try_new(self.metadata.metadata().clone(), options);
            self.metadata = metadata.map_err(bad(&self.url))?;
        }
        Ok(self)
    }

    /// Whether the top-level column `name` is stored as a dictionary in every row group a scan
    /// reads: each column chunk has a dictionary page and only dictionary-encoded data pages
    /// (by the footer's page encoding statistics; without them, false). Such a column decodes
    /// to dictionary codes without hashing any value.
    pub fn stored_as_dictionary(&self, name: &str) -> bool {
        let meta = self.metadata.metadata();
        let columns = meta.file_metadata().schema_descr().columns();
        let Some(leaf) = columns.iter().position(|c| c.path().parts() == [name]) else { return false };
        let dictionary_only =
            |mask: &EncodingMask| mask.is_only(Encoding::RLE_DICTIONARY) || mask.is_only(Encoding::PLAIN_DICTIONARY);
        self.groups().all(|g| {
            let chunk = meta.row_group(g).column(leaf);
            let pages = match (chunk.page_encoding_stats_mask(), chunk.page_encoding_stats()) {
                (Some(mask), _) => dictionary_only(mask),
                (None, Some(stats)) => stats
                    .iter()
                    .filter(|p| p.page_type != PageType::DICTIONARY_PAGE)
                    .all(|p| matches!(p.encoding, Encoding::RLE_DICTIONARY | Encoding::PLAIN_DICTIONARY)),
                (None, None) => false,
            };
            chunk.dictionary_page_offset().is_some() && pages
        })
    }

    /// The file's Arrow schema.
    pub fn schema(&self) -> &arrow_schema::SchemaRef {
        self.metadata.schema()
    }

    /// The rows a scan reads (of its row groups).
    pub fn rows(&self) -> usize {
        let groups = self.metadata.metadata().row_groups();
        self.groups().map(|i| groups[i].num_rows().max(0) as usize).sum()
    }

    /// The row groups a scan reads.
    fn groups(&self) -> Box<dyn Iterator<Item = usize> + '_> {
        match &self.row_groups {
            Some(groups) => Box::new(groups.iter().copied()),
            None => Box::new(0..self.metadata.metadata().num_row_groups()),
        }
    }

    /// Scans leave out the row groups whose statistics prove that no row passes every one of
    /// `filters` (see `prune`); returns how many were left out.
    pub fn prune(&mut self, filters: &[&Expr]) -> usize {
        if filters.is_empty() {
            return 0;
        }
        let meta = self.metadata.metadata();
        let (parquet, arrow) = (meta.file_metadata().schema_descr(), self.metadata.schema());
        let kept: Vec<usize> =
            self.groups().filter(|&i| may_match(filters, meta.row_group(i), parquet, arrow)).collect();
        let dropped = self.groups().count() - kept.len();
        self.row_groups = Some(kept);
        dropped
    }

    /// Each row group's compressed bytes, in order.
    pub fn row_group_bytes(&self) -> Vec<u64> {
        self.metadata.metadata().row_groups().iter().map(|g| g.compressed_size().max(0) as u64).collect()
    }

    /// About how many bytes its row groups take when decoded: what the footer says they take
    /// uncompressed, or at least their rows times the columns' widths (values stored as
    /// dictionaries decode to more than they are stored in).
    pub fn decoded_bytes(&self) -> u64 {
        let width: u64 =
            self.metadata.schema().fields().iter().map(|f| f.data_type().primitive_width().unwrap_or(8) as u64).sum();
        let groups = self.metadata.metadata().row_groups();
        groups.iter().map(|g| (g.total_byte_size().max(0) as u64).max(g.num_rows().max(0) as u64 * width)).sum()
    }

    /// Bytes fetched so far.
    pub fn fetched(&self) -> u64 {
        self.reader.fetched.load(Ordering::Relaxed)
    }

    /// Decodes `columns` (all when `None`, else in that order), in batches of up to
    /// `batch_rows` rows (a row group gives at most one batch), handing each batch to `each` as
    /// soon as it is decoded. Returns the schema. With `limit`, a probe of the first rows:
    /// the bytes it fetches are kept for the next scan, which will need them again.
    pub async fn scan(
        &self,
        columns: Option<&[String]>,
        batch_rows: usize,
        limit: Option<usize>,
        mut each: impl FnMut(RecordBatch) -> crate::Result<()>,
    ) -> crate::Result<SchemaRef> {
        let url = self.url.as_str();
        let reader = StoreReader { keep: limit.is_some(), ..self.reader.clone() };
        let mut builder = ParquetRecordBatchStreamBuilder::new_with_metadata(reader, self.metadata.clone())
            .with_batch_size(batch_rows);
        if let Some(cols) = columns {
            let indices = column_indices(builder.schema(), cols, url)?;
            let mask = ProjectionMask::roots(builder.parquet_schema(), indices);
            builder = builder.with_projection(mask);
        }
        if let Some(rows) = limit {
            builder = builder.with_limit(rows);
        }
        if let Some(groups) = &self.row_groups {
            builder = builder.with_row_groups(groups.clone());
        }
        let mut stream = builder.build().map_err(bad(url))?;
        let read_schema = stream.schema().clone();
        // Parquet keeps the file's column order; the caller asked for its own.
        let order = columns.map(|cols| column_indices(&read_schema, cols, url)).transpose()?;
        let schema = match &order {
            Some(order) => Arc::new(read_schema.project(order).map_err(|e| data_error(url, e.to_string()))?),
            None => read_schema,
        };
        while let Some(group) = stream.next_row_group().await.map_err(bad(url))? {
            squall_core::cancel::check()?;
            for batch in group {
                let batch = batch.map_err(|e| data_error(url, e.to_string()))?;
                each(match &order {
                    Some(order) => batch.project(order).map_err(|e| data_error(url, e.to_string()))?,
                    None => batch,
                })?;
            }
        }
        Ok(schema)
    }
}

/// A Parquet reader's error as squall's: a store's failure stays one, anything else is bad data
/// in `url`.
fn bad(url: &str) -> impl Fn(ParquetError) -> crate::Error + '_ {
    move |e| match e {
        ParquetError::External(inner) => match inner.downcast::<squall_store::Error>() {
            Ok(store_error) => crate::Error::Store(*store_error),
            Err(other) => data_error(url, other.to_string()),
        },
        other => data_error(url, other.to_string()),
    }
}

/// The error for a file that changed after its dataset was planned (`why`: how it differs).
fn changed(url: &str, why: String) -> crate::Error {
    let message = format!(
        "the file changed after its dataset was made ({why}): make the dataset again (read_parquet) \
         to read the new file"
    );
    data_error(url, message)
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
            read_parquet(store, url, data.len() as u64, Selection { columns, ..Default::default() }, url, BATCH_ROWS)
                .await
                .map(|(d, _)| d)
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

    /// `batch` written as Parquet to a memory store named `name`, opened, and given to `check`
    /// with the file's bytes.
    fn with_parquet(batch: &RecordBatch, name: &str, check: impl AsyncFnOnce(ParquetFile, Bytes)) {
        let bytes =
            encode(Format::Parquet, Compression::None, &batch.schema(), std::slice::from_ref(batch), "mem").unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let store = MemoryStore::named(name);
            store.put("p", bytes.clone()).await.unwrap();
            let file = ParquetFile::open(store, "p", bytes.len() as u64, "mem://p").await.unwrap();
            check(file, bytes).await
        });
    }

    #[test]
    fn a_file_that_changed_after_its_plan_is_named_so() {
        let a: ArrayRef = Arc::new(Int64Array::from_iter_values(0..1000));
        let batch = RecordBatch::try_from_iter([("a", a)]).unwrap();
        with_parquet(&batch, "parquet-scan-changed", async |file, bytes| {
            let planned = RowGroups { start: 0, end: 1, bytes: file.row_group_bytes()[0] };
            let file = file.only(Some(planned)).unwrap();
            // Its row groups cut elsewhere, the same bytes in all.
            let other = RowGroups { bytes: planned.bytes + 1, ..planned };
            let err = file.only(Some(other)).err().unwrap().to_string();
            assert!(err.contains("changed after its dataset was made") && err.contains("read_parquet"), "{err}");
            // A file of another size than planned: its footer is not where the plan said.
            let store: Arc<dyn Store> = MemoryStore::named("parquet-scan-changed");
            let err = ParquetFile::open(store, "p", bytes.len() as u64 - 100, "mem://p").await.err().unwrap();
            let err = err.to_string();
            assert!(err.contains(&format!("when planned, and is {} now", bytes.len())), "{err}");
        });
    }

    #[test]
    fn knows_which_columns_are_stored_as_dictionaries() {
        // 200,000 distinct ids outgrow a dictionary page (written plainly); 20 words do not.
        let n = 200_000;
        let ids: ArrayRef = Arc::new(Int64Array::from_iter_values((0..n).map(|i| i * 7919)));
        let words: ArrayRef = Arc::new(StringArray::from_iter_values((0..n).map(|i| format!("w{}", i % 20))));
        let batch = RecordBatch::try_from_iter([("ids", ids), ("words", words)]).unwrap();
        with_parquet(&batch, "parquet-scan-dictionaries", async |file, _| {
            let stored = |c: &str| file.stored_as_dictionary(c);
            assert_eq!((stored("words"), stored("ids"), stored("nope")), (true, false, false));
        });
    }

    #[test]
    fn a_probe_of_leading_rows_fetches_nothing_the_scan_fetches_again() {
        let n = 200_000;
        let a: ArrayRef = Arc::new(Int64Array::from_iter_values((0..n).map(|i| i * 7919 % 1_000_003)));
        let b: ArrayRef = Arc::new(Int64Array::from_iter_values((0..n).map(|i| i ^ 0x5555)));
        let batch = RecordBatch::try_from_iter([("a", a), ("b", b)]).unwrap();
        with_parquet(&batch, "parquet-scan-probe", async |file, bytes| {
            let mut head = Vec::new();
            file.scan(Some(&["a".to_string()]), 10, Some(10), |b| {
                head.push(b);
                Ok(())
            })
            .await
            .unwrap();
            assert_eq!(head.iter().map(|b| b.num_rows()).sum::<usize>(), 10);
            assert_eq!(head[0].column(0), &batch.column(0).slice(0, 10));
            let mut rows = 0;
            let schema = file
                .scan(Some(&["b".to_string(), "a".to_string()]), BATCH_ROWS, None, |b| {
                    assert_eq!(b.column(1), &batch.column(0).slice(rows, b.num_rows()));
                    rows += b.num_rows();
                    Ok(())
                })
                .await
                .unwrap();
            assert_eq!((rows, schema.field(0).name().as_str()), (n as usize, "b"));
            // The footer (with the bytes before it in its prefetch) and both column chunks, each
            // once: column a's chunk is given again, not fetched again.
            let once = (bytes.len() + FOOTER_HINT) as u64;
            assert!(file.fetched() <= once, "{} > {once}", file.fetched());
        });
    }
}
