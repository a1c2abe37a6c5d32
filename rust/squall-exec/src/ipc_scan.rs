//! Reading part of an Arrow IPC file with ranged reads: its footer first, then the blocks of
//! its dictionaries and of a range of its record batches. A big IPC file is split by record
//! batches as a Parquet file is by row groups.

use std::sync::Arc;

use arrow_buffer::Buffer;
use squall_core::codec::{ipc_footer_length, Decoded, IpcFooter};
use squall_core::plan::RowGroups;
use squall_store::{get_ranges, Store};

/// Bytes of the file's end fetched at once: the footer of most files fits.
const FOOTER_HINT: u64 = 64 * 1024;

fn bad(url: &str, message: String) -> crate::Error {
    squall_core::Error::Data { url: url.to_string(), what: "read Arrow IPC".into(), message }.into()
}

/// The footer of the IPC file `key` (`size` bytes) of `store`, and the bytes fetched; `url`
/// names it in errors.
pub async fn ipc_footer(store: &Arc<dyn Store>, key: &str, size: u64, url: &str) -> crate::Result<(IpcFooter, u64)> {
    let hint = size.min(FOOTER_HINT);
    let mut tail = store.get_range(key, size - hint..size).await?;
    let mut fetched = tail.len() as u64;
    if tail.len() < 10 {
        return Err(bad(url, "not an Arrow IPC file: too short".into()));
    }
    let length = ipc_footer_length(&tail[tail.len() - 10..]).map_err(|e| bad(url, e.to_string()))?;
    let need = length as u64 + 10;
    if need > size {
        return Err(bad(url, "not an Arrow IPC file: its footer is longer than the file".into()));
    }
    if need > tail.len() as u64 {
        tail = store.get_range(key, size - need..size).await?;
        fetched += tail.len() as u64;
    }
    let footer = IpcFooter::parse(&tail[tail.len() - need as usize..]).map_err(|e| bad(url, e.to_string()))?;
    let end = size - need;
    let blocks = footer.dictionaries.iter().chain(&footer.batches);
    if blocks.map(IpcFooter::span).any(|r| r.end > end) {
        return Err(bad(url, "not an Arrow IPC file: a block lies outside it".into()));
    }
    Ok((footer, fetched))
}

/// Record batches `batches` (start..end) of the IPC file `key`: its dictionaries and those
/// batches' blocks fetched, nothing else. Returns them and the bytes fetched.
pub async fn read_ipc_batches(
    store: Arc<dyn Store>,
    key: &str,
    size: u64,
    batches: RowGroups,
    url: &str,
) -> crate::Result<(Decoded, u64)> {
    let (footer, mut fetched) = ipc_footer(&store, key, size, url).await?;
    let count = footer.batches.len();
    if batches.start > batches.end || batches.end > count {
        let (start, end) = (batches.start, batches.end);
        return Err(bad(url, format!("record batches {start}..{end} were planned, the file has {count}: it changed")));
    }
    let chosen = &footer.batches[batches.start..batches.end];
    let reads = footer.dictionaries.iter().chain(chosen).map(|b| (store.clone(), key.to_string(), IpcFooter::span(b)));
    let parts = get_ranges(reads.collect()).await?;
    fetched += parts.iter().map(|p| p.len() as u64).sum::<u64>();
    let mut parts = parts.into_iter().map(Buffer::from);
    let dictionaries: Vec<Buffer> = parts.by_ref().take(footer.dictionaries.len()).collect();
    let blocks: Vec<_> = chosen.iter().copied().zip(parts).collect();
    let decoded = footer.decode(&dictionaries, &blocks).map_err(|e| bad(url, e.to_string()))?;
    Ok((decoded, fetched))
}
