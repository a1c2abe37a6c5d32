//! `file:///path` and bare paths: a local directory tree, written atomically by rename.

use std::io::SeekFrom;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::{check_range, BoxFuture, Error, ObjectMeta, Result, Store};

/// Temporary files of unfinished writes start with this; listings skip them.
const TEMP_PREFIX: &str = ".squall-tmp-";

/// The local file system; keys are absolute paths without their leading `/`.
#[derive(Debug, Default, Clone)]
pub struct LocalStore;

impl LocalStore {
    fn path(&self, key: &str) -> PathBuf {
        Path::new("/").join(key)
    }
}

impl Store for LocalStore {
    fn url_of(&self, key: &str) -> String {
        format!("file:///{key}")
    }

    fn put<'a>(&'a self, key: &'a str, data: Bytes) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            static COUNTER: AtomicU64 = AtomicU64::new(0);
            let url = self.url_of(key);
            let path = self.path(key);
            let (dir, name) = match (path.parent(), path.file_name()) {
                (Some(d), Some(n)) => (d.to_path_buf(), n.to_string_lossy().into_owned()),
                _ => return Err(Error::BadUrl { url, why: "it names a directory, not a file".into() }),
            };
            tokio::fs::create_dir_all(&dir)
                .await
                .map_err(|e| Error::io("creating the directory of", url.clone(), e))?;
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let temp = dir.join(format!("{TEMP_PREFIX}{}-{n}-{name}", std::process::id()));
            let write = async {
                tokio::fs::write(&temp, &data).await?;
                tokio::fs::rename(&temp, &path).await
            };
            if let Err(e) = write.await {
                let _ = tokio::fs::remove_file(&temp).await;
                return Err(Error::io("writing", url, e));
            }
            Ok(())
        })
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Bytes>> {
        Box::pin(async move {
            let data = tokio::fs::read(self.path(key)).await.map_err(|e| Error::io("reading", self.url_of(key), e))?;
            Ok(Bytes::from(data))
        })
    }

    fn get_range<'a>(&'a self, key: &'a str, range: Range<u64>) -> BoxFuture<'a, Result<Bytes>> {
        Box::pin(async move {
            let url = self.url_of(key);
            let mut f =
                tokio::fs::File::open(self.path(key)).await.map_err(|e| Error::io("opening", url.clone(), e))?;
            let size = f.metadata().await.map_err(|e| Error::io("reading", url.clone(), e))?.len();
            check_range(url.clone(), &range, size)?;
            let mut buf = vec![0u8; (range.end - range.start) as usize];
            let read = async {
                f.seek(SeekFrom::Start(range.start)).await?;
                f.read_exact(&mut buf).await
            };
            read.await.map_err(|e| Error::io("reading", url, e))?;
            Ok(Bytes::from(buf))
        })
    }

    fn head<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<ObjectMeta>> {
        Box::pin(async move {
            let meta =
                tokio::fs::metadata(self.path(key)).await.map_err(|e| Error::io("inspecting", self.url_of(key), e))?;
            if meta.is_dir() {
                return Err(Error::NotFound { url: self.url_of(key) });
            }
            Ok(ObjectMeta { key: key.to_string(), size: meta.len() })
        })
    }

    fn list<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<ObjectMeta>>> {
        Box::pin(async move {
            // Walk the deepest directory that the prefix names in full.
            let dir_key = match prefix.rfind('/') {
                Some(i) => &prefix[..i],
                None => "",
            };
            let mut out = Vec::new();
            let mut pending = vec![dir_key.to_string()];
            while let Some(dir) = pending.pop() {
                let mut entries = match tokio::fs::read_dir(self.path(&dir)).await {
                    Ok(entries) => entries,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(Error::io("listing", self.url_of(&dir), e)),
                };
                let url = self.url_of(&dir);
                while let Some(entry) = entries.next_entry().await.map_err(|e| Error::io("listing", url.clone(), e))? {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    if name.starts_with(TEMP_PREFIX) {
                        continue;
                    }
                    let key = if dir.is_empty() { name } else { format!("{dir}/{name}") };
                    let kind = entry.file_type().await.map_err(|e| Error::io("listing", url.clone(), e))?;
                    if kind.is_dir() {
                        if key.starts_with(prefix) || prefix.starts_with(&format!("{key}/")) {
                            pending.push(key);
                        }
                    } else if key.starts_with(prefix) {
                        let size = entry.metadata().await.map_err(|e| Error::io("listing", url.clone(), e))?.len();
                        out.push(ObjectMeta { key, size });
                    }
                }
            }
            out.sort_by(|a, b| a.key.cmp(&b.key));
            Ok(out)
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            match tokio::fs::remove_file(self.path(key)).await {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(Error::io("deleting", self.url_of(key), e)),
            }
        })
    }

    fn rename<'a>(&'a self, from: &'a str, to: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let target = self.path(to);
            if let Some(dir) = target.parent() {
                tokio::fs::create_dir_all(dir)
                    .await
                    .map_err(|e| Error::io("creating the directory of", self.url_of(to), e))?;
            }
            tokio::fs::rename(self.path(from), &target).await.map_err(|e| {
                let url = self.url_of(from);
                if e.kind() == std::io::ErrorKind::NotFound {
                    Error::NotFound { url }
                } else {
                    Error::io("moving", url, e)
                }
            })
        })
    }
}
