//! A big Parquet file is read as several partitions, each a range of its row groups (an Arrow
//! IPC file by ranges of its record batches), so that one file is not one task on one core:
//! when the file is bigger than the target partition size, or when there are fewer files than
//! the tasks that could run at once. The footers (one ranged read each) say where the row
//! groups are; only the files to split are opened, and the first, whose columns the plan is
//! checked against.

use squall_core::codec::{Format, IpcFooter};
use squall_core::file_types::InputColumn;
use squall_core::plan::{Input, RowGroups};
use tokio::task::JoinSet;

use crate::ipc_scan::ipc_footer;
use crate::parquet_scan::ParquetFile;
use crate::runtime::runtime;
use crate::Result;
use squall_core::budget::Budget;

/// A plan's inputs as the scan reads them.
#[derive(Debug)]
pub struct Scanned {
    /// The inputs, big files cut into ranges of row groups (record batches).
    pub inputs: Vec<Input>,
    /// The first file's columns and types, to check a plan's operators and the other files
    /// against (None when it has no footer to say, an IPC stream, or cannot be read now: its
    /// task will say why).
    pub columns: Option<Vec<InputColumn>>,
    /// Decoded bytes per byte read, as the first file's footer says (1 when it does not).
    pub decoded_per_byte: f64,
}

/// `inputs`, with each file cut into ranges of row groups (record batches) of about
/// `target_bytes`, fewer when `budget` wants smaller tasks, and into at least `slots` pieces
/// overall when there are fewer files than that (as far as the files have row groups). The
/// first file's footer is read first (its columns, and how much its bytes grow when decoded);
/// then those of the files to cut, at once. Each footer is read once, with one ranged read.
pub fn split_inputs(inputs: Vec<Input>, target_bytes: u64, slots: usize, budget: Option<&Budget>) -> Result<Scanned> {
    let Some(first) = inputs.first().cloned() else {
        return Ok(Scanned { inputs, columns: None, decoded_per_byte: 1.0 });
    };
    let rt = runtime()?;
    let first_footer = rt.block_on(footer(&first));
    let decoded_per_byte = first_footer.as_ref().map_or(1.0, |f| f.decoded_per_byte);
    let target = match budget {
        Some(b) => target_bytes.min((b.task_input() as f64 / decoded_per_byte) as u64),
        None => target_bytes,
    };
    let each = slots.div_ceil(inputs.len());
    let pieces = |input: &Input| {
        let by_size = input.size.div_ceil(target.max(1)) as usize;
        if input.row_groups.is_none() {
            // Into a multiple of the pieces each file is to give, so that they spread evenly.
            by_size.max(each).next_multiple_of(each)
        } else {
            1
        }
    };
    let mut cuts: Vec<Option<Vec<RowGroups>>> = vec![None; inputs.len()];
    let columns = match first_footer {
        Ok(f) => {
            if pieces(&first) > 1 {
                cuts[0] = Some(cut(&f.bytes, pieces(&first)));
            }
            f.columns
        }
        Err(e) if pieces(&first) > 1 => return Err(e),
        Err(_) => None, // read for its columns only: its task reports what is wrong with it
    };
    rt.block_on(async {
        let mut footers = JoinSet::new();
        for (i, input) in inputs.iter().enumerate().skip(1).filter(|(_, input)| pieces(input) > 1) {
            let (input, k) = (input.clone(), pieces(input));
            footers.spawn(async move { (i, k, footer(&input).await) });
        }
        while let Some(done) = footers.join_next().await {
            let (i, k, read) = done.map_err(|e| crate::Error::Runtime(std::io::Error::other(e.to_string())))?;
            cuts[i] = Some(cut(&read?.bytes, k));
        }
        Ok::<_, crate::Error>(())
    })?;
    let mut out = Vec::with_capacity(inputs.len());
    for (input, ranges) in inputs.into_iter().zip(cuts) {
        match ranges {
            Some(ranges) if ranges.len() > 1 => {
                out.extend(ranges.into_iter().map(|g| Input { row_groups: Some(g), ..input.clone() }))
            }
            _ => out.push(input),
        }
    }
    Ok(Scanned { inputs: out, columns, decoded_per_byte })
}

