//! Parquet and Arrow IPC bytes to record batches and back.

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_buffer::Buffer;
use arrow_data::ArrayData;
use arrow_ipc::convert::try_fb_to_schema;
use arrow_ipc::reader::{read_footer_length, FileDecoder, StreamDecoder};
use arrow_ipc::writer::{FileWriter, IpcWriteOptions};
use arrow_ipc::CompressionType;
use arrow_ipc::{root_as_footer, Block};
use arrow_schema::{ArrowError, SchemaRef};
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression as ParquetCompression, ZstdLevel};
use parquet::file::properties::{WriterProperties, DEFAULT_DICTIONARY_PAGE_SIZE_LIMIT};
use parquet::schema::types::ColumnPath;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Rows per record batch when decoding Parquet.
pub const BATCH_ROWS: usize = 64 * 1024;

/// A file format squall reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Apache Parquet.
    Parquet,
    /// Arrow IPC (file or stream format).
    Ipc,
}

impl Format {
    /// The usual file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Parquet => "parquet",
            Format::Ipc => "arrow",
        }
    }
}

/// How a written file's bytes are compressed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// Zstandard (level 1): small files at a moderate CPU cost. The default.
    #[default]
    Zstd,
    /// LZ4: faster, larger.
    Lz4,
    /// Snappy (Parquet only): fast, and what most Parquet readers and writers default to.
    Snappy,
    /// Stored as is.
    None,
}

impl Compression {
    /// For squall's own intermediate objects (shuffle buckets, collected parts): LZ4 when they
    /// cross a network, none when they stay on this machine (a local disk, /dev/shm or memory),
    /// where compressing costs more CPU than the bytes it saves.
    pub fn for_scratch(url: &str) -> Compression {
        let local = url.starts_with("file://") || url.starts_with("memory://");
        if local {
            Compression::None
        } else {
            Compression::Lz4
        }
    }

    /// Its name, as given to `write_parquet(compression=...)`.
    pub fn name(self) -> &'static str {
        match self {
            Compression::Zstd => "zstd",
            Compression::Lz4 => "lz4",
            Compression::Snappy => "snappy",
            Compression::None => "none",
        }
    }

    /// The Arrow IPC codec; snappy is refused, naming `url`.
    pub fn ipc(self, url: &str) -> Result<Option<CompressionType>> {
        match self {
            Compression::Zstd => Ok(Some(CompressionType::ZSTD)),
            Compression::Lz4 => Ok(Some(CompressionType::LZ4_FRAME)),
            Compression::None => Ok(None),
            Compression::Snappy => {
                Err(Error::Plan(format!("{url}: Arrow IPC files are compressed with zstd, lz4 or none, not snappy")))
            }
        }
    }

    fn parquet(self) -> ParquetCompression {
        match self {
            Compression::Zstd => ParquetCompression::ZSTD(ZstdLevel::try_new(1).expect("valid level")),
            Compression::Lz4 => ParquetCompression::LZ4_RAW,
            Compression::Snappy => ParquetCompression::SNAPPY,
            Compression::None => ParquetCompression::UNCOMPRESSED,
        }
    }
}

/// A schema's columns and types, as `name: type, ...` (nullability and metadata left out): what
/// must agree between the files of one dataset.
pub fn schema_text(schema: &arrow_schema::Schema) -> String {
    let fields: Vec<String> = schema.fields().iter().map(|f| format!("{}: {}", f.name(), f.data_type())).collect();
    fields.join(", ")
}

/// Decoded batches and their schema.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// The schema (also of zero batches).
    pub schema: SchemaRef,
    /// The batches.
    pub batches: Vec<RecordBatch>,
}

fn arrow_err<'a>(url: &'a str, what: &str) -> impl Fn(ArrowError) -> Error + 'a {
    let what = what.to_string();
    move |e| Error::Data { url: url.to_string(), what: what.clone(), message: e.to_string() }
}

