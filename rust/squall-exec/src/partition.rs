//! Running one partition task: read an input object, apply the operators, write the output.
//!
//! It runs on the caller's thread (a worker process's main thread), blocking on the runtime
//! for store I/O, so Python functions can be called back in between without crossing threads.

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use squall_core::codec::{encode, encode_parquet_from, project, schema_text, Decoded, Format, BATCH_ROWS};
use squall_core::expr::add_columns;
use squall_core::file_types::InputColumn;
use squall_core::groupby::hash_buckets;
use squall_core::hive;
use squall_core::plan::{Combine, Input, Op, PartitionReport, PartitionTask, TaskInput, TaskOutput};
use squall_core::shuffle::{decode_rows, encode_rows, BucketSlice};
use squall_core::sort::{splitters, Sorter};
use squall_core::stages::attempt_url;
use squall_core::tier::FastTier;
use squall_store::{open, Bytes, MemoryStore, StoreUrl};

use crate::ipc_scan::read_ipc_batches;
use crate::parquet_scan::{read_parquet, Selection};
use crate::runtime::runtime;
use crate::shuffle_io::{hold_part, read_buckets, read_part, slice_bytes, write_buckets};
use crate::spill::aggregate_in_parts;
use squall_core::cancel::check;

/// A partition task failed: in a Python function, or in the engine.
#[derive(Debug)]
pub enum PartitionError<E> {
    /// The `index`-th Python function failed; its error is passed through untouched.
    Udf(E),
    /// Reading, decoding, encoding or writing failed.
    Engine(crate::Error),
}

impl<E> From<crate::Error> for PartitionError<E> {
    fn from(e: crate::Error) -> Self {
        PartitionError::Engine(e)
    }
}

impl<E> From<squall_core::Error> for PartitionError<E> {
    fn from(e: squall_core::Error) -> Self {
        PartitionError::Engine(e.into())
    }
}

/// Reads `url` whole.
pub fn read_object(url: &str) -> crate::Result<Bytes> {
    let (store, key) = open(url)?;
    Ok(runtime()?.block_on(store.get(&key))?)
}

/// Writes `data` to `url` atomically.
pub fn write_object(url: &str, data: Bytes) -> crate::Result<()> {
    let (store, key) = open(url)?;
    Ok(runtime()?.block_on(store.put(&key, data))?)
}

/// Deletes every object whose URL starts with `prefix`, several at once, and the folders that
/// the prefix names (a local directory tree squall made).
pub fn delete_prefix(prefix: &str) -> crate::Result<()> {
    let (store, key) = open(prefix)?;
    runtime()?.block_on(async {
        let keys = store.list(&key).await?;
        let jobs = keys
            .into_iter()
            .map(|o| -> squall_store::BoxFuture<'static, squall_store::Result<()>> {
                let store = store.clone();
                Box::pin(async move { store.delete(&o.key).await })
            })
            .collect();
        squall_store::in_parallel(jobs).await?;
        if key.ends_with('/') {
            store.prune(&key).await?;
        }
        Ok(())
    })
}

/// Deletes everything under the folder `prefix` (ending in `/`) of a job that ended. In this
/// process's memory the folder is ended too: a write there later (an attempt that finished
/// after its job) is refused rather than kept until the process exits.
pub fn end_prefix(prefix: &str) -> crate::Result<()> {
    if let StoreUrl::Memory { name, key } = StoreUrl::parse(prefix)? {
        MemoryStore::named(&name).end(&key);
        return Ok(());
    }
    delete_prefix(prefix)
}

/// Deletes the objects at `urls`, several at once (a missing one is no error).
pub fn delete_objects(urls: &[String]) -> crate::Result<()> {
    let jobs = urls
        .iter()
        .map(|url| -> crate::Result<squall_store::BoxFuture<'static, squall_store::Result<()>>> {
            let (store, key) = open(url)?;
            Ok(Box::pin(async move { store.delete(&key).await }))
        })
        .collect::<crate::Result<Vec<_>>>()?;
    Ok(runtime()?.block_on(squall_store::in_parallel(jobs)).map(drop)?)
}

