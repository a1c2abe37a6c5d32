//! `file:///path` and bare paths: a local directory tree, written atomically by rename.

use std::io::SeekFrom;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use std::io::{Read, Seek};

use crate::{check_range, content_tag, expected, BoxFuture, Error, Expect, ObjectMeta, Result, Store};

/// Temporary files of unfinished writes start with this; listings skip them.
const TEMP_PREFIX: &str = ".squall-tmp-";

/// Lock files of conditional writes start with this; listings skip them.
const LOCK_PREFIX: &str = ".squall-lock-";

/// The local file system; keys are absolute paths without their leading `/`.
#[derive(Debug, Default, Clone)]
pub struct LocalStore;

impl LocalStore {
    fn path(&self, key: &str) -> PathBuf {
        Path::new("/").join(key)
    }

    /// Writes `data` to a temporary file beside `key`, then renames it into place; `direct`
    /// writes past the page cache where the file system allows.
    async fn write(&self, key: &str, data: Bytes, direct: bool) -> Result<()> {
        let url = self.url_of(key);
        let (dir, name) = self.place(key)?;
        let path = self.path(key);
        let write = move || write_file(&dir, &name, &path, &data, direct);
        blocking(write).await.and_then(|r| r).map_err(|e| Error::io("writing", url, e))
    }

    /// The directory and file name of `key`.
    fn place(&self, key: &str) -> Result<(PathBuf, String)> {
        let path = self.path(key);
        match (path.parent(), path.file_name()) {
            (Some(d), Some(n)) => Ok((d.to_path_buf(), n.to_string_lossy().into_owned())),
            _ => Err(Error::BadUrl { url: self.url_of(key), why: "it names a directory, not a file".into() }),
        }
    }

    /// The files whose keys start with `prefix`, in key order (temporary files left out).
    fn walk(&self, prefix: &str) -> Result<Vec<ObjectMeta>> {
        // Walk the deepest directory that the prefix names in full.
        let dir_key = prefix.rfind('/').map_or("", |i| &prefix[..i]);
        let mut out = Vec::new();
        let mut pending = vec![dir_key.to_string()];
        while let Some(dir) = pending.pop() {
            let url = self.url_of(&dir);
            let failed = |e| Error::io("listing", url.clone(), e);
            let entries = match std::fs::read_dir(self.path(&dir)) {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(failed(e)),
            };
            for entry in entries {
                let entry = entry.map_err(failed)?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with(TEMP_PREFIX) || name.starts_with(LOCK_PREFIX) {
                    continue;
                }
                let key = if dir.is_empty() { name } else { format!("{dir}/{name}") };
                if entry.file_type().map_err(failed)?.is_dir() {
                    if key.starts_with(prefix) || prefix.starts_with(&format!("{key}/")) {
                        pending.push(key);
                    }
                } else if key.starts_with(prefix) {
                    out.push(ObjectMeta { key, size: entry.metadata().map_err(failed)?.len() });
                }
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    /// Reads `range` of the file at `key`, or all of it.
    async fn read(&self, key: &str, range: Option<Range<u64>>) -> Result<Bytes> {
        let (url, path) = (self.url_of(key), self.path(key));
        let read = move || -> Result<Bytes> {
            let url = &url;
            let failed = |op: &'static str| move |e| Error::io(op, url.clone(), e);
            let mut f = std::fs::File::open(&path).map_err(failed("opening"))?;
            let size = f.metadata().map_err(failed("reading"))?.len();
            let range = range.unwrap_or(0..size);
            check_range(url.clone(), &range, size)?;
            let len = range.end - range.start;
            if len >= MAP_MIN {
                return mapped::map(&f, range.start, len as usize).map_err(failed("reading"));
            }
            // Into spare capacity: no zero-filling of a buffer about to be overwritten.
            let mut buf = Vec::with_capacity(len as usize);
            f.seek(SeekFrom::Start(range.start)).map_err(failed("reading"))?;
            f.take(len).read_to_end(&mut buf).map_err(failed("reading"))?;
            if buf.len() as u64 != len {
                let message = format!("the file ended after {} of the {len} bytes asked for", buf.len());
                return Err(failed("reading")(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, message)));
            }
            Ok(Bytes::from(buf))
        };
        // One blocking call: tokio's File would pass the bytes through its own buffer in 2 MB
        // steps.
        blocking(read).await.map_err(|e| Error::io("reading", self.url_of(key), e))?
    }
}

/// Writes `data` to a temporary file in `dir`, then renames it to `path` (named `name`).
fn write_file(dir: &Path, name: &str, path: &Path, data: &[u8], direct: bool) -> std::io::Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let temp = dir.join(format!("{TEMP_PREFIX}{}-{n}-{name}", std::process::id()));
    std::fs::create_dir_all(dir)?;
    let write = || match direct {
        true => direct::write(&temp, data),
        false => std::fs::write(&temp, data),
    };
    // A delete that emptied the directory may remove it between the two calls: once more.
    let written = match write() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::fs::create_dir_all(dir).and_then(|()| write()),
        done => done,
    };
    written.and_then(|()| std::fs::rename(&temp, path)).inspect_err(|_| {
        let _ = std::fs::remove_file(&temp);
    })
}