/// The positions of `columns` in `schema`; a missing one is an error naming the object.
pub fn column_indices(schema: &arrow_schema::Schema, columns: &[String], url: &str) -> Result<Vec<usize>> {
    columns
        .iter()
        .map(|c| {
            schema.index_of(c).map_err(|_| {
                let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
                Error::Data {
                    url: url.to_string(),
                    what: "select columns".into(),
                    message: format!("no column named {c:?}; the columns are {names:?}"),
                }
            })
        })
        .collect()
}

/// Keeps `columns`, in that order.
pub fn project(decoded: Decoded, columns: &[String], url: &str) -> Result<Decoded> {
    let indices = column_indices(&decoded.schema, columns, url)?;
    let schema = Arc::new(decoded.schema.project(&indices).map_err(arrow_err(url, "select columns"))?);
    let batches = decoded
        .batches
        .iter()
        .map(|b| b.project(&indices))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(arrow_err(url, "select columns"))?;
    Ok(Decoded { schema, batches })
}

/// Decodes Arrow IPC bytes in the file or the stream format, without copying: the arrays
/// point into `data` (unless compressed, or misaligned).
pub fn decode_ipc(data: Bytes, url: &str) -> Result<Decoded> {
    if data.starts_with(b"ARROW1") {
        return decode_ipc_file(Buffer::from(data)).map_err(arrow_err(url, "read Arrow IPC"));
    }
    let mut decoder = StreamDecoder::new();
    let mut buffer = Buffer::from(data);
    let mut batches = Vec::new();
    while !buffer.is_empty() {
        if let Some(batch) = decoder.decode(&mut buffer).map_err(arrow_err(url, "read Arrow IPC"))? {
            batches.push(batch);
        }
    }
    decoder.finish().map_err(arrow_err(url, "read Arrow IPC"))?;
    let schema =
        decoder.schema().ok_or_else(|| arrow_err(url, "read Arrow IPC")(ArrowError::IpcError("no schema".into())))?;
    Ok(Decoded { schema, batches })
}

/// An Arrow IPC file's batches, read from the blocks its footer lists.
fn decode_ipc_file(data: Buffer) -> std::result::Result<Decoded, ArrowError> {
    let tail = data.len().checked_sub(10).ok_or_else(|| bad_ipc("too short"))?;
    let footer_at = tail
        .checked_sub(ipc_footer_length(&data[tail..])?)
        .ok_or_else(|| bad_ipc("its footer is longer than the file"))?;
    let footer = IpcFooter::parse(&data[footer_at..])?;
    let block = |b: &Block| -> std::result::Result<Buffer, ArrowError> {
        let (at, len) = (b.offset() as usize, b.metaDataLength() as usize + b.bodyLength() as usize);
        if at.checked_add(len).is_none_or(|end| end > footer_at) {
            return Err(bad_ipc("a block lies outside it"));
        }
        Ok(data.slice_with_length(at, len))
    };
    let dictionaries = footer.dictionaries.iter().map(block).collect::<std::result::Result<Vec<_>, _>>()?;
    let batches =
        footer.batches.iter().map(|b| block(b).map(|data| (*b, data))).collect::<std::result::Result<Vec<_>, _>>()?;
    footer.decode(&dictionaries, &batches)
}

fn bad_ipc(what: &str) -> ArrowError {
    ArrowError::IpcError(format!("not an Arrow IPC file: {what}"))
}

/// The length of an Arrow IPC file's footer, from the file's last ten bytes.
pub fn ipc_footer_length(last_ten: &[u8]) -> std::result::Result<usize, ArrowError> {
    read_footer_length(last_ten.try_into().map_err(|_| bad_ipc("too short"))?)
}

/// What an Arrow IPC file's footer says: its schema and where its dictionaries and record
/// batches lie.
pub struct IpcFooter {
    /// The file's schema.
    pub schema: SchemaRef,
    version: arrow_ipc::MetadataVersion,
    /// The dictionaries' blocks.
    pub dictionaries: Vec<Block>,
    /// The record batches' blocks, in order.
    pub batches: Vec<Block>,
}