/// Reads Arrow IPC objects into one schema and their batches; their schemas must agree, but
/// for which columns may hold nulls (files of one input may differ there: the result's column
/// may if any part's may). Errors name each object by its entry in `names` (e.g. the input a
/// scratch object was computed from). A partition without rows may not know the schema a
/// function would give: it is skipped.
pub fn read_parts(urls: &[String], names: &[String]) -> crate::Result<(SchemaRef, Vec<RecordBatch>)> {
    let mut schema: Option<(SchemaRef, &str)> = None;
    let mut batches = Vec::new();
    for (url, name) in urls.iter().zip(names) {
        check()?;
        let (decoded, _) = read_part(url)?;
        let rows: usize = decoded.batches.iter().map(|b| b.num_rows()).sum();
        match &schema {
            Some(_) if rows == 0 => continue,
            Some((s, _)) if *s != decoded.schema && batches.is_empty() => schema = Some((decoded.schema.clone(), name)),
            Some((s, first)) => match nullable_union(s, &decoded.schema) {
                Some(union) => schema = Some((union, first)),
                None => {
                    return Err(squall_core::Error::Data {
                        url: name.clone(),
                        what: "combine the result of".into(),
                        message: format!("its schema differs from that of {first}:\n  {}\nvs\n  {}", decoded.schema, s),
                    }
                    .into())
                }
            },
            None => schema = Some((decoded.schema.clone(), name)),
        }
        batches.extend(decoded.batches.into_iter().filter(|b| b.num_rows() > 0));
    }
    let schema = schema.map_or_else(|| SchemaRef::new(arrow_schema::Schema::empty()), |(s, _)| s);
    let batches = batches
        .into_iter()
        .map(|b| match b.schema() == schema {
            true => Ok(b),
            // Only ever a column that may hold nulls where the batch's may not.
            false => b.with_schema(schema.clone()),
        })
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| squall_core::Error::Plan(format!("combine the result: {e}")))?;
    Ok((schema, batches))
}

/// `a` with the columns that may hold nulls in `b` made to, when the two differ at most there
/// (names, types and metadata alike); None when they differ otherwise.
fn nullable_union(a: &SchemaRef, b: &SchemaRef) -> Option<SchemaRef> {
    if a == b {
        return Some(a.clone());
    }
    if a.fields().len() != b.fields().len() || a.metadata() != b.metadata() {
        return None;
    }
    let mut fields = Vec::with_capacity(a.fields().len());
    for (x, y) in a.fields().iter().zip(b.fields()) {
        let x = x.as_ref().clone().with_nullable(x.is_nullable() || y.is_nullable());
        if x != y.as_ref().clone().with_nullable(x.is_nullable()) {
            return None;
        }
        fields.push(x);
    }
    Some(SchemaRef::new(arrow_schema::Schema::new_with_metadata(fields, a.metadata().clone())))
}

/// Shuffle objects of one bucket each: the `(url, offset, len)` slices a reducer reads.
pub(crate) fn one_bucket_each(slices: &[(String, u64, u64)]) -> Vec<(String, Vec<BucketSlice>)> {
    slices
        .iter()
        .map(|(url, offset, len)| (url.clone(), vec![BucketSlice { offset: *offset, len: *len, rows: 0 }]))
        .collect()
}

/// Picks `partitions - 1` splitters from the key samples at `samples`; writes them to `out`
/// (or to the fast store, see [`write_placed`]) and returns where.
pub fn choose_splitters(
    samples: &[String],
    partitions: usize,
    out: &str,
    fast: Option<&FastTier>,
) -> crate::Result<String> {
    let mut keys = Vec::new();
    for url in samples {
        keys.extend(decode_rows(read_object(url)?, url)?);
    }
    let chosen = splitters(keys, partitions);
    // Read once by each map task: as many as there were samples.
    write_placed(out.to_string(), encode_rows(&chosen, out)?, samples.len() as u64, fast)
}

