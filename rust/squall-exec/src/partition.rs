//! Running one partition task: read an input object, apply the operators, write the output.
//!
//! It runs on the caller's thread (a worker process's main thread), blocking on the runtime
//! for store I/O, so Python functions can be called back in between without crossing threads.

use arrow_array::RecordBatch;
use squall_core::codec::{decode, encode};
use squall_core::plan::{Op, PartitionReport, PartitionTask};
use squall_store::{open, Bytes};

use crate::runtime::runtime;

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

/// Runs `task` (attempt `attempt`); `udf(index, batch)` calls the plan's `index`-th function.
pub fn run_partition<E>(
    task: &PartitionTask,
    attempt: u32,
    mut udf: impl FnMut(usize, RecordBatch) -> Result<RecordBatch, E>,
) -> Result<PartitionReport, PartitionError<E>> {
    let data = read_object(&task.input.url)?;
    let bytes_read = data.len() as u64;
    let decoded =
        decode(task.input.format, data, task.columns.as_deref(), &task.input.url).map_err(crate::Error::from)?;
    let rows_in: u64 = decoded.batches.iter().map(|b| b.num_rows() as u64).sum();
    let mut schema = decoded.schema;
    let mut batches = decoded.batches;
    for op in &task.ops {
        batches = match op {
            Op::Udf { index, .. } => {
                if batches.is_empty() {
                    // The function still decides the output schema of an empty partition.
                    batches.push(RecordBatch::new_empty(schema.clone()));
                }
                let mut out = Vec::with_capacity(batches.len());
                for batch in batches {
                    out.push(udf(*index, batch).map_err(PartitionError::Udf)?);
                }
                out
            }
            Op::Select { columns } => {
                let decoded = squall_core::codec::Decoded { schema: schema.clone(), batches };
                let projected =
                    squall_core::codec::project(decoded, columns, &task.input.url).map_err(crate::Error::from)?;
                schema = projected.schema;
                projected.batches
            }
            Op::Limit { rows } => limit(batches, *rows),
        };
        if let Some(first) = batches.first() {
            schema = first.schema();
        }
    }
    check_schemas(&batches, &task.input.url)?;
    let rows: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();
    let mut report = PartitionReport { partition: task.partition, rows_in, rows, bytes_read, ..Default::default() };
    if let Some(output) = &task.output {
        let url = if output.per_attempt {
            let ext = output.format.extension();
            let stem = output.url.strip_suffix(&format!(".{ext}")).unwrap_or(&output.url);
            format!("{stem}.attempt-{attempt}.{ext}")
        } else {
            output.url.clone()
        };
        let bytes = encode(output.format, &schema, &batches, &url).map_err(crate::Error::from)?;
        report.bytes_written = bytes.len() as u64;
        write_object(&url, bytes)?;
        report.url = Some(url);
    }
    Ok(report)
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
                    first
                        .schema()
                        .fields()
                        .iter()
                        .map(|f| format!("{}: {}", f.name(), f.data_type()))
                        .collect::<Vec<_>>(),
                    b.schema().fields().iter().map(|f| format!("{}: {}", f.name(), f.data_type())).collect::<Vec<_>>()
                ),
            }));
        }
    }
    Ok(())
}