impl IpcFooter {
    /// Parses `tail`: the footer and the ten bytes after it.
    pub fn parse(tail: &[u8]) -> std::result::Result<IpcFooter, ArrowError> {
        let footer = tail.len().checked_sub(10).map(|end| &tail[..end]).ok_or_else(|| bad_ipc("too short"))?;
        let footer = root_as_footer(footer).map_err(|e| bad_ipc(&e.to_string()))?;
        let schema = Arc::new(try_fb_to_schema(footer.schema().ok_or_else(|| bad_ipc("no schema"))?)?);
        let dictionaries = footer.dictionaries().iter().flatten().copied().collect();
        let batches = footer.recordBatches().iter().flatten().copied().collect();
        Ok(IpcFooter { schema, version: footer.version(), dictionaries, batches })
    }

    /// The bytes a block takes, from its offset.
    pub fn span(block: &Block) -> std::ops::Range<u64> {
        let at = block.offset().max(0) as u64;
        at..at + block.metaDataLength().max(0) as u64 + block.bodyLength().max(0) as u64
    }

    /// Decodes record batches (each with its block's bytes) given every dictionary's bytes.
    pub fn decode(
        &self,
        dictionaries: &[Buffer],
        batches: &[(Block, Buffer)],
    ) -> std::result::Result<Decoded, ArrowError> {
        let mut decoder = FileDecoder::new(self.schema.clone(), self.version);
        for (b, data) in self.dictionaries.iter().zip(dictionaries) {
            decoder.read_dictionary(b, data)?;
        }
        let mut out = Vec::with_capacity(batches.len());
        for (b, data) in batches {
            out.extend(decoder.read_record_batch(b, data)?);
        }
        Ok(Decoded { schema: self.schema.clone(), batches: out })
    }
}

/// The bytes an Arrow IPC copy of `batches` takes, or a little more: their data (of their
/// slices only), and for each message (a piece of [`BATCH_ROWS`] rows, see [`pieces`]) its
/// header, a validity bitmap for every array (written even without nulls) and each buffer's
/// padding. An encoded copy is sized for it up front: growing a buffer of hundreds of MB when
/// it is a few bytes short copies it whole into fresh memory.
pub fn size_of(batches: &[RecordBatch]) -> usize {
    fn arrays(data: &ArrayData) -> (usize, usize) {
        data.child_data().iter().map(arrays).fold((1, data.buffers().len() + 1), |a, b| (a.0 + b.0, a.1 + b.1))
    }
    let batch = |b: &RecordBatch| {
        let data: usize = b.columns().iter().map(|c| c.to_data().get_slice_memory_size().unwrap_or(0)).sum();
        let (nodes, buffers) =
            b.columns().iter().map(|c| arrays(&c.to_data())).fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
        let piece = 1024 + nodes * (BATCH_ROWS / 8 + 64) + buffers * 64;
        data + b.num_rows().div_ceil(BATCH_ROWS).max(1) * piece
    };
    batches.iter().map(batch).sum::<usize>() + 4096
}

/// `batch` in pieces of at most [`BATCH_ROWS`] rows (an empty batch whole), for an IPC writer:
/// it lays out each batch it writes in a buffer of its own before copying it out, which for a
/// large batch grows in fresh memory again and again.
pub fn pieces(batch: &RecordBatch) -> impl Iterator<Item = RecordBatch> + '_ {
    let n = batch.num_rows();
    (0..n.max(1)).step_by(BATCH_ROWS).map(move |at| batch.slice(at, BATCH_ROWS.min(n - at)))
}

/// About the most encoded bytes a Parquet row group squall writes holds (it may hold fewer rows:
/// at most the writer's 1,048,576).
pub const ROW_GROUP_BYTES: usize = 32 << 20;