fn read_input(task: &PartitionTask, attempt: u32) -> crate::Result<(Decoded, u64, String)> {
    match &task.input {
        TaskInput::File(input) if input.format == Format::Parquet => {
            let (store, key) = open(&input.url)?;
            // Batches that no function sees go whole: one per row group, nothing to concatenate.
            let batch_rows = if task.ops.is_empty() { usize::MAX } else { BATCH_ROWS };
            // Filters right after the scan rule row groups out by their statistics.
            let filters = task.ops.iter().map_while(|op| match op {
                Op::Filter { expr } => Some(expr),
                _ => None,
            });
            let from_path = path_columns(task);
            let file_columns = hive::file_part(task.columns.as_deref(), from_path);
            // (Not by a column of the path: a file may hold a column of that name, which its
            // path's value replaces.)
            let of_file =
                |e: &&squall_core::expr::Expr| e.columns().iter().all(|c| from_path.iter().all(|p| &p.name != c));
            let selection = Selection {
                columns: file_columns.as_deref(),
                row_groups: input.row_groups,
                filters: filters.filter(of_file).collect(),
            };
            let read = read_parquet(store, &key, input.size, selection, &input.url, batch_rows);
            let (decoded, fetched) = runtime()?.block_on(read)?;
            Ok((with_path(task, input, conform(task, &input.url, decoded)?)?, fetched, input.url.clone()))
        }
        TaskInput::File(input) => {
            let (decoded, n) = match input.row_groups {
                Some(batches) => {
                    let (store, key) = open(&input.url)?;
                    let read = read_ipc_batches(store, &key, input.size, batches, &input.url);
                    runtime()?.block_on(read)?
                }
                None => read_part(&input.url)?,
            };
            let decoded = match hive::file_part(task.columns.as_deref(), path_columns(task)) {
                Some(cols) => project(decoded, &cols, &input.url)?,
                None => decoded,
            };
            Ok((with_path(task, input, conform(task, &input.url, decoded)?)?, n, input.url.clone()))
        }
        TaskInput::Merge(_) => Err(squall_core::Error::Plan("a merge task is run by merge_buckets".into()).into()),
        TaskInput::Sized(_) => Err(squall_core::Error::Plan(
            "a task of sizes without bytes runs only in a simulation (Dataset.simulate)".into(),
        )
        .into()),
        TaskInput::Shuffle { slices, combine: Combine::Aggregate { group }, parts } if *parts > 1 => {
            let (decoded, read) =
                aggregate_in_parts(slices, group, *parts, task.partition, attempt, task.fast.as_ref())?;
            Ok((decoded, read, format!("shuffle partition {}", task.partition)))
        }
        TaskInput::Shuffle { slices, combine, .. } => {
            let where_ = format!("shuffle partition {}", task.partition);
            let Some((schema, runs, n)) = shuffle_runs(slices, combine)? else {
                // No map task sent rows here: nothing to merge, and no schema to give.
                return Ok((
                    Decoded { schema: SchemaRef::new(arrow_schema::Schema::empty()), batches: vec![] },
                    0,
                    where_,
                ));
            };
            let (schema, batches) = match combine {
                Combine::Merge { keys } => (schema.clone(), Sorter::new(&schema, keys)?.merge(runs)?),
                Combine::Concat => (schema.clone(), runs),
                Combine::Aggregate { group } => {
                    let done = group.finish(&group.merge(&runs)?)?;
                    (done.schema(), vec![done])
                }
            };
            Ok((Decoded { schema, batches }, n, where_))
        }
    }
}