/// Replaces the file at `path` (named `name` in `dir`) with `data` if it is as `expect` says,
/// holding an exclusive `flock` on a hidden lock file beside it meanwhile: writers on this
/// machine take turns, and the kernel releases the lock of a process that dies holding it.
/// Returns the new tag, or None when the file was not as expected.
fn swap_file(dir: &Path, name: &str, path: &Path, data: &[u8], expect: Expect<'_>) -> std::io::Result<Option<String>> {
    use std::os::fd::AsRawFd;
    std::fs::create_dir_all(dir)?;
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(format!("{LOCK_PREFIX}{name}")))?;
    // SAFETY: flock(2) on a descriptor we own; it is released when `lock` is closed.
    if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let current = match std::fs::read(path) {
        Ok(bytes) => Some(content_tag(&bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    if !expected(expect, current.as_deref()) {
        return Ok(None);
    }
    write_file(dir, name, path, data, false)?;
    Ok(Some(content_tag(data)))
}

/// Runs a blocking read or write of files: in place where the caller may block (a task's
/// thread, in a multi-threaded runtime's `block_on`), else on tokio's blocking threads. In place
/// spares each request two trips between threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> std::io::Result<T> {
    use tokio::runtime::{Handle, RuntimeFlavor};
    if Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread) {
        return Ok(tokio::task::block_in_place(f));
    }
    tokio::task::spawn_blocking(f).await.map_err(Into::into)
}

/// Reads from this size on map the file instead of copying it (`mapped`).
const MAP_MIN: u64 = 1 << 20;

/// Bytes of a file that are its pages in the page cache, mapped into this process: no copy
/// is made, and the mapping goes when the last `Bytes` of it does. Like any reader that maps
/// files (polars, DuckDB, Arrow's memory-mapped files), this assumes that nothing truncates a
/// file while it is being read: the kernel would stop the process (SIGBUS).
mod mapped {
    use bytes::Bytes;

    struct Mapping {
        base: *mut libc::c_void,
        mapped: usize,
        skip: usize,
    }

    // SAFETY: a read-only mapping that nothing else frees; any thread may read or drop it.
    unsafe impl Send for Mapping {}
    unsafe impl Sync for Mapping {}

    impl AsRef<[u8]> for Mapping {
        fn as_ref(&self) -> &[u8] {
            // SAFETY: `mapped` bytes from `base` are mapped for as long as `self` lives.
            unsafe { std::slice::from_raw_parts(self.base.cast::<u8>().add(self.skip), self.mapped - self.skip) }
        }
    }

    impl Drop for Mapping {
        fn drop(&mut self) {
            // SAFETY: the whole mapping, which no slice outlives (Bytes owns `self`).
            unsafe {
                libc::munmap(self.base, self.mapped);
            }
        }
    }

    /// `len` bytes of `file` from `offset`, mapped read-only (the file may then be closed).
    pub fn map(file: &std::fs::File, offset: u64, len: usize) -> std::io::Result<Bytes> {
        use std::os::fd::AsRawFd;
        // SAFETY: sysconf only reads a system fact.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64;
        let start = offset / page * page;
        let skip = (offset - start) as usize;
        let mapped = skip + len;
        // SAFETY: a new private read-only mapping of an open file; nothing else is touched.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                mapped,
                libc::PROT_READ,
                libc::MAP_PRIVATE | libc::MAP_POPULATE,
                file.as_raw_fd(),
                start as libc::off_t,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Bytes::from_owner(Mapping { base, mapped, skip }))
    }
}

/// Objects from this size on are written past the page cache by `put_output`: copying them
/// into the cache costs more CPU than the write itself, and nothing reads them back soon.
const DIRECT_MIN: usize = 8 << 20;

/// Writes with O_DIRECT (Linux): the device reads the bytes from our buffer, with no copy
/// into the page cache. File systems without it (tmpfs) get a plain write.
mod direct {
    use std::io::Write;
    use std::path::Path;

    /// Alignment of direct writes' buffers, offsets and lengths.
    const BLOCK: usize = 4096;
    /// Bytes per write.
    const CHUNK: usize = 4 << 20;

    pub fn write(path: &Path, data: &[u8]) -> std::io::Result<()> {
        match open(path).and_then(|file| write_aligned(file, data)) {
            // EINVAL: this file system does not take O_DIRECT (at open, or at the first write).
            Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => std::fs::write(path, data),
            done => done,
        }
    }

    #[cfg(target_os = "linux")]
    fn open(path: &Path) -> std::io::Result<std::fs::File> {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new().write(true).create(true).truncate(true).custom_flags(libc::O_DIRECT).open(path)
    }

    #[cfg(not(target_os = "linux"))]
    fn open(_path: &Path) -> std::io::Result<std::fs::File> {
        Err(std::io::ErrorKind::InvalidInput.into())
    }