/// Encodes batches as Parquet.
pub fn encode_parquet(
    schema: &SchemaRef,
    batches: &[RecordBatch],
    compression: Compression,
    url: &str,
) -> Result<Bytes> {
    encode_parquet_from(schema, batches, batches.iter().cloned().map(Ok), compression, url)
}

/// Encodes `batches` as Parquet as they come, each dropped once encoded; `like` holds the same
/// rows (in any order and batches), for choosing each column's encoding and the room the file
/// takes. A row group is closed, its pages moved into the file, once it holds about
/// [`ROW_GROUP_BYTES`]: the file's bytes and its open row group's together are never much more
/// than the file.
pub fn encode_parquet_from(
    schema: &SchemaRef,
    like: &[RecordBatch],
    batches: impl IntoIterator<Item = Result<RecordBatch>>,
    compression: Compression,
    url: &str,
) -> Result<Bytes> {
    let mut props = WriterProperties::builder().set_compression(compression.parquet());
    // Columns whose dictionary would be given up anyway are plain from the start.
    for c in crate::dictionary::too_distinct(like, DEFAULT_DICTIONARY_PAGE_SIZE_LIMIT) {
        props = props.set_column_dictionary_enabled(ColumnPath::from(schema.field(c).name().as_str()), false);
    }
    let props = props.build();
    let bad = |e: parquet::errors::ParquetError| Error::Data {
        url: url.to_string(),
        what: "write Parquet".into(),
        message: e.to_string(),
    };
    // Room for the file whole, so its buffer never grows by copying: Parquet's own layout may
    // exceed Arrow's (incompressible pages, a dictionary page given up on, headers, statistics).
    let room = size_of(like);
    let room = room + room / 16 + schema.fields().len() * (1 << 20);
    let mut writer = ArrowWriter::try_new(Vec::with_capacity(room), schema.clone(), Some(props)).map_err(bad)?;
    for batch in batches {
        let batch = batch?;
        // In pieces, so that a row group ends near its bound even within a large batch.
        for start in (0..batch.num_rows()).step_by(BATCH_ROWS) {
            writer.write(&batch.slice(start, BATCH_ROWS.min(batch.num_rows() - start))).map_err(bad)?;
            if writer.in_progress_size() >= ROW_GROUP_BYTES {
                writer.flush().map_err(bad)?;
            }
        }
    }
    Ok(Bytes::from(writer.into_inner().map_err(bad)?))
}

/// Encodes batches in the Arrow IPC file format.
pub fn encode_ipc(schema: &SchemaRef, batches: &[RecordBatch], compression: Compression, url: &str) -> Result<Bytes> {
    let options =
        IpcWriteOptions::default().try_with_compression(compression.ipc(url)?).map_err(arrow_err(url, "write"))?;
    let mut writer = FileWriter::try_new_with_options(Vec::with_capacity(size_of(batches)), schema, options)
        .map_err(arrow_err(url, "write Arrow IPC"))?;
    for piece in batches.iter().flat_map(pieces) {
        writer.write(&piece).map_err(arrow_err(url, "write Arrow IPC"))?;
    }
    Ok(Bytes::from(writer.into_inner().map_err(arrow_err(url, "write Arrow IPC"))?))
}