/// A reducer's input: its bucket of each map object (`slices`), as the runs `combine` takes,
/// their schema and the bytes read; None when no map task sent it any.
fn shuffle_runs(
    slices: &[(String, u64, u64)],
    combine: &Combine,
) -> crate::Result<Option<(SchemaRef, Vec<RecordBatch>, u64)>> {
    let mut n = 0;
    let mut schema: Option<SchemaRef> = None;
    let mut runs = Vec::new();
    for ((read, decoded), (url, _, _)) in read_buckets(&one_bucket_each(slices))?.into_iter().zip(slices) {
        check()?;
        n += read;
        for decoded in decoded {
            schema.get_or_insert(decoded.schema.clone());
            add_slice(&mut runs, combine, decoded, url)?;
        }
    }
    let Some(schema) = schema else { return Ok(None) };
    if runs.is_empty() {
        runs.push(RecordBatch::new_empty(schema.clone()));
    }
    Ok(Some((schema, runs, n)))
}

/// A sort's reducer that writes its rows to a Parquet file as they are merged, so that it never
/// holds them merged whole (nor the file's pages twice; see `encode_parquet_from`); None where
/// the task is not one (other operators follow, or another output) or no map task sent rows.
fn merge_to_parquet(task: &PartitionTask, attempt: u32) -> crate::Result<Option<PartitionReport>> {
    let (TaskInput::Shuffle { slices, combine: combine @ Combine::Merge { keys }, .. }, Some(TaskOutput::File(output))) =
        (&task.input, &task.output)
    else {
        return Ok(None);
    };
    if !task.ops.is_empty() || output.format != Format::Parquet {
        return Ok(None);
    }
    let Some((schema, runs, bytes_read)) = shuffle_runs(slices, combine)? else { return Ok(None) };
    let rows: u64 = runs.iter().map(|b| b.num_rows() as u64).sum();
    let merged = Sorter::new(&schema, keys)?.merged(runs)?;
    let url = attempt_url(&output.url, attempt);
    let like = merged.runs().to_vec();
    let bytes = encode_parquet_from(&schema, &like, merged, output.compression, &url)?;
    let mut report = PartitionReport {
        partition: task.partition,
        rows_in: rows,
        rows,
        bytes_read,
        schema: Some(schema_text(&schema)),
        ..Default::default()
    };
    publish(&mut report, url, bytes, (output.result, 1), task.fast.as_ref())?;
    Ok(Some(report))
}

/// The columns the paths of the input's files give them (`hive`); none for a scratch file.
fn path_columns(task: &PartitionTask) -> &[InputColumn] {
    task.expected.as_deref().map_or(&[], |e| &e.path_columns)
}

/// `decoded`, the columns read of `input`'s file, with those its path gives, as the task reads them.
fn with_path(task: &PartitionTask, input: &Input, decoded: Decoded) -> crate::Result<Decoded> {
    Ok(hive::with_path_columns(decoded, input, task.columns.as_deref(), path_columns(task))?)
}

/// `decoded`, read of `url`, with the column types the task expects (those of the input's
/// first file; see `Expected::conform`).
fn conform(task: &PartitionTask, url: &str, decoded: Decoded) -> crate::Result<Decoded> {
    match &task.expected {
        Some(expected) => Ok(expected.conform(url, decoded)?),
        None => Ok(decoded),
    }
}