/// What a file's footer says.
struct Footer {
    /// Its columns (None for an IPC stream, which has no footer).
    columns: Option<Vec<InputColumn>>,
    /// The bytes of each row group (record batch; an IPC stream is one piece).
    bytes: Vec<u64>,
    /// Decoded bytes per byte of the file (at least 1).
    decoded_per_byte: f64,
}

async fn footer(input: &Input) -> Result<Footer> {
    let (store, key) = squall_store::open(&input.url)?;
    Ok(match input.format {
        Format::Parquet => {
            let file = ParquetFile::open(store, &key, input.size, &input.url).await?;
            let bytes = file.row_group_bytes();
            let decoded = file.decoded_bytes();
            let ratio = decoded as f64 / bytes.iter().sum::<u64>().max(1) as f64;
            let columns = file.schema().fields().iter().map(|f| InputColumn::of(f)).collect();
            Footer { columns: Some(columns), bytes, decoded_per_byte: ratio.max(1.0) }
        }
        Format::Ipc => match ipc_footer(&store, &key, input.size, &input.url).await {
            Ok((footer, _)) => Footer {
                columns: Some(footer.schema.fields().iter().map(|f| InputColumn::of(f)).collect()),
                bytes: footer.batches.iter().map(|b| IpcFooter::span(b).end - IpcFooter::span(b).start).collect(),
                decoded_per_byte: 1.0,
            },
            Err(_) => Footer { columns: None, bytes: vec![input.size], decoded_per_byte: 1.0 },
        },
    })
}

/// Cuts row groups of `bytes` into at most `k` contiguous ranges of about equal bytes, none
/// empty.
pub fn cut(bytes: &[u64], k: usize) -> Vec<RowGroups> {
    let k = k.clamp(1, bytes.len().max(1));
    let total: u64 = bytes.iter().sum();
    let mut ranges = Vec::with_capacity(k);
    let (mut start, mut sum, mut seen) = (0, 0u64, 0u64);
    for (i, &b) in bytes.iter().enumerate() {
        sum += b;
        seen += b;
        let made = ranges.len() as u64 + 1;
        // Close a range once the bytes so far reach its share, leaving a row group for each
        // range still to come.
        let left = bytes.len() - i - 1;
        let still = k - ranges.len() - 1;
        if made < k as u64 && (seen * k as u64 >= total * made || left == still) && left >= still {
            ranges.push(RowGroups { start, end: i + 1, bytes: sum });
            (start, sum) = (i + 1, 0);
        }
    }
    if start < bytes.len() {
        ranges.push(RowGroups { start, end: bytes.len(), bytes: sum });
    }
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(ranges: &[RowGroups]) -> Vec<(usize, usize)> {
        ranges.iter().map(|g| (g.start, g.end)).collect()
    }

    #[test]
    fn cuts_cover_every_row_group_once_in_about_equal_bytes() {
        assert_eq!(spans(&cut(&[10; 10], 5)), vec![(0, 2), (2, 4), (4, 6), (6, 8), (8, 10)]);
        assert_eq!(spans(&cut(&[10; 3], 8)), vec![(0, 1), (1, 2), (2, 3)]);
        assert_eq!(spans(&cut(&[10], 4)), vec![(0, 1)]);
        assert!(cut(&[], 4).is_empty());
        // One huge row group first: the rest still get ranges of their own.
        assert_eq!(spans(&cut(&[100, 1, 1, 1], 3)), vec![(0, 1), (1, 2), (2, 4)]);
        for (n, k) in [(1000, 7), (13, 4), (5, 5), (64, 2)] {
            let bytes: Vec<u64> = (0..n).map(|i| 1 + (i * 7919 % 13) as u64).collect();
            let ranges = cut(&bytes, k);
            assert_eq!(ranges.len(), k.min(n));
            assert_eq!(ranges[0].start, 0);
            assert_eq!(ranges.last().unwrap().end, n);
            assert!(ranges.windows(2).all(|w| w[0].end == w[1].start && w[0].start < w[0].end));
            assert_eq!(ranges.iter().map(|g| g.bytes).sum::<u64>(), bytes.iter().sum::<u64>());
        }
    }
}