/// Encodes in `format`.
pub fn encode(
    format: Format,
    compression: Compression,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    url: &str,
) -> Result<Bytes> {
    match format {
        Format::Parquet => encode_parquet(schema, batches, compression, url),
        Format::Ipc => encode_ipc(schema, batches, compression, url),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{ArrayRef, Int64Array, StringArray};
    use arrow_select::concat::concat_batches;

    fn sample() -> (SchemaRef, RecordBatch) {
        let a: ArrayRef = Arc::new(Int64Array::from(vec![Some(1), None, Some(3)]));
        let b: ArrayRef = Arc::new(StringArray::from(vec!["x", "ü", "z"]));
        let batch = RecordBatch::try_from_iter([("a", a), ("b", b)]).unwrap();
        (batch.schema(), batch)
    }

    #[test]
    fn ipc_round_trips_and_projects() {
        let (schema, batch) = sample();
        let bytes = encode(Format::Ipc, Compression::Zstd, &schema, std::slice::from_ref(&batch), "mem").unwrap();
        let all = decode_ipc(bytes.clone(), "mem").unwrap();
        assert_eq!(all.batches, vec![batch.clone()]);
        let only_b = project(all.clone(), &["b".to_string(), "a".to_string()], "mem").unwrap();
        assert_eq!(only_b.schema.field(0).name(), "b");
        let err = project(all, &["nope".to_string()], "file:///x").unwrap_err();
        assert!(err.to_string().contains("nope") && err.to_string().contains("file:///x"), "{err}");
    }

    #[test]
    fn ipc_files_decode_without_copying() {
        use arrow_array::types::Int32Type;
        use arrow_array::DictionaryArray;
        let (_, batch) = sample();
        let dict: ArrayRef = Arc::new(DictionaryArray::<Int32Type>::from_iter(["p", "q", "p"]));
        let batch = RecordBatch::try_from_iter(
            batch
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .zip(batch.columns().iter().cloned())
                .chain([("d".to_string(), dict)]),
        )
        .unwrap();
        let two = [batch.clone(), batch.slice(1, 2)];
        let bytes = encode(Format::Ipc, Compression::None, &batch.schema(), &two, "mem").unwrap();
        let decoded = decode_ipc(bytes.clone(), "mem").unwrap();
        assert_eq!((decoded.schema.clone(), decoded.batches.clone()), (batch.schema(), two.to_vec()));
        let values = decoded.batches[1].column(0).to_data().buffers()[0].as_ptr() as usize;
        let file = bytes.as_ptr() as usize..bytes.as_ptr() as usize + bytes.len();
        assert!(file.contains(&values), "the values point into the file's bytes");
        for cut in [bytes.slice(..8), bytes.slice(..bytes.len() - 3), bytes.slice(..bytes.len() / 2)] {
            let err = decode_ipc(cut, "file:///cut.arrow").unwrap_err().to_string();
            assert!(err.contains("cut.arrow"), "{err}");
        }
    }

    #[test]
    fn ipc_copies_fit_the_room_made_for_them() {
        use arrow_array::types::{Int32Type, Int8Type};
        use arrow_array::{BooleanArray, DictionaryArray, ListArray};
        // Many narrow columns of many rows (headers, bitmaps and padding outweigh the data), a
        // dictionary, a list, nulls, slices and an empty batch.
        let n = 3 * BATCH_ROWS + 17;
        let mut columns: Vec<(String, ArrayRef)> = (0..12)
            .map(|c| (format!("b{c}"), Arc::new(BooleanArray::from_iter((0..n).map(|i| Some(i % 3 == c)))) as ArrayRef))
            .collect();
        let words = (0..n).map(|i| (i % 7 != 0).then(|| ["a", "bb", "ccc"][i % 3]));
        columns.push(("d".into(), Arc::new(words.collect::<DictionaryArray<Int8Type>>())));
        let lists = (0..n).map(|i| Some((0..(i % 4) as i32).map(Some).collect::<Vec<_>>()));
        columns.push(("l".into(), Arc::new(ListArray::from_iter_primitive::<Int32Type, _, _>(lists))));
        let batch = RecordBatch::try_from_iter(columns).unwrap();
        let sets =
            [vec![batch.clone()], vec![batch.slice(5, BATCH_ROWS + 1), batch.slice(0, 0)], vec![batch.slice(0, 0)]];
        for batches in sets {
            let bytes = encode_ipc(&batch.schema(), &batches, Compression::None, "mem").unwrap();
            assert!(bytes.len() <= size_of(&batches), "{} encoded, {} made room for", bytes.len(), size_of(&batches));
            assert_eq!(
                decode_ipc(bytes, "mem").unwrap().batches.iter().map(|b| b.num_rows()).sum::<usize>(),
                batches.iter().map(|b| b.num_rows()).sum::<usize>()
            );
            let (bytes, _) = crate::shuffle::encode_buckets(&batch.schema(), &[&batches, &batches], "mem").unwrap();
            assert!(
                bytes.len() <= 2 * size_of(&batches),
                "{} encoded, {} made room for",
                bytes.len(),
                2 * size_of(&batches)
            );
        }
    }

    #[test]
    fn parquet_keeps_dictionaries_only_for_repeating_columns() {
        use parquet::basic::Encoding;
        use parquet::file::reader::{FileReader, SerializedFileReader};
        // 200,000 distinct ids need a 1.6 MB dictionary, past the 1 MB page.
        let n = 200_000i64;
        let id: ArrayRef = Arc::new(Int64Array::from_iter_values((0..n).map(|i| i * 7919)));
        let few: ArrayRef = Arc::new(StringArray::from_iter_values((0..n).map(|i| format!("s{}", i % 50))));
        let batch = RecordBatch::try_from_iter([("id", id), ("few", few)]).unwrap();
        let bytes = encode_parquet(&batch.schema(), std::slice::from_ref(&batch), Compression::Snappy, "mem").unwrap();
        let reader = SerializedFileReader::new(bytes.clone()).unwrap();
        let encodings = |c: usize| reader.metadata().row_group(0).column(c).encodings().collect::<Vec<_>>();
        assert!(!encodings(0).contains(&Encoding::RLE_DICTIONARY), "{:?}", encodings(0));
        assert!(encodings(1).contains(&Encoding::RLE_DICTIONARY), "{:?}", encodings(1));
        let decoded = read_parquet(bytes);
        assert_eq!(decoded, vec![batch]);
    }

    #[test]
    fn parquet_row_groups_close_at_their_bound_as_batches_stream_in() {
        use arrow_array::BinaryArray;
        use parquet::file::reader::{FileReader, SerializedFileReader};
        // 40 MB of 200-byte values, in batches of 50,000 rows and one large batch.
        let value = |i: usize| format!("{i:0>200}");
        let batch = |rows: std::ops::Range<usize>| {
            let v: ArrayRef = Arc::new(BinaryArray::from_iter_values(rows.clone().map(value)));
            let i: ArrayRef = Arc::new(Int64Array::from_iter_values(rows.map(|i| i as i64)));
            RecordBatch::try_from_iter([("i", i), ("v", v)]).unwrap()
        };
        let batches = vec![batch(0..50_000), batch(50_000..100_000), batch(100_000..200_000)];
        let schema = batches[0].schema();
        let stream = batches.clone().into_iter().map(Ok);
        let bytes = encode_parquet_from(&schema, &batches, stream, Compression::None, "mem").unwrap();
        let reader = SerializedFileReader::new(bytes.clone()).unwrap();
        let groups: Vec<i64> = reader.metadata().row_groups().iter().map(|g| g.compressed_size()).collect();
        assert!(groups.len() >= 2, "{groups:?}");
        // At most the bound and one piece of a batch (65,536 rows of 208 bytes) more.
        assert!(groups.iter().all(|&g| g as usize <= ROW_GROUP_BYTES + BATCH_ROWS * 208 + (1 << 20)), "{groups:?}");
        let all = concat_batches(&schema, &batches).unwrap();
        assert_eq!(concat_batches(&schema, &read_parquet(bytes)).unwrap(), all);
        // A batch that fails to come fails the file.
        let failing = [Ok(batches[0].clone()), Err(Error::Plan("no more".into()))];
        let err = encode_parquet_from(&schema, &batches, failing, Compression::None, "mem").unwrap_err();
        assert!(err.to_string().contains("no more"), "{err}");
    }

    fn read_parquet(bytes: Bytes) -> Vec<RecordBatch> {
        parquet::arrow::arrow_reader::ParquetRecordBatchReader::try_new(bytes, 1 << 20)
            .unwrap()
            .collect::<std::result::Result<_, _>>()
            .unwrap()
    }
}