/// Runs `task` (attempt `attempt`); `udf(index, batch)` calls the plan's `index`-th function.
pub fn run_partition<E>(
    task: &PartitionTask,
    attempt: u32,
    mut udf: impl FnMut(usize, RecordBatch) -> Result<RecordBatch, E>,
) -> Result<PartitionReport, PartitionError<E>> {
    if let TaskInput::Merge(merge) = &task.input {
        return Ok(crate::merge::merge_buckets(task, merge, attempt)?);
    }
    if let (TaskInput::File(input), Some(TaskOutput::Partial { url, group, partitions }), true) =
        (&task.input, &task.output, task.ops.is_empty())
    {
        if input.format == Format::Parquet {
            return Ok(aggregate::aggregate_parquet(task, input, &attempt_url(url, attempt), group, *partitions)?);
        }
    }
    if let Some(report) = merge_to_parquet(task, attempt)? {
        return Ok(report);
    }
    let (decoded, bytes_read, url) = read_input(task, attempt)?;
    let rows_in: u64 = decoded.batches.iter().map(|b| b.num_rows() as u64).sum();
    let mut schema = decoded.schema;
    let mut batches = decoded.batches;
    for op in &task.ops {
        check()?;
        batches = match op {
            Op::Udf { index, kind, .. } if kind == "map_groups" => {
                // A group may span batches: the function sees the whole partition at once.
                vec![udf(*index, concat(&schema, &batches, &url)?).map_err(PartitionError::Udf)?]
            }
            Op::Udf { index, .. } => {
                if batches.is_empty() {
                    // The function still decides the output schema of an empty partition.
                    batches.push(RecordBatch::new_empty(schema.clone()));
                }
                let mut out = Vec::with_capacity(batches.len());
                for batch in batches {
                    check()?;
                    out.push(udf(*index, batch).map_err(PartitionError::Udf)?);
                }
                out
            }
            Op::Select { columns } => {
                let projected = project(Decoded { schema: schema.clone(), batches }, columns, &url)?;
                schema = projected.schema;
                projected.batches
            }
            Op::Limit { rows } => limit(batches, *rows),
            Op::Filter { expr } => batches.iter().map(|b| expr.filter(b)).collect::<squall_core::Result<Vec<_>>>()?,
            Op::Compute { columns } => {
                let out = batches.iter().map(|b| add_columns(b, columns)).collect::<squall_core::Result<Vec<_>>>()?;
                if out.is_empty() {
                    // An empty partition still says what its columns are.
                    schema = add_columns(&RecordBatch::new_empty(schema.clone()), columns)?.schema();
                }
                out
            }
            Op::TopK { keys, rows } => {
                let run = Sorter::new(&schema, keys)?.sort(&schema, &batches)?;
                vec![run.rows(0..run.len().min(*rows))?]
            }
        };
        if let Some(first) = batches.first() {
            schema = first.schema();
        }
    }
    check_schemas(&batches, &url)?;
    let rows: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();
    let mut report = PartitionReport { partition: task.partition, rows_in, rows, bytes_read, ..Default::default() };
    let attempt_url = |url: &str| attempt_url(url, attempt);
    match &task.output {
        None => {}
        Some(TaskOutput::File(output)) => {
            let url = attempt_url(&output.url);
            report.schema = Some(schema_text(&schema));
            let held = match output.format == Format::Ipc && !output.result {
                true => hold_part(&url, &schema, &batches, task.fast.as_ref())?,
                false => None,
            };
            match held {
                Some((at, bytes)) => (report.bytes_written, report.url) = (bytes, Some(at)),
                None => {
                    let bytes = encode(output.format, output.compression, &schema, &batches, &url)?;
                    publish(&mut report, url, bytes, (output.result, 1), task.fast.as_ref())?;
                }
            }
        }
        Some(TaskOutput::Sample { url, keys, rows }) => {
            let url = attempt_url(url);
            let sample =
                Sorter::new(&schema, keys)?.sample(&concat(&schema, &batches, &url)?, *rows, task.partition as u64)?;
            let bytes = encode_rows(&sample, &url)?;
            publish(&mut report, url, bytes, (false, 1), task.fast.as_ref())?;
        }
        Some(TaskOutput::Partial { url, group, partitions }) => {
            let url = attempt_url(url);
            let states = group.partial(&concat(&schema, &batches, &url)?, task.partition as u64)?;
            let schema = states.schema();
            let buckets = split_by_hash(&[states], &group.keys, *partitions, &url)?;
            publish_shuffle(&mut report, url, &schema, &buckets, task.fast.as_ref())?;
        }
        Some(TaskOutput::Partition { url, keys, partitions }) => {
            let url = attempt_url(url);
            let buckets = split_by_hash(&batches, keys, *partitions, &url)?;
            publish_shuffle(&mut report, url, &schema, &buckets, task.fast.as_ref())?;
        }
        Some(TaskOutput::Shuffle { url, keys, splitters }) => {
            let url = attempt_url(url);
            let splitters = match splitters {
                Some(at) => decode_rows(read_object(at)?, at)?,
                None => Vec::new(),
            };
            let sorter = Sorter::new(&schema, keys)?;
            let buckets = sorter.cut(&sorter.sort(&schema, &batches)?, &splitters)?;
            let buckets: Vec<[RecordBatch; 1]> = buckets.into_iter().map(|b| [b]).collect();
            publish_shuffle(&mut report, url, &schema, &buckets, task.fast.as_ref())?;
        }
        Some(TaskOutput::Merged { .. }) => {
            return Err(crate::Error::from(squall_core::Error::Plan(
                "only a merge task writes a merged object".into(),
            ))
            .into());
        }
    }
    Ok(report)
}