    /// Writes `data` in aligned chunks: straight from `data` where it starts on a block
    /// boundary (as big buffers do), else copied through one aligned buffer. The last block is
    /// padded with zeros, then the file is cut to the data's length.
    fn write_aligned(mut file: std::fs::File, data: &[u8]) -> std::io::Result<()> {
        let whole = if data.as_ptr().align_offset(BLOCK) == 0 { data.len() / BLOCK * BLOCK } else { 0 };
        for chunk in data[..whole].chunks(CHUNK) {
            file.write_all(chunk)?;
        }
        let rest = &data[whole..];
        if !rest.is_empty() {
            let mut raw = vec![0u8; rest.len().min(CHUNK).div_ceil(BLOCK) * BLOCK + BLOCK];
            let at = raw.as_ptr().align_offset(BLOCK);
            let buf = &mut raw[at..];
            for chunk in rest.chunks(CHUNK) {
                let padded = chunk.len().div_ceil(BLOCK) * BLOCK;
                buf[..chunk.len()].copy_from_slice(chunk);
                buf[chunk.len()..padded].fill(0);
                file.write_all(&buf[..padded])?;
            }
        }
        file.set_len(data.len() as u64)
    }
}

/// Removes the empty directories in and under `dir`, deepest first; any that hold a file stay.
fn prune_dirs(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                prune_dirs(&entry.path());
            }
        }
    }
    let _ = std::fs::remove_dir(dir);
}

impl Store for LocalStore {
    fn prune<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<()>> {
        let dir = self.path(prefix.trim_end_matches('/'));
        Box::pin(async move {
            let _ = blocking(move || prune_dirs(&dir)).await;
            Ok(())
        })
    }

    fn get_tagged<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(Bytes, String)>> {
        Box::pin(async move {
            let data = self.read(key, None).await?;
            let tag = content_tag(&data);
            Ok((data, tag))
        })
    }

    fn put_if<'a>(&'a self, key: &'a str, data: Bytes, expect: Expect<'a>) -> BoxFuture<'a, Result<String>> {
        Box::pin(async move {
            let url = self.url_of(key);
            let (dir, name) = self.place(key)?;
            let path = self.path(key);
            let want = match expect {
                Expect::Absent => None,
                Expect::Tag(t) => Some(t.to_string()),
            };
            let swap = move || {
                let expect = want.as_deref().map_or(Expect::Absent, Expect::Tag);
                swap_file(&dir, &name, &path, &data, expect)
            };
            match blocking(swap).await.and_then(|r| r) {
                Ok(Some(tag)) => Ok(tag),
                Ok(None) => Err(Error::Precondition { url }),
                Err(e) => Err(Error::io("writing", url, e)),
            }
        })
    }

    fn url_of(&self, key: &str) -> String {
        format!("file:///{key}")
    }

    fn put<'a>(&'a self, key: &'a str, data: Bytes) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.write(key, data, false))
    }

    fn put_output<'a>(&'a self, key: &'a str, data: Bytes) -> BoxFuture<'a, Result<()>> {
        let direct = data.len() >= DIRECT_MIN;
        Box::pin(self.write(key, data, direct))
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Bytes>> {
        Box::pin(self.read(key, None))
    }

    fn get_range<'a>(&'a self, key: &'a str, range: Range<u64>) -> BoxFuture<'a, Result<Bytes>> {
        Box::pin(self.read(key, Some(range)))
    }

    fn head<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<ObjectMeta>> {
        let (key, path, url) = (key.to_string(), self.path(key), self.url_of(key));
        Box::pin(async move {
            let meta = blocking(move || std::fs::metadata(path)).await.and_then(|m| m);
            let meta = meta.map_err(|e| Error::io("inspecting", url.clone(), e))?;
            if meta.is_dir() {
                return Err(Error::NotFound { url });
            }
            Ok(ObjectMeta { key, size: meta.len() })
        })
    }

    fn list<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<ObjectMeta>>> {
        let (store, prefix) = (self.clone(), prefix.to_string());
        Box::pin(async move {
            let url = self.url_of(&prefix);
            blocking(move || store.walk(&prefix)).await.map_err(|e| Error::io("listing", url, e))?
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<()>> {
        let (path, url) = (self.path(key), self.url_of(key));
        Box::pin(async move {
            match blocking(move || std::fs::remove_file(path)).await.and_then(|r| r) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(Error::io("deleting", url, e)),
            }
        })
    }

    fn rename<'a>(&'a self, from: &'a str, to: &'a str) -> BoxFuture<'a, Result<()>> {
        let (source, target) = (self.path(from), self.path(to));
        let (from_url, to_url) = (self.url_of(from), self.url_of(to));
        Box::pin(async move {
            let moved = blocking(move || {
                if let Some(dir) = target.parent() {
                    std::fs::create_dir_all(dir).map_err(|e| Error::io("creating the directory of", to_url, e))?;
                }
                std::fs::rename(source, &target).map_err(|e| match e.kind() {
                    std::io::ErrorKind::NotFound => Error::NotFound { url: from_url },
                    _ => Error::io("moving", from_url, e),
                })
            });
            moved.await.map_err(|e| Error::io("moving", self.url_of(from), e))?
        })
    }
}