/// Writes a task's output object and records it in the report; a `result` is a finished
/// file that nothing here reads back (`Store::put_output`). An intermediate object, to be read
/// in `reads` requests, goes to the job's fast store when it has one and it is cheaper there.
pub(crate) fn publish(
    report: &mut PartitionReport,
    url: String,
    bytes: Bytes,
    (result, reads): (bool, u64),
    fast: Option<&FastTier>,
) -> crate::Result<()> {
    report.bytes_written = bytes.len() as u64;
    report.url = Some(match result {
        true => {
            let (store, key) = open(&url)?;
            runtime()?.block_on(store.put_output(&key, bytes))?;
            url
        }
        false => write_placed(url, bytes, reads, fast)?,
    });
    Ok(())
}

/// Writes an intermediate object planned at `url`, to be read in `reads` requests, to the fast
/// store when it is cheaper there, else (or when the fast store refuses it: full, or down) at
/// `url`; returns where it went.
pub fn write_placed(url: String, bytes: Bytes, reads: u64, fast: Option<&FastTier>) -> crate::Result<String> {
    if let Some(at) = fast.and_then(|f| f.place(&url, bytes.len() as u64, reads)) {
        if write_object(&at, bytes.clone()).is_ok() {
            return Ok(at);
        }
    }
    write_object(&url, bytes)?;
    Ok(url)
}

/// Writes a shuffle object of `buckets` back to back and records where each bucket lies.
fn publish_shuffle<B: AsRef<[RecordBatch]>>(
    report: &mut PartitionReport,
    url: String,
    schema: &SchemaRef,
    buckets: &[B],
    fast: Option<&FastTier>,
) -> crate::Result<()> {
    let (at, slices, written) = write_buckets(url, schema, buckets, fast)?;
    report.bytes_written = written;
    report.url = Some(at);
    report.buckets = Some(slices);
    Ok(())
}

/// `batches` split into `partitions` buckets by the hash of `keys`, each bucket a piece of
/// each batch (the batches are not joined first: one copy of the rows, not two), unless the
/// pieces would be small (then the batches are joined: each piece costs a message of its own in
/// the shuffle object and a batch of its own to the reducer).
fn split_by_hash(
    batches: &[RecordBatch],
    keys: &[String],
    partitions: usize,
    url: &str,
) -> crate::Result<Vec<Vec<RecordBatch>>> {
    let bytes: usize = batches.iter().map(slice_bytes).sum();
    if batches.len() > 1 && bytes / batches.len() / partitions.max(1) < MIN_PIECE_BYTES {
        let joined = concat(batches[0].schema_ref(), batches, url)?;
        return split_by_hash(&[joined], keys, partitions, url);
    }
    let mut buckets = vec![Vec::with_capacity(batches.len()); partitions];
    for batch in batches {
        for (bucket, piece) in buckets.iter_mut().zip(hash_buckets(batch, keys, partitions)?) {
            bucket.push(piece);
        }
    }
    Ok(buckets)
}

/// Adds one map task's slice of a bucket (`decoded` from `url`) to `runs`, what `combine` takes:
/// a sorted run whole (it is merged as one), other rows in the pieces they came in.
pub(crate) fn add_slice(
    runs: &mut Vec<RecordBatch>,
    combine: &Combine,
    decoded: Decoded,
    url: &str,
) -> crate::Result<()> {
    match combine {
        Combine::Merge { .. } => runs.push(concat(&decoded.schema, &decoded.batches, url)?),
        _ => runs.extend(decoded.batches),
    }
    Ok(())
}

/// The fewest bytes a bucket's piece of a batch should hold on average (see `split_by_hash`).
const MIN_PIECE_BYTES: usize = 64 << 10;

/// All of a partition's batches as one.
pub(crate) fn concat(schema: &SchemaRef, batches: &[RecordBatch], url: &str) -> crate::Result<RecordBatch> {
    arrow_select::concat::concat_batches(schema, batches).map_err(|e| data_error(url, e))
}

fn data_error(url: &str, e: arrow_schema::ArrowError) -> crate::Error {
    squall_core::Error::Data { url: url.to_string(), what: "process".into(), message: e.to_string() }.into()
}

fn limit(batches: Vec<RecordBatch>, rows: usize) -> Vec<RecordBatch> {
    let mut left = rows;
    let mut out = Vec::new();
    for batch in batches {
        if left == 0 {
            break;
        }
        let take = batch.num_rows().min(left);
        out.push(batch.slice(0, take));
        left -= take;
    }
    out
}

fn check_schemas(batches: &[RecordBatch], url: &str) -> crate::Result<()> {
    let Some(first) = batches.first() else {
        return Ok(());
    };
    for b in &batches[1..] {
        if b.schema() != first.schema() {
            return Err(crate::Error::Core(squall_core::Error::Data {
                url: url.to_string(),
                what: "process".into(),
                message: format!(
                    "a function returned batches with different schemas: {:?} and then {:?}",
                    fields(&first.schema()),
                    fields(&b.schema())
                ),
            }));
        }
    }
    Ok(())
}

fn fields(schema: &arrow_schema::Schema) -> Vec<String> {
    schema.fields().iter().map(|f| format!("{}: {}", f.name(), f.data_type())).collect()
}

mod aggregate;

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int64Type;
    use arrow_array::{ArrayRef, Int64Array};
    use std::sync::Arc;

    #[test]
    fn batches_are_split_apart_unless_their_pieces_would_be_small() {
        let batch = |from: i64, n: i64| {
            let k: ArrayRef = Arc::new(Int64Array::from_iter_values(from..from + n));
            RecordBatch::try_from_iter([("k", k)]).unwrap()
        };
        let keys = vec!["k".to_string()];
        let values = |bucket: &[RecordBatch]| -> Vec<i64> {
            bucket.iter().flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec()).collect()
        };
        for (batches, pieces) in [(10, 1), (2, 2)] {
            let rows = 400_000 / batches;
            let input: Vec<RecordBatch> = (0..batches).map(|i| batch(i * rows, rows)).collect();
            let one = concat(input[0].schema_ref(), &input, "mem").unwrap();
            // Ten batches of 40,000 rows (320 KB) in 16 buckets: pieces of 20 KB, joined first;
            // two batches: pieces of 100 KB, split apart.
            let (split, whole) =
                (split_by_hash(&input, &keys, 16, "mem").unwrap(), split_by_hash(&[one], &keys, 16, "mem").unwrap());
            assert!(split.iter().all(|b| b.len() == pieces), "{batches} batches");
            for (a, b) in split.iter().zip(&whole) {
                assert_eq!(values(a), values(b), "the same rows in the same buckets, in order");
            }
        }
    }
}
